//! Batch normalisation over (N, H, W) per channel (`shaders/batchnorm.wgsl`): batch
//! statistics (with the moving-statistics update), apply (training or inference), backward.
//! The sums run in the two deterministic stages of `shaders/reduce.wgsl`.

use super::activation::{Activation, activation_code};
use super::reduce::{Blocks, ReduceParams};
use crate::gpu::kernel::grid_1d;
use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders};

/// Keras' defaults (Python floats: cast to float32 where Keras casts them).
pub const EPSILON: f64 = 1e-3;
pub const MOMENTUM: f64 = 0.99;

/// A BN layer's view of an NHWC tensor: `rows` = N*H*W, `channels` = C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BnShape {
    pub rows: usize,
    pub channels: usize,
}

impl BnShape {
    /// Stage-1 blocks of a reduction over `inputs` tensors (x; or x and dy).
    fn blocks(&self, inputs: u32) -> Blocks {
        Blocks::new(self.rows, self.channels, inputs)
    }
    fn params(&self, blocks: Blocks) -> ReduceParams {
        ReduceParams {
            epsilon: EPSILON as f32,
            momentum: MOMENTUM as f32,
            // Keras computes 1 - momentum in double, then rounds to float32.
            one_minus_momentum: (1.0 - MOMENTUM) as f32,
            alpha: super::activation::LEAKY_ALPHA,
            ..blocks.params()
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
    stats_partials: Kernel,
    stats_finish: Kernel,
    stats_finish_moving: Kernel,
    moving_update: Kernel,
    apply: Kernel,
    backward_partials: Kernel,
    backward_finish: Kernel,
    backward_input: Kernel,
}

impl BatchNormOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let k = |e| Kernel::new(ctx, &shaders::BATCHNORM, e, &[]);
        Ok(BatchNormOps {
            stats_partials: k("bn_stats_partials")?,
            stats_finish: k("bn_stats_finish")?,
            stats_finish_moving: k("bn_stats_finish_moving")?,
            moving_update: k("bn_moving_update")?,
            apply: k("bn_apply")?,
            backward_partials: k("bn_backward_partials")?,
            backward_finish: k("bn_backward_finish")?,
            backward_input: k("bn_backward_input")?,
        })
    }

    /// Batch mean and biased variance of x; with `moving`, also moving = moving * 0.99 +
    /// batch * 0.01. Two dispatches (partial sums, then the statistics).
    pub fn stats(
        &self,
        ctx: &GpuContext,
        s: BnShape,
        x: &GpuSlice,
        out: &Stats,
        moving: Option<&Stats>,
    ) -> [Dispatch; 2] {
        assert_eq!(x.len, s.len());
        let blocks = s.blocks(1);
        let partials = ctx.storage("bn stats partials", 2 * blocks.partials_len());
        let u = ctx.uniform("bn_stats", &s.params(blocks));
        // The finish reads only x's first row (the shift of the sums).
        let first_row = x.range(0, s.channels);
        let mut finish = vec![
            ("p", Bind::Uniform(&u)),
            ("x", Bind::Storage(&first_row)),
            ("partials_in", Bind::Storage(&partials)),
            ("out_mean", Bind::Storage(&out.mean)),
            ("out_variance", Bind::Storage(&out.variance)),
        ];
        if let Some(m) = moving {
            finish.push(("moving_mean", Bind::Storage(&m.mean)));
            finish.push(("moving_variance", Bind::Storage(&m.variance)));
        }
        let finish_kernel = match moving {
            Some(_) => &self.stats_finish_moving,
            None => &self.stats_finish,
        };
        [
            self.stats_partials.dispatch(
                ctx,
                &[
                    ("p", Bind::Uniform(&u)),
                    ("x", Bind::Storage(x)),
                    ("partials", Bind::Storage(&partials)),
                ],
                blocks.grid(),
            ),
            finish_kernel.dispatch(ctx, &finish, blocks.finish_grid()),
        ]
    }

    /// moving = moving * 0.99 + batch * 0.01 from given batch statistics: the update `stats`
    /// fuses, alone, so tests can feed it Keras' own statistics.
    pub fn moving_update(
        &self,
        ctx: &GpuContext,
        s: BnShape,
        batch: &Stats,
        moving: &Stats,
    ) -> Dispatch {
        let u = ctx.uniform("bn_moving_update", &s.params(s.blocks(1)));
        self.moving_update.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("mean", Bind::Storage(&batch.mean)),
                ("variance", Bind::Storage(&batch.variance)),
                ("moving_mean", Bind::Storage(&moving.mean)),
                ("moving_variance", Bind::Storage(&moving.variance)),
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
        let mut params = s.params(s.blocks(1));
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

    /// dgamma = sum(dy * xhat), dbeta = sum(dy) (batch statistics): two dispatches.
    pub fn backward_reduce(
        &self,
        ctx: &GpuContext,
        s: BnShape,
        x: &GpuSlice,
        dy: &GpuSlice,
        stats: &Stats,
        dgamma: &GpuSlice,
        dbeta: &GpuSlice,
    ) -> [Dispatch; 2] {
        let blocks = s.blocks(2);
        let partials = ctx.storage("bn backward partials", 2 * blocks.partials_len());
        let u = ctx.uniform("bn_backward", &s.params(blocks));
        [
            self.backward_partials.dispatch(
                ctx,
                &[
                    ("p", Bind::Uniform(&u)),
                    ("x", Bind::Storage(x)),
                    ("dy", Bind::Storage(dy)),
                    ("mean", Bind::Storage(&stats.mean)),
                    ("variance", Bind::Storage(&stats.variance)),
                    ("partials", Bind::Storage(&partials)),
                ],
                blocks.grid(),
            ),
            self.backward_finish.dispatch(
                ctx,
                &[
                    ("p", Bind::Uniform(&u)),
                    ("partials_in", Bind::Storage(&partials)),
                    ("dgamma_out", Bind::Storage(dgamma)),
                    ("dbeta_out", Bind::Storage(dbeta)),
                ],
                blocks.finish_grid(),
            ),
        ]
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
        let u = ctx.uniform("bn_backward_input", &s.params(s.blocks(2)));
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
