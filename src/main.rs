//! dcgan-wgpu command line: `dcgan-wgpu [OPTIONS]` trains (the seed's DCGAN on MNIST).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use dcgan_wgpu::data;
use dcgan_wgpu::gpu::{BackendChoice, GpuContext, GpuOptions};
use dcgan_wgpu::model::Arch;
use dcgan_wgpu::ops::Ops;
use dcgan_wgpu::ops::adam::AdamConfig;
use dcgan_wgpu::output;
use dcgan_wgpu::train::{FakeBn, TrainConfig, Trainer, run_training};

/// Trains the DCGAN of "GANs in Action" chapter 4 on MNIST, entirely on the GPU.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Training iterations (each: one D step on a real batch, one on a fake batch, one G step).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: u64,
    /// Images per batch.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// Report losses and write a sample grid every this many iterations.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    sample_interval: u64,
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
    /// Where losses.csv and the sample grids go (created if missing).
    #[arg(long, default_value = "out")]
    out_dir: PathBuf,
    /// Graphics API.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    /// Use the adapter whose name contains this text (case-insensitive).
    #[arg(long)]
    adapter: Option<String>,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    match train(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn train(cli: Cli) -> Result<()> {
    let config = TrainConfig {
        iterations: cli.iterations,
        batch_size: cli.batch_size as usize,
        sample_interval: cli.sample_interval,
        z_dim: cli.z_dim as usize,
        adam: AdamConfig {
            learning_rate: cli.learning_rate,
            beta1: cli.beta1,
            ..AdamConfig::default()
        },
        seed: cli.seed,
        arch: cli.arch,
        fake_bn: cli.fake_bn,
    };
    // Everything that can be checked without a GPU is checked first.
    config.validate(None)?;
    let data_dir = cli
        .data_dir
        .unwrap_or_else(|| PathBuf::from(data::VENDORED_MNIST));
    let images = data::load_training_images(&data_dir)?;
    config.validate(Some(&images))?;
    output::prepare_dir(&cli.out_dir)?;

    let ctx = GpuContext::new(&GpuOptions {
        backend: cli.backend,
        adapter_name: cli.adapter,
    })?;
    let ops = Ops::new(&ctx)?;
    let mut trainer = Trainer::new(&ctx, &ops, config, Some(&images))?;
    println!(
        "training {} iterations at batch {} ({} arch, seed {}) on {}; output in {}",
        trainer.config.iterations,
        trainer.config.batch_size,
        trainer.config.arch.name(),
        trainer.config.seed,
        ctx.describe(),
        cli.out_dir.display()
    );
    let start = std::time::Instant::now();
    run_training(&mut trainer, &cli.out_dir, |line| println!("{line}"))
        .context("training failed")?;
    println!(
        "done: {} iterations in {:.1} s",
        trainer.iteration,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
