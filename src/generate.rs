//! Sampling: images from a checkpoint's generator on the GPU, with inference-mode
//! BatchNorm (the moving statistics), as Keras' `predict` does.

use anyhow::Result;

use crate::checkpoint::Checkpoint;
use crate::gpu::GpuContext;
use crate::model::{self, BnMode, IMAGE_PIXELS, Network, NetworkParams};
use crate::ops::Ops;
use crate::random as rng;

/// Random stream of `generate`'s latent vectors (distinct from training's).
pub const GENERATE_STREAM: u32 = 4;
/// Images per generator pass.
const MAX_BATCH: usize = 256;

/// `count` latent vectors ~ N(0, 1) for `seed` (Philox, as on the GPU).
pub fn latents(seed: u64, count: usize, z_dim: usize) -> Vec<f32> {
    rng::normals(seed, 0, GENERATE_STREAM, count * z_dim)
        .into_iter()
        .map(|v| v as f32)
        .collect()
}

/// The inputs of a drawing: `count` latent vectors of `seed`, or with `steps` > 1 `count`
/// spherical walks of `steps`; for a conditional generator, drawn once per digit of `digits`
/// with the same latent vectors for every digit (so a column is one style written as each
/// digit), digit after digit. Returns the latent vectors and the label of each.
pub fn inputs(
    seed: u64,
    (count, steps): (usize, usize),
    z_dim: usize,
    digits: Option<&[u32]>,
) -> (Vec<f32>, Option<Vec<u32>>) {
    let z = if steps > 1 {
        let ends = latents(seed, 2 * count, z_dim);
        ends.chunks(2 * z_dim)
            .flat_map(|p| slerp_path(&p[..z_dim], &p[z_dim..], steps))
            .collect()
    } else {
        latents(seed, count, z_dim)
    };
    match digits {
        None => (z, None),
        Some(digits) => {
            let per_digit = z.len() / z_dim;
            let labels = digits
                .iter()
                .flat_map(|&d| std::iter::repeat_n(d, per_digit))
                .collect();
            (z.repeat(digits.len()), Some(labels))
        }
    }
}

/// Spherical interpolation between two latent vectors (the path a Gaussian latent keeps its
/// norm along), `steps` points including both ends.
pub fn slerp_path(a: &[f32], b: &[f32], steps: usize) -> Vec<f32> {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let omega = (dot / (na * nb)).clamp(-1.0, 1.0).acos();
    let mut out = Vec::with_capacity(steps * a.len());
    for s in 0..steps {
        let t = if steps > 1 {
            s as f64 / (steps - 1) as f64
        } else {
            0.0
        };
        let (wa, wb) = if omega.abs() < 1e-6 {
            (1.0 - t, t)
        } else {
            (
                ((1.0 - t) * omega).sin() / omega.sin(),
                (t * omega).sin() / omega.sin(),
            )
        };
        out.extend(
            a.iter()
                .zip(b)
                .map(|(x, y)| (wa * f64::from(*x) + wb * f64::from(*y)) as f32),
        );
    }
    out
}

/// What a conditional checkpoint is asked to draw without being told the digits, or an
/// unconditional one when told.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("this checkpoint's generator draws the digit it is told ({arch} arch); none was given")]
    Missing { arch: &'static str },
    #[error("this checkpoint's generator is not told a digit ({arch} arch; a cgan run's is)")]
    NotConditional { arch: &'static str },
    #[error("{labels} labels for {latents} latent vectors")]
    Count { labels: usize, latents: usize },
    #[error("label {0} is not a digit 0-9")]
    NotADigit(u32),
}

/// The labels of a conditional generator's draws: `labels` checked against the checkpoint
/// (one digit per latent vector; none for an unconditional generator).
fn check_labels(checkpoint: &Checkpoint, count: usize, labels: Option<&[u32]>) -> Result<()> {
    use crate::config::Choice;
    let arch = checkpoint.config.arch;
    match labels {
        None if arch.conditional() => Err(LabelError::Missing { arch: arch.name() }.into()),
        Some(_) if !arch.conditional() => {
            Err(LabelError::NotConditional { arch: arch.name() }.into())
        }
        Some(l) if l.len() != count => Err(LabelError::Count {
            labels: l.len(),
            latents: count,
        }
        .into()),
        Some(l) => match l.iter().find(|&&d| d as usize >= model::DIGITS) {
            Some(&d) => Err(LabelError::NotADigit(d).into()),
            None => Ok(()),
        },
        None => Ok(()),
    }
}

/// G's images for the given latent vectors (and, for a conditional generator, the digit of
/// each), in [-1, 1].
pub async fn generate(
    ctx: &GpuContext,
    ops: &Ops,
    checkpoint: &Checkpoint,
    z: &[f32],
    labels: Option<&[u32]>,
) -> Result<Vec<f32>> {
    let z_dim = checkpoint.config.z_dim;
    let count = z.len() / z_dim;
    check_labels(checkpoint, count, labels)?;
    let layers = model::generator(checkpoint.config.arch, z_dim);
    let params = NetworkParams::new(ctx, &layers, &checkpoint.g.params, &checkpoint.g.moving);
    let batch = count.clamp(1, MAX_BATCH);
    let net = Network::new(ctx, "G", &layers, batch);
    let input = ctx.storage("latents", batch * z_dim);
    let pass = net.forward(&ops.recorder(ctx), &params, &input, BnMode::Inference);
    let mut images = Vec::with_capacity(count * IMAGE_PIXELS);
    let mut label_chunks = labels.map(|l| l.chunks(batch));
    for chunk in z.chunks(batch * z_dim) {
        let mut padded = chunk.to_vec();
        padded.resize(batch * z_dim, 0.0);
        ctx.write(&input, &padded);
        if let (Some(buffer), Some(chunks)) = (&net.labels, label_chunks.as_mut()) {
            let mut chunk_labels = chunks.next().expect("a label per latent vector").to_vec();
            chunk_labels.resize(batch, 0);
            ctx.write(buffer, &chunk_labels);
        }
        ctx.run(&pass).await?;
        let out: Vec<f32> = ctx.read(net.output()).await?;
        images.extend_from_slice(&out[..chunk.len() / z_dim * IMAGE_PIXELS]);
    }
    Ok(images)
}
