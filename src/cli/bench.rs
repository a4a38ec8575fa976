//! `dcgan-wgpu bench`: how fast a training iteration runs on an adapter, and where the time
//! goes.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use clap::Args;
use dcgan_wgpu::config::{Choice, TrainConfig};
use dcgan_wgpu::data::TrainingSet;
use dcgan_wgpu::gpu::GpuContext;
use dcgan_wgpu::gpu::timing::TimingMethod;
use dcgan_wgpu::ops::Ops;
use dcgan_wgpu::ops::ceiling::{CeilingOps, FMA_LANES};
use dcgan_wgpu::session::{DispatchShape, Session, iteration_flops, report_bytes};

use super::ModelArgs;
use crate::say;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Timed iterations (each measured alone, then again pipelined).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: u64,
    /// Untimed iterations first (shader compilation happens here on some drivers).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let config = args.model.config(Some(args.iterations), 1000);
    let data = args.model.training_data(&config)?;
    let ctx = args.model.gpu.context()?;
    let ops = args.model.tune.ops(&ctx)?;
    let report = pollster::block_on(measure(
        &ctx,
        &ops,
        config,
        data.set(),
        args.iterations,
        args.warmup,
    ))?;
    if args.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        say!("{}", report.table().trim_end());
    }
    Ok(())
}

/// Iterations per submit in training (and in the pipelined measurement here).
pub const PIPELINE_CHUNK: u64 = 16;

#[derive(Clone, Debug, Serialize)]
pub struct Share {
    pub name: String,
    pub calls: usize,
    pub ms: f64,
    /// Percent of the iteration's summed kernel time.
    pub percent: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub adapter: String,
    pub backend: String,
    pub arch: String,
    pub batch_size: usize,
    pub iterations: u64,
    pub warmup: u64,
    pub gflop_per_iteration: f64,
    /// Each iteration submitted alone and waited for.
    pub ms_per_iteration_median: f64,
    pub ms_per_iteration_min: f64,
    /// `iterations` recorded 16 per submit, one submit in flight while the next is recorded,
    /// as training runs.
    pub ms_per_iteration_pipelined: f64,
    pub iterations_per_second: f64,
    /// The book's length of this network's run (20000 for the seed's, 12000 for chapter 8's)
    /// and how long it takes at the pipelined pace.
    pub book_iterations: u64,
    pub projected_book_run_s: f64,
    /// From the pipelined time.
    pub gflops: f64,
    /// From the fastest single iteration.
    pub gflops_best: f64,
    pub dispatches_per_iteration: usize,
    /// Storage buffers a training run of this configuration allocates on the GPU (weights,
    /// optimizer state, activations, scratch, the data set), and the largest one.
    pub gpu_memory_bytes: u64,
    pub largest_buffer_bytes: u64,
    pub compute_passes_per_iteration: f64,
    pub submits_per_iteration: f64,
    /// Reports (metrics + a 4x4 sample grid) every 1000 iterations, the default interval.
    pub readback_bytes_per_iteration: f64,
    /// Host time spent recording and submitting, per iteration.
    pub host_ms_per_iteration: f64,
    pub kernel_timing: String,
    /// Summed kernel time of one iteration (from the breakdown).
    pub kernel_ms_per_iteration: f64,
    pub kernels: Vec<Share>,
    pub layers: Vec<Share>,
    /// Every dispatch of one iteration, in order: kernel, scope, workgroups, elements read.
    pub dispatches: Vec<DispatchShape>,
    /// The adapter's own ceilings, and the GEMMs' rate over their summed kernel time.
    pub ceiling: Ceiling,
    pub gemm_gflops: f64,
}

/// What the adapter does at best (`shaders/ceiling.wgsl`), each the fastest of 5 dispatches
/// timed by the host clock from submit to completion.
#[derive(Clone, Debug, Serialize)]
pub struct Ceiling {
    /// Register-only multiply-adds: 4096 workgroups of 64 invocations, 4 independent vec4
    /// chains each, rounds doubled until a dispatch takes 50 ms.
    pub fma_gflops: f64,
    /// A 16-byte-per-lane copy of 64 MiB (less where the adapter's bindings are smaller):
    /// bytes read plus bytes written, per second.
    pub copy_gb_per_s: f64,
}

/// Host seconds from submitting `make()`'s dispatch to its completion, fastest of `tries`.
async fn best_of(
    ctx: &GpuContext,
    tries: usize,
    make: impl Fn() -> dcgan_wgpu::gpu::Dispatch,
) -> Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..tries {
        let d = make();
        let start = Instant::now();
        ctx.run(&[d]).await?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}

async fn measure_ceiling(ctx: &GpuContext) -> Result<Ceiling> {
    let ops = CeilingOps::new(ctx)?;
    let out = ctx.storage("ceiling: fma_peak", 4096 * FMA_LANES * 4);
    let mut rounds = 16u32;
    while rounds < 1 << 20 && best_of(ctx, 1, || ops.fma_peak(ctx, rounds, &out)).await? < 0.05 {
        rounds *= 2;
    }
    let fma = best_of(ctx, 5, || ops.fma_peak(ctx, rounds, &out)).await?;
    let limit = ctx.limits.max_storage_buffer_binding_size as usize / 4;
    let len = (16 << 20).min(limit) / 4 * 4;
    let (src, dst) = (
        ctx.storage("ceiling: copy src", len),
        ctx.storage("ceiling: copy dst", len),
    );
    let copy = best_of(ctx, 5, || ops.stream_copy(ctx, &src, &dst)).await?;
    Ok(Ceiling {
        fma_gflops: CeilingOps::fma_flops(out.len, rounds) / fma / 1e9,
        copy_gb_per_s: (2 * 4 * len) as f64 / copy / 1e9,
    })
}

fn shares(times: &[(String, f64)]) -> Vec<Share> {
    let total: f64 = times.iter().map(|t| t.1).sum();
    let mut by: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for (name, t) in times {
        let e = by.entry(name).or_default();
        e.0 += 1;
        e.1 += t;
    }
    let mut v: Vec<Share> = by
        .into_iter()
        .map(|(name, (calls, t))| Share {
            name: name.to_string(),
            calls,
            ms: t * 1e3,
            percent: if total > 0.0 { 100.0 * t / total } else { 0.0 },
        })
        .collect();
    v.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    v
}

/// Warms up, times `iterations` iterations alone and pipelined, and breaks one iteration down
/// by kernel and by layer.
async fn measure(
    ctx: &GpuContext,
    ops: &Ops,
    config: TrainConfig,
    data: TrainingSet<'_>,
    iterations: u64,
    warmup: u64,
) -> Result<BenchReport> {
    let flop = iteration_flops(&config) as f64;
    let before = ctx.memory().0;
    let mut t = Session::new(ctx, ops, config.clone(), Some(data)).await?;
    let gpu_memory_bytes = ctx.memory().0 - before;
    let largest_buffer_bytes = ctx.memory().1;
    super::save_tuning(ops);
    // Warm-up: first dispatches compile shaders on some drivers.
    t.advance(warmup.max(1), false).await?;
    t.finish().await?;

    let mut single = Vec::new();
    for _ in 0..iterations {
        let start = Instant::now();
        t.advance(1, false).await?;
        t.finish().await?;
        single.push(start.elapsed().as_secs_f64());
    }
    single.sort_by(f64::total_cmp);

    let submits_before = t.submits;
    let mut host_time = 0.0;
    let start = Instant::now();
    let mut left = iterations;
    while left > 0 {
        let n = left.min(PIPELINE_CHUNK);
        // Host time: recording and submitting, not waiting.
        let recording = Instant::now();
        t.submit(n, false)?;
        host_time += recording.elapsed().as_secs_f64();
        t.settle().await?;
        left -= n;
    }
    t.finish().await?;
    let pipelined = start.elapsed().as_secs_f64() / iterations as f64;
    let host = host_time / iterations as f64;
    let submits = (t.submits - submits_before) as f64 / iterations as f64;

    let (method, breakdown) = match TimingMethod::for_adapter(ctx) {
        Some(m) => (
            m.describe().to_string(),
            t.time_step().await?.unwrap_or_default(),
        ),
        None => (
            "no timestamp queries on this adapter: host wall clock per dispatch (includes submit \
             and wait overhead)"
                .to_string(),
            t.time_step_on_host(super::clock().as_ref()).await?,
        ),
    };
    let kernels: Vec<(String, f64)> = breakdown.iter().map(|(k, _, s)| (k.clone(), *s)).collect();
    let dispatches = t.dispatch_shapes();
    // Every multiply-add of the iteration is in a GEMM kernel: their FLOPs over their time.
    let gemm_seconds: f64 = breakdown
        .iter()
        .filter(|(k, _, _)| dispatches.iter().any(|d| d.gemm && &d.kernel == k))
        .map(|(_, _, s)| s)
        .sum();
    let ceiling = measure_ceiling(ctx).await?;
    let layers: Vec<(String, f64)> = breakdown.iter().map(|(_, l, s)| (l.clone(), *s)).collect();
    let median = single[single.len() / 2];
    let min = single[0];
    Ok(BenchReport {
        adapter: ctx.describe(),
        backend: format!("{:?}", ctx.info.backend),
        arch: config.arch.name().to_string(),
        batch_size: config.batch_size,
        iterations,
        warmup,
        gflop_per_iteration: flop / 1e9,
        ms_per_iteration_median: median * 1e3,
        ms_per_iteration_min: min * 1e3,
        ms_per_iteration_pipelined: pipelined * 1e3,
        iterations_per_second: 1.0 / pipelined,
        book_iterations: config.arch.default_length().0,
        projected_book_run_s: config.arch.default_length().0 as f64 * pipelined,
        gflops: flop / pipelined / 1e9,
        gflops_best: flop / min / 1e9,
        dispatches_per_iteration: t.dispatches_per_iteration(),
        gpu_memory_bytes,
        largest_buffer_bytes,
        compute_passes_per_iteration: submits,
        submits_per_iteration: submits,
        readback_bytes_per_iteration: report_bytes(config.arch) as f64 / 1000.0,
        host_ms_per_iteration: host * 1e3,
        kernel_timing: method,
        kernel_ms_per_iteration: kernels.iter().map(|k| k.1).sum::<f64>() * 1e3,
        kernels: shares(&kernels),
        layers: shares(&layers),
        dispatches,
        ceiling,
        gemm_gflops: if gemm_seconds > 0.0 {
            flop / gemm_seconds / 1e9
        } else {
            0.0
        },
    })
}

impl BenchReport {
    /// The human-readable table.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "adapter        {} ({})", self.adapter, self.backend);
        let _ = writeln!(
            s,
            "workload       --arch {} --batch-size {}: {:.2} GFLOP per iteration (2 x multiply-adds of the dense and conv layers)",
            self.arch, self.batch_size, self.gflop_per_iteration
        );
        let _ = writeln!(
            s,
            "per iteration  median {:.2} ms, min {:.2} ms (each submitted alone and waited, {} iterations after {} warm-up)",
            self.ms_per_iteration_median, self.ms_per_iteration_min, self.iterations, self.warmup
        );
        let _ = writeln!(
            s,
            "pipelined      {:.2} ms/iteration, {:.2} iterations/s, the book's {} iterations in {:.0} s ({:.1} h)",
            self.ms_per_iteration_pipelined,
            self.iterations_per_second,
            self.book_iterations,
            self.projected_book_run_s,
            self.projected_book_run_s / 3600.0
        );
        let _ = writeln!(
            s,
            "throughput     {:.1} GFLOP/s pipelined, {:.1} GFLOP/s best single iteration",
            self.gflops, self.gflops_best
        );
        let _ = writeln!(
            s,
            "ceiling        {:.1} GFLOP/s of register-only multiply-adds, {:.1} GB/s copied (read + written)",
            self.ceiling.fma_gflops, self.ceiling.copy_gb_per_s
        );
        let _ = writeln!(
            s,
            "share          GEMMs {:.1} GFLOP/s over their kernel time, {:.0}% of the multiply-add ceiling; the iteration pipelined {:.0}%",
            self.gemm_gflops,
            100.0 * self.gemm_gflops / self.ceiling.fma_gflops,
            100.0 * self.gflops / self.ceiling.fma_gflops
        );
        let _ = writeln!(
            s,
            "GPU memory     {:.1} MiB of storage buffers (largest {:.1} MiB)",
            self.gpu_memory_bytes as f64 / 1048576.0,
            self.largest_buffer_bytes as f64 / 1048576.0
        );
        let _ = writeln!(
            s,
            "orchestration  {} dispatches, {:.4} compute passes, {:.4} submits, {:.1} bytes read back and {:.3} ms of host time per iteration",
            self.dispatches_per_iteration,
            self.compute_passes_per_iteration,
            self.submits_per_iteration,
            self.readback_bytes_per_iteration,
            self.host_ms_per_iteration
        );
        let _ = writeln!(
            s,
            "\nper kernel ({}; {:.2} ms per iteration in all):",
            self.kernel_timing, self.kernel_ms_per_iteration
        );
        for k in &self.kernels {
            let _ = writeln!(
                s,
                "  {:>6.1}%  {:>9.3} ms  {:>3}x  {}",
                k.percent, k.ms, k.calls, k.name
            );
        }
        let _ = writeln!(s, "\nper layer:");
        for k in &self.layers {
            let _ = writeln!(
                s,
                "  {:>6.1}%  {:>9.3} ms  {:>3}x  {}",
                k.percent, k.ms, k.calls, k.name
            );
        }
        // The dispatches that spread least over a GPU: most elements per workgroup.
        let mut dense: Vec<&DispatchShape> = self.dispatches.iter().collect();
        dense.sort_by(|a, b| {
            b.elements_per_workgroup()
                .total_cmp(&a.elements_per_workgroup())
        });
        let _ = writeln!(
            s,
            "\nfewest workgroups per element read ({} dispatches in all; GEMMs re-read their \
             operands by design, the others should stay under 16384 per workgroup):",
            self.dispatches.len()
        );
        for d in dense.iter().take(10) {
            let _ = writeln!(
                s,
                "  {:>9.0} elements/workgroup  {:>7} workgroups  {:>10} elements  {}  ({})",
                d.elements_per_workgroup(),
                d.workgroups,
                d.elements_read,
                d.kernel,
                d.scope
            );
        }
        s
    }
}
