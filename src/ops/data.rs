//! The on-GPU data path (`shaders/philox.wgsl` + `shaders/data.wgsl`): batch indices, image
//! gather and scaling, Gaussian noise, and the iteration counter that keys them.

use crate::gpu::kernel::{grid_1d, grid_for};
use crate::gpu::shaders::WORKGROUP_1D;
use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders};

/// Independent random streams of one iteration.
pub mod stream {
    /// Indices of the real batch.
    pub const REAL_INDICES: u32 = 0;
    /// Noise of the fakes D trains on.
    pub const FAKE_NOISE: u32 = 1;
    /// Noise of the generator's step.
    pub const GENERATOR_NOISE: u32 = 2;
    /// The fixed noise of the sample grids (drawn at iteration 0 only).
    pub const SAMPLE_NOISE: u32 = 3;
    /// Indices of the classifier's batches.
    pub const CLASSIFIER_INDICES: u32 = 5;
    /// The fixed noise of the quality evaluation during training.
    pub const EVAL_NOISE: u32 = 6;
    /// The labels of a conditional generator step.
    pub const GENERATOR_LABELS: u32 = 7;
}

crate::params! {
    struct DataParams {
        seed_lo: u32,
        seed_hi: u32,
        stream: u32,
        count: u32,
        num_images: u32,
        pixels: u32,
        use_fixed_iteration: u32,
        fixed_iteration: u32,
        image_workgroups: u32,
        noise_count: u32,
        noise_stride: u32,
        classes: u32,
    }
}

/// Where a random kernel takes its iteration from.
#[derive(Clone, Copy, Debug)]
pub enum Iteration<'a> {
    /// The GPU counter (a one-element u32 buffer) the training step advances.
    Counter(&'a GpuSlice),
    Fixed(u32),
}

/// Which counter-based random numbers a kernel draws: Philox keyed by the run's `seed`, one
/// `stream` per purpose (see [`stream`]), at an iteration.
#[derive(Clone, Copy, Debug)]
pub struct Draw<'a> {
    pub seed: u64,
    pub stream: u32,
    pub iteration: Iteration<'a>,
}

impl<'a> Draw<'a> {
    pub fn new(seed: u64, stream: u32, iteration: Iteration<'a>) -> Self {
        Draw {
            seed,
            stream,
            iteration,
        }
    }
}

/// A data set's images on the GPU: `count` images of `pixels` u8 pixels, four a word.
#[derive(Clone, Copy, Debug)]
pub struct PackedImages<'a> {
    pub words: &'a GpuSlice,
    pub count: usize,
    pub pixels: usize,
}

fn params(draw: Draw<'_>, count: usize) -> DataParams {
    DataParams {
        seed_lo: draw.seed as u32,
        seed_hi: (draw.seed >> 32) as u32,
        stream: draw.stream,
        count: count as u32,
        use_fixed_iteration: u32::from(matches!(draw.iteration, Iteration::Fixed(_))),
        fixed_iteration: match draw.iteration {
            Iteration::Fixed(i) => i,
            Iteration::Counter(_) => 0,
        },
        ..Default::default()
    }
}

fn counter_bind<'a>(iteration: Iteration<'a>) -> Bind<'a> {
    match iteration {
        Iteration::Counter(c) => Bind::Storage(c),
        Iteration::Fixed(_) => Bind::Dummy,
    }
}

/// Where `draw_labels` takes its labels from.
#[derive(Clone, Copy, Debug)]
pub enum Labels<'a> {
    /// The data set's labels (u32, one per image) of the batch's images.
    OfBatch { data: &'a GpuSlice },
    /// Uniform over `classes`.
    Uniform { classes: usize },
}

pub struct DataOps {
    sample_indices: Kernel,
    gather_images: Kernel,
    gather_labels: Kernel,
    draw_labels: Kernel,
    normal_noise: Kernel,
    draw_batch: Kernel,
    advance_iteration: Kernel,
}

/// Two noise batches of one buffer: `first` then `second`, each `len` long, the second at an
/// offset a binding can start at.
pub struct NoisePair {
    pub buffer: GpuSlice,
    pub first: GpuSlice,
    pub second: GpuSlice,
}

impl NoisePair {
    pub fn new(ctx: &GpuContext, label: &str, len: usize) -> Self {
        let stride = len.div_ceil(64) * 64;
        let buffer = ctx.storage(label, stride + len);
        NoisePair {
            first: buffer.range(0, len),
            second: buffer.range(stride, len),
            buffer,
        }
    }

    fn stride(&self) -> usize {
        ((self.second.offset - self.first.offset) / 4) as usize
    }
}

impl DataOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let k = |e| Kernel::new::<DataParams>(ctx, &shaders::DATA, e, &[]);
        Ok(DataOps {
            sample_indices: k("sample_indices")?,
            gather_images: k("gather_images")?,
            gather_labels: k("gather_labels")?,
            draw_labels: k("draw_labels")?,
            normal_noise: k("normal_noise")?,
            draw_batch: k("draw_batch")?,
            advance_iteration: k("advance_iteration")?,
        })
    }

    /// indices[i] uniform in [0, num_images), for i < indices.len.
    pub fn sample_indices(
        &self,
        ctx: &GpuContext,
        draw: Draw<'_>,
        num_images: usize,
        indices: &GpuSlice,
    ) -> Dispatch {
        let mut p = params(draw, indices.len);
        p.num_images = num_images as u32;
        let u = ctx.uniform("sample_indices", &p);
        self.sample_indices.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("iteration", counter_bind(draw.iteration)),
                ("indices", Bind::Storage(indices)),
            ],
            grid_for(indices.len as u32),
        )
    }

    /// out[b, :] = images[indices[b], :] / 127.5 - 1 (images: u8, four per word).
    pub fn gather_images(
        &self,
        ctx: &GpuContext,
        pixels: usize,
        images: &GpuSlice,
        indices: &GpuSlice,
        out: &GpuSlice,
    ) -> Dispatch {
        assert_eq!(out.len, indices.len * pixels);
        let p = DataParams {
            count: out.len as u32,
            pixels: pixels as u32,
            ..Default::default()
        };
        let u = ctx.uniform("gather_images", &p);
        // The batch's images (four pixels a word) and their indices, not the whole data set.
        let read = (indices.len + out.len.div_ceil(4)) as u64;
        self.gather_images.dispatch_reading(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("images", Bind::Storage(images)),
                ("indices_in", Bind::Storage(indices)),
                ("out", Bind::Storage(out)),
            ],
            grid_for(out.len as u32),
            Some(read),
        )
    }

    /// out[b] = labels[indices[b]] (u32 labels).
    pub fn gather_labels(
        &self,
        ctx: &GpuContext,
        labels: &GpuSlice,
        indices: &GpuSlice,
        out: &GpuSlice,
    ) -> Dispatch {
        assert_eq!(out.len, indices.len);
        let p = DataParams {
            count: out.len as u32,
            ..Default::default()
        };
        let u = ctx.uniform("gather_labels", &p);
        self.gather_labels.dispatch_reading(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("labels", Bind::Storage(labels)),
                ("indices_in", Bind::Storage(indices)),
                ("labels_out", Bind::Storage(out)),
            ],
            grid_for(out.len as u32),
            Some(2 * out.len as u64),
        )
    }

    /// A conditional iteration's labels, written to both `out` buffers: those of the batch
    /// of `draw` (`Labels::OfBatch`, as `draw_batch` draws the images), or uniform in
    /// [0, classes) from `draw`.
    pub fn draw_labels(
        &self,
        ctx: &GpuContext,
        draw: Draw<'_>,
        labels: Labels<'_>,
        out: [&GpuSlice; 2],
    ) -> Dispatch {
        assert_eq!(out[0].len, out[1].len);
        let mut p = params(draw, out[0].len);
        let data = match labels {
            Labels::OfBatch { data } => {
                p.num_images = data.len as u32;
                Bind::Storage(data)
            }
            Labels::Uniform { classes } => {
                assert!(classes > 0);
                p.classes = classes as u32;
                Bind::Dummy
            }
        };
        let u = ctx.uniform("draw_labels", &p);
        self.draw_labels.dispatch_reading(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("iteration", counter_bind(draw.iteration)),
                ("labels", data),
                ("labels_out", Bind::Storage(out[0])),
                ("labels_out2", Bind::Storage(out[1])),
            ],
            grid_for(out[0].len as u32),
            // The batch's labels, not the data set's.
            Some(out[0].len as u64),
        )
    }

    /// out ~ N(0, 1), element i from Philox block i / 4 of (seed, iteration, stream).
    pub fn normal_noise(&self, ctx: &GpuContext, draw: Draw<'_>, out: &GpuSlice) -> Dispatch {
        let u = ctx.uniform("normal_noise", &params(draw, out.len));
        self.normal_noise.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("iteration", counter_bind(draw.iteration)),
                ("out", Bind::Storage(out)),
            ],
            grid_for((out.len as u32).div_ceil(4)),
        )
    }

    /// One training iteration's draws in one dispatch: `real` = images[indices] scaled, the
    /// indices from `draw` (as `sample_indices` draws them, without storing them), and the
    /// noise of the two streams after `draw`'s into `noise` (as `normal_noise` draws it).
    pub fn draw_batch(
        &self,
        ctx: &GpuContext,
        draw: Draw<'_>,
        images: PackedImages<'_>,
        real: &GpuSlice,
        noise: &NoisePair,
    ) -> Dispatch {
        let image_workgroups = (real.len as u32).div_ceil(WORKGROUP_1D);
        let noise_blocks = (noise.first.len as u32).div_ceil(4);
        let mut p = params(draw, real.len);
        p.num_images = images.count as u32;
        p.pixels = images.pixels as u32;
        p.image_workgroups = image_workgroups;
        p.noise_count = noise.first.len as u32;
        p.noise_stride = noise.stride() as u32;
        let u = ctx.uniform("draw_batch", &p);
        let batch = real.len / images.pixels;
        self.draw_batch.dispatch_reading(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("iteration", counter_bind(draw.iteration)),
                ("images", Bind::Storage(images.words)),
                ("out", Bind::Storage(real)),
                ("noise_out", Bind::Storage(&noise.buffer)),
            ],
            grid_1d(image_workgroups + (2 * noise_blocks).div_ceil(WORKGROUP_1D)),
            // The batch's images (four pixels a word), not the whole data set.
            Some((batch + real.len.div_ceil(4)) as u64),
        )
    }

    /// counter[0] += 1.
    pub fn advance_iteration(&self, ctx: &GpuContext, counter: &GpuSlice) -> Dispatch {
        let u = ctx.uniform("advance_iteration", &DataParams::default());
        self.advance_iteration.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("iteration_rw", Bind::Storage(counter)),
            ],
            [1, 1, 1],
        )
    }
}
