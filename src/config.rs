//! Plain descriptions of a run: the bottom of the crate. This module imports nothing of the
//! program's, so every other module (engine or shell) may use it without an arrow running back
//! up.

/// Pixels of one MNIST image.
pub const IMAGE_PIXELS: usize = 28 * 28;

/// The classes a conditional network is told: MNIST's digits.
pub const DIGITS: usize = 10;

/// What only a shell may lend the engine: a clock. The command line lends `Instant`, a web
/// page `performance.now()`, to time kernel variants at start-up; nothing in the engine reads
/// a clock by itself (and every wait is a future the shell drives).
pub trait Clock: Send + Sync {
    /// Seconds since some fixed moment.
    fn seconds(&self) -> f64;
}

/// The largest noise vector the program builds. No published DCGAN uses more than a few
/// hundred; the bound holds before any adapter is known, so that a flag or a checkpoint's
/// header cannot ask for gigabytes (the adapter's own limit, often lower, is checked when the
/// networks are allocated).
pub const MAX_Z_DIM: usize = 4096;
/// The GPU counts iterations in a u32 (the random streams are keyed by it).
pub const MAX_ITERATIONS: u64 = u32::MAX as u64;

/// One of a closed set of named values (architectures, modes, back ends): what a shell lists
/// and parses, so the engine needs no argument parser.
pub trait Choice: Copy + PartialEq + Send + Sync + 'static {
    const ALL: &'static [Self];
    /// The value as typed: `seed-code`.
    fn name(self) -> &'static str;
    /// One line saying what it is.
    fn about(self) -> &'static str;
    /// The value of a name (ASCII case ignored).
    fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }
}

/// A setting of a run, as the engine names it; each shell words it its own way (the command
/// line as a flag, the page as a field's label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    Iterations,
    BatchSize,
    SampleInterval,
    ZDim,
    LearningRate,
    Beta1,
    Beta2,
    Epsilon,
    Seed,
    EvalSamples,
}

impl Setting {
    /// In prose: "batch size".
    pub fn name(self) -> &'static str {
        match self {
            Setting::Iterations => "iterations",
            Setting::BatchSize => "batch size",
            Setting::SampleInterval => "sample interval",
            Setting::ZDim => "z size",
            Setting::LearningRate => "learning rate",
            Setting::Beta1 => "beta1",
            Setting::Beta2 => "beta2",
            Setting::Epsilon => "epsilon",
            Setting::Seed => "seed",
            Setting::EvalSamples => "samples per score",
        }
    }

    /// Its key in a checkpoint's configuration: `batch_size`.
    pub fn key(self) -> &'static str {
        match self {
            Setting::Iterations => "iterations",
            Setting::BatchSize => "batch_size",
            Setting::SampleInterval => "sample_interval",
            Setting::ZDim => "z_dim",
            Setting::LearningRate => "adam.learning_rate",
            Setting::Beta1 => "adam.beta1",
            Setting::Beta2 => "adam.beta2",
            Setting::Epsilon => "adam.epsilon",
            Setting::Seed => "seed",
            Setting::EvalSamples => "eval_samples",
        }
    }
}

/// What is wrong with a value.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// Below the smallest whole number that runs.
    BelowMin(u64),
    /// Above the largest, for the reason given ("the largest that fits this adapter: ...").
    AboveMax { limit: u64, because: String },
    /// Larger than the data set it draws batches from.
    MoreThanImages(usize),
    /// Zero, negative, or not a finite number.
    NotPositive,
    /// Outside [0, 1).
    NotAFraction,
    /// A fraction where a whole number is needed (a shell that reads numbers as floats).
    NotWhole,
}

/// A setting's value that cannot run. Shells word it with their own name for the setting
/// ([`ConfigError::worded`]); `Display` uses the engine's ([`Setting::name`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.worded(self.setting.name()))]
pub struct ConfigError {
    pub setting: Setting,
    /// The value as given.
    pub value: String,
    pub problem: Problem,
}

impl ConfigError {
    pub fn new(setting: Setting, value: impl ToString, problem: Problem) -> Self {
        ConfigError {
            setting,
            value: value.to_string(),
            problem,
        }
    }

    /// The message with `name` for the setting: `--batch-size must be at least 1, got 0`.
    pub fn worded(&self, name: &str) -> String {
        let value = &self.value;
        match &self.problem {
            Problem::BelowMin(min) => format!("{name} must be at least {min}, got {value}"),
            Problem::AboveMax { limit, because } => {
                format!("{name} {value} is more than {limit}, {because}")
            }
            Problem::MoreThanImages(count) => {
                format!("{name} {value} is larger than the data set ({count} images)")
            }
            Problem::NotPositive => format!("{name} must be a positive number, got {value}"),
            Problem::NotAFraction => format!("{name} must be in [0, 1), got {value}"),
            Problem::NotWhole => format!("{name} must be a whole number, got {value}"),
        }
    }
}

/// `Err` unless `min <= value <= max`; `why` says where `max` comes from.
pub fn check_range(
    setting: Setting,
    value: u64,
    min: u64,
    max: u64,
    why: &str,
) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::new(setting, value, Problem::BelowMin(min)));
    }
    if value > max {
        return Err(ConfigError::new(
            setting,
            value,
            Problem::AboveMax {
                limit: max,
                because: why.to_string(),
            },
        ));
    }
    Ok(())
}

/// Which variant of the seed's networks to build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// The post's text and the book: G has the 14x14x64 ConvTranspose + BN + LeakyReLU block;
    /// D has one BatchNorm after its third conv.
    #[default]
    Full,
    /// The post's code, literally: no 64-channel block in G, two BatchNorms after D's conv3.
    SeedCode,
    /// GANs in Action chapter 8: G and D are told the digit (z * an embedding of the label;
    /// the label's embedding as D's second input channel).
    Cgan,
}

impl Arch {
    /// Whether the networks take a label.
    pub fn conditional(self) -> bool {
        self == Arch::Cgan
    }

    /// The sample grid of a report: (rows, columns). A conditional run's has a row per digit,
    /// five samples each (the book's figure).
    pub fn grid(self) -> (usize, usize) {
        if self.conditional() {
            (DIGITS, 5)
        } else {
            (4, 4)
        }
    }

    /// Images in a sample grid.
    pub fn grid_samples(self) -> usize {
        let (rows, cols) = self.grid();
        rows * cols
    }

    /// The label each sample of the grid is drawn for (conditional runs): its row's digit.
    pub fn grid_labels(self) -> Vec<u32> {
        let (rows, cols) = self.grid();
        (0..rows * cols).map(|i| (i / cols) as u32).collect()
    }

    /// The book's iterations and batch size where they differ from the seed's: chapter 8
    /// trains 12,000 iterations at batch 32.
    pub fn default_length(self) -> (u64, usize) {
        if self.conditional() {
            (12_000, 32)
        } else {
            (20_000, 128)
        }
    }
}

impl Choice for Arch {
    const ALL: &'static [Self] = &[Arch::Full, Arch::SeedCode, Arch::Cgan];
    fn name(self) -> &'static str {
        match self {
            Arch::Full => "full",
            Arch::SeedCode => "seed-code",
            Arch::Cgan => "cgan",
        }
    }
    fn about(self) -> &'static str {
        match self {
            Arch::Full => {
                "the post's text and the book (G's 64-channel block, one BatchNorm after D's conv3)"
            }
            Arch::SeedCode => {
                "the post's code, literally (no 64-channel block in G, two BatchNorms after D's conv3)"
            }
            Arch::Cgan => {
                "GANs in Action chapter 8's conditional GAN: pick the digit (batch 32, 12,000 \
                 iterations unless given)"
            }
        }
    }
}

/// Adam's hyper-parameters; the defaults are Keras'. Kept in double precision like Keras'
/// Python floats: `1 - beta` must be evaluated in double and rounded once (0.1f), not as
/// 1f - 0.9f = 0.100000024.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    pub learning_rate: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        }
    }
}

/// BatchNorm mode of the generator pass that makes D's fakes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FakeBn {
    /// Batch statistics, updating G's moving statistics (Keras 2's actual behaviour).
    #[default]
    Train,
    /// Moving statistics (`generator.predict` as the post's code reads); degenerates.
    Inference,
}

impl Choice for FakeBn {
    const ALL: &'static [Self] = &[FakeBn::Train, FakeBn::Inference];
    fn name(self) -> &'static str {
        match self {
            FakeBn::Train => "train",
            FakeBn::Inference => "inference",
        }
    }
    fn about(self) -> &'static str {
        match self {
            FakeBn::Train => "batch statistics, updating G's moving statistics (what Keras 2 did)",
            FakeBn::Inference => {
                "moving statistics (the post's `generator.predict` read literally; collapses)"
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// Rejects impossible values before any GPU work; with the data set's size, also a batch
    /// larger than it. Every size is bounded here, before anything is allocated from it.
    pub fn validate(&self, data_set_len: Option<usize>) -> Result<(), ConfigError> {
        check_range(
            Setting::Iterations,
            self.iterations,
            1,
            MAX_ITERATIONS,
            "the most the GPU's 32-bit iteration counter counts",
        )?;
        check_range(Setting::BatchSize, self.batch_size as u64, 1, u64::MAX, "")?;
        check_range(
            Setting::SampleInterval,
            self.sample_interval,
            1,
            u64::MAX,
            "",
        )?;
        check_range(
            Setting::ZDim,
            self.z_dim as u64,
            1,
            MAX_Z_DIM as u64,
            "the largest noise vector this program builds",
        )?;
        let a = &self.adam;
        for (setting, v) in [
            (Setting::LearningRate, a.learning_rate),
            (Setting::Epsilon, a.epsilon),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(ConfigError::new(setting, v, Problem::NotPositive));
            }
        }
        for (setting, v) in [(Setting::Beta1, a.beta1), (Setting::Beta2, a.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return Err(ConfigError::new(setting, v, Problem::NotAFraction));
            }
        }
        if let Some(count) = data_set_len
            && self.batch_size > count
        {
            return Err(ConfigError::new(
                Setting::BatchSize,
                self.batch_size,
                Problem::MoreThanImages(count),
            ));
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
    /// From the metrics buffer's layout.
    pub fn from_slice(m: &[f32]) -> Metrics {
        Metrics {
            d_loss_real: m[0],
            d_acc_real: m[1],
            d_loss_fake: m[2],
            d_acc_fake: m[3],
            g_loss: m[4],
        }
    }

    /// The first figure that is not a finite number, named: a diverged run.
    pub fn first_nonfinite(&self) -> Option<String> {
        [
            ("D's loss on real images", self.d_loss_real),
            ("D's accuracy on real images", self.d_acc_real),
            ("D's loss on fakes", self.d_loss_fake),
            ("D's accuracy on fakes", self.d_acc_fake),
            ("G's loss", self.g_loss),
        ]
        .into_iter()
        .find(|(_, v)| !v.is_finite())
        .map(|(name, v)| format!("{name} is {v}"))
    }

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
