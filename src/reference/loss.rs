//! Binary cross-entropy on logits (Keras 3's evaluation), its gradient, and Keras 2's binary
//! accuracy.

/// (mean loss, d loss / d logits, accuracy) for logits z that all have label y.
pub fn bce_with_logits(z: &[f64], y: f64) -> (f64, Vec<f64>, f64) {
    let b = z.len() as f64;
    let mut loss = 0.0;
    let mut hits = 0.0;
    let mut grad = Vec::with_capacity(z.len());
    for &v in z {
        loss += v.max(0.0) - v * y + (-v.abs()).exp().ln_1p();
        let p = 1.0 / (1.0 + (-v).exp());
        grad.push((p - y) / b);
        // round-half-to-even of p compared with the label: p = 0.5 counts as 0.
        let predicted = if p > 0.5 { 1.0 } else { 0.0 };
        if predicted == y {
            hits += 1.0;
        }
    }
    (loss / b, grad, hits / b)
}

/// The clipped form Keras documents (and Keras 2 evaluated): p clipped to [1e-7, 1 - 1e-7].
/// Agrees with the logit form while |z| < ~16; kept to document the difference.
pub fn bce_clipped(p: &[f64], y: f64) -> f64 {
    let eps = 1e-7;
    let s: f64 = p
        .iter()
        .map(|&v| {
            let c = v.clamp(eps, 1.0 - eps);
            -(y * c.ln() + (1.0 - y) * (1.0 - c).ln())
        })
        .sum();
    s / p.len() as f64
}
