//! Sigmoid + binary cross-entropy on logits: loss, accuracy and gradient, both labels.

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{Lines, f64s, garbage, random, upload};
use crate::gpu::{GpuContext, GpuError};
use crate::ops::Ops;
use crate::reference::check::{self, U32};

/// `batch` logits up to +-6 with the extremes (0, +-30, +-100) first, for each label; the
/// loss written to metrics slot 2 (the others must stay 0).
pub async fn bce_with_logits(
    ctx: &GpuContext,
    ops: &Ops,
    batch: usize,
    seed: u64,
) -> Result<Lines, GpuError> {
    let mut r = StdRng::seed_from_u64(seed);
    let (mut z, _) = random(&mut r, batch, 6.0);
    for (v, special) in z.iter_mut().zip([0.0, 30.0, -30.0, 100.0, -100.0]) {
        *v = special;
    }
    let zd = f64s(&z);
    let mut lines = Vec::new();
    for label in [1.0f32, 0.0] {
        let (zs, dz) = (upload(ctx, &z), garbage(ctx, batch));
        let metrics = ctx.storage("metrics", 4);
        ctx.run(&ops.loss.bce_with_logits(ctx, label, &zs, &dz, &metrics, 2))
            .await?;
        let (loss, grad, acc) = super::super::loss::bce_with_logits(&zd, f64::from(label));
        let m: Vec<f32> = ctx.read(&metrics).await?;
        let name = format!("bce batch {batch} label {label}");
        // Per sample a few transcendental evaluations (abs error ~1e-7 each) summed over B.
        lines.push(check::close(
            &format!("{name} loss"),
            &m[2..3],
            &[loss],
            1e-6,
            1e-6,
        ));
        // The hit count is exact; the accuracy is that count divided by B in f32.
        lines.push(check::close(
            &format!("{name} accuracy"),
            &m[3..4],
            &[acc],
            2.0 * U32,
            0.0,
        ));
        lines.push(check::close(
            &format!("{name} other slots untouched"),
            &m[..2],
            &[0.0, 0.0],
            0.0,
            0.0,
        ));
        let (mag, bound) = check::bce_gradient_bounds(&zd, f64::from(label));
        lines.push(check::within(
            &format!("{name} gradient"),
            &ctx.read(&dz).await?,
            &grad,
            &mag,
            &bound,
        ));
    }
    Ok(lines)
}
