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

/// y = (x - mean) / sqrt(var + eps) * gamma + beta.
pub fn apply(
    x: &[f64],
    channels: usize,
    gamma: &[f64],
    beta: &[f64],
    mean: &[f64],
    var: &[f64],
    eps: f64,
) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = i % channels;
            (v - mean[c]) / (var[c] + eps).sqrt() * gamma[c] + beta[c]
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
    let y = apply(x, channels, gamma, beta, &mean, &var, eps);
    (y, mean, var)
}

/// dgamma = sum(dy * xhat), dbeta = sum(dy), with xhat from the given statistics.
pub fn backward_sums(
    x: &[f64],
    dy: &[f64],
    channels: usize,
    mean: &[f64],
    var: &[f64],
    eps: f64,
) -> (Vec<f64>, Vec<f64>) {
    let mut dgamma = vec![0.0; channels];
    let mut dbeta = vec![0.0; channels];
    for i in 0..x.len() {
        let c = i % channels;
        let xhat = (x[i] - mean[c]) / (var[c] + eps).sqrt();
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
    mean: &[f64],
    var: &[f64],
    dgamma: &[f64],
    dbeta: &[f64],
    eps: f64,
) -> Vec<f64> {
    let n = (x.len() / channels) as f64;
    (0..x.len())
        .map(|i| {
            let c = i % channels;
            let rstd = 1.0 / (var[c] + eps).sqrt();
            let xhat = (x[i] - mean[c]) * rstd;
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
    let (dgamma, dbeta) = backward_sums(x, dy, channels, &mean, &var, eps);
    let dx = backward_input(x, dy, channels, gamma, &mean, &var, &dgamma, &dbeta, eps);
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
