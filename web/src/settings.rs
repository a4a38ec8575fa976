//! The page's settings: what its fields hold, read into the engine's configuration, and the
//! engine's refusals worded as the page shows them (beside the field, in its own terms).

use dcgan_wgpu::config::{
    AdamConfig, Arch, Choice, ConfigError, FakeBn, Problem, Setting, TrainConfig, check_range,
};
use js_sys::Object;
use wasm_bindgen::JsValue;

use super::{fail, set};

/// The page's label of a setting, as its messages start.
fn label(setting: Setting) -> &'static str {
    match setting {
        Setting::Iterations => "Iterations",
        Setting::BatchSize => "Batch size",
        Setting::SampleInterval => "Report every",
        Setting::ZDim => "Z size",
        Setting::LearningRate => "Learning rate",
        Setting::Beta1 => "Beta1",
        Setting::Beta2 => "Beta2",
        Setting::Epsilon => "Epsilon",
        Setting::Seed => "Seed",
        Setting::EvalSamples => "Samples per score",
    }
}

/// An engine error as the page shows it: a configuration error as `{setting, message}` (the
/// page puts it beside its field), anything else as one line.
pub(crate) fn fail_run(e: anyhow::Error) -> JsValue {
    match e.chain().find_map(|c| c.downcast_ref::<ConfigError>()) {
        Some(c) => config_error(c),
        None => fail(format!("{e:#}")),
    }
}

fn config_error(c: &ConfigError) -> JsValue {
    let o = Object::new();
    set(&o, "setting", c.setting.key());
    set(&o, "message", c.worded(label(c.setting)));
    o.into()
}

/// A whole number typed into a field, at least `min`.
fn whole(setting: Setting, text: &str, min: u64) -> Result<u64, ConfigError> {
    let text = text.trim();
    let shown = if text.is_empty() { "nothing" } else { text };
    let v: f64 = text
        .parse()
        .map_err(|_| ConfigError::new(setting, shown, Problem::NotWhole))?;
    if !v.is_finite() || v.fract() != 0.0 {
        return Err(ConfigError::new(setting, shown, Problem::NotWhole));
    }
    // Above 2^53 a float no longer holds every whole number.
    check_range(
        setting,
        v.max(0.0) as u64,
        min,
        1 << 53,
        "the largest a page field holds",
    )
    .map_err(|e| ConfigError {
        value: shown.into(),
        ..e
    })?;
    if v < 0.0 {
        return Err(ConfigError::new(setting, shown, Problem::BelowMin(min)));
    }
    Ok(v as u64)
}

/// What the page may change of the seed's configuration, as its fields hold it (text: the
/// engine says what is wrong with a value, not the page's JSON).
#[derive(serde::Deserialize)]
#[serde(default)]
pub(crate) struct PageConfig {
    batch_size: String,
    iterations: String,
    sample_interval: String,
    seed: String,
    learning_rate: String,
    arch: String,
    fake_bn: String,
    /// Samples per score (0: no scores).
    pub(crate) eval_samples: usize,
}

impl Default for PageConfig {
    fn default() -> Self {
        let c = TrainConfig::default();
        PageConfig {
            batch_size: c.batch_size.to_string(),
            iterations: c.iterations.to_string(),
            sample_interval: c.sample_interval.to_string(),
            seed: c.seed.to_string(),
            learning_rate: c.adam.learning_rate.to_string(),
            arch: c.arch.name().into(),
            fake_bn: c.fake_bn.name().into(),
            eval_samples: 1000,
        }
    }
}

impl PageConfig {
    /// The run it describes; the engine checks the rest (`TrainConfig::validate`).
    pub(crate) fn config(&self) -> Result<TrainConfig, JsValue> {
        let checked = || -> Result<TrainConfig, ConfigError> {
            let text = self.learning_rate.trim();
            let learning_rate = text
                .parse::<f64>()
                .map_err(|_| ConfigError::new(Setting::LearningRate, text, Problem::NotPositive))?;
            let d = TrainConfig::default();
            Ok(TrainConfig {
                iterations: whole(Setting::Iterations, &self.iterations, 1)?,
                batch_size: whole(Setting::BatchSize, &self.batch_size, 1)? as usize,
                sample_interval: whole(Setting::SampleInterval, &self.sample_interval, 1)?,
                seed: whole(Setting::Seed, &self.seed, 0)?,
                adam: AdamConfig {
                    learning_rate,
                    ..d.adam
                },
                arch: Arch::parse(&self.arch).unwrap_or(d.arch),
                fake_bn: FakeBn::parse(&self.fake_bn).unwrap_or(d.fake_bn),
                ..d
            })
        };
        let config = checked().map_err(|e| config_error(&e))?;
        config.validate(None).map_err(|e| config_error(&e))?;
        Ok(config)
    }
}
