//! Batch normalisation over the rows of a [rows, channels] matrix (NHWC flattened).

/// Batch mean and biased variance per channel.
pub fn stats(x: &[f64], rows: usize, channels: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; channels];
    let mut var = vec![0.0; channels];
    for c in 0..channels {
        let mut s = 0.0;
        for r in 0..rows {
            s += x[r * channels + c];
        }
        let mu = s / rows as f64;
        let mut q = 0.0;
        for r in 0..rows {
            let d = x[r * channels + c] - mu;
            q += d * d;
        }
        mean[c] = mu;
        var[c] = q / rows as f64;
    }
    (mean, var)
}

/// The statistics x is normalised with: each channel's mean and biased variance, and epsilon.
#[derive(Clone, Copy, Debug)]
pub struct Norm<'a> {
    pub mean: &'a [f64],
    pub var: &'a [f64],
    pub eps: f64,
}

impl Norm<'_> {
    /// 1 / sqrt(var + eps) of channel c.
    fn rstd(&self, c: usize) -> f64 {
        1.0 / (self.var[c] + self.eps).sqrt()
    }
}

/// y = (x - mean) / sqrt(var + eps) * gamma + beta.
pub fn apply(x: &[f64], channels: usize, gamma: &[f64], beta: &[f64], norm: Norm<'_>) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = i % channels;
            (v - norm.mean[c]) / (norm.var[c] + norm.eps).sqrt() * gamma[c] + beta[c]
        })
        .collect()
}

/// Training-mode forward: (y, batch mean, batch variance).
pub fn forward_train(
    x: &[f64],
    rows: usize,
    channels: usize,
    gamma: &[f64],
    beta: &[f64],
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mean, var) = stats(x, rows, channels);
    let norm = Norm {
        mean: &mean,
        var: &var,
        eps,
    };
    let y = apply(x, channels, gamma, beta, norm);
    (y, mean, var)
}

/// dgamma = sum(dy * xhat), dbeta = sum(dy), with xhat from the given statistics.
pub fn backward_sums(
    x: &[f64],
    dy: &[f64],
    channels: usize,
    norm: Norm<'_>,
) -> (Vec<f64>, Vec<f64>) {
    let mut dgamma = vec![0.0; channels];
    let mut dbeta = vec![0.0; channels];
    for i in 0..x.len() {
        let c = i % channels;
        let xhat = (x[i] - norm.mean[c]) / (norm.var[c] + norm.eps).sqrt();
        dgamma[c] += dy[i] * xhat;
        dbeta[c] += dy[i];
    }
    (dgamma, dbeta)
}

/// dx through the batch statistics: gamma * rstd / N * (N dy - dbeta - xhat dgamma).
pub fn backward_input(
    x: &[f64],
    dy: &[f64],
    channels: usize,
    gamma: &[f64],
    norm: Norm<'_>,
    dgamma: &[f64],
    dbeta: &[f64],
) -> Vec<f64> {
    let n = (x.len() / channels) as f64;
    (0..x.len())
        .map(|i| {
            let c = i % channels;
            let rstd = norm.rstd(c);
            let xhat = (x[i] - norm.mean[c]) * rstd;
            gamma[c] * rstd / n * (n * dy[i] - dbeta[c] - xhat * dgamma[c])
        })
        .collect()
}

/// Gradients of the training-mode forward: (dx, dgamma, dbeta), derived through the batch
/// statistics.
pub fn backward(
    x: &[f64],
    dy: &[f64],
    rows: usize,
    channels: usize,
    gamma: &[f64],
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mean, var) = stats(x, rows, channels);
    let norm = Norm {
        mean: &mean,
        var: &var,
        eps,
    };
    let (dgamma, dbeta) = backward_sums(x, dy, channels, norm);
    let dx = backward_input(x, dy, channels, gamma, norm, &dgamma, &dbeta);
    (dx, dgamma, dbeta)
}

/// Keras' moving-average update in float32: moving * momentum + batch * (1 - momentum), with
/// (1 - momentum) evaluated in double and rounded once.
pub fn moving_update(moving: &mut [f32], batch: &[f32], momentum: f64) {
    let keep = momentum as f32;
    let take = (1.0 - momentum) as f32;
    for (m, &b) in moving.iter_mut().zip(batch) {
        *m = *m * keep + b * take;
    }
}
