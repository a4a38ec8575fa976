//! The command line: a shell around the engine. It owns everything the engine must not do:
//! files, the terminal, the environment, signals, the clock, and waiting (`pollster`). Each
//! command has its own file; what several share is defined here once: the option groups (GPU,
//! model, data), the MNIST default, the tuning policy, the files (checkpoint, classifier) and
//! the resume hint.

pub mod adapters;
pub mod bench;
pub mod classifier;
pub mod evaluate;
pub mod files;
pub mod generate;
pub mod output;
pub mod plot;
pub mod run_loop;
pub mod serve;
pub mod train;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use dcgan_wgpu::checkpoint::Checkpoint;
use dcgan_wgpu::config::{
    AdamConfig, Arch, Choice, Clock, ConfigError, FakeBn, Setting, TrainConfig,
};
use dcgan_wgpu::data::{self, Images, Split, TrainingSet};
use dcgan_wgpu::gpu::{BackendChoice, GpuContext, GpuOptions};
use dcgan_wgpu::ops::Ops;
use dcgan_wgpu::ops::tune::Tuner;

/// The vendored MNIST copy, found relative to the crate so `cargo run` works from anywhere.
pub const VENDORED_MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/mnist");

/// A line on stdout; a closed stdout (`| head`, a dead `tee`) is not an error worth a run.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// A line on stderr, ignoring a closed stderr (as `say!`).
#[macro_export]
macro_rules! tell {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// The clock the engine's tuner borrows: `Instant`.
pub struct NativeClock(std::time::Instant);

impl Clock for NativeClock {
    fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

pub fn clock() -> Arc<NativeClock> {
    Arc::new(NativeClock(std::time::Instant::now()))
}

/// The flag that sets a setting, as this shell words the engine's [`ConfigError`]s.
pub fn flag(setting: Setting) -> &'static str {
    match setting {
        Setting::Iterations => "--iterations",
        Setting::BatchSize => "--batch-size",
        Setting::SampleInterval => "--sample-interval",
        Setting::ZDim => "--z-dim",
        Setting::LearningRate => "--learning-rate",
        Setting::Beta1 => "--beta1",
        Setting::Seed => "--seed",
        Setting::EvalSamples => "--eval-samples",
        // Not flags: Keras' defaults, or a checkpoint's.
        Setting::Beta2 | Setting::Epsilon => setting.name(),
    }
}

/// An error as this shell prints it (one line): the causes joined by `: `, the engine's
/// configuration errors worded with their flags.
pub fn explain(e: &anyhow::Error) -> String {
    e.chain()
        .map(|cause| match cause.downcast_ref::<ConfigError>() {
            Some(c) => c.worded(flag(c.setting)),
            None => cause.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

/// Parses one of the engine's [`Choice`]s, listing each with its line in `--help`.
#[derive(Clone)]
pub struct ChoiceParser<T>(std::marker::PhantomData<T>);

impl<T: Choice> ChoiceParser<T> {
    pub fn new() -> Self {
        ChoiceParser(std::marker::PhantomData)
    }
}

impl<T: Choice> TypedValueParser for ChoiceParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let names = PossibleValuesParser::new(T::ALL.iter().map(|c| c.name()));
        let name = names.parse_ref(cmd, arg, value)?;
        Ok(T::parse(&name).expect("a listed value"))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            T::ALL
                .iter()
                .map(|c| PossibleValue::new(c.name()).help(c.about())),
        ))
    }
}

/// Which GPU to run on.
#[derive(Args, Debug, Clone)]
pub struct GpuArgs {
    /// Graphics API.
    #[arg(long, value_parser = ChoiceParser::<BackendChoice>::new(), default_value = "auto")]
    pub backend: BackendChoice,
    /// Use the adapter whose name contains this text (case-insensitive).
    #[arg(long)]
    pub adapter: Option<String>,
}

impl GpuArgs {
    pub fn context(&self) -> Result<GpuContext> {
        Ok(pollster::block_on(GpuContext::new(&GpuOptions {
            backend: self.backend,
            adapter_name: self.adapter.clone(),
            ..Default::default()
        }))?)
    }
}

/// Kernel-variant choice.
#[derive(Args, Debug, Clone)]
pub struct TuneArgs {
    /// Do not time the GEMM variants at start-up: use the fixed choice (subgroup kernels where
    /// the adapter has subgroups). Results are the same bits either way.
    #[arg(long)]
    pub no_tune: bool,
}

impl TuneArgs {
    /// The tuning policy, for the commands that train (`train`, `bench`, `classifier`): timed,
    /// verified choices cached per adapter, unless `--no-tune`. The commands that only sample
    /// or score (`generate`, `evaluate`) run a few passes, less than tuning would cost: they use
    /// the fixed choice (`Ops::new`), which gives the same bits.
    pub fn ops(&self, ctx: &GpuContext) -> Result<Ops> {
        Ok(if self.no_tune {
            Ops::new(ctx)?
        } else {
            let cache = tuning_cache_path()
                .and_then(|p| files::read_bounded(&p, TUNING_CACHE_BYTES, "tuning cache").ok())
                .and_then(|b| String::from_utf8(b).ok());
            Ops::with_tuner(ctx, Tuner::new(ctx, clock(), cache.as_deref()))?
        })
    }
}

/// `$DCGAN_WGPU_CACHE_DIR`, else the platform's cache directory: `$XDG_CACHE_HOME` or
/// `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows (then
/// `dcgan-wgpu/tuning.json` inside).
pub fn tuning_cache_path() -> Option<PathBuf> {
    let dir = std::env::var_os("DCGAN_WGPU_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("dcgan-wgpu")))?;
    Some(dir.join("tuning.json"))
}

/// Stores the tuner's new choices (atomically). Failing only costs the next run its tuning
/// time, so it is a warning.
pub fn save_tuning(ops: &Ops) {
    let Some(path) = tuning_cache_path() else {
        return;
    };
    let previous = files::read_bounded(&path, TUNING_CACHE_BYTES, "tuning cache")
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    if let Some(text) = ops.tuner.cache_text(previous.as_deref())
        && let Err(e) = files::write_atomically(&path, text.as_bytes())
    {
        log::warn!("could not save the kernel tuning cache: {e:#}");
    }
}

/// The tuning cache is a few kilobytes of JSON; more is not one.
const TUNING_CACHE_BYTES: u64 = 1 << 22;
/// The shipped classifier is under 2 MB.
const CLASSIFIER_BYTES: u64 = 1 << 26;

pub fn save_checkpoint(c: &Checkpoint, path: &Path) -> Result<()> {
    files::write_atomically(path, &c.to_bytes())
        .with_context(|| format!("cannot write checkpoint {}", path.display()))
}

pub fn load_checkpoint(path: &Path) -> Result<Checkpoint> {
    let bytes = files::read_bounded(path, Checkpoint::max_file_bytes(), "checkpoint")?;
    Ok(Checkpoint::from_bytes(&bytes, &path.display().to_string())?)
}

/// The classifier at `path`, or the shipped one.
pub fn load_classifier(path: Option<&Path>) -> Result<dcgan_wgpu::classifier::ClassifierFile> {
    let path = path.map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join(dcgan_wgpu::classifier::SHIPPED),
        Path::to_path_buf,
    );
    let bytes = files::read_bounded(&path, CLASSIFIER_BYTES, "the classifier")
        .context("make a classifier with `dcgan-wgpu classifier`, or give one with --classifier")?;
    dcgan_wgpu::classifier::ClassifierFile::from_bytes(&bytes, &path.display().to_string())
}

/// The data directory: `--data-dir`, else the vendored MNIST.
pub fn data_dir(given: &Option<PathBuf>) -> PathBuf {
    given
        .clone()
        .unwrap_or_else(|| PathBuf::from(VENDORED_MNIST))
}

/// Reads `name` or `name.gz` from `dir`, as (bytes, path shown in errors).
fn read_data_file(dir: &Path, name: &str) -> Result<(Vec<u8>, String)> {
    if !dir.is_dir() {
        anyhow::bail!(
            "data directory {} does not exist (pass --data-dir with the four MNIST-format IDX files)",
            dir.display()
        );
    }
    for path in [dir.join(name), dir.join(format!("{name}.gz"))] {
        if path.is_file() {
            let bytes = files::read_bounded(&path, data::MAX_FILE_BYTES, "data file")?;
            return Ok((bytes, path.display().to_string()));
        }
    }
    anyhow::bail!(
        "{name}: not found in {} (looked for {name} and {name}.gz)",
        dir.display()
    )
}

/// The images and labels of one split.
pub fn load_split(dir: &Path, split: Split) -> Result<(Images, Vec<u8>)> {
    let [images, labels] = split.file_names().map(|n| read_data_file(dir, &n));
    let (images, labels) = (images?, labels?);
    Ok(data::parse_split(
        (&images.0, &images.1),
        (&labels.0, &labels.1),
    )?)
}

/// The training images (what the GAN trains on).
pub fn load_training_images(dir: &Path) -> Result<Images> {
    let [name, _] = Split::Train.file_names();
    let (bytes, path) = read_data_file(dir, &name)?;
    Ok(data::parse_images(&bytes, &path)?)
}

/// How to continue from `checkpoint`: as this program was started (its path), and, when that
/// is a Cargo build, as `cargo run` too, so the printed command works as printed.
pub fn resume_hint(checkpoint: &Path, out_dir: &Path, iterations: u64) -> String {
    let args = format!(
        "--resume {} --out-dir {} --iterations {iterations}",
        checkpoint.display(),
        out_dir.display()
    );
    let program = std::env::args_os()
        .next()
        .map(|p| PathBuf::from(p).display().to_string())
        .unwrap_or_else(|| "dcgan-wgpu".into());
    let mut hint = format!("  {program} {args}");
    if program.contains("target/release") || program.contains("target/debug") {
        let release = if program.contains("release") {
            " --release"
        } else {
            ""
        };
        hint.push_str(&format!("\n  (or: cargo run{release} -- {args})"));
    }
    hint
}

/// The network, its optimizer and the data.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Images per batch [default: 128; 32 with --arch cgan, the book's].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: Option<u64>,
    /// Length of the noise vector z ~ N(0, 1).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub z_dim: u64,
    /// Adam learning rate (Keras' default).
    #[arg(long, default_value_t = 0.001, allow_negative_numbers = true)]
    pub learning_rate: f64,
    /// Adam beta1 (Keras' default).
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    pub beta1: f64,
    /// Seed of the initial weights and of every random draw; same seed, same adapter: same run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Network variant.
    #[arg(long, value_parser = ChoiceParser::<Arch>::new(), default_value = "full")]
    pub arch: Arch,
    /// BatchNorm mode of the generator pass that makes D's fakes.
    #[arg(long, value_parser = ChoiceParser::<FakeBn>::new(), default_value = "train")]
    pub fake_bn: FakeBn,
    /// Directory with the MNIST-format IDX files (gzipped or not) [default: the vendored MNIST].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub gpu: GpuArgs,
    #[command(flatten)]
    pub tune: TuneArgs,
}

impl ModelArgs {
    /// The run's configuration; the iterations and batch size not given are the
    /// architecture's book's (`Arch::default_length`).
    pub fn config(&self, iterations: Option<u64>, sample_interval: u64) -> TrainConfig {
        let (book_iterations, book_batch) = self.arch.default_length();
        TrainConfig {
            iterations: iterations.unwrap_or(book_iterations),
            batch_size: self.batch_size.map_or(book_batch, |b| b as usize),
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

    /// Loads the training images (and a conditional run's labels) and checks the
    /// configuration against them.
    pub fn training_data(&self, config: &TrainConfig) -> Result<TrainingData> {
        config.validate(None)?;
        let dir = data_dir(&self.data_dir);
        let data = if config.arch.conditional() {
            let (images, labels) = load_split(&dir, Split::Train)?;
            TrainingData {
                images,
                labels: Some(labels),
            }
        } else {
            TrainingData {
                images: load_training_images(&dir)?,
                labels: None,
            }
        };
        config.validate(Some(data.images.count))?;
        Ok(data)
    }
}

/// The training images, and their labels where the networks are conditional.
pub struct TrainingData {
    pub images: Images,
    pub labels: Option<Vec<u8>>,
}

impl TrainingData {
    pub fn set(&self) -> TrainingSet<'_> {
        TrainingSet {
            images: &self.images,
            labels: self.labels.as_deref(),
        }
    }
}
