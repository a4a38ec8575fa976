//! `dcgan-wgpu evaluate`: FID, Inception Score, class histogram and confident share of a
//! checkpoint's samples or of PNGs (single digits or grids from any tool), and the calibration
//! table of known image sets.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use dcgan_wgpu::config::IMAGE_PIXELS;
use dcgan_wgpu::data::Split;
use dcgan_wgpu::model;
use dcgan_wgpu::ops::Ops;
use dcgan_wgpu::quality::Scores;
use dcgan_wgpu::{eval, generate, grid};

use super::{GpuArgs, data_dir, load_checkpoint, load_classifier, load_split};
use crate::say;

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["checkpoint", "images", "calibrate"])))]
pub struct EvaluateArgs {
    /// Score `--count` samples of this checkpoint's generator.
    #[arg(long, value_name = "PATH")]
    checkpoint: Option<PathBuf>,
    /// Score these images: a PNG (a 28x28 digit or a grid of them) or a directory of them.
    #[arg(long, value_name = "DIR_OR_PNG")]
    images: Option<PathBuf>,
    /// The layout of the --images grids, ROWSxCOLS (e.g. 8x8) [default: detected].
    #[arg(long, value_name = "ROWSxCOLS", value_parser = parse_grid, requires = "images")]
    grid: Option<(usize, usize)>,
    /// Pixels of padding around and between the tiles of a --grid.
    #[arg(long, default_value_t = 0, requires = "grid")]
    pad: usize,
    /// Print the scores of known image sets (real, blurred, two-class digits, noise).
    #[arg(long)]
    calibrate: bool,
    /// Samples to draw from a checkpoint (images per set with --calibrate).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(2..=MAX_SCORED as u64))]
    count: u64,
    /// Seed of the latent vectors drawn from a checkpoint.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The classifier [default: the shipped assets/classifier/mnist_classifier.safetensors].
    #[arg(long, value_name = "PATH")]
    classifier: Option<PathBuf>,
    /// Directory with the MNIST-format IDX files, for --calibrate and a conditional
    /// checkpoint's FID per digit [default: the vendored MNIST].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    gpu: GpuArgs,
}

/// The most digits one evaluation scores: FID's usual 50,000 samples.
const MAX_SCORED: usize = 50_000;

fn parse_grid(s: &str) -> Result<(usize, usize), String> {
    let (r, c) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?} is not ROWSxCOLS"))?;
    match (r.parse(), c.parse()) {
        (Ok(r), Ok(c)) if r > 0 && c > 0 => Ok((r, c)),
        _ => Err(format!("{s:?} is not ROWSxCOLS (two positive numbers)")),
    }
}

pub fn run(args: EvaluateArgs) -> Result<()> {
    let classifier = load_classifier(args.classifier.as_deref())?;
    let count = args.count as usize;
    if args.calibrate {
        let dir = data_dir(&args.data_dir);
        let (train, test) = (
            load_split(&dir, Split::Train)?,
            load_split(&dir, Split::Test)?,
        );
        let ctx = args.gpu.context()?;
        let ops = Ops::new(&ctx)?;
        let rows = pollster::block_on(eval::calibrate(
            &ctx,
            &ops,
            &classifier,
            (&train.0, &train.1),
            (&test.0, &test.1),
            count.min(5000),
        ))?;
        if args.json {
            say!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            say!("| set | FID | Inception Score | class entropy (bits) | confident |");
            say!("|---|---|---|---|---|");
            for r in rows {
                let s = &r.scores;
                say!(
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
    let layout = args.grid.map(|(r, c)| (r, c, args.pad));
    let (source, pngs, checkpoint) = match (&args.checkpoint, &args.images) {
        (Some(path), _) => {
            let c = load_checkpoint(path)?;
            let source = format!("{} (iteration {})", path.display(), c.iteration);
            (source, None, Some(c))
        }
        (None, Some(path)) => (
            path.display().to_string(),
            Some(load_pngs(path, layout)?),
            None,
        ),
        (None, None) => unreachable!("clap requires a source"),
    };
    let ctx = args.gpu.context()?;
    let ops = Ops::new(&ctx)?;
    let scores = match (pngs, checkpoint) {
        (Some(images), _) => {
            pollster::block_on(eval::score_images(&ctx, &ops, &classifier, &images))?
        }
        (None, Some(c)) => {
            let z = generate::latents(args.seed, count, c.config.z_dim);
            // A conditional generator is asked for every digit in turn, and scored per digit
            // against the MNIST test digits of each class.
            let asked: Option<Vec<u32>> = c
                .config
                .arch
                .conditional()
                .then(|| (0..count).map(|i| (i % model::DIGITS) as u32).collect());
            let images =
                pollster::block_on(generate::generate(&ctx, &ops, &c, &z, asked.as_deref()))?;
            match asked {
                Some(asked) => {
                    let (test, labels) = load_split(&data_dir(&args.data_dir), Split::Test)?;
                    pollster::block_on(eval::score_conditional(
                        &ctx,
                        &ops,
                        &classifier,
                        &images,
                        &asked,
                        (&test, &labels),
                    ))?
                }
                None => pollster::block_on(eval::score_images(&ctx, &ops, &classifier, &images))?,
            }
        }
        (None, None) => unreachable!(),
    };
    if args.json {
        let mut v = serde_json::to_value(&scores)?;
        v["source"] = serde_json::Value::String(source);
        say!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        say!("{source}");
        print_table(&scores);
    }
    Ok(())
}

/// 28x28 digits from a PNG or a directory of them (gray: colour averaged), in [-1, 1].
fn load_pngs(path: &Path, layout: Option<(usize, usize, usize)>) -> Result<Vec<f32>> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut f: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
            .collect();
        f.sort();
        f
    } else {
        vec![path.to_path_buf()]
    };
    if files.is_empty() {
        bail!("{} holds no PNG files", path.display());
    }
    let mut images = Vec::new();
    for file in &files {
        let room = MAX_SCORED - images.len() / IMAGE_PIXELS;
        if room == 0 {
            bail!(
                "{} holds more than {MAX_SCORED} digits, the most scored at once",
                path.display()
            );
        }
        let (w, h, gray) = super::output::read_png_gray(file)?;
        let digits = grid::digits(w, h, &gray, layout, room).with_context(|| {
            if room < MAX_SCORED {
                format!("{} (after {} digits)", file.display(), MAX_SCORED - room)
            } else {
                file.display().to_string()
            }
        })?;
        images.extend(digits);
    }
    Ok(images)
}

fn print_table(s: &Scores) {
    let hist: Vec<String> = s
        .class_histogram
        .iter()
        .enumerate()
        .map(|(c, n)| format!("{c}: {n}"))
        .collect();
    say!("samples             {}", s.samples);
    say!(
        "FID                 {:.2}   (lower is better; see the README's calibration)",
        s.fid
    );
    say!("Inception Score     {:.2} / 10", s.inception_score);
    say!(
        "class entropy       {:.3} / {:.3} bits",
        s.class_entropy_bits,
        10f64.log2()
    );
    say!("confident (p>=0.9)  {:.1}%", 100.0 * s.confident);
    say!("class histogram     {}", hist.join("  "));
    if let Some(l) = &s.labels {
        say!(
            "label accuracy      {:.1}%   (the classifier sees the digit asked for)",
            100.0 * l.accuracy
        );
        say!("| digit asked | samples | label accuracy | FID vs that digit's test images |");
        say!("|---|---|---|---|");
        for d in 0..10 {
            let fid = l
                .fid_per_digit
                .map_or("-".to_string(), |f| format!("{:.2}", f[d]));
            say!(
                "| {d} | {} | {:.1}% | {fid} |",
                l.asked[d],
                100.0 * l.per_digit[d]
            );
        }
        let confusions: Vec<String> = l
            .confusions
            .iter()
            .map(|c| format!("{} drawn as {}: {}", c.asked, c.seen, c.count))
            .collect();
        say!(
            "most common confusions  {}",
            if confusions.is_empty() {
                "none".to_string()
            } else {
                confusions.join(", ")
            }
        );
    }
}
