//! `dcgan-wgpu classifier`: trains the MNIST classifier that scores generated digits, and
//! writes its weights with the test set's feature statistics (the reference of FID).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use dcgan_wgpu::classifier::{self as cls, ClassifierConfig, ClassifierFile};
use dcgan_wgpu::config::{ConfigError, Problem, Setting};
use dcgan_wgpu::data::Split;
use dcgan_wgpu::quality::Gaussian;

use super::files::{prepare_dir, write_atomically};
use super::{GpuArgs, TuneArgs, data_dir, load_split};
use crate::say;

#[derive(Args, Debug)]
pub struct ClassifierArgs {
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
    /// Where to write the weights and the test set's feature statistics (an existing file is
    /// kept unless --overwrite).
    #[arg(long, default_value = "classifier.safetensors")]
    out: PathBuf,
    /// Replace an existing --out file.
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    gpu: GpuArgs,
    #[command(flatten)]
    tune: TuneArgs,
}

pub fn run(args: ClassifierArgs) -> Result<()> {
    if !(args.learning_rate.is_finite() && args.learning_rate > 0.0) {
        return Err(ConfigError::new(
            Setting::LearningRate,
            args.learning_rate,
            Problem::NotPositive,
        )
        .into());
    }
    // A trained classifier is minutes of work: not replaced by a re-typed command.
    if !args.overwrite && std::fs::symlink_metadata(&args.out).is_ok() {
        anyhow::bail!(
            "{} exists; give another --out, or --overwrite to replace it",
            args.out.display()
        );
    }
    let dir = data_dir(&args.data_dir);
    let (train, test) = (
        load_split(&dir, Split::Train)?,
        load_split(&dir, Split::Test)?,
    );
    let parent = args.out.parent().filter(|p| !p.as_os_str().is_empty());
    prepare_dir(parent.unwrap_or(std::path::Path::new(".")))?;
    let ctx = args.gpu.context()?;
    let ops = args.tune.ops(&ctx)?;
    let config = ClassifierConfig {
        epochs: args.epochs,
        batch_size: args.batch_size as usize,
        learning_rate: args.learning_rate,
        seed: args.seed,
    };
    say!(
        "training the classifier for {} epochs at batch {} on {}",
        config.epochs,
        config.batch_size,
        ctx.describe()
    );
    let start = Instant::now();
    let (params, test_accuracy) = pollster::block_on(cls::train(
        &ctx,
        &ops,
        (&train.0, &train.1),
        (&test.0, &test.1),
        &config,
        |e, loss, acc, test| {
            say!(
                "epoch {e}/{}: batch loss {loss:.4}, batch accuracy {:.2}%, test accuracy {:.2}%",
                config.epochs,
                100.0 * acc,
                100.0 * test
            );
        },
    ))?;
    super::save_tuning(&ops);
    // The MNIST test set's feature statistics, the reference of FID.
    let scorer = cls::Scorer::new(&ctx, &ops, &params, 500);
    let (features, probs) = pollster::block_on(scorer.score(&ctx, &cls::scaled(&test.0)))?;
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
    write_atomically(&args.out, &file.to_bytes()?)?;
    say!(
        "test accuracy {:.2}% ({:.2}% on the first {}); {:.0} s; wrote {}",
        100.0 * test_accuracy,
        100.0 * subset,
        cls::SUBSET,
        start.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}
