//! The training step with the seed's semantics, recorded once as a list of dispatches and
//! replayed every iteration; nothing is uploaded or read back inside an iteration.
//!
//! One iteration (BatchNorm modes as measured against Keras 2, see README):
//! 1. real batch: random indices and the gather, all on the GPU; noise z1 and z2 ~ N(0, 1);
//! 2. fakes = G(z1), training-mode BN updating G's moving statistics (`--fake-bn train`,
//!    default) or inference-mode BN (`--fake-bn inference`, the post's `generator.predict`);
//! 3. D: one Adam step on the real batch (label 1), one on the fakes (label 0), both in
//!    training mode, updating D's moving statistics;
//! 4. G: one Adam step on D(G(z2)) with label 1; G in training mode (updating its moving
//!    statistics), D frozen: batch statistics, moving statistics untouched, weights unchanged;
//! 5. the GPU iteration counter advances, which re-keys every random draw.

use anyhow::{Context, Result, bail};

use crate::data::Images;
use crate::gpu::{Dispatch, GpuContext, GpuSlice};
use crate::model::{self, Arch, BnMode, IMAGE_PIXELS, Network, NetworkParams, ParamLayout};
use crate::ops::Ops;
use crate::ops::adam::AdamConfig;
use crate::ops::data::{Iteration, stream};

/// BatchNorm mode of the generator pass that makes D's fakes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FakeBn {
    /// Batch statistics, updating G's moving statistics (Keras 2's actual behaviour).
    #[default]
    Train,
    /// Moving statistics (`generator.predict` as the post's code reads); degenerates.
    Inference,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub iterations: u64,
    pub batch_size: usize,
    pub sample_interval: u64,
    pub z_dim: usize,
    pub adam: AdamConfig,
    pub seed: u64,
    pub arch: Arch,
    pub fake_bn: FakeBn,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            iterations: 20_000,
            batch_size: 128,
            sample_interval: 1000,
            z_dim: 100,
            adam: AdamConfig::default(),
            seed: 0,
            arch: Arch::Full,
            fake_bn: FakeBn::Train,
        }
    }
}

impl TrainConfig {
    /// Rejects impossible values before any GPU work.
    pub fn validate(&self, images: Option<&Images>) -> Result<()> {
        if self.iterations == 0 {
            bail!("--iterations must be at least 1");
        }
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        if self.sample_interval == 0 {
            bail!("--sample-interval must be at least 1");
        }
        if self.z_dim == 0 {
            bail!("--z-dim must be at least 1");
        }
        let lr = self.adam.learning_rate;
        if !(lr.is_finite() && lr > 0.0) {
            bail!("--learning-rate must be a positive number, got {lr}");
        }
        let b1 = self.adam.beta1;
        if !(0.0..1.0).contains(&b1) {
            bail!("--beta1 must be in [0, 1), got {b1}");
        }
        if let Some(images) = images
            && self.batch_size > images.count
        {
            bail!(
                "--batch-size {} is larger than the data set ({} images)",
                self.batch_size,
                images.count
            );
        }
        Ok(())
    }
}

/// The figures of one iteration, as the loss kernel wrote them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    pub d_loss_real: f32,
    pub d_acc_real: f32,
    pub d_loss_fake: f32,
    pub d_acc_fake: f32,
    pub g_loss: f32,
}

impl Metrics {
    /// The seed's `0.5 * np.add(d_loss_real, d_loss_fake)`.
    pub fn d_loss(&self) -> f32 {
        0.5 * (self.d_loss_real + self.d_loss_fake)
    }
    pub fn d_acc(&self) -> f32 {
        0.5 * (self.d_acc_real + self.d_acc_fake)
    }
    /// The seed's report line: `N [D loss: f, acc.: p%] [G loss: f]`.
    pub fn line(&self, iteration: u64) -> String {
        format!(
            "{iteration} [D loss: {:.6}, acc.: {:.2}%] [G loss: {:.6}]",
            self.d_loss(),
            100.0 * self.d_acc(),
            self.g_loss
        )
    }
}

/// Number of images in a sample grid (4 x 4).
pub const GRID_SAMPLES: usize = 16;

/// Offsets of the initialisation seeds of the two networks.
const G_INIT_SALT: u64 = 0x4745_4E45_5241_544F; // "GENERATO"
const D_INIT_SALT: u64 = 0x4449_5343_5249_4D49; // "DISCRIMI"

/// All buffers and the recorded step of one training run.
pub struct Trainer<'a> {
    ctx: &'a GpuContext,
    pub config: TrainConfig,
    pub g: NetworkParams,
    pub d: NetworkParams,
    pub g_net: Network,
    pub d_net: Network,
    sampler: Network,
    /// Inputs of the current iteration: real batch, noise of the fakes, noise of G's step.
    pub real: GpuSlice,
    pub z_fake: GpuSlice,
    pub z_gen: GpuSlice,
    /// `[d_loss_real, d_acc_real, d_loss_fake, d_acc_fake, g_loss, g_acc]` of the last iteration.
    pub metrics: GpuSlice,
    /// The GPU iteration counter (one u32).
    pub counter: GpuSlice,
    step: Vec<Dispatch>,
    sample: Vec<Dispatch>,
    /// Iterations completed.
    pub iteration: u64,
    /// Submissions not yet known to be finished (at most one stays in flight).
    in_flight: Option<wgpu::SubmissionIndex>,
}

impl<'a> Trainer<'a> {
    /// Allocates everything and records the step. With `images` the step draws its own batches
    /// on the GPU; without, the caller writes `real`, `z_fake` and `z_gen` before each
    /// iteration (used to replay the Keras fixture).
    pub fn new(
        ctx: &'a GpuContext,
        ops: &Ops,
        config: TrainConfig,
        images: Option<&Images>,
    ) -> Result<Self> {
        config.validate(images)?;
        let b = config.batch_size;
        let gl = model::generator(config.arch, config.z_dim);
        let dl = model::discriminator(config.arch);
        check_limits(ctx, &gl, &dl, b, images)?;
        let (g_layout, d_layout) = (ParamLayout::trainable(&gl), ParamLayout::trainable(&dl));
        let g = NetworkParams::new(
            ctx,
            &gl,
            &g_layout.keras_init(config.seed ^ G_INIT_SALT),
            &ParamLayout::moving_stats(&gl).keras_init(0),
        );
        let d = NetworkParams::new(
            ctx,
            &dl,
            &d_layout.keras_init(config.seed ^ D_INIT_SALT),
            &ParamLayout::moving_stats(&dl).keras_init(0),
        );
        let g_net = Network::new(ctx, &gl, b);
        let d_net = Network::new(ctx, &dl, b);
        let sampler = Network::new(ctx, &gl, GRID_SAMPLES);
        let real = ctx.storage("real batch", b * IMAGE_PIXELS);
        let z_fake = ctx.storage("z fake", b * config.z_dim);
        let z_gen = ctx.storage("z generator", b * config.z_dim);
        let z_sample = ctx.storage("z samples", GRID_SAMPLES * config.z_dim);
        let dlogits = ctx.storage("d logits grad", b);
        let metrics = ctx.storage("metrics", 6);
        let counter = ctx.storage("iteration counter", 1);
        let seed = config.seed;
        let it = Iteration::Counter(&counter);

        let mut step = Vec::new();
        if let Some(images) = images {
            // Uploaded once; stays on the GPU as u8, four pixels a word.
            let words = ctx.storage_init("training images", &images.packed_words());
            let indices = ctx.storage("batch indices", b);
            step.push(ops.data.sample_indices(
                ctx,
                seed,
                stream::REAL_INDICES,
                it,
                images.count,
                &indices,
            ));
            step.push(
                ops.data
                    .gather_images(ctx, IMAGE_PIXELS, &words, &indices, &real),
            );
            step.push(
                ops.data
                    .normal_noise(ctx, seed, stream::FAKE_NOISE, it, &z_fake),
            );
            step.push(
                ops.data
                    .normal_noise(ctx, seed, stream::GENERATOR_NOISE, it, &z_gen),
            );
        }
        let train = BnMode::Train {
            update_moving: true,
        };
        let fake_mode = match config.fake_bn {
            FakeBn::Train => train,
            FakeBn::Inference => BnMode::Inference,
        };
        let fakes = g_net.output();
        // Fakes for D.
        step.extend(g_net.forward(ctx, ops, &g, &z_fake, fake_mode));
        // D on the real batch, label 1, then on the fakes, label 0.
        for (input, label, slot) in [(&real, 1.0, 0), (fakes, 0.0, 2)] {
            step.extend(d_net.forward(ctx, ops, &d, input, train));
            step.push(ops.loss.bce_with_logits(
                ctx,
                label,
                d_net.output(),
                &dlogits,
                &metrics,
                slot,
            ));
            step.extend(d_net.backward(ctx, ops, &d, input, &dlogits, true, false));
            step.extend(d.adam_step(ctx, ops, &config.adam));
        }
        // G through the frozen D, label 1.
        step.extend(g_net.forward(ctx, ops, &g, &z_gen, train));
        step.extend(d_net.forward(
            ctx,
            ops,
            &d,
            fakes,
            BnMode::Train {
                update_moving: false,
            },
        ));
        step.push(
            ops.loss
                .bce_with_logits(ctx, 1.0, d_net.output(), &dlogits, &metrics, 4),
        );
        step.extend(d_net.backward(ctx, ops, &d, fakes, &dlogits, false, true));
        step.extend(g_net.backward(ctx, ops, &g, &z_gen, &d_net.input_grad, true, false));
        step.extend(g.adam_step(ctx, ops, &config.adam));
        step.push(ops.data.advance_iteration(ctx, &counter));

        // The fixed sample noise, drawn once.
        ctx.run(&[ops.data.normal_noise(
            ctx,
            seed,
            stream::SAMPLE_NOISE,
            Iteration::Fixed(0),
            &z_sample,
        )])?;
        let sample = sampler.forward(ctx, ops, &g, &z_sample, BnMode::Inference);
        log::info!(
            "{} dispatches per iteration; G {} and D {} parameters",
            step.len(),
            g_layout.entries.iter().map(|e| e.len).sum::<usize>(),
            d_layout.entries.iter().map(|e| e.len).sum::<usize>()
        );
        Ok(Trainer {
            ctx,
            config,
            g,
            d,
            g_net,
            d_net,
            sampler,
            real,
            z_fake,
            z_gen,
            metrics,
            counter,
            step,
            sample,
            iteration: 0,
            in_flight: None,
        })
    }

    /// Dispatches per iteration.
    pub fn dispatches_per_iteration(&self) -> usize {
        self.step.len()
    }

    /// Records `n` iterations into one compute pass and submits them. Returns once the previous
    /// submission has finished, so the GPU always has the next batch of work queued while the
    /// host records.
    pub fn run(&mut self, n: u64) -> Result<()> {
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("train"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("train"),
                timestamp_writes: None,
            });
            for _ in 0..n {
                for d in &self.step {
                    d.record(&mut pass);
                }
            }
        }
        let index = self.ctx.queue.submit([encoder.finish()]);
        if let Some(previous) = self.in_flight.replace(index) {
            self.ctx
                .device
                .poll(wgpu::PollType::Wait {
                    submission_index: Some(previous),
                    timeout: None,
                })
                .context("waiting for the GPU")?;
        }
        self.ctx.check()?;
        self.iteration += n;
        Ok(())
    }

    /// Waits for all submitted iterations.
    pub fn finish(&mut self) -> Result<()> {
        self.in_flight = None;
        Ok(self.ctx.wait()?)
    }

    /// The losses and accuracies of the last completed iteration (waits for it).
    pub fn metrics(&mut self) -> Result<Metrics> {
        self.finish()?;
        let m: Vec<f32> = self.ctx.read(&self.metrics)?;
        Ok(Metrics {
            d_loss_real: m[0],
            d_acc_real: m[1],
            d_loss_fake: m[2],
            d_acc_fake: m[3],
            g_loss: m[4],
        })
    }

    /// G's images for the fixed sample noise, inference-mode BN (Keras' `predict`), in [-1, 1].
    pub fn samples(&mut self) -> Result<Vec<f32>> {
        self.finish()?;
        self.ctx.run(&self.sample)?;
        Ok(self.ctx.read(self.sampler.output())?)
    }
}

/// Every buffer must fit the adapter's binding and buffer limits; say which limit a batch
/// breaks instead of failing inside wgpu.
fn check_limits(
    ctx: &GpuContext,
    gl: &[model::LayerSpec],
    dl: &[model::LayerSpec],
    batch: usize,
    images: Option<&Images>,
) -> Result<()> {
    let binding = ctx.limits.max_storage_buffer_binding_size;
    let buffer = ctx.limits.max_buffer_size;
    let largest_layer = gl
        .iter()
        .chain(dl)
        .map(|l| l.out_len.max(l.in_len))
        .max()
        .unwrap_or(0);
    let act_bytes = (batch * largest_layer * 4) as u64;
    if act_bytes > binding.min(buffer) {
        let fits = binding.min(buffer) / (largest_layer as u64 * 4);
        bail!(
            "--batch-size {batch} needs {act_bytes} bytes for one activation tensor, more than the \
             adapter's max_storage_buffer_binding_size ({binding}) / max_buffer_size ({buffer}); \
             the largest batch that fits is {fits}"
        );
    }
    if let Some(images) = images {
        let bytes = images.pixels.len().div_ceil(4) as u64 * 4;
        if bytes > binding.min(buffer) {
            bail!(
                "the training set ({bytes} bytes) exceeds the adapter's \
                 max_storage_buffer_binding_size ({binding})"
            );
        }
    }
    Ok(())
}

/// Iterations recorded per submit between reports: enough to amortise a submit, few enough to
/// keep a driver watchdog (e.g. Windows' 2 s TDR) far away on slow adapters.
const CHUNK: u64 = 16;

/// Trains for `config.iterations`, writing `out_dir/samples_NNNNNN.png` before training and at
/// every report and `out_dir/losses.csv`; `report` receives each line in the seed's format.
pub fn run_training(
    trainer: &mut Trainer<'_>,
    out_dir: &std::path::Path,
    mut report: impl FnMut(&str),
) -> Result<()> {
    use crate::output::{LossLog, grid_path, write_grid};
    let total = trainer.config.iterations;
    let interval = trainer.config.sample_interval;
    let mut log = LossLog::create(out_dir)?;
    write_grid(
        &grid_path(out_dir, trainer.iteration),
        &trainer.samples()?,
        4,
        4,
    )?;
    while trainer.iteration < total {
        let next_report = (trainer.iteration / interval + 1) * interval;
        let target = next_report.min(total);
        trainer.run((target - trainer.iteration).min(CHUNK))?;
        // The seed reports every `sample_interval` iterations; the end of a run that is not a
        // multiple of it is reported too, so its final state is on disk.
        if trainer.iteration == target {
            let m = trainer.metrics()?;
            report(&m.line(trainer.iteration));
            log.append(trainer.iteration, &m)?;
            write_grid(
                &grid_path(out_dir, trainer.iteration),
                &trainer.samples()?,
                4,
                4,
            )?;
        }
    }
    Ok(())
}

impl Trainer<'_> {
    /// Runs each dispatch of one iteration on its own, `repeats` times, and returns (kernel,
    /// workgroups, median seconds) per dispatch: a wall-clock breakdown that needs no
    /// timestamp queries.
    pub fn profile_dispatches(&mut self, repeats: usize) -> Result<Vec<(String, [u32; 3], f64)>> {
        self.finish()?;
        let mut out = Vec::new();
        for d in &self.step {
            let mut times = Vec::new();
            for _ in 0..repeats.max(1) {
                let t = std::time::Instant::now();
                self.ctx.run([d])?;
                times.push(t.elapsed().as_secs_f64());
            }
            times.sort_by(f64::total_cmp);
            out.push((d.kernel.to_string(), d.workgroups, times[times.len() / 2]));
        }
        Ok(out)
    }
}
