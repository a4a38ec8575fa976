//! dcgan-wgpu command line: `dcgan-wgpu [OPTIONS]` trains (the seed's DCGAN on MNIST);
//! subcommands benchmark and inspect.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use dcgan_wgpu::data;
use dcgan_wgpu::gpu::{BackendChoice, GpuContext, GpuOptions, context};
use dcgan_wgpu::model::Arch;
use dcgan_wgpu::ops::Ops;
use dcgan_wgpu::ops::adam::AdamConfig;
use dcgan_wgpu::ops::tune::{self, Tuner};
use dcgan_wgpu::output;
use dcgan_wgpu::train::{FakeBn, TrainConfig, Trainer, run_training};

/// Trains the DCGAN of "GANs in Action" chapter 4 on MNIST, entirely on the GPU.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: TrainArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Times training iterations on an adapter: ms per iteration, GFLOP/s, per-kernel breakdown.
    Bench(BenchArgs),
    /// Lists the adapters wgpu sees and marks the one a run would pick.
    Adapters(GpuArgs),
}

/// Which GPU to run on.
#[derive(Args, Debug, Clone)]
struct GpuArgs {
    /// Graphics API.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    /// Use the adapter whose name contains this text (case-insensitive).
    #[arg(long)]
    adapter: Option<String>,
}

impl GpuArgs {
    fn context(&self) -> Result<GpuContext> {
        Ok(GpuContext::new(&GpuOptions {
            backend: self.backend,
            adapter_name: self.adapter.clone(),
        })?)
    }
}

/// Kernel-variant choice.
#[derive(Args, Debug, Clone)]
struct TuneArgs {
    /// Do not time the GEMM variants at start-up: use the fixed choice (subgroup kernels where
    /// the adapter has subgroups). Results are the same bits either way.
    #[arg(long)]
    no_tune: bool,
}

impl TuneArgs {
    fn ops(&self, ctx: &GpuContext) -> Result<Ops> {
        Ok(if self.no_tune {
            Ops::new(ctx)?
        } else {
            Ops::with_tuner(ctx, Tuner::with_cache(ctx, tune::default_cache_path()))?
        })
    }
}

/// The network, its optimizer and the data.
#[derive(Args, Debug, Clone)]
struct ModelArgs {
    /// Images per batch.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// Length of the noise vector z ~ N(0, 1).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    z_dim: u64,
    /// Adam learning rate (Keras' default).
    #[arg(long, default_value_t = 0.001, allow_negative_numbers = true)]
    learning_rate: f64,
    /// Adam beta1 (Keras' default).
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    beta1: f64,
    /// Seed of the initial weights and of every random draw; same seed, same adapter: same run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Network variant: `full` (the post's text and the book) or `seed-code` (the post's code).
    #[arg(long, value_enum, default_value_t = Arch::Full)]
    arch: Arch,
    /// BatchNorm mode of the generator pass that makes D's fakes: `train` (what Keras 2 did)
    /// or `inference` (the post's `generator.predict` read literally; collapses).
    #[arg(long, value_enum, default_value_t = FakeBn::Train)]
    fake_bn: FakeBn,
    /// Directory with the MNIST-format IDX files (gzipped or not) [default: the vendored MNIST].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    gpu: GpuArgs,
    #[command(flatten)]
    tune: TuneArgs,
}

impl ModelArgs {
    fn config(&self, iterations: u64, sample_interval: u64) -> TrainConfig {
        TrainConfig {
            iterations,
            batch_size: self.batch_size as usize,
            sample_interval,
            z_dim: self.z_dim as usize,
            adam: AdamConfig {
                learning_rate: self.learning_rate,
                beta1: self.beta1,
                ..AdamConfig::default()
            },
            seed: self.seed,
            arch: self.arch,
            fake_bn: self.fake_bn,
        }
    }

    /// Loads the training images and checks the configuration against them.
    fn images(&self, config: &TrainConfig) -> Result<data::Images> {
        config.validate(None)?;
        let dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(data::VENDORED_MNIST));
        let images = data::load_training_images(&dir)?;
        config.validate(Some(&images))?;
        Ok(images)
    }
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Training iterations (each: one D step on a real batch, one on a fake batch, one G step).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: u64,
    /// Report losses and write a sample grid every this many iterations.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    sample_interval: u64,
    /// Where losses.csv and the sample grids go (created if missing).
    #[arg(long, default_value = "out")]
    out_dir: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Args, Debug)]
struct BenchArgs {
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

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        None => train(cli.train),
        Some(Command::Bench(args)) => bench(args),
        Some(Command::Adapters(args)) => adapters(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn train(args: TrainArgs) -> Result<()> {
    let config = args.model.config(args.iterations, args.sample_interval);
    // Everything that can be checked without a GPU is checked first.
    let images = args.model.images(&config)?;
    output::prepare_dir(&args.out_dir)?;
    let ctx = args.model.gpu.context()?;
    let ops = args.model.tune.ops(&ctx)?;
    let mut trainer = Trainer::new(&ctx, &ops, config, Some(&images))?;
    ops.tuner.save();
    println!(
        "training {} iterations at batch {} ({} arch, seed {}) on {}; output in {}",
        trainer.config.iterations,
        trainer.config.batch_size,
        trainer.config.arch.name(),
        trainer.config.seed,
        ctx.describe(),
        args.out_dir.display()
    );
    let start = std::time::Instant::now();
    run_training(&mut trainer, &args.out_dir, |line| println!("{line}"))
        .context("training failed")?;
    println!(
        "done: {} iterations in {:.1} s",
        trainer.iteration,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn bench(args: BenchArgs) -> Result<()> {
    let config = args.model.config(args.iterations, 1000);
    let images = args.model.images(&config)?;
    let ctx = args.model.gpu.context()?;
    let ops = args.model.tune.ops(&ctx)?;
    let report = dcgan_wgpu::bench::run(&ctx, &ops, config, &images, args.iterations, args.warmup)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn adapters(args: GpuArgs) -> Result<()> {
    let all = context::list_adapters(args.backend);
    if all.is_empty() {
        anyhow::bail!(
            "wgpu sees no adapter for backend '{}'. On Linux without a GPU, install Mesa's \
             software Vulkan driver: `sudo apt-get install mesa-vulkan-drivers libvulkan1`",
            args.backend
        );
    }
    let filter = args.adapter.as_ref().map(|s| s.to_lowercase());
    let mut picked = false;
    for a in &all {
        let info = a.get_info();
        let matches = filter
            .as_ref()
            .is_none_or(|f| info.name.to_lowercase().contains(f));
        let mark = if matches && !picked {
            picked = true;
            "*"
        } else {
            " "
        };
        println!("{mark} {}", context::describe_adapter(&info));
    }
    if !picked {
        anyhow::bail!(
            "no adapter's name contains {:?}",
            args.adapter.unwrap_or_default()
        );
    }
    println!("(* = the adapter a run with these options uses)");
    Ok(())
}
