//! Softmax and softmax cross-entropy with integer labels.

/// Row-wise softmax of [rows, classes].
pub fn softmax(z: &[f64], classes: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(z.len());
    for row in z.chunks(classes) {
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|v| (v - m).exp()).sum();
        out.extend(row.iter().map(|v| (v - m).exp() / s));
    }
    out
}

/// (mean loss, d loss / d logits, accuracy); the prediction is the first maximal logit.
pub fn cross_entropy(z: &[f64], labels: &[u32], classes: usize) -> (f64, Vec<f64>, f64) {
    let n = labels.len() as f64;
    let p = softmax(z, classes);
    let mut loss = 0.0;
    let mut hits = 0.0;
    let mut grad = p.clone();
    for (r, &label) in labels.iter().enumerate() {
        let row = &z[r * classes..(r + 1) * classes];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        loss += lse - row[label as usize];
        grad[r * classes + label as usize] -= 1.0;
        let best = (0..classes).fold(0, |b, c| if row[c] > row[b] { c } else { b });
        if best == label as usize {
            hits += 1.0;
        }
    }
    for g in &mut grad {
        *g /= n;
    }
    (loss / n, grad, hits / n)
}
