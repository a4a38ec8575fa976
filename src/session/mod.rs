//! A training session: every buffer and the recorded step of one run (allocated here, once),
//! advanced by chunks of iterations from any shell. Nothing here waits on the GPU except
//! through futures, reads a clock, or touches a file: the command line drives a session with
//! `pollster`, a web page with the browser's event loop.
//!
//! - [`step`]: one iteration in the seed's words;
//! - [`advance`]: submitting chunks, the reports they read back (`gpu::readback::Ring`);
//! - [`state`]: checkpoints out of and into a session;
//! - [`shape`]: what one iteration costs (FLOPs, dispatch shapes, per-dispatch GPU times).

mod advance;
mod shape;
mod state;
mod step;

use anyhow::{Result, bail};

pub use advance::{Report, report_bytes};
pub use shape::{DispatchShape, iteration_flops};

use crate::config::{DIGITS, IMAGE_PIXELS, TrainConfig};
use crate::data::TrainingSet;
use crate::gpu::readback::Ring;
use crate::gpu::{Dispatch, GpuContext, GpuSlice};
use crate::model::{self, BnMode, Network, NetworkParams, ParamLayout};
use crate::ops::Ops;
use crate::ops::data::{Draw, Iteration, Labels, NoisePair, PackedImages, stream};

/// Offsets of the initialisation seeds of the two networks.
const G_INIT_SALT: u64 = 0x4745_4E45_5241_544F; // "GENERATO"
const D_INIT_SALT: u64 = 0x4449_5343_5249_4D49; // "DISCRIMI"
/// Reports that can be in flight before a new one waits for the oldest.
const REPORT_SLOTS: usize = 3;
/// Elements of the metrics buffer (see `step::StepBuffers::metrics`).
const METRICS_LEN: usize = 6;

/// A run whose numbers stopped being finite (a learning rate too large, a damaged state):
/// nothing after it is worth keeping, so it stops, and no checkpoint is written from it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("training diverged at iteration {iteration}: {what}")]
pub struct Diverged {
    pub iteration: u64,
    pub what: String,
}

/// A fault a test injects to check that a run stops cleanly: the one seam for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Lose the device (as a driver reset would) once this many iterations are done.
    DeviceLossAt(u64),
}

pub struct Session<'a> {
    pub ctx: &'a GpuContext,
    pub config: TrainConfig,
    pub g: NetworkParams,
    pub d: NetworkParams,
    pub g_net: Network,
    pub d_net: Network,
    sampler: Network,
    /// The fixed noise of the sample grids.
    pub z_sample: GpuSlice,
    /// Inputs of the current iteration: real batch, noise of the fakes, noise of G's step.
    pub real: GpuSlice,
    pub z_fake: GpuSlice,
    pub z_gen: GpuSlice,
    pub metrics: GpuSlice,
    /// One u32: bit 0 set once a parameter or moving statistic is not finite (see `sample`).
    health: GpuSlice,
    /// The GPU iteration counter (one u32).
    pub counter: GpuSlice,
    step: Vec<Dispatch>,
    sample: Vec<Dispatch>,
    /// Iterations submitted (all completed once `finish` resolves).
    pub iteration: u64,
    /// The last submission and the marker of its completion (at most one stays in flight).
    in_flight: Option<(wgpu::SubmissionIndex, crate::gpu::SubmissionDone)>,
    /// The submission before it, until `settle` has waited for it.
    previous: Option<(wgpu::SubmissionIndex, crate::gpu::SubmissionDone)>,
    reports: Ring,
    /// Submits made (the benchmark's figure).
    pub submits: u64,
    fault: Option<Fault>,
}

impl<'a> Session<'a> {
    /// Allocates everything and records the step. With `data` the step draws its own batches
    /// (and a conditional run its labels) on the GPU; without, the caller writes `real`,
    /// `z_fake` and `z_gen` (and the networks' labels) before each iteration (used to replay
    /// the Keras fixture).
    pub async fn new(
        ctx: &'a GpuContext,
        ops: &Ops,
        config: TrainConfig,
        data: Option<TrainingSet<'_>>,
    ) -> Result<Self> {
        let images = data.map(|d| d.images);
        config.validate(images.map(|i| i.count))?;
        let conditional = config.arch.conditional();
        // The labels a conditional run draws, one u32 per image, checked before any is bound.
        let labels = match data {
            Some(TrainingSet {
                images,
                labels: Some(labels),
            }) if conditional => {
                if labels.len() != images.count {
                    bail!("{} labels for {} images", labels.len(), images.count);
                }
                if let Some(bad) = labels.iter().find(|&&l| usize::from(l) >= DIGITS) {
                    bail!("label {bad} is not a digit class 0-9");
                }
                let words: Vec<u32> = labels.iter().map(|&l| u32::from(l)).collect();
                Some(ctx.storage_init("training labels", &words))
            }
            Some(_) if conditional => bail!("a conditional run needs the training labels"),
            _ => None,
        };
        let b = config.batch_size;
        let gl = model::generator(config.arch, config.z_dim);
        let dl = model::discriminator(config.arch);
        shape::check_limits(ctx, &config, images)?;
        let (g_layout, d_layout) = (ParamLayout::trainable(&gl), ParamLayout::trainable(&dl));
        let init = |layers: &[model::LayerSpec], layout: &ParamLayout, salt: u64| {
            NetworkParams::new(
                ctx,
                layers,
                &layout.keras_init(config.seed ^ salt),
                &ParamLayout::moving_stats(layers).keras_init(0),
            )
        };
        let g = init(&gl, &g_layout, G_INIT_SALT);
        let d = init(&dl, &d_layout, D_INIT_SALT);
        let g_net = Network::new(ctx, "G", &gl, b);
        let d_net = Network::new(ctx, "D", &dl, b);
        let grid_samples = config.arch.grid_samples();
        let sampler = Network::new(ctx, "G", &gl, grid_samples);
        // A conditional grid has a row per digit (written once: the grid's labels are fixed).
        if let Some(l) = &sampler.labels {
            ctx.write(l, &config.arch.grid_labels());
        }
        let real = ctx.storage("real batch", b * IMAGE_PIXELS);
        // Both noise batches in one buffer, drawn by one dispatch.
        let noise = NoisePair::new(ctx, "z fake, z generator", b * config.z_dim);
        let (z_fake, z_gen) = (noise.first.clone(), noise.second.clone());
        let z_sample = ctx.storage("z samples", grid_samples * config.z_dim);
        let dlogits = ctx.storage("d logits grad", b);
        let metrics = ctx.storage("metrics", METRICS_LEN);
        let counter = ctx.storage("iteration counter", 1);
        let r = ops.recorder(ctx);

        let draw = images.map(|images| {
            // Uploaded once; stays on the GPU as u8, four pixels a word.
            let words = ctx.storage_init("training images", &images.packed_words());
            // Streams REAL_INDICES, then FAKE_NOISE and GENERATOR_NOISE (the two after it).
            const _: () = assert!(
                stream::FAKE_NOISE == stream::REAL_INDICES + 1
                    && stream::GENERATOR_NOISE == stream::REAL_INDICES + 2
            );
            let set = PackedImages {
                words: &words,
                count: images.count,
                pixels: IMAGE_PIXELS,
            };
            let it = Iteration::Counter(&counter);
            let draw = Draw::new(config.seed, stream::REAL_INDICES, it);
            let batch = ops.data.draw_batch(ctx, draw, set, &real, &noise);
            // A conditional run's two label draws: the real batch's labels (those of the
            // images just drawn, from the same stream), then fresh ones for G's step.
            let labels = labels.as_ref().map(|data| {
                let nets = [g_net.labels(), d_net.labels()];
                let draw = |stream, from| {
                    let it = Iteration::Counter(&counter);
                    ops.data
                        .draw_labels(ctx, Draw::new(config.seed, stream, it), from, nets)
                };
                step::LabelDraws {
                    real: draw(stream::REAL_INDICES, Labels::OfBatch { data }),
                    fresh: draw(
                        stream::GENERATOR_LABELS,
                        Labels::Uniform { classes: DIGITS },
                    ),
                }
            });
            step::Draws { batch, labels }
        });
        let buffers = step::StepBuffers {
            g: &g,
            d: &d,
            g_net: &g_net,
            d_net: &d_net,
            real: &real,
            z_fake: &z_fake,
            z_gen: &z_gen,
            dlogits: &dlogits,
            metrics: &metrics,
            counter: &counter,
        };
        // The fixed sample noise, drawn once.
        let sample_noise = ops.data.normal_noise(
            ctx,
            Draw::new(config.seed, stream::SAMPLE_NOISE, Iteration::Fixed(0)),
            &z_sample,
        );
        ctx.run(&[sample_noise]).await?;
        let health = ctx.storage("non-finite flag", 1);
        let record = || {
            let step = step::record_iteration(&r, &config, draw.clone(), &buffers);
            // A report: the grid, then whether G's or D's state has stopped being finite.
            let mut sample = sampler.forward(&r, &g, &z_sample, BnMode::Inference);
            for net in [&g, &d] {
                for values in [&net.params, &net.moving] {
                    if values.len > 0 {
                        sample.push(ops.finite.flag_nonfinite(ctx, values, &health));
                    }
                }
            }
            (step, sample)
        };
        let (step, sample) = ops.record_tuned(ctx, record).await;
        // Every buffer is bound whole: the largest must fit a binding (a backstop to the
        // per-activation check above, which also names the largest batch that fits).
        let (_, largest) = ctx.memory();
        let binding = ctx
            .limits
            .max_storage_buffer_binding_size
            .min(ctx.limits.max_buffer_size);
        if largest > binding {
            bail!(
                "batch {b} needs a {largest}-byte buffer, more than the adapter's \
                 max_storage_buffer_binding_size / max_buffer_size ({binding}); use a smaller batch"
            );
        }
        log::info!(
            "{} dispatches per iteration; G {} and D {} parameters",
            step.len(),
            g_layout.entries.iter().map(|e| e.len).sum::<usize>(),
            d_layout.entries.iter().map(|e| e.len).sum::<usize>()
        );
        let arch = config.arch;
        Ok(Session {
            ctx,
            config,
            g,
            d,
            g_net,
            d_net,
            sampler,
            z_sample,
            real,
            z_fake,
            z_gen,
            metrics,
            health,
            counter,
            step,
            sample,
            iteration: 0,
            in_flight: None,
            previous: None,
            reports: Ring::new(ctx, "report readback", report_bytes(arch), REPORT_SLOTS),
            submits: 0,
            fault: None,
        })
    }

    /// Dispatches per iteration.
    pub fn dispatches_per_iteration(&self) -> usize {
        self.step.len()
    }

    /// Injects a fault (tests; see [`Fault`]).
    pub fn inject(&mut self, fault: Fault) {
        self.fault = Some(fault);
    }
}
