//! Batch normalisation over (N, H, W) per channel (`shaders/batchnorm.wgsl`): batch
//! statistics (with the moving-statistics update), apply (training or inference), backward.
//! The sums run in the two deterministic stages of `shaders/reduce.wgsl`.

use super::activation::{Activation, activation_code};
use super::reduce::{Blocks, ReduceParams};
use crate::gpu::kernel::grid_for;
use crate::gpu::shaders::FINISH_COLS;
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

/// Per-channel statistics: two slices of `channels` elements in one buffer, the variance after
/// the mean (bound as one binding: a kernel has at most 8 storage bindings on WebGPU).
#[derive(Clone, Debug)]
pub struct Stats {
    pub mean: GpuSlice,
    pub variance: GpuSlice,
}

/// Two per-channel vectors of one buffer as one binding, and the second's offset in elements.
fn pair(first: &GpuSlice, second: &GpuSlice) -> (GpuSlice, u32) {
    assert!(
        first.buffer == second.buffer && second.offset > first.offset,
        "a pair of vectors must share a buffer, the second after the first"
    );
    let stride = ((second.offset - first.offset) / 4) as usize;
    (first.range_beyond(0, stride + second.len), stride as u32)
}

impl Stats {
    /// One buffer holding `mean` then `variance` (at a 256-byte aligned offset).
    pub fn upload(ctx: &GpuContext, label: &str, mean: &[f32], variance: &[f32]) -> Stats {
        assert_eq!(mean.len(), variance.len());
        let c = mean.len();
        let stride = c.div_ceil(64) * 64;
        let mut v = vec![0.0; stride + c];
        v[..c].copy_from_slice(mean);
        v[stride..].copy_from_slice(variance);
        let buf = ctx.storage_init(label, &v);
        Stats {
            mean: buf.range(0, c),
            variance: buf.range(stride, c),
        }
    }

    fn pair(&self) -> (GpuSlice, u32) {
        pair(&self.mean, &self.variance)
    }
}

/// A BatchNorm layer's scale and shift, and the activation fused into its output.
#[derive(Clone, Copy, Debug)]
pub struct BnLayer<'a> {
    pub gamma: &'a GpuSlice,
    pub beta: &'a GpuSlice,
    pub activation: Option<Activation>,
}

/// Where a training pass writes its batch statistics, and the moving ones it updates (if any).
#[derive(Clone, Copy, Debug)]
pub struct TrainStats<'a> {
    pub batch: &'a Stats,
    pub moving: Option<&'a Stats>,
}

/// What the backward pass needs of the training forward: its input and batch statistics.
#[derive(Clone, Copy, Debug)]
pub struct BnSaved<'a> {
    pub x: &'a GpuSlice,
    pub stats: &'a Stats,
}

/// Where the backward pass writes: dgamma then dbeta (one buffer), dx and, where given, dx's
/// column sums per row group.
#[derive(Clone, Copy, Debug)]
pub struct BnGrads<'a> {
    pub dgamma: &'a GpuSlice,
    pub dbeta: &'a GpuSlice,
    pub dx: &'a GpuSlice,
    pub dx_sums: Option<&'a GpuSlice>,
}

pub struct BatchNormOps {
    stats_partials: Kernel,
    apply_batch: Kernel,
    apply: Kernel,
    moving_update: Kernel,
    backward_partials: Kernel,
    backward_input: Kernel,
}

/// Rows per workgroup of the blocked kernels (16 row lanes by 16 channels): a workgroup reads
/// `inputs` tensors over these rows plus its channels' partials, under 16384 elements.
fn group_rows(partials_per_group: u32, inputs: u32) -> u32 {
    let left = 15360u32.saturating_sub(partials_per_group);
    (left / (16 * inputs) / 16 * 16).max(16)
}

impl BatchNormOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let k = |e| Kernel::new::<ReduceParams>(ctx, &shaders::BATCHNORM, e, &[]);
        Ok(BatchNormOps {
            stats_partials: k("bn_stats_partials")?,
            apply_batch: k("bn_apply_batch")?,
            apply: k("bn_apply")?,
            moving_update: k("bn_moving_update")?,
            backward_partials: k("bn_backward_partials")?,
            backward_input: k("bn_backward_input")?,
        })
    }

    /// Training-mode forward: y = act((x - mean) * gamma / sqrt(var + eps) + beta) with the
    /// batch statistics, which go to `batch`; with `moving`, also moving = moving * 0.99 +
    /// batch * 0.01. Two dispatches (partial sums; statistics and apply).
    pub fn forward_train(
        &self,
        ctx: &GpuContext,
        s: BnShape,
        layer: BnLayer<'_>,
        x: &GpuSlice,
        stats: TrainStats<'_>,
        y: &GpuSlice,
    ) -> [Dispatch; 2] {
        let (
            BnLayer {
                gamma,
                beta,
                activation,
            },
            TrainStats { batch, moving },
        ) = (layer, stats);
        assert_eq!((x.len, y.len), (s.len(), s.len()));
        let blocks = s.blocks(1);
        let partials = ctx.scratch("bn stats partials", 2 * blocks.partials_len());
        let (batch_pair, stride) = batch.pair();
        let moving_pair = moving.map(|m| m.pair());
        if let Some((_, moving_stride)) = moving_pair {
            assert_eq!(
                moving_stride, stride,
                "batch and moving statistics laid out alike"
            );
        }
        let partials_per_group = 2 * blocks.blocks * 16;
        let mut params = s.params(blocks);
        params.activation = activation_code(activation);
        params.update_moving = u32::from(moving.is_some());
        params.stats_stride = stride;
        params.group_rows = group_rows(partials_per_group, 1);
        let u = ctx.uniform("bn_forward", &params);
        let grid = [
            (s.channels as u32).div_ceil(FINISH_COLS),
            (s.rows as u32).div_ceil(params.group_rows),
            1,
        ];
        let groups = u64::from(grid[0] * grid[1]);
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
            self.apply_batch.dispatch_reading(
                ctx,
                &[
                    ("p", Bind::Uniform(&u)),
                    ("x", Bind::Storage(x)),
                    ("gamma", Bind::Storage(gamma)),
                    ("beta", Bind::Storage(beta)),
                    ("partials_in", Bind::Storage(&partials)),
                    ("batch_stats", Bind::Storage(&batch_pair)),
                    (
                        "moving",
                        moving_pair
                            .as_ref()
                            .map_or(Bind::Dummy, |m| Bind::Storage(&m.0)),
                    ),
                    ("out", Bind::Storage(y)),
                ],
                grid,
                // Every workgroup reads its channels' partials (and x over its rows).
                Some(x.len as u64 + groups * u64::from(partials_per_group + 32)),
            ),
        ]
    }

    /// y = act((x - mean) * gamma / sqrt(var + eps) + beta) with given statistics (inference:
    /// the moving ones).
    pub fn apply(
        &self,
        ctx: &GpuContext,
        s: BnShape,
        layer: BnLayer<'_>,
        x: &GpuSlice,
        stats: &Stats,
        y: &GpuSlice,
    ) -> Dispatch {
        let BnLayer {
            gamma,
            beta,
            activation,
        } = layer;
        let (stats_pair, stride) = stats.pair();
        let mut params = s.params(s.blocks(1));
        params.activation = activation_code(activation);
        params.stats_stride = stride;
        let u = ctx.uniform("bn_apply", &params);
        self.apply.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("x", Bind::Storage(x)),
                ("gamma", Bind::Storage(gamma)),
                ("beta", Bind::Storage(beta)),
                ("stats", Bind::Storage(&stats_pair)),
                ("out", Bind::Storage(y)),
            ],
            grid_for(s.len() as u32),
        )
    }

    /// moving = moving * 0.99 + batch * 0.01 from given batch statistics: the update
    /// `forward_train` fuses, alone, so tests can feed it Keras' own statistics.
    pub fn moving_update(
        &self,
        ctx: &GpuContext,
        s: BnShape,
        batch: &Stats,
        moving: &Stats,
    ) -> Dispatch {
        let ((batch_pair, stride), (moving_pair, moving_stride)) = (batch.pair(), moving.pair());
        assert_eq!(
            stride, moving_stride,
            "batch and moving statistics laid out alike"
        );
        let mut params = s.params(s.blocks(1));
        params.stats_stride = stride;
        let u = ctx.uniform("bn_moving_update", &params);
        self.moving_update.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("stats", Bind::Storage(&batch_pair)),
                ("moving", Bind::Storage(&moving_pair)),
            ],
            [(s.channels as u32).div_ceil(64), 1, 1],
        )
    }

    /// The backward pass through the batch statistics: dgamma = sum(dy * xhat) and dbeta =
    /// sum(dy) (one buffer, dbeta after dgamma, as a network's gradients lay them out), and dx.
    /// With `dx_sums`, also dx's column sums per row group (`dx_sums_len` elements), the
    /// partials of the bias gradient of a transposed convolution before this layer. Two
    /// dispatches (partial sums; the sums and dx).
    pub fn backward(
        &self,
        ctx: &GpuContext,
        s: BnShape,
        gamma: &GpuSlice,
        saved: BnSaved<'_>,
        dy: &GpuSlice,
        grads: BnGrads<'_>,
    ) -> [Dispatch; 2] {
        let (
            BnSaved { x, stats },
            BnGrads {
                dgamma,
                dbeta,
                dx,
                dx_sums,
            },
        ) = (saved, grads);
        assert_eq!((x.len, dy.len, dx.len), (s.len(), s.len(), s.len()));
        let blocks = s.blocks(2);
        let partials = ctx.scratch("bn backward partials", 2 * blocks.partials_len());
        let (stats_pair, stride) = stats.pair();
        let (dgb, grad_stride) = pair(dgamma, dbeta);
        let partials_per_group = 2 * blocks.blocks * 16;
        let mut params = s.params(blocks);
        params.stats_stride = stride;
        params.grad_stride = grad_stride;
        params.group_rows = self.dx_group_rows(s);
        params.store_dx_sums = u32::from(dx_sums.is_some());
        let u = ctx.uniform("bn_backward", &params);
        let grid = [
            (s.channels as u32).div_ceil(FINISH_COLS),
            (s.rows as u32).div_ceil(params.group_rows),
            1,
        ];
        if let Some(sums) = dx_sums {
            assert_eq!(sums.len, self.dx_sums_len(s));
        }
        let groups = u64::from(grid[0] * grid[1]);
        [
            self.backward_partials.dispatch(
                ctx,
                &[
                    ("p", Bind::Uniform(&u)),
                    ("x", Bind::Storage(x)),
                    ("dy", Bind::Storage(dy)),
                    ("stats", Bind::Storage(&stats_pair)),
                    ("partials", Bind::Storage(&partials)),
                ],
                blocks.grid(),
            ),
            self.backward_input.dispatch_reading(
                ctx,
                &[
                    ("p", Bind::Uniform(&u)),
                    ("x", Bind::Storage(x)),
                    ("dy", Bind::Storage(dy)),
                    ("gamma", Bind::Storage(gamma)),
                    ("stats", Bind::Storage(&stats_pair)),
                    ("partials_in", Bind::Storage(&partials)),
                    ("dgb", Bind::Storage(&dgb)),
                    ("dx_partials", dx_sums.map_or(Bind::Dummy, Bind::Storage)),
                    ("out", Bind::Storage(dx)),
                ],
                grid,
                Some(2 * x.len as u64 + groups * u64::from(partials_per_group + 48)),
            ),
        ]
    }

    fn dx_group_rows(&self, s: BnShape) -> u32 {
        group_rows(2 * s.blocks(2).blocks * 16, 2)
    }

    /// Row groups of the backward pass: the blocks of its dx column sums.
    pub fn dx_sum_blocks(&self, s: BnShape) -> usize {
        (s.rows as u32).div_ceil(self.dx_group_rows(s)) as usize
    }

    /// Elements of the dx column sums `backward` writes: [row groups][channels].
    pub fn dx_sums_len(&self, s: BnShape) -> usize {
        self.dx_sum_blocks(s) * s.channels
    }
}
