//! What one iteration costs: FLOPs, how each dispatch spreads over a GPU, GPU time per
//! dispatch (the benchmark's figures), and the adapter limits a configuration must fit.

use anyhow::Result;

use super::Session;
use crate::config::{Clock, ConfigError, Problem, Setting, TrainConfig};
use crate::data::Images;
use crate::gpu::{Dispatch, GpuContext};
use crate::model::{self, ParamLayout};

/// How one dispatch spreads over the GPU: what `bench --json` lists per dispatch.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DispatchShape {
    pub kernel: String,
    pub scope: String,
    /// Workgroups launched.
    pub workgroups: u64,
    /// Elements of its input buffers it reads.
    pub elements_read: u64,
    /// A GEMM driver (its operands are re-read from cache by design; the rest should stream).
    pub gemm: bool,
}

impl DispatchShape {
    fn of(d: &Dispatch) -> Self {
        DispatchShape {
            kernel: d.kernel.to_string(),
            scope: d.scope.to_string(),
            workgroups: d.workgroup_count(),
            elements_read: d.elements_read,
            gemm: d.kernel.contains("::gemm_"),
        }
    }

    pub fn elements_per_workgroup(&self) -> f64 {
        self.elements_read as f64 / self.workgroups.max(1) as f64
    }
}

/// Floating-point operations (2 per multiply-add of the dense and convolution layers) of one
/// training iteration: G forward twice, D forward three times, D's backward with weight
/// gradients twice, D's input gradients once and G's backward once.
pub fn iteration_flops(config: &TrainConfig) -> u64 {
    let b = config.batch_size;
    let (g_fwd, g_bwd, _) = model::pass_macs(&model::generator(config.arch, config.z_dim), b);
    let (d_fwd, d_bwd, d_input) = model::pass_macs(&model::discriminator(config.arch), b);
    2 * (2 * g_fwd + g_bwd + 3 * d_fwd + 2 * d_bwd + d_input)
}

/// Every buffer must fit the adapter's binding and buffer limits: says which setting breaks
/// which limit, and the largest value that fits, instead of failing inside wgpu.
pub(super) fn check_limits(
    ctx: &GpuContext,
    config: &TrainConfig,
    images: Option<&Images>,
) -> Result<(), ConfigError> {
    let binding = ctx.limits.max_storage_buffer_binding_size;
    let buffer = ctx.limits.max_buffer_size;
    let limit = binding.min(buffer);
    let limits = format!(
        "the adapter's max_storage_buffer_binding_size ({binding}) / max_buffer_size ({buffer})"
    );
    // G's parameters (and each of their Adam moments) are one buffer; they grow with z.
    let g_params =
        |z: usize| ParamLayout::trainable(&model::generator(config.arch, z)).len as u64 * 4;
    let per_z = g_params(2) - g_params(1);
    let base = g_params(1) - per_z;
    let z = config.z_dim as u64;
    if base + per_z * z > limit {
        let fits = limit.saturating_sub(base) / per_z;
        return Err(ConfigError::new(
            Setting::ZDim,
            z,
            Problem::AboveMax {
                limit: fits,
                because: format!(
                    "the largest that fits this adapter: G's parameters would take {} bytes, more than {limits}",
                    base + per_z * z
                ),
            },
        ));
    }
    let (gl, dl) = (
        model::generator(config.arch, config.z_dim),
        model::discriminator(config.arch),
    );
    let largest_layer = gl
        .iter()
        .chain(&dl)
        .map(|l| l.out_len.max(l.in_len))
        .max()
        .unwrap_or(1) as u64;
    let batch = config.batch_size as u64;
    let act_bytes = batch.saturating_mul(largest_layer * 4);
    if act_bytes > limit {
        return Err(ConfigError::new(
            Setting::BatchSize,
            batch,
            Problem::AboveMax {
                limit: limit / (largest_layer * 4),
                because: format!(
                    "the largest that fits this adapter: one activation tensor would take {act_bytes} bytes, more than {limits}"
                ),
            },
        ));
    }
    if let Some(images) = images {
        let bytes = images.pixels.len().div_ceil(4) as u64 * 4;
        if bytes > limit {
            return Err(ConfigError::new(
                Setting::BatchSize,
                batch,
                Problem::AboveMax {
                    limit: 0,
                    because: format!(
                        "as no batch fits: the training set ({bytes} bytes) exceeds {limits}"
                    ),
                },
            ));
        }
    }
    Ok(())
}

impl Session<'_> {
    /// The shape of every dispatch of one iteration, in order.
    pub fn dispatch_shapes(&self) -> Vec<DispatchShape> {
        self.step.iter().map(DispatchShape::of).collect()
    }

    /// The GPU time of every dispatch of one iteration, by timestamp queries, as
    /// (kernel, scope, seconds); None when the adapter has no timestamp queries.
    pub async fn time_step(&mut self) -> Result<Option<Vec<(String, String, f64)>>> {
        self.wait_gpu().await?;
        let Some(method) = crate::gpu::timing::TimingMethod::for_adapter(self.ctx) else {
            return Ok(None);
        };
        let times = crate::gpu::timing::dispatch_times(self.ctx, method, &self.step).await?;
        self.iteration += 1;
        Ok(Some(
            self.step
                .iter()
                .zip(times)
                .map(|(d, t)| (d.kernel.to_string(), d.scope.to_string(), t))
                .collect(),
        ))
    }

    /// The same from the shell's clock, running each dispatch alone and waiting (adapters
    /// without timestamp queries; includes per-submit overhead).
    pub async fn time_step_on_host(
        &mut self,
        clock: &dyn Clock,
    ) -> Result<Vec<(String, String, f64)>> {
        self.wait_gpu().await?;
        let mut out = Vec::new();
        for d in &self.step {
            let t = clock.seconds();
            self.ctx.run([d]).await?;
            out.push((
                d.kernel.to_string(),
                d.scope.to_string(),
                clock.seconds() - t,
            ));
        }
        self.iteration += 1;
        Ok(out)
    }
}
