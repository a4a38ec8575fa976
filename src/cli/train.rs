//! `dcgan-wgpu [OPTIONS]`: trains, writing the seed's report lines, the sample grids, the loss
//! log and plots, and checkpoints; Ctrl-C stops with a checkpoint (exit 130), also when the
//! output goes into a pipe that has closed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use dcgan_wgpu::checkpoint::{self, Checkpoint};
use dcgan_wgpu::config::{Choice, ConfigError, TrainConfig};
use dcgan_wgpu::eval::Evaluator;
use dcgan_wgpu::session::{Diverged, Fault, Session};

use super::files::{Claim, claim_run_dir};
use super::output::LossLog;
use super::run_loop::{Progress, Run};
use super::{ModelArgs, load_checkpoint, resume_hint};
use crate::{say, tell};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training iterations in all (each: one D step on a real batch, one on a fake batch, one G
    /// step); with --resume, the total to reach [default: 20000; 12000 with --arch cgan, the
    /// book's].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: Option<u64>,
    /// Report losses and write a sample grid every this many iterations.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    sample_interval: u64,
    /// Write OUT_DIR/checkpoint.safetensors every this many iterations [default: the sample
    /// interval]; always at the end and on Ctrl-C.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    checkpoint_interval: Option<u64>,
    /// Continue the run saved in this checkpoint (its configuration is used; options given
    /// here must agree with it).
    #[arg(long, value_name = "PATH")]
    resume: Option<PathBuf>,
    /// Where losses.csv, losses.png, the sample grids, progress.png and the checkpoint go
    /// (created if missing). A folder that holds another run is refused: continue that run
    /// with --resume, or start over with --overwrite.
    #[arg(long, default_value = "out")]
    out_dir: PathBuf,
    /// Start a new run in an --out-dir that holds one, removing that run's files (its
    /// checkpoint, losses, sample grids and plots; nothing else in the folder).
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Print nothing but errors (the files are written as usual).
    #[arg(long)]
    quiet: bool,
    /// Score the generator (FID, Inception Score, classes) every this many iterations, at a
    /// report [default: the sample interval]; 0 turns scoring off.
    #[arg(long)]
    eval_every: Option<u64>,
    /// Samples (from a fixed set of latent vectors) each score is computed on.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(2..=100_000))]
    eval_samples: u64,
    /// The classifier that scores [default: the shipped assets/classifier/mnist_classifier.safetensors].
    #[arg(long, value_name = "PATH")]
    classifier: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

/// Set by Ctrl-C: the run stops at the end of the current chunk and writes a checkpoint.
pub(super) static STOP: AtomicBool = AtomicBool::new(false);

pub fn run(args: TrainArgs, explicit: &dyn Fn(&str) -> bool) -> Result<ExitCode> {
    let mut config = args.model.config(args.iterations, args.sample_interval);
    let resume = match &args.resume {
        Some(path) => {
            let checkpoint = load_checkpoint(path)?;
            config = resumed_config(&checkpoint, &config, explicit)?;
            Some(checkpoint)
        }
        None => None,
    };
    // Everything that can be checked without a GPU is checked first.
    let data = args.model.training_data(&config)?;
    let claim = match &args.resume {
        Some(checkpoint) => Claim::Resume { checkpoint },
        None => Claim::New {
            overwrite: args.overwrite,
        },
    };
    claim_run_dir(&args.out_dir, claim)?;
    // First Ctrl-C: stop cleanly with a checkpoint; second: leave at once. Installed before the
    // GPU start-up (kernel tuning can take a while on a CPU). Its message ignores a closed
    // stderr, like every line this command prints.
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        tell!("\nstopping after the current iterations (Ctrl-C again to quit at once)...");
    });
    let ctx = args.model.gpu.context()?;
    let ops = args.model.tune.ops(&ctx)?;
    let mut session = pollster::block_on(Session::new(&ctx, &ops, config, Some(data.set())))
        .map_err(|e| match (&args.resume, e.downcast_ref::<ConfigError>()) {
            // A resumed run's settings are the checkpoint's, not flags.
            (Some(path), Some(c)) => anyhow::anyhow!(
                "checkpoint {}: its configuration's {}",
                path.display(),
                c.worded(c.setting.key())
            ),
            _ => e,
        })?;
    super::save_tuning(&ops);
    if let Some(c) = &resume {
        pollster::block_on(session.restore(c))?;
    }
    // The test seam for a lost device (tests/tool.rs).
    if let Some(at) = std::env::var("DCGAN_WGPU_SIMULATE_DEVICE_LOSS_AT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        session.inject(Fault::DeviceLossAt(at));
    }
    let c = &session.config;
    if !args.quiet {
        say!(
            "training {} iterations at batch {} ({} arch, seed {}) on {}; output in {}",
            c.iterations,
            c.batch_size,
            c.arch.name(),
            c.seed,
            ctx.describe(),
            args.out_dir.display()
        );
        if let Some(c) = &resume {
            say!("resuming at iteration {}", c.iteration);
        }
    }
    let eval_every = args.eval_every.unwrap_or(args.sample_interval);
    let evaluator = if eval_every == 0 {
        None
    } else {
        match super::load_classifier(args.classifier.as_deref()) {
            Ok(file) => Some(Evaluator::new(
                &ctx,
                &ops,
                &session.g,
                c,
                &file,
                args.eval_samples as usize,
                dcgan_wgpu::eval::CHUNK,
            )),
            // Asked for explicitly: an error; by default: train without scores.
            Err(e) if args.eval_every.is_some() || args.classifier.is_some() => return Err(e),
            Err(e) => {
                log::warn!("no quality scores: {e:#}");
                None
            }
        }
    };
    let start = Instant::now();
    let done_before = session.iteration;
    let mut run = Run {
        out_dir: &args.out_dir,
        checkpoint_interval: args.checkpoint_interval.unwrap_or(args.sample_interval),
        evaluator: evaluator.as_ref(),
        eval_every: eval_every.max(1),
        progress: Progress::new(args.quiet, done_before, session.config.iterations),
        log: LossLog::open(&args.out_dir, (done_before > 0).then_some(done_before))?,
    };
    let checkpoint = args.out_dir.join(checkpoint::FILE_NAME);
    let stopped = pollster::block_on(run.train(&mut session)).map_err(|e| {
        let last = load_checkpoint(&checkpoint).ok();
        match (e.chain().find_map(|c| c.downcast_ref::<Diverged>()), last) {
            // Resuming would repeat the same steps into the same divergence: one line.
            (Some(d), Some(c)) => anyhow::anyhow!(
                "{d}; the last good checkpoint (iteration {}) is kept in {} (a new run with a \
                 smaller --learning-rate may not diverge)",
                c.iteration,
                checkpoint.display()
            ),
            (Some(d), None) => anyhow::anyhow!(
                "{d}, before any checkpoint was written (a new run with a smaller \
                 --learning-rate may not diverge)"
            ),
            (None, Some(c)) => e.context(format!(
                "training failed; the last checkpoint (iteration {}) is {}; continue with:\n{}",
                c.iteration,
                checkpoint.display(),
                resume_hint(&checkpoint, &args.out_dir, c.config.iterations)
            )),
            (None, None) => e.context("training failed (no checkpoint was written yet)"),
        }
    })?;
    if let Some(bar) = &run.progress.bar {
        bar.finish_and_clear();
    }
    let total = session.config.iterations;
    match stopped {
        None => {
            if !args.quiet {
                say!(
                    "done: {} iterations in {:.1} s; checkpoint {}",
                    session.iteration - done_before,
                    start.elapsed().as_secs_f64(),
                    checkpoint.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(at) => {
            tell!(
                "interrupted at iteration {at}; saved {}. Continue with:\n{}",
                checkpoint.display(),
                resume_hint(&checkpoint, &args.out_dir, total)
            );
            Ok(ExitCode::from(130))
        }
    }
}

/// The configuration of a resumed run: the checkpoint's, with the length and reporting of this
/// invocation. An option given on the command line that contradicts the checkpoint is an error
/// (it would silently change the run otherwise).
fn resumed_config(
    checkpoint: &Checkpoint,
    asked: &TrainConfig,
    explicit: &dyn Fn(&str) -> bool,
) -> Result<TrainConfig> {
    let saved = &checkpoint.config;
    let conflicts = [
        (
            "arch",
            "--arch",
            saved.arch != asked.arch,
            saved.arch.name().to_string(),
        ),
        (
            "batch_size",
            "--batch-size",
            saved.batch_size != asked.batch_size,
            saved.batch_size.to_string(),
        ),
        (
            "z_dim",
            "--z-dim",
            saved.z_dim != asked.z_dim,
            saved.z_dim.to_string(),
        ),
        (
            "seed",
            "--seed",
            saved.seed != asked.seed,
            saved.seed.to_string(),
        ),
        (
            "learning_rate",
            "--learning-rate",
            saved.adam.learning_rate != asked.adam.learning_rate,
            saved.adam.learning_rate.to_string(),
        ),
        (
            "beta1",
            "--beta1",
            saved.adam.beta1 != asked.adam.beta1,
            saved.adam.beta1.to_string(),
        ),
        (
            "fake_bn",
            "--fake-bn",
            saved.fake_bn != asked.fake_bn,
            saved.fake_bn.name().to_string(),
        ),
    ];
    for (id, flag, differs, value) in conflicts {
        if differs && explicit(id) {
            anyhow::bail!(
                "the checkpoint was trained with {flag} {value}; a resumed run keeps it (drop {flag})"
            );
        }
    }
    if asked.iterations <= checkpoint.iteration {
        anyhow::bail!(
            "the checkpoint is already at iteration {}; ask for more with --iterations",
            checkpoint.iteration
        );
    }
    Ok(TrainConfig {
        iterations: asked.iterations,
        sample_interval: asked.sample_interval,
        ..saved.clone()
    })
}
