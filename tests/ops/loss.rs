//! Binary cross-entropy on logits; softmax cross-entropy is in softmax.rs.

use super::*;

#[test]
fn bce_with_logits_loss_gradient_accuracy() {
    let g = gpu();
    // 2500: three workgroups and the finish that adds them.
    for (n, &batch) in [1usize, 8, 300, 128, 2500].iter().enumerate() {
        let mut r = rng(900 + n as u64);
        let (mut z, _) = random(&mut r, batch, 6.0);
        for (i, v) in [0.0, 30.0, -30.0, 100.0, -100.0].iter().enumerate() {
            if i < batch {
                z[i] = *v;
            }
        }
        let zd = to_f64(&z);
        for label in [1.0f32, 0.0] {
            let zs = upload(&z);
            let dz = output(batch);
            let metrics = output(4);
            run(&g
                .ops
                .loss
                .bce_with_logits(&g.ctx, label, &zs, &dz, &metrics, 2));
            let (loss, grad, acc) = reference::loss::bce_with_logits(&zd, f64::from(label));
            let m = read(&metrics);
            let name = format!("bce batch {batch} label {label}");
            // Per sample a few transcendental evaluations (abs error ~1e-7 each) summed over B.
            assert!(
                (f64::from(m[2]) - loss).abs() <= 1e-6 * (1.0 + loss),
                "{name}: loss {} vs {loss}",
                m[2]
            );
            // The hit count is exact; the accuracy is that count divided by B in f32.
            assert_eq!(
                (f64::from(m[3]) * batch as f64).round(),
                (acc * batch as f64).round(),
                "{name}: accuracy"
            );
            assert!(
                (f64::from(m[3]) - acc).abs() <= 2.0 * U32 * acc,
                "{name}: accuracy rounding"
            );
            assert_eq!((m[0], m[1]), (0.0, 0.0), "{name}: other slots untouched");
            let (mag, bound) = reference::check::bce_gradient_bounds(&zd, f64::from(label));
            check_within(&format!("{name} gradient"), &read(&dz), &grad, &mag, &bound);
            println!("{name}: loss {} (ref {loss:.7}), accuracy {}", m[2], m[3]);
        }
    }
}
