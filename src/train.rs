//! The training step with the seed's semantics, recorded once as a list of dispatches and
//! replayed every iteration; nothing is uploaded or read back inside an iteration.
//!
//! One iteration (BatchNorm modes as measured against Keras 2, see README):
//! 0. the optimizers' bookkeeping for the iteration (D steps twice, G once), one dispatch;
//! 1. real batch: random indices and the gather, all on the GPU; noise z1 and z2 ~ N(0, 1)
//!    (one dispatch);
//! 2. fakes = G(z1), training-mode BN updating G's moving statistics (`--fake-bn train`,
//!    default) or inference-mode BN (`--fake-bn inference`, the post's `generator.predict`);
//! 3. D: one Adam step on the real batch (label 1), one on the fakes (label 0), both in
//!    training mode, updating D's moving statistics;
//! 4. G: one Adam step on D(G(z2)) with label 1; G in training mode (updating its moving
//!    statistics), D frozen: batch statistics, moving statistics untouched, weights unchanged;
//!    D's input gradient is taken through G's tanh in the same GEMM;
//! 5. the GPU iteration counter advances, which re-keys every random draw.

use anyhow::{Context, Result, bail};

pub use crate::config::{FakeBn, GRID_SAMPLES, Metrics, TrainConfig};
use crate::data::Images;
use crate::gpu::{Dispatch, GpuContext, GpuSlice, tag};
use crate::model::{
    self, BnMode, IMAGE_PIXELS, InputGrad, Network, NetworkParams, ParamLayout, Upstream,
};
use crate::ops::Ops;
use crate::ops::activation::Activation;
use crate::ops::data::{Iteration, NoisePair, stream};

/// Floating-point operations (2 per multiply-add of the dense and convolution layers) of one
/// training iteration: G forward twice, D forward three times, D's backward with weight
/// gradients twice, D's input gradients once and G's backward once.
pub fn iteration_flops(config: &TrainConfig) -> u64 {
    let b = config.batch_size;
    let (g_fwd, g_bwd, _) = model::pass_macs(&model::generator(config.arch, config.z_dim), b);
    let (d_fwd, d_bwd, d_input) = model::pass_macs(&model::discriminator(config.arch), b);
    2 * (2 * g_fwd + g_bwd + 3 * d_fwd + 2 * d_bwd + d_input)
}

/// Offsets of the initialisation seeds of the two networks.
const G_INIT_SALT: u64 = 0x4745_4E45_5241_544F; // "GENERATO"
const D_INIT_SALT: u64 = 0x4449_5343_5249_4D49; // "DISCRIMI"

/// All buffers and the recorded step of one training run.
pub struct Trainer<'a> {
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
    /// `[d_loss_real, d_acc_real, d_loss_fake, d_acc_fake, g_loss, g_acc]` of the last iteration.
    pub metrics: GpuSlice,
    /// The GPU iteration counter (one u32).
    pub counter: GpuSlice,
    step: Vec<Dispatch>,
    sample: Vec<Dispatch>,
    /// Iterations submitted (completed once `finish` returns).
    pub iteration: u64,
    /// The last submission, not yet known to be finished (at most one stays in flight).
    in_flight: Option<wgpu::SubmissionIndex>,
    /// Staging buffers the reports are copied into; reports in flight, oldest first.
    report_slots: Vec<ReportSlot>,
    pending_reports: std::collections::VecDeque<(usize, u64)>,
    /// Reports read back but not yet handed to the caller.
    ready_reports: Vec<Report>,
    /// Host time spent recording and submitting (not waiting), and submits made.
    pub host_time: std::time::Duration,
    pub submits: u64,
}

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

/// What a report reads back: the last iteration's metrics and the sample grid.
#[derive(Clone, Debug)]
pub struct Report {
    /// Iterations completed when it was taken.
    pub iteration: u64,
    pub metrics: Metrics,
    /// GRID_SAMPLES images of 28x28 in [-1, 1].
    pub samples: Vec<f32>,
}

/// A persistent MAP_READ buffer for one report and the state of its mapping.
struct ReportSlot {
    buffer: wgpu::Buffer,
    mapped: std::sync::Arc<std::sync::Mutex<Option<Result<(), wgpu::BufferAsyncError>>>>,
}

/// Bytes of a report: 6 metrics, then the samples.
const METRICS_LEN: usize = 6;
pub fn report_bytes() -> u64 {
    ((METRICS_LEN + GRID_SAMPLES * IMAGE_PIXELS) * 4) as u64
}
/// Reports that can be in flight before the host waits for the oldest.
const REPORT_SLOTS: usize = 3;

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
        config.validate(images.map(|i| i.count))?;
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
        let g_net = Network::new(ctx, "G", &gl, b);
        let d_net = Network::new(ctx, "D", &dl, b);
        let sampler = Network::new(ctx, "G", &gl, GRID_SAMPLES);
        let real = ctx.storage("real batch", b * IMAGE_PIXELS);
        // Both noise batches in one buffer, drawn by one dispatch.
        let noise = NoisePair::new(ctx, "z fake, z generator", b * config.z_dim);
        let (z_fake, z_gen) = (noise.first.clone(), noise.second.clone());
        let z_sample = ctx.storage("z samples", GRID_SAMPLES * config.z_dim);
        let dlogits = ctx.storage("d logits grad", b);
        let metrics = ctx.storage("metrics", METRICS_LEN);
        let counter = ctx.storage("iteration counter", 1);
        let seed = config.seed;
        let it = Iteration::Counter(&counter);

        let mut step = Vec::new();
        if let Some(images) = images {
            // Uploaded once; stays on the GPU as u8, four pixels a word.
            let words = ctx.storage_init("training images", &images.packed_words());
            // Streams REAL_INDICES, then FAKE_NOISE and GENERATOR_NOISE (the two after it).
            const _: () = assert!(
                stream::FAKE_NOISE == stream::REAL_INDICES + 1
                    && stream::GENERATOR_NOISE == stream::REAL_INDICES + 2
            );
            let draw = ops.data.draw_batch(
                ctx,
                seed,
                stream::REAL_INDICES,
                it,
                &words,
                images.count,
                IMAGE_PIXELS,
                &real,
                &noise,
            );
            step.extend(tag(vec![draw], "data"));
        }
        let train = BnMode::Train {
            update_moving: true,
        };
        let frozen = BnMode::Train {
            update_moving: false,
        };
        let fake_mode = match config.fake_bn {
            FakeBn::Train => train,
            FakeBn::Inference => BnMode::Inference,
        };
        let fakes = g_net.output();
        let loss = |label: f32, slot: usize| {
            let d = ops
                .loss
                .bce_with_logits(ctx, label, d_net.output(), &dlogits, &metrics, slot);
            tag(d, "loss")
        };
        // The optimizers' bookkeeping for the iteration: D steps twice, G once.
        let schedule = ops.adam.schedule(
            ctx,
            &config.adam,
            d.adam_schedule(2),
            Some(g.adam_schedule(1)),
        );
        step.extend(tag(vec![schedule], "adam schedule"));
        // Fakes for D.
        step.extend(g_net.forward(ctx, ops, &g, &z_fake, fake_mode));
        // D on the real batch, label 1, then on the fakes, label 0.
        for (adam_slot, (input, label, slot)) in
            [(&real, 1.0, 0), (fakes, 0.0, 2)].into_iter().enumerate()
        {
            step.extend(d_net.forward(ctx, ops, &d, input, train));
            step.extend(loss(label, slot));
            step.extend(d_net.backward(
                ctx,
                ops,
                &d,
                input,
                Upstream::Output(&dlogits),
                true,
                InputGrad::None,
            ));
            let update = d.adam_update(ctx, ops, &config.adam, adam_slot as u32);
            step.extend(tag(vec![update], "D adam"));
        }
        // G through the frozen D, label 1.
        step.extend(g_net.forward(ctx, ops, &g, &z_gen, train));
        step.extend(d_net.forward(ctx, ops, &d, fakes, frozen));
        step.extend(loss(1.0, 4));
        // D's input gradient is taken through G's tanh in the same GEMM, so G's backward starts
        // below its output activation.
        step.extend(d_net.backward(
            ctx,
            ops,
            &d,
            fakes,
            Upstream::Output(&dlogits),
            false,
            InputGrad::ThroughInputActivation(Activation::Tanh),
        ));
        step.extend(g_net.backward(
            ctx,
            ops,
            &g,
            &z_gen,
            Upstream::BeforeOutputActivation(&d_net.input_grad),
            true,
            InputGrad::None,
        ));
        step.extend(tag(
            vec![g.adam_update(ctx, ops, &config.adam, 0)],
            "G adam",
        ));
        step.extend(tag(vec![ops.data.advance_iteration(ctx, &counter)], "data"));

        // The fixed sample noise, drawn once.
        ctx.run(&[ops.data.normal_noise(
            ctx,
            seed,
            stream::SAMPLE_NOISE,
            Iteration::Fixed(0),
            &z_sample,
        )])?;
        let sample = sampler.forward(ctx, ops, &g, &z_sample, BnMode::Inference);
        // Every buffer is bound whole: the largest must fit a binding (a backstop to the
        // per-activation check above, which also names the largest batch that fits).
        let (_, largest) = ctx.memory();
        let binding = ctx
            .limits
            .max_storage_buffer_binding_size
            .min(ctx.limits.max_buffer_size);
        if largest > binding {
            bail!(
                "--batch-size {b} needs a {largest}-byte buffer, more than the adapter's \
                 max_storage_buffer_binding_size / max_buffer_size ({binding}); use a smaller batch"
            );
        }
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
            z_sample,
            real,
            z_fake,
            z_gen,
            metrics,
            counter,
            step,
            sample,
            iteration: 0,
            in_flight: None,
            report_slots: (0..REPORT_SLOTS)
                .map(|_| ReportSlot {
                    buffer: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("report readback"),
                        size: report_bytes(),
                        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    }),
                    mapped: Default::default(),
                })
                .collect(),
            pending_reports: Default::default(),
            ready_reports: Vec::new(),
            host_time: std::time::Duration::ZERO,
            submits: 0,
        })
    }

    /// Dispatches per iteration.
    pub fn dispatches_per_iteration(&self) -> usize {
        self.step.len()
    }

    /// The shape of every dispatch of one iteration, in order.
    pub fn dispatch_shapes(&self) -> Vec<DispatchShape> {
        self.step.iter().map(DispatchShape::of).collect()
    }

    /// Records `n` iterations into one compute pass and submits them. Returns once the previous
    /// submission has finished, so the GPU always has the next batch of work queued while the
    /// host records.
    pub fn run(&mut self, n: u64) -> Result<()> {
        self.submit(n, false)
    }

    /// Like `run`, then also records a report: the sample grid (G in inference mode on the
    /// fixed noise) and copies of the metrics and samples into a staging buffer, mapped
    /// asynchronously. Nothing waits for it; `poll_reports` hands it over once it has arrived.
    pub fn run_with_report(&mut self, n: u64) -> Result<()> {
        self.submit(n, true)
    }

    fn submit(&mut self, n: u64, report: bool) -> Result<()> {
        let slot = if report {
            Some(self.free_report_slot()?)
        } else {
            None
        };
        let start = std::time::Instant::now();
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
            if report {
                for d in &self.sample {
                    d.record(&mut pass);
                }
            }
        }
        if let Some(slot) = slot {
            let dst = &self.report_slots[slot].buffer;
            let m = &self.metrics;
            encoder.copy_buffer_to_buffer(&m.buffer, m.offset, dst, 0, m.bytes());
            let s = self.sampler.output();
            encoder.copy_buffer_to_buffer(&s.buffer, s.offset, dst, m.bytes(), s.bytes());
        }
        let index = self.ctx.queue.submit([encoder.finish()]);
        self.iteration += n;
        self.submits += 1;
        if let Some(slot) = slot {
            let flag = self.report_slots[slot].mapped.clone();
            *flag.lock().unwrap_or_else(|p| p.into_inner()) = None;
            self.report_slots[slot]
                .buffer
                .map_async(wgpu::MapMode::Read, .., move |r| {
                    *flag.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                });
            self.pending_reports.push_back((slot, self.iteration));
        }
        self.host_time += start.elapsed();
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
        Ok(())
    }

    /// A report slot with no report in flight, waiting for the oldest if all are busy.
    fn free_report_slot(&mut self) -> Result<usize> {
        if self.pending_reports.len() == REPORT_SLOTS {
            self.collect_reports(true)?;
        }
        let busy: Vec<usize> = self.pending_reports.iter().map(|p| p.0).collect();
        Ok((0..REPORT_SLOTS)
            .find(|s| !busy.contains(s))
            .expect("a free report slot"))
    }

    /// Moves reports whose readback has arrived (oldest first) to `ready_reports`; `wait`
    /// blocks until every pending one has.
    fn collect_reports(&mut self, wait: bool) -> Result<()> {
        let poll = if wait {
            wgpu::PollType::wait_indefinitely()
        } else {
            wgpu::PollType::Poll
        };
        self.ctx.device.poll(poll).context("polling the GPU")?;
        self.ctx.check()?;
        while let Some(&(slot, iteration)) = self.pending_reports.front() {
            let state = self.report_slots[slot]
                .mapped
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            let Some(result) = state else { break };
            result.context("reading a report back from the GPU")?;
            let buffer = &self.report_slots[slot].buffer;
            let values: Vec<f32> = {
                let view = buffer
                    .get_mapped_range(..)
                    .context("reading a report back from the GPU")?;
                bytemuck::pod_collect_to_vec(&view)
            };
            buffer.unmap();
            self.pending_reports.pop_front();
            self.ready_reports.push(Report {
                iteration,
                metrics: Metrics::from_slice(&values[..METRICS_LEN]),
                samples: values[METRICS_LEN..].to_vec(),
            });
        }
        Ok(())
    }

    /// Reports whose readback has arrived, oldest first; `wait` blocks until all have.
    pub fn poll_reports(&mut self, wait: bool) -> Result<Vec<Report>> {
        self.collect_reports(wait)?;
        Ok(std::mem::take(&mut self.ready_reports))
    }

    /// Waits for all submitted iterations.
    pub fn finish(&mut self) -> Result<()> {
        self.in_flight = None;
        Ok(self.ctx.wait()?)
    }

    /// The losses and accuracies of the last completed iteration (waits for it).
    pub fn metrics(&mut self) -> Result<Metrics> {
        self.finish()?;
        Ok(Metrics::from_slice(&self.ctx.read::<f32>(&self.metrics)?))
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

/// At most this many iterations per submit: enough to amortise a submit on a fast GPU.
const MAX_CHUNK: u64 = 16;
/// Chunks are sized to take about this long, so a stop request (Ctrl-C) is honoured within
/// about this time even on slow adapters, and a driver watchdog (e.g. Windows' 2 s TDR) stays
/// far away.
const CHUNK_SECONDS: f64 = 0.25;

/// What a training run does besides training.
pub struct RunOptions<'a> {
    pub out_dir: &'a std::path::Path,
    /// Write `out_dir/checkpoint.safetensors` every this many iterations (and at the end).
    pub checkpoint_interval: u64,
    /// Set (by a Ctrl-C handler) to stop at the end of the current chunk, with a checkpoint.
    pub stop: Option<&'a std::sync::atomic::AtomicBool>,
    /// Test hook: lose the device once this many iterations are done.
    pub simulate_device_loss_at: Option<u64>,
    /// Score the generator with this evaluator at every report whose iteration is a multiple
    /// of `eval_every`.
    pub evaluator: Option<&'a crate::eval::Evaluator>,
    pub eval_every: u64,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Stopped on request after this many iterations; the checkpoint holds them.
    Interrupted(u64),
}

/// What the caller shows while a run goes on.
pub trait Progress {
    /// A report line in the seed's format.
    fn report(&mut self, line: &str);
    /// Iterations completed so far (after every chunk).
    fn advanced(&mut self, _iteration: u64) {}
    /// A checkpoint was written.
    fn checkpoint(&mut self, _iteration: u64, _path: &std::path::Path) {}
}

/// Trains until `config.iterations`, from wherever the trainer is (0, or a restored checkpoint).
/// Writes `samples_NNNNNN.png` (before training, at every report and at the end),
/// `losses.csv` and `losses.png` at every report, the checkpoint every `checkpoint_interval`
/// iterations and at the end, and `progress.png` at the end.
pub fn run_training(
    trainer: &mut Trainer<'_>,
    opts: &RunOptions<'_>,
    progress: &mut dyn Progress,
) -> Result<Outcome> {
    use crate::output::{LossLog, grid_path, write_grid};
    use std::sync::atomic::Ordering;
    let out_dir = opts.out_dir;
    let total = trainer.config.iterations;
    let interval = trainer.config.sample_interval;
    let checkpoint_interval = opts.checkpoint_interval.max(1);
    let checkpoint_path = out_dir.join(crate::checkpoint::FILE_NAME);
    let resumed = trainer.iteration > 0;
    let mut log = LossLog::open(out_dir, resumed.then_some(trainer.iteration))?;
    let trainer_ctx = trainer.ctx;
    let eval_every = opts.eval_every.max(1);
    let evaluation_due = |iteration: u64| {
        opts.evaluator.is_some() && (iteration.is_multiple_of(eval_every) || iteration == total)
    };
    let deliver =
        |reports: Vec<Report>, log: &mut LossLog, progress: &mut dyn Progress| -> Result<()> {
            for r in reports {
                if r.iteration > 0 {
                    progress.report(&r.metrics.line(r.iteration));
                    // Evaluations are delivered as soon as their iteration is done (see the
                    // loop), so G's weights are still those of `r.iteration`.
                    let scores = match opts.evaluator {
                        Some(e) if evaluation_due(r.iteration) => {
                            let s = e.evaluate(trainer_ctx)?;
                            progress.report(&format!(
                            "{} [FID: {:.2}, IS: {:.2}, classes: {:.2} bits, confident: {:.1}%]",
                            r.iteration,
                            s.fid,
                            s.inception_score,
                            s.class_entropy_bits,
                            100.0 * s.confident
                        ));
                            Some(s)
                        }
                        _ => None,
                    };
                    log.append(r.iteration, &r.metrics, scores.as_ref())?;
                    crate::plot::losses_png(&out_dir.join("losses.png"), &log.points)?;
                }
                write_grid(&grid_path(out_dir, r.iteration), &r.samples, 4, 4)?;
            }
            Ok(())
        };
    let save = |trainer: &mut Trainer<'_>, progress: &mut dyn Progress| -> Result<()> {
        trainer.snapshot()?.save(&checkpoint_path)?;
        progress.checkpoint(trainer.iteration, &checkpoint_path);
        Ok(())
    };
    if !resumed {
        // The grid before training.
        trainer.run_with_report(0)?;
    }
    let mut chunk = 1u64;
    let mut outcome = Outcome::Completed;
    while trainer.iteration < total {
        if opts.stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            outcome = Outcome::Interrupted(trainer.iteration);
            break;
        }
        if let Some(at) = opts.simulate_device_loss_at
            && trainer.iteration >= at
        {
            trainer.ctx.simulate_device_loss();
        }
        let next = |every: u64| (trainer.iteration / every + 1) * every;
        let target = next(interval).min(next(checkpoint_interval)).min(total);
        let n = (target - trainer.iteration).min(chunk);
        let started = std::time::Instant::now();
        // The seed reports every `sample_interval` iterations; the end of a run that is not a
        // multiple of it is reported too, so its final state is on disk.
        let reporting =
            trainer.iteration + n == target && (target.is_multiple_of(interval) || target == total);
        if reporting {
            trainer.run_with_report(n)?;
        } else {
            trainer.run(n)?;
        }
        // An evaluation reads G's weights: take it before training goes on.
        let wait = reporting && evaluation_due(trainer.iteration);
        deliver(trainer.poll_reports(wait)?, &mut log, progress)?;
        progress.advanced(trainer.iteration);
        if trainer.iteration.is_multiple_of(checkpoint_interval) && trainer.iteration < total {
            deliver(trainer.poll_reports(true)?, &mut log, progress)?;
            save(trainer, progress)?;
        }
        // Size the next chunk from this one's pace (it includes waiting for the previous one).
        let per_iteration = started.elapsed().as_secs_f64() / n as f64;
        chunk = ((CHUNK_SECONDS / per_iteration.max(1e-6)) as u64).clamp(1, MAX_CHUNK);
    }
    trainer.finish()?;
    deliver(trainer.poll_reports(true)?, &mut log, progress)?;
    save(trainer, progress)?;
    crate::output::write_progress(out_dir, trainer.iteration)?;
    Ok(outcome)
}

impl Trainer<'_> {
    /// Everything needed to continue this run bit-identically (waits for the GPU).
    pub fn snapshot(&mut self) -> Result<crate::checkpoint::Checkpoint> {
        use crate::checkpoint::{Checkpoint, NetState};
        self.finish()?;
        let net = |p: &NetworkParams| -> Result<NetState> {
            let [params, m, v, moving] = self
                .ctx
                .read_many::<f32>(&[&p.params, &p.adam_m, &p.adam_v, &p.moving])?
                .try_into()
                .expect("four buffers");
            let state: Vec<u32> = self.ctx.read(&p.adam_state)?;
            Ok(NetState {
                params,
                adam_m: m,
                adam_v: v,
                adam_state: state.try_into().expect("adam state"),
                moving,
            })
        };
        let (g, d) = (net(&self.g)?, net(&self.d)?);
        let counter: Vec<u32> = self.ctx.read(&self.counter)?;
        anyhow::ensure!(
            u64::from(counter[0]) == self.iteration,
            "the GPU iteration counter ({}) disagrees with the host ({})",
            counter[0],
            self.iteration
        );
        Ok(Checkpoint {
            config: self.config.clone(),
            iteration: self.iteration,
            g,
            d,
            sample_noise: self.ctx.read(&self.z_sample)?,
        })
    }

    /// Continues from a checkpoint of the same configuration (architecture, z size and batch
    /// decide the buffers; everything else comes from the checkpoint too).
    pub fn restore(&mut self, c: &crate::checkpoint::Checkpoint) -> Result<()> {
        self.finish()?;
        let ctx = self.ctx;
        for (p, s) in [(&self.g, &c.g), (&self.d, &c.d)] {
            ctx.write(&p.params, &s.params);
            ctx.write(&p.adam_m, &s.adam_m);
            ctx.write(&p.adam_v, &s.adam_v);
            ctx.write(&p.adam_state, &s.adam_state);
            ctx.write(&p.moving, &s.moving);
        }
        ctx.write(&self.z_sample, &c.sample_noise);
        let counter = u32::try_from(c.iteration).context("iteration count beyond 2^32")?;
        ctx.write(&self.counter, &[counter]);
        self.iteration = c.iteration;
        self.finish()
    }

    /// The GPU time of every dispatch of one iteration, by timestamp queries, as
    /// (kernel, scope, seconds); None when the adapter has no timestamp queries.
    pub fn time_step(&mut self) -> Result<Option<Vec<(String, String, f64)>>> {
        self.finish()?;
        let Some(method) = crate::gpu::timing::TimingMethod::for_adapter(self.ctx) else {
            return Ok(None);
        };
        let times = crate::gpu::timing::dispatch_times(self.ctx, method, &self.step)?;
        self.iteration += 1;
        Ok(Some(
            self.step
                .iter()
                .zip(times)
                .map(|(d, t)| (d.kernel.to_string(), d.scope.to_string(), t))
                .collect(),
        ))
    }

    /// The same from the host's clock, running each dispatch alone and waiting (adapters
    /// without timestamp queries; includes per-submit overhead).
    pub fn time_step_wall_clock(&mut self) -> Result<Vec<(String, String, f64)>> {
        self.finish()?;
        let mut out = Vec::new();
        for d in &self.step {
            let t = std::time::Instant::now();
            self.ctx.run([d])?;
            out.push((
                d.kernel.to_string(),
                d.scope.to_string(),
                t.elapsed().as_secs_f64(),
            ));
        }
        self.iteration += 1;
        Ok(out)
    }
}
