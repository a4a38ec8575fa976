//! `dcgan-wgpu generate`: samples from a checkpoint's generator (on the GPU, inference-mode
//! BatchNorm) into a grid, separate PNGs, or latent walks.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use dcgan_wgpu::config::IMAGE_PIXELS;
use dcgan_wgpu::generate;
use dcgan_wgpu::ops::Ops;

use super::files::prepare_dir;
use super::output::{to_u8, write_gray_png, write_grid};
use super::{GpuArgs, load_checkpoint};
use crate::say;

/// The largest grid: 100 x 100 samples, an 8602 x 8602 PNG (74 MB of pixels).
const MAX_GRID_IMAGES: usize = 10_000;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The checkpoint whose generator draws.
    #[arg(long, value_name = "PATH")]
    checkpoint: PathBuf,
    /// A PNG file for the grid (replaced if it exists; written atomically, never through a
    /// link); with --separate, a directory for one PNG per image.
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

pub fn run(args: GenerateArgs) -> Result<()> {
    let count = args.count as usize;
    let steps = args.steps as usize;
    // A grid is one picture: its size is bounded (separate files only by --count).
    let images = if args.interpolate {
        count * steps
    } else {
        count
    };
    if !args.separate && images > MAX_GRID_IMAGES {
        anyhow::bail!(
            "a grid of {images} images is more than {MAX_GRID_IMAGES}, the largest grid written \
             (a {side}x{side}-pixel PNG); use --separate for more, or a smaller --count",
            side = 100 * 86 + 2
        );
    }
    let checkpoint = load_checkpoint(&args.checkpoint)?;
    let z_dim = checkpoint.config.z_dim;
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
    if args.separate {
        prepare_dir(&args.out)?;
    } else if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        prepare_dir(dir)?;
    }
    let ctx = args.gpu.context()?;
    let ops = Ops::new(&ctx)?;
    let images = pollster::block_on(generate::generate(&ctx, &ops, &checkpoint, &z))?;
    if args.separate {
        for (i, img) in images.chunks(IMAGE_PIXELS).enumerate() {
            let px: Vec<u8> = img.iter().map(|&v| to_u8(v)).collect();
            write_gray_png(&args.out.join(format!("sample_{i:05}.png")), 28, 28, &px)?;
        }
        say!("wrote {count} images to {}", args.out.display());
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
