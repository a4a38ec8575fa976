//! Batch normalisation over (N, H, W) per channel (`shaders/batchnorm.wgsl`): batch
//! statistics, moving-statistics update, apply (training or inference), backward.

use bytemuck::{Pod, Zeroable};

use super::activation::{Activation, activation_code};
use crate::gpu::kernel::grid_1d;
use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders};

/// Keras' defaults (Python floats: cast to float32 where Keras casts them).
pub const EPSILON: f64 = 1e-3;
pub const MOMENTUM: f64 = 0.99;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct BnParams {
    rows: u32,
    channels: u32,
    epsilon: f32,
    momentum: f32,
    one_minus_momentum: f32,
    activation: u32,
    alpha: f32,
    _pad: u32,
}

/// A BN layer's view of an NHWC tensor: `rows` = N*H*W, `channels` = C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BnShape {
    pub rows: usize,
    pub channels: usize,
}

impl BnShape {
    fn params(&self) -> BnParams {
        BnParams {
            rows: self.rows as u32,
            channels: self.channels as u32,
            epsilon: EPSILON as f32,
            momentum: MOMENTUM as f32,
            // Keras computes 1 - momentum in double, then rounds to float32.
            one_minus_momentum: (1.0 - MOMENTUM) as f32,
            activation: 0,
            alpha: super::activation::LEAKY_ALPHA,
            _pad: 0,
        }
    }
    fn len(&self) -> usize {
        self.rows * self.channels
    }
}

/// Per-channel statistics: two slices of `channels` elements.
#[derive(Clone, Debug)]
pub struct Stats {
    pub mean: GpuSlice,
    pub variance: GpuSlice,
}

pub struct BatchNormOps {
    stats: Kernel,
    moving_update: Kernel,
    apply: Kernel,
    backward_reduce: Kernel,
    backward_input: Kernel,
}

impl BatchNormOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let k = |e| Kernel::new(ctx, &shaders::BATCHNORM, e, &[]);
        Ok(BatchNormOps {
            stats: k("bn_stats")?,
            moving_update: k("bn_moving_update")?,
            apply: k("bn_apply")?,
            backward_reduce: k("bn_backward_reduce")?,
            backward_input: k("bn_backward_input")?,
        })
    }

    /// Batch mean and biased variance of x.
    pub fn stats(&self, ctx: &GpuContext, s: BnShape, x: &GpuSlice, out: &Stats) -> Dispatch {
        assert_eq!(x.len, s.len());
        let u = ctx.uniform("bn_stats", &s.params());
        self.stats.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("x", Bind::Storage(x)),
                ("out_mean", Bind::Storage(&out.mean)),
                ("out_variance", Bind::Storage(&out.variance)),
            ],
            [(s.channels as u32).div_ceil(16), 1, 1],
        )
    }

    /// moving = moving * 0.99 + batch * 0.01.
    pub fn moving_update(
        &self,
        ctx: &GpuContext,
        s: BnShape,
        batch: &Stats,
        moving: &Stats,
    ) -> Dispatch {
        let u = ctx.uniform("bn_moving_update", &s.params());
        self.moving_update.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("mean", Bind::Storage(&batch.mean)),
                ("variance", Bind::Storage(&batch.variance)),
                ("out_mean", Bind::Storage(&moving.mean)),
                ("out_variance", Bind::Storage(&moving.variance)),
            ],
            [(s.channels as u32).div_ceil(64), 1, 1],
        )
    }

    /// y = act((x - mean) * gamma / sqrt(var + eps) + beta), with batch statistics (training)
    /// or moving statistics (inference).
    pub fn apply(
        &self,
        ctx: &GpuContext,
        s: BnShape,
        x: &GpuSlice,
        gamma: &GpuSlice,
        beta: &GpuSlice,
        stats: &Stats,
        y: &GpuSlice,
        activation: Option<Activation>,
    ) -> Dispatch {
        let mut params = s.params();
        params.activation = activation_code(activation);
        let u = ctx.uniform("bn_apply", &params);
        self.apply.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("x", Bind::Storage(x)),
                ("gamma", Bind::Storage(gamma)),
                ("beta", Bind::Storage(beta)),
                ("mean", Bind::Storage(&stats.mean)),
                ("variance", Bind::Storage(&stats.variance)),
                ("out", Bind::Storage(y)),
            ],
            grid_1d((s.len() as u32).div_ceil(256)),
        )
    }

    /// dgamma = sum(dy * xhat), dbeta = sum(dy) (batch statistics).
    pub fn backward_reduce(
        &self,
        ctx: &GpuContext,
        s: BnShape,
        x: &GpuSlice,
        dy: &GpuSlice,
        stats: &Stats,
        dgamma: &GpuSlice,
        dbeta: &GpuSlice,
    ) -> Dispatch {
        let u = ctx.uniform("bn_backward_reduce", &s.params());
        self.backward_reduce.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("x", Bind::Storage(x)),
                ("dy", Bind::Storage(dy)),
                ("mean", Bind::Storage(&stats.mean)),
                ("variance", Bind::Storage(&stats.variance)),
                ("dgamma_out", Bind::Storage(dgamma)),
                ("dbeta_out", Bind::Storage(dbeta)),
            ],
            [(s.channels as u32).div_ceil(16), 1, 1],
        )
    }

    /// dx through the batch statistics, from the sums `backward_reduce` wrote.
    pub fn backward_input(
        &self,
        ctx: &GpuContext,
        s: BnShape,
        x: &GpuSlice,
        dy: &GpuSlice,
        gamma: &GpuSlice,
        stats: &Stats,
        dgamma: &GpuSlice,
        dbeta: &GpuSlice,
        dx: &GpuSlice,
    ) -> Dispatch {
        let u = ctx.uniform("bn_backward_input", &s.params());
        self.backward_input.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("x", Bind::Storage(x)),
                ("dy", Bind::Storage(dy)),
                ("gamma", Bind::Storage(gamma)),
                ("mean", Bind::Storage(&stats.mean)),
                ("variance", Bind::Storage(&stats.variance)),
                ("dgamma", Bind::Storage(dgamma)),
                ("dbeta", Bind::Storage(dbeta)),
                ("out", Bind::Storage(dx)),
            ],
            grid_1d((s.len() as u32).div_ceil(256)),
        )
    }
}
