//! Softmax and softmax cross-entropy (the classifier's loss).

use super::*;

#[test]
fn softmax_cross_entropy_and_probabilities() {
    let g = gpu();
    // 2100 rows: three workgroups and the finish.
    for (n, &(rows, classes)) in [(1usize, 10usize), (7, 3), (300, 10), (128, 10), (2100, 10)]
        .iter()
        .enumerate()
    {
        let mut r = rng(1500 + n as u64);
        let (mut z, _) = random(&mut r, rows * classes, 8.0);
        z[0] = 80.0; // far beyond exp's range without the max subtraction
        let zd = to_f64(&z);
        let labels: Vec<u32> = (0..rows).map(|i| ((i * 7 + n) % classes) as u32).collect();
        let (zs, ls) = (upload(&z), g.ctx.storage_init("labels", &labels));
        let (dz, probs, metrics) = (output(rows * classes), output(rows * classes), output(4));
        let mut ds = g
            .ops
            .softmax
            .cross_entropy(&g.ctx, &zs, &ls, &dz, &metrics, 2);
        ds.push(g.ops.softmax.probabilities(&g.ctx, classes, &zs, &probs));
        run(&ds);
        let (loss, grad, acc) = reference::softmax::cross_entropy(&zd, &labels, classes);
        let m = read(&metrics);
        let name = format!("softmax {rows}x{classes}");
        // log-sum-exp and the gather: a few roundings of values up to |z| + log(classes).
        assert!(
            (f64::from(m[2]) - loss).abs() <= 1e-5 * (1.0 + loss),
            "{name}: loss {} vs {loss}",
            m[2]
        );
        assert_eq!(
            (f64::from(m[3]) * rows as f64).round(),
            (acc * rows as f64).round(),
            "{name}: accuracy"
        );
        // exp(z - max) is allowed 3 + 2|z - max| ulp (Vulkan), the row sum and the division a few
        // more; p - onehot cancels near p = 1, so the gradient's errors are relative to (p + 1) / rows.
        let p = reference::softmax::softmax(&zd, classes);
        let ulps: Vec<f64> = zd
            .chunks(classes)
            .flat_map(|row| {
                let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                row.iter()
                    .map(move |v| 12.0 + 2.0 * (m - v))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mag: Vec<f64> = p.iter().map(|v| (v + 1.0) / rows as f64).collect();
        let bound: Vec<f64> = mag.iter().zip(&ulps).map(|(m, k)| k * U32 * m).collect();
        check_within(&format!("{name} gradient"), &read(&dz), &grad, &mag, &bound);
        let bound: Vec<f64> = p
            .iter()
            .zip(&ulps)
            .map(|(v, k)| k * U32 * v + 1e-30)
            .collect();
        check_within(
            &format!("{name} probabilities"),
            &read(&probs),
            &p,
            &p,
            &bound,
        );
    }
}
