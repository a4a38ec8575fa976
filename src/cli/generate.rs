//! `dcgan-wgpu generate`: samples from a checkpoint's generator (on the GPU, inference-mode
//! BatchNorm) into a grid, separate PNGs, or latent walks.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use dcgan_wgpu::config::{Choice, IMAGE_PIXELS};
use dcgan_wgpu::generate;
use dcgan_wgpu::model;
use dcgan_wgpu::ops::Ops;

use super::files::prepare_dir;
use super::output::{to_u8, write_gray_png, write_grid};
use super::{GpuArgs, load_checkpoint};
use crate::say;

/// The largest grid: 100 x 100 samples, an 8602 x 8602 PNG (74 MB of pixels).
const MAX_GRID_IMAGES: usize = 10_000;
/// The most images one run draws (`--count`'s bound; 313 MB of samples in memory).
const MAX_IMAGES: usize = 100_000;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The checkpoint whose generator draws.
    #[arg(long, value_name = "PATH")]
    checkpoint: PathBuf,
    /// A PNG file for the grid (replaced if it exists; written atomically, never through a
    /// link); with --separate, a directory for one PNG per image.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Images to draw; with --interpolate, latent walks (rows). From a conditional (cgan)
    /// checkpoint: per digit.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    count: u64,
    /// The digit to draw (a cgan checkpoint).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=9), conflicts_with = "digits")]
    digit: Option<u32>,
    /// The digits to draw, a grid row (or with --separate a folder) each: `0-9`, `3,5,7`,
    /// `0-4,8` (a cgan checkpoint) [default there: 0-9]. Column j has the same latent vector in
    /// every row, so a column is one style written as each digit.
    #[arg(long, value_parser = parse_digits)]
    digits: Option<Digits>,
    /// Seed of the latent vectors.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// One PNG per image instead of a grid (from a cgan checkpoint, in a folder per digit).
    #[arg(long, conflicts_with = "interpolate")]
    separate: bool,
    /// A grid whose rows walk (spherically) between two random latent points (from a cgan
    /// checkpoint, within a digit: --count walks per digit).
    #[arg(long)]
    interpolate: bool,
    /// Images per walk with --interpolate.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=100))]
    steps: u64,
    #[command(flatten)]
    gpu: GpuArgs,
}

/// The digits of `--digits`, in the order given.
#[derive(Clone, Debug)]
struct Digits(Vec<u32>);

/// `0-9`, `3,5,7`, `0-4,8`: digits in the order given, each at most once.
fn parse_digits(spec: &str) -> Result<Digits, String> {
    let digit = |s: &str| match s.trim().parse::<u32>() {
        Ok(d) if d <= 9 => Ok(d),
        _ => Err(format!(
            "{s:?} is not a digit 0-9 (e.g. 0-9, 3,5,7 or 0-4,8)"
        )),
    };
    let mut digits = Vec::new();
    for part in spec.split(',') {
        let range = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (digit(a)?, digit(b)?);
                if a > b {
                    return Err(format!("{part:?} runs backwards"));
                }
                a..=b
            }
            None => {
                let d = digit(part)?;
                d..=d
            }
        };
        for d in range {
            if digits.contains(&d) {
                return Err(format!("digit {d} is given twice"));
            }
            digits.push(d);
        }
    }
    Ok(Digits(digits))
}

pub fn run(args: GenerateArgs) -> Result<()> {
    let count = args.count as usize;
    let steps = args.steps as usize;
    // A grid is one picture: its size is bounded, and so is what one run draws, first by the
    // flags alone, then with a conditional checkpoint's digits (`digits` rows of each).
    let check_size = |digits: usize| {
        let images = digits
            * if args.interpolate {
                count * steps
            } else {
                count
            };
        if !args.separate && images > MAX_GRID_IMAGES {
            anyhow::bail!(
                "a grid of {images} images is more than {MAX_GRID_IMAGES}, the largest grid \
                 written (a {side}x{side}-pixel PNG); use --separate for more, or a smaller \
                 --count",
                side = 100 * 86 + 2
            );
        }
        if images > MAX_IMAGES {
            anyhow::bail!(
                "{images} images ({count} of each of {digits} digits) are more than \
                 {MAX_IMAGES}, the most one run draws; use a smaller --count"
            );
        }
        Ok(())
    };
    check_size(1)?;
    let checkpoint = load_checkpoint(&args.checkpoint)?;
    let arch = checkpoint.config.arch;
    // A conditional generator draws `count` of each digit asked for (every digit unless told).
    let digits: Option<Vec<u32>> = match (args.digit, &args.digits) {
        (Some(d), _) => Some(vec![d]),
        (None, Some(ds)) => Some(ds.0.clone()),
        (None, None) if arch.conditional() => Some((0..model::DIGITS as u32).collect()),
        (None, None) => None,
    };
    if digits.is_some() && !arch.conditional() {
        anyhow::bail!(
            "--digit and --digits need a conditional checkpoint (--arch cgan); {} was trained \
             with --arch {}",
            args.checkpoint.display(),
            arch.name()
        );
    }
    check_size(digits.as_ref().map_or(1, Vec::len))?;
    let z_dim = checkpoint.config.z_dim;
    let steps = if args.interpolate { steps } else { 1 };
    let (z, labels) = generate::inputs(args.seed, (count, steps), z_dim, digits.as_deref());
    // A near-square grid of images or a row per walk; from a conditional generator a row of
    // images, or a block of walks, per digit.
    let (rows, cols) = match (&digits, args.interpolate) {
        (None, false) => {
            let cols = (count as f64).sqrt().ceil() as usize;
            (count.div_ceil(cols), cols)
        }
        (None, true) => (count, steps),
        (Some(d), false) => (d.len(), count),
        (Some(d), true) => (d.len() * count, steps),
    };
    if args.separate {
        prepare_dir(&args.out)?;
    } else if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        prepare_dir(dir)?;
    }
    let ctx = args.gpu.context()?;
    let ops = Ops::new(&ctx)?;
    let images = pollster::block_on(generate::generate(
        &ctx,
        &ops,
        &checkpoint,
        &z,
        labels.as_deref(),
    ))?;
    if args.separate {
        let write = |dir: &Path, images: &[f32]| -> Result<()> {
            for (i, img) in images.chunks(IMAGE_PIXELS).enumerate() {
                let px: Vec<u8> = img.iter().map(|&v| to_u8(v)).collect();
                write_gray_png(&dir.join(format!("sample_{i:05}.png")), 28, 28, &px)?;
            }
            Ok(())
        };
        match &digits {
            None => write(&args.out, &images)?,
            Some(digits) => {
                for (&d, images) in digits.iter().zip(images.chunks(count * IMAGE_PIXELS)) {
                    let dir = args.out.join(d.to_string());
                    prepare_dir(&dir)?;
                    write(&dir, images)?;
                }
            }
        }
        let folders = digits.as_ref().map_or(String::new(), |d| {
            format!(" (a folder per digit: {})", d.len())
        });
        say!(
            "wrote {} images to {}{folders}",
            images.len() / IMAGE_PIXELS,
            args.out.display()
        );
    } else {
        write_grid(&args.out, &images, rows, cols)?;
        say!(
            "wrote a {rows}x{cols} grid to {} (checkpoint at iteration {})",
            args.out.display(),
            checkpoint.iteration
        );
    }
    Ok(())
}
