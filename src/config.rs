//! Plain descriptions of a run: the bottom of the crate. This module imports nothing of the
//! program's, so every other module (engine or shell) may use it without an arrow running back
//! up.

/// Pixels of one MNIST image.
pub const IMAGE_PIXELS: usize = 28 * 28;

/// Number of images in a sample grid (4 x 4).
pub const GRID_SAMPLES: usize = 16;

/// What only a shell may lend the engine: a clock and a way to wait for a future on the spot.
/// The command line lends one (pollster and `Instant`) to time kernel variants at start-up;
/// a browser tab lends none, so nothing in the engine waits or reads a clock by itself.
pub trait Host: Send + Sync {
    /// Seconds since some fixed moment.
    fn seconds(&self) -> f64;
    /// Runs `f` to completion before returning.
    fn block_on(&self, f: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>);
}

/// A configuration value that cannot run, with the message a user sees.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Which variant of the seed's networks to build.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// The post's text and the book: G has the 14x14x64 ConvTranspose + BN + LeakyReLU block;
    /// D has one BatchNorm after its third conv.
    #[default]
    Full,
    /// The post's code, literally: no 64-channel block in G, two BatchNorms after D's conv3.
    SeedCode,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Full => "full",
            Arch::SeedCode => "seed-code",
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
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum FakeBn {
    /// Batch statistics, updating G's moving statistics (Keras 2's actual behaviour).
    #[default]
    Train,
    /// Moving statistics (`generator.predict` as the post's code reads); degenerates.
    Inference,
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
    /// Rejects impossible values before any GPU work.
    pub fn validate(&self, data_set_len: Option<usize>) -> Result<(), ConfigError> {
        let fail = |m: String| Err(ConfigError(m));
        if self.iterations == 0 {
            return fail("--iterations must be at least 1".into());
        }
        if self.batch_size == 0 {
            return fail("--batch-size must be at least 1".into());
        }
        if self.sample_interval == 0 {
            return fail("--sample-interval must be at least 1".into());
        }
        if self.z_dim == 0 {
            return fail("--z-dim must be at least 1".into());
        }
        let lr = self.adam.learning_rate;
        if !(lr.is_finite() && lr > 0.0) {
            return fail(format!(
                "--learning-rate must be a positive number, got {lr}"
            ));
        }
        let b1 = self.adam.beta1;
        if !(0.0..1.0).contains(&b1) {
            return fail(format!("--beta1 must be in [0, 1), got {b1}"));
        }
        if let Some(count) = data_set_len
            && self.batch_size > count
        {
            return fail(format!(
                "--batch-size {} is larger than the data set ({count} images)",
                self.batch_size
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
