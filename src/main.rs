//! dcgan-wgpu command line: `dcgan-wgpu [OPTIONS]` trains (the seed's DCGAN on MNIST);
//! subcommands benchmark and inspect.

use std::path::PathBuf;
use std::process::ExitCode;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Result;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use dcgan_wgpu::checkpoint::{self, Checkpoint};
use dcgan_wgpu::data;
use dcgan_wgpu::generate;
use dcgan_wgpu::gpu::{BackendChoice, GpuContext, GpuOptions, context};
use dcgan_wgpu::model::Arch;
use dcgan_wgpu::ops::Ops;
use dcgan_wgpu::ops::adam::AdamConfig;
use dcgan_wgpu::ops::tune::{self, Tuner};
use dcgan_wgpu::output;
use dcgan_wgpu::train::{
    FakeBn, Outcome, Progress, RunOptions, TrainConfig, Trainer, run_training,
};
use indicatif::{ProgressBar, ProgressStyle};

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
    /// Samples images from a checkpoint's generator (on the GPU, inference-mode BatchNorm).
    Generate(GenerateArgs),
    /// Times training iterations on an adapter: ms per iteration, GFLOP/s, per-kernel breakdown.
    Bench(BenchArgs),
    /// Trains the MNIST classifier that scores generated digits, and reports its test accuracy.
    Classifier(ClassifierArgs),
    /// Scores digits: FID, Inception Score, class histogram, confident share.
    Evaluate(EvaluateArgs),
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
        config.validate(Some(images.count))?;
        Ok(images)
    }
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Training iterations in all (each: one D step on a real batch, one on a fake batch, one G
    /// step); with --resume, the total to reach.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: u64,
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
    /// (created if missing).
    #[arg(long, default_value = "out")]
    out_dir: PathBuf,
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

#[derive(Args, Debug)]
struct GenerateArgs {
    /// The checkpoint whose generator draws.
    #[arg(long, value_name = "PATH")]
    checkpoint: PathBuf,
    /// A PNG file for the grid; with --separate, a directory for one PNG per image.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Images to draw; with --interpolate, latent walks (rows).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    count: u64,
    /// Seed of the latent vectors.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// One PNG per image instead of a grid.
    #[arg(long, conflicts_with = "interpolate")]
    separate: bool,
    /// A grid whose rows walk (spherically) between two random latent points.
    #[arg(long)]
    interpolate: bool,
    /// Images per walk with --interpolate.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=100))]
    steps: u64,
    #[command(flatten)]
    gpu: GpuArgs,
}

#[derive(Args, Debug)]
struct ClassifierArgs {
    /// Passes over the 60000 training images (the last tenth at a tenth of the learning rate).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    epochs: u32,
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    #[arg(long, default_value_t = 0.001)]
    learning_rate: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Directory with the MNIST-format IDX files [default: the vendored MNIST].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where to write the weights and the test set's feature statistics.
    #[arg(long, default_value = "classifier.safetensors")]
    out: PathBuf,
    #[command(flatten)]
    gpu: GpuArgs,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["checkpoint", "images", "calibrate"])))]
struct EvaluateArgs {
    /// Score `--count` samples of this checkpoint's generator.
    #[arg(long, value_name = "PATH")]
    checkpoint: Option<PathBuf>,
    /// Score these images: a PNG (a 28x28 digit or a sample grid) or a directory of them.
    #[arg(long, value_name = "DIR_OR_PNG")]
    images: Option<PathBuf>,
    /// Print the scores of known image sets (real, blurred, two-class digits, noise).
    #[arg(long)]
    calibrate: bool,
    /// Samples to draw from a checkpoint (images per set with --calibrate).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(2..=100_000))]
    count: u64,
    /// Seed of the latent vectors drawn from a checkpoint.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The classifier [default: the shipped assets/classifier/mnist_classifier.safetensors].
    #[arg(long, value_name = "PATH")]
    classifier: Option<PathBuf>,
    /// Directory with the MNIST-format IDX files, for --calibrate [default: the vendored MNIST].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    gpu: GpuArgs,
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
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let explicit = |id: &str| {
        matches!(
            matches
                .try_get_raw(id)
                .ok()
                .flatten()
                .and(matches.value_source(id)),
            Some(clap::parser::ValueSource::CommandLine)
        )
    };
    let result = match cli.command {
        None => train(cli.train, &explicit),
        Some(Command::Generate(args)) => generate(args).map(|()| ExitCode::SUCCESS),
        Some(Command::Bench(args)) => bench(args).map(|()| ExitCode::SUCCESS),
        Some(Command::Classifier(args)) => classifier(args).map(|()| ExitCode::SUCCESS),
        Some(Command::Evaluate(args)) => evaluate(args).map(|()| ExitCode::SUCCESS),
        Some(Command::Adapters(args)) => adapters(args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Set by Ctrl-C: the run stops at the end of the current chunk and writes a checkpoint.
static STOP: AtomicBool = AtomicBool::new(false);

/// Progress on the terminal: a bar where stderr is one, plain lines every 10 s otherwise.
struct CliProgress {
    quiet: bool,
    bar: Option<ProgressBar>,
    total: u64,
    start: (u64, Instant),
    last_line: Instant,
}

impl CliProgress {
    fn new(quiet: bool, done: u64, total: u64) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total).with_position(done);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40.cyan/blue} {pos}/{len} iterations  {per_sec}  ETA {eta}",
                )
                .expect("progress template"),
            );
            bar
        });
        CliProgress {
            quiet,
            bar,
            total,
            start: (done, Instant::now()),
            last_line: Instant::now(),
        }
    }

    fn say(&self, line: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(line),
            None => println!("{line}"),
        }
    }
}

impl Progress for CliProgress {
    fn report(&mut self, line: &str) {
        self.say(line);
    }

    fn advanced(&mut self, iteration: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(iteration);
        } else if !self.quiet && self.last_line.elapsed().as_secs() >= 10 {
            self.last_line = Instant::now();
            let rate = (iteration - self.start.0) as f64 / self.start.1.elapsed().as_secs_f64();
            let eta = (self.total - iteration) as f64 / rate.max(1e-9);
            eprintln!(
                "iteration {iteration}/{}: {rate:.2} iterations/s, {:.0} s to go",
                self.total, eta
            );
        }
    }

    fn checkpoint(&mut self, iteration: u64, path: &std::path::Path) {
        log::info!("checkpoint at iteration {iteration}: {}", path.display());
    }
}

fn train(args: TrainArgs, explicit: &dyn Fn(&str) -> bool) -> Result<ExitCode> {
    let mut config = args.model.config(args.iterations, args.sample_interval);
    let resume = match &args.resume {
        Some(path) => {
            let checkpoint = Checkpoint::load(path)?;
            config = resumed_config(&checkpoint, &config, explicit)?;
            Some(checkpoint)
        }
        None => None,
    };
    // Everything that can be checked without a GPU is checked first.
    let images = args.model.images(&config)?;
    output::prepare_dir(&args.out_dir)?;
    // First Ctrl-C: stop cleanly with a checkpoint; second: leave at once. Installed before the
    // GPU start-up (kernel tuning can take a while on a CPU), so an early Ctrl-C also ends with
    // a checkpoint at the first chance instead of killing the process.
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after the current iterations (Ctrl-C again to quit at once)...");
    });
    let ctx = args.model.gpu.context()?;
    let ops = args.model.tune.ops(&ctx)?;
    let mut trainer = Trainer::new(&ctx, &ops, config, Some(&images))?;
    ops.tuner.save();
    if let Some(c) = &resume {
        trainer.restore(c)?;
    }
    let quiet = args.quiet;
    if !quiet {
        println!(
            "training {} iterations at batch {} ({} arch, seed {}) on {}; output in {}",
            trainer.config.iterations,
            trainer.config.batch_size,
            trainer.config.arch.name(),
            trainer.config.seed,
            ctx.describe(),
            args.out_dir.display()
        );
        if let Some(c) = &resume {
            println!("resuming at iteration {}", c.iteration);
        }
    }
    let eval_every = args.eval_every.unwrap_or(args.sample_interval);
    let evaluator = if eval_every == 0 {
        None
    } else {
        match dcgan_wgpu::classifier::ClassifierFile::find(args.classifier.as_deref()) {
            Ok(c) => Some(dcgan_wgpu::eval::Evaluator::new(
                &ctx,
                &ops,
                &trainer.g,
                trainer.config.arch,
                trainer.config.z_dim,
                &c,
                args.eval_samples as usize,
                trainer.config.seed,
            )),
            // Asked for explicitly: an error; by default: train without scores.
            Err(e) if args.eval_every.is_some() || args.classifier.is_some() => return Err(e),
            Err(e) => {
                log::warn!("no quality scores: {e:#}");
                None
            }
        }
    };
    let opts = RunOptions {
        eval_every,
        evaluator: evaluator.as_ref(),
        out_dir: &args.out_dir,
        checkpoint_interval: args.checkpoint_interval.unwrap_or(args.sample_interval),
        stop: Some(&STOP),
        simulate_device_loss_at: std::env::var("DCGAN_WGPU_SIMULATE_DEVICE_LOSS_AT")
            .ok()
            .and_then(|v| v.parse().ok()),
    };
    let start = Instant::now();
    let done_before = trainer.iteration;
    let mut progress = CliProgress::new(quiet, done_before, trainer.config.iterations);
    let outcome = run_training(&mut trainer, &opts, &mut progress).map_err(|e| {
        let checkpoint = args.out_dir.join(checkpoint::FILE_NAME);
        match Checkpoint::load(&checkpoint) {
            Ok(c) => e.context(format!(
                "training failed; the last checkpoint (iteration {}) is {}: continue with \
                 `dcgan-wgpu --resume {} --out-dir {} --iterations {}`",
                c.iteration,
                checkpoint.display(),
                checkpoint.display(),
                args.out_dir.display(),
                c.config.iterations
            )),
            Err(_) => e.context("training failed (no checkpoint was written yet)"),
        }
    })?;
    if let Some(bar) = &progress.bar {
        bar.finish_and_clear();
    }
    let checkpoint = args.out_dir.join(checkpoint::FILE_NAME);
    match outcome {
        Outcome::Completed => {
            if !quiet {
                println!(
                    "done: {} iterations in {:.1} s; checkpoint {}",
                    trainer.iteration - done_before,
                    start.elapsed().as_secs_f64(),
                    checkpoint.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Interrupted(at) => {
            eprintln!(
                "interrupted at iteration {at}; saved {}. Continue with:\n  dcgan-wgpu --resume {} --out-dir {} --iterations {}",
                checkpoint.display(),
                checkpoint.display(),
                args.out_dir.display(),
                trainer.config.iterations
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
            format!("{:?}", saved.fake_bn).to_lowercase(),
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

fn generate(args: GenerateArgs) -> Result<()> {
    let checkpoint = Checkpoint::load(&args.checkpoint)?;
    let z_dim = checkpoint.config.z_dim;
    let count = args.count as usize;
    let steps = args.steps as usize;
    let (z, rows, cols) = if args.interpolate {
        let ends = generate::latents(args.seed, 2 * count, z_dim);
        let mut z = Vec::with_capacity(count * steps * z_dim);
        for pair in ends.chunks(2 * z_dim) {
            z.extend(generate::slerp_path(&pair[..z_dim], &pair[z_dim..], steps));
        }
        (z, count, steps)
    } else {
        let cols = (count as f64).sqrt().ceil() as usize;
        (
            generate::latents(args.seed, count, z_dim),
            count.div_ceil(cols),
            cols,
        )
    };
    if !args.separate
        && let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty())
    {
        output::prepare_dir(dir)?;
    }
    let ctx = args.gpu.context()?;
    let ops = Ops::new(&ctx)?;
    let images = generate::generate(&ctx, &ops, &checkpoint, &z)?;
    if args.separate {
        generate::write_separate(&args.out, &images)?;
        println!("wrote {count} images to {}", args.out.display());
    } else {
        output::write_grid(&args.out, &images, rows, cols)?;
        println!(
            "wrote a {rows}x{cols} grid to {} (checkpoint at iteration {})",
            args.out.display(),
            checkpoint.iteration
        );
    }
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

fn classifier(args: ClassifierArgs) -> Result<()> {
    use dcgan_wgpu::classifier::{self as cls, ClassifierConfig, ClassifierFile};
    use dcgan_wgpu::quality::Gaussian;
    if !(args.learning_rate.is_finite() && args.learning_rate > 0.0) {
        anyhow::bail!("--learning-rate must be a positive number");
    }
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(data::VENDORED_MNIST));
    let train = data::load_split(&dir, data::Split::Train)?;
    let test = data::load_split(&dir, data::Split::Test)?;
    output::prepare_dir(
        args.out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new(".")),
    )?;
    let ctx = args.gpu.context()?;
    let ops = Ops::with_tuner(&ctx, Tuner::with_cache(&ctx, tune::default_cache_path()))?;
    let config = ClassifierConfig {
        epochs: args.epochs,
        batch_size: args.batch_size as usize,
        learning_rate: args.learning_rate,
        seed: args.seed,
    };
    println!(
        "training the classifier for {} epochs at batch {} on {}",
        config.epochs,
        config.batch_size,
        ctx.describe()
    );
    let start = Instant::now();
    let (params, test_accuracy) = cls::train(
        &ctx,
        &ops,
        (&train.0, &train.1),
        (&test.0, &test.1),
        &config,
        |e, loss, acc, test| {
            println!(
                "epoch {e}/{}: batch loss {loss:.4}, batch accuracy {:.2}%, test accuracy {:.2}%",
                config.epochs,
                100.0 * acc,
                100.0 * test
            );
        },
    )?;
    ops.tuner.save();
    // The MNIST test set's feature statistics, the reference of FID.
    let scorer = cls::Scorer::new(&ctx, &ops, &params, 500);
    let (features, probs) = scorer.score(&ctx, &cls::scaled(&test.0))?;
    let subset = cls::accuracy(&probs[..cls::SUBSET * 10], &test.1[..cls::SUBSET]);
    let command = std::iter::once("dcgan-wgpu".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let metadata = std::collections::HashMap::from([
        ("format".to_string(), "dcgan-wgpu-classifier".to_string()),
        ("command".to_string(), command),
        ("adapter".to_string(), ctx.describe()),
        ("test_accuracy".to_string(), format!("{test_accuracy:.4}")),
        (
            format!("test_accuracy_first_{}", cls::SUBSET),
            format!("{subset:.4}"),
        ),
        ("epochs".to_string(), config.epochs.to_string()),
        ("seed".to_string(), config.seed.to_string()),
    ]);
    let file = ClassifierFile {
        params,
        reference: Gaussian::fit(&features, dcgan_wgpu::model::CLASSIFIER_FEATURES),
        metadata,
    };
    file.save(&args.out)?;
    println!(
        "test accuracy {:.2}% ({:.2}% on the first {}); {:.0} s; wrote {}",
        100.0 * test_accuracy,
        100.0 * subset,
        cls::SUBSET,
        start.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

/// The scores as a table.
fn scores_table(s: &dcgan_wgpu::quality::Scores) -> String {
    let hist: Vec<String> = s
        .class_histogram
        .iter()
        .enumerate()
        .map(|(c, n)| format!("{c}: {n}"))
        .collect();
    format!(
        "samples             {}\nFID                 {:.2}   (lower is better; see the README's calibration)\n\
         Inception Score     {:.2} / 10\nclass entropy       {:.3} / {:.3} bits\n\
         confident (p>=0.9)  {:.1}%\nclass histogram     {}\n",
        s.samples,
        s.fid,
        s.inception_score,
        s.class_entropy_bits,
        10f64.log2(),
        100.0 * s.confident,
        hist.join("  ")
    )
}

fn evaluate(args: EvaluateArgs) -> Result<()> {
    use dcgan_wgpu::classifier::ClassifierFile;
    use dcgan_wgpu::eval;
    let classifier = ClassifierFile::find(args.classifier.as_deref())?;
    let count = args.count as usize;
    if args.calibrate {
        let dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(data::VENDORED_MNIST));
        let train = data::load_split(&dir, data::Split::Train)?;
        let test = data::load_split(&dir, data::Split::Test)?;
        let ctx = args.gpu.context()?;
        let ops = Ops::new(&ctx)?;
        let rows = eval::calibrate(
            &ctx,
            &ops,
            &classifier,
            (&train.0, &train.1),
            (&test.0, &test.1),
            count.min(5000),
        )?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            println!("| set | FID | Inception Score | class entropy (bits) | confident |");
            println!("|---|---|---|---|---|");
            for r in rows {
                let s = &r.scores;
                println!(
                    "| {} | {:.2} | {:.2} | {:.3} | {:.1}% |",
                    r.set,
                    s.fid,
                    s.inception_score,
                    s.class_entropy_bits,
                    100.0 * s.confident
                );
            }
        }
        return Ok(());
    }
    let (source, images, checkpoint) = match (&args.checkpoint, &args.images) {
        (Some(path), _) => {
            let c = Checkpoint::load(path)?;
            (
                format!("{} (iteration {})", path.display(), c.iteration),
                None,
                Some(c),
            )
        }
        (None, Some(path)) => (
            path.display().to_string(),
            Some(eval::load_pngs(path)?),
            None,
        ),
        (None, None) => unreachable!("clap requires a source"),
    };
    let ctx = args.gpu.context()?;
    let ops = Ops::new(&ctx)?;
    let images = match (images, checkpoint) {
        (Some(images), _) => images,
        (None, Some(c)) => {
            let z = generate::latents(args.seed, count, c.config.z_dim);
            generate::generate(&ctx, &ops, &c, &z)?
        }
        (None, None) => unreachable!(),
    };
    let scores = eval::score_images(&ctx, &ops, &classifier, &images)?;
    if args.json {
        let mut v = serde_json::to_value(&scores)?;
        v["source"] = serde_json::Value::String(source);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{source}");
        print!("{}", scores_table(&scores));
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
