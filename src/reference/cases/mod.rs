//! Kernel checks written once, run by the native tests (`tests/ops`) and by the page's checks
//! in a browser (`web/src/checks.rs`): each case runs an op on the GPU from seeded random
//! inputs and holds it to the reference with `check`'s bounds, returning a line per output
//! (`Err`: the failure). A GPU error is the case's own error. One file per op family.

mod adam;
mod batchnorm;
mod dense;
mod embed;
mod loss;

pub use adam::adam_steps;
pub use batchnorm::{batchnorm, bn_input};
pub use dense::dense;
pub use embed::{embed_product, label_plane};
pub use loss::bce_with_logits;

use rand::RngExt;
use rand::rngs::StdRng;

use crate::gpu::{GpuContext, GpuSlice};

/// A case's lines: each output's check.
pub type Lines = Vec<Result<String, String>>;

/// Uniform values in [-scale, scale], as f32 (what the GPU gets) and f64 (the same values, for
/// the reference).
pub fn random(r: &mut StdRng, n: usize, scale: f32) -> (Vec<f32>, Vec<f64>) {
    let v: Vec<f32> = (0..n).map(|_| r.random_range(-scale..=scale)).collect();
    let d = v.iter().map(|&x| f64::from(x)).collect();
    (v, d)
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

fn abs(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.abs()).collect()
}

/// A buffer of garbage, so that an output element a kernel skips shows.
fn garbage(ctx: &GpuContext, n: usize) -> GpuSlice {
    ctx.storage_init("check output (garbage)", &vec![7.0f32; n])
}

fn upload(ctx: &GpuContext, v: &[f32]) -> GpuSlice {
    ctx.storage_init("check input", v)
}
