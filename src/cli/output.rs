//! What a run writes: sample-grid PNGs and the loss log.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::files::{create_for_append, read_bounded, write_atomically};

use super::plot::LossPoint;
use dcgan_wgpu::config::Metrics;
use dcgan_wgpu::quality::Scores;

/// Side of one 28x28 sample in the grid PNG (3x nearest-neighbour upscale) and the gap.
const SCALE: usize = 3;
const GAP: usize = 2;

/// Grayscale pixels in [-1, 1] (G's tanh output) -> u8, as the seed shows them (0.5 x + 0.5).
pub fn to_u8(v: f32) -> u8 {
    ((v * 0.5 + 0.5).clamp(0.0, 1.0) * 255.0).round() as u8
}

/// `images` (28x28 each, in [-1, 1]) as a rows x cols grid, upscaled, on a mid-gray background.
pub fn grid_pixels(images: &[f32], rows: usize, cols: usize) -> (usize, usize, Vec<u8>) {
    let side = 28 * SCALE;
    let width = cols * side + (cols + 1) * GAP;
    let height = rows * side + (rows + 1) * GAP;
    let mut px = vec![128u8; width * height];
    for (n, img) in images.chunks_exact(28 * 28).take(rows * cols).enumerate() {
        let (r, c) = (n / cols, n % cols);
        let (x0, y0) = (GAP + c * (side + GAP), GAP + r * (side + GAP));
        for y in 0..side {
            for x in 0..side {
                px[(y0 + y) * width + x0 + x] = to_u8(img[(y / SCALE) * 28 + x / SCALE]);
            }
        }
    }
    (width, height, px)
}

/// Writes an 8-bit grayscale PNG (encoded in memory, then written atomically).
pub fn write_gray_png(path: &Path, width: usize, height: usize, pixels: &[u8]) -> Result<()> {
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, width as u32, height as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .with_context(|| format!("cannot encode {}", path.display()))?;
        w.write_image_data(pixels)
            .with_context(|| format!("cannot encode {}", path.display()))?;
    }
    write_atomically(path, &bytes)
}

pub fn write_grid(path: &Path, images: &[f32], rows: usize, cols: usize) -> Result<()> {
    let (w, h, px) = grid_pixels(images, rows, cols);
    write_gray_png(path, w, h, &px)
}

/// The sample grid file of an iteration count.
pub fn grid_path(dir: &Path, iteration: u64) -> PathBuf {
    dir.join(format!("samples_{iteration:06}.png"))
}

/// `losses.csv`: one row per report, the seed's figures plus their real/fake parts; the rows
/// are also kept in memory for `losses.png`.
pub struct LossLog {
    file: File,
    pub points: Vec<LossPoint>,
}

/// A loss log is a few hundred bytes per report.
const LOSS_LOG_BYTES: u64 = 1 << 28;

/// The last five columns are filled at evaluations (`--eval-every`), empty otherwise; the
/// last only for a conditional run.
pub const LOSS_HEADER: &str = "iteration,d_loss,d_accuracy,g_loss,d_loss_real,d_loss_fake,d_accuracy_real,d_accuracy_fake,fid,inception_score,class_entropy_bits,confident,label_accuracy";

impl LossLog {
    /// Starts `dir/losses.csv`. When resuming at iteration `keep_until`, the rows of the earlier
    /// run up to that iteration are kept (and later ones, from after the checkpoint, dropped).
    pub fn open(dir: &Path, keep_until: Option<u64>) -> Result<Self> {
        let path = dir.join("losses.csv");
        let mut kept = Vec::new();
        let mut points = Vec::new();
        if let Some(until) = keep_until
            && let Ok(bytes) = read_bounded(&path, LOSS_LOG_BYTES, "loss log")
        {
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split(',').collect();
                let (Some(it), Some(d), Some(a), Some(g)) = (
                    f.first().and_then(|v| v.parse::<u64>().ok()),
                    f.get(1).and_then(|v| v.parse::<f32>().ok()),
                    f.get(2).and_then(|v| v.parse::<f32>().ok()),
                    f.get(3).and_then(|v| v.parse::<f32>().ok()),
                ) else {
                    continue;
                };
                let fid = f.get(8).and_then(|v| v.parse::<f32>().ok());
                if it <= until {
                    kept.push(line.to_string());
                    points.push(LossPoint {
                        iteration: it,
                        d_loss: d,
                        d_acc: a,
                        g_loss: g,
                        fid,
                    });
                }
            }
        }
        let mut text = format!("{LOSS_HEADER}\n");
        for line in kept {
            text.push_str(&line);
            text.push('\n');
        }
        let file = create_for_append(&path, text.as_bytes())?;
        Ok(LossLog { file, points })
    }

    pub fn append(&mut self, iteration: u64, m: &Metrics, scores: Option<&Scores>) -> Result<()> {
        let quality = scores.map_or(",,,,".to_string(), |s| {
            let labels = s
                .labels
                .as_ref()
                .map_or(String::new(), |l| l.accuracy.to_string());
            format!(
                "{},{},{},{},{labels}",
                s.fid, s.inception_score, s.class_entropy_bits, s.confident
            )
        });
        // One write per row, so an interrupted run leaves whole rows.
        let row = format!(
            "{iteration},{},{},{},{},{},{},{},{quality}\n",
            m.d_loss(),
            m.d_acc(),
            m.g_loss,
            m.d_loss_real,
            m.d_loss_fake,
            m.d_acc_real,
            m.d_acc_fake
        );
        self.file.write_all(row.as_bytes())?;
        self.points.push(LossPoint {
            iteration,
            d_loss: m.d_loss(),
            d_acc: m.d_acc(),
            g_loss: m.g_loss,
            fid: scores.map(|s| s.fid as f32),
        });
        Ok(())
    }
}

/// The sample grids in `dir` up to `until`, as (iteration, path), in order.
pub fn sample_grids(dir: &Path, until: u64) -> Vec<(u64, PathBuf)> {
    let mut grids: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let it = name
                .strip_prefix("samples_")?
                .strip_suffix(".png")?
                .parse()
                .ok()?;
            (it <= until).then_some((it, e.path()))
        })
        .collect();
    grids.sort();
    grids
}

/// `progress.png`: the run's sample grids (at most 30, evenly spaced), labelled, 5 to a row.
pub fn write_progress(dir: &Path, until: u64) -> Result<()> {
    let grids = sample_grids(dir, until);
    if grids.is_empty() {
        return Ok(());
    }
    let keep = 30;
    let picked: Vec<&(u64, PathBuf)> = if grids.len() <= keep {
        grids.iter().collect()
    } else {
        (0..keep)
            .map(|i| &grids[i * (grids.len() - 1) / (keep - 1)])
            .collect()
    };
    let mut images = Vec::new();
    for (it, path) in picked {
        let (w, h, px) = read_png_gray(path)?;
        images.push((format!("iteration {it}"), w, h, px));
    }
    super::plot::tiled_png(&dir.join("progress.png"), &images, 5)
}

/// The most bytes a PNG may decode to here (a 4096 x 4096 RGBA picture; this program's largest
/// grid, 100 x 100 samples, is 8602 x 8602 gray).
pub const MAX_PNG_BYTES: usize = 1 << 26;

/// Reads a PNG as 8-bit gray (colour averaged): (width, height, pixels). The size its header
/// announces is checked before anything is decoded.
pub fn read_png_gray(path: &Path) -> Result<(usize, usize, Vec<u8>)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut decoder = png::Decoder::new_with_limits(
        std::io::BufReader::new(file),
        png::Limits {
            bytes: MAX_PNG_BYTES,
        },
    );
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .with_context(|| format!("{} is not a PNG this program reads", path.display()))?;
    let size = reader.output_buffer_size().unwrap_or(usize::MAX);
    if size > MAX_PNG_BYTES {
        let info = reader.info();
        bail!(
            "{} is {}x{} pixels ({size} bytes decoded), more than the {MAX_PNG_BYTES} bytes \
             this program decodes",
            path.display(),
            info.width,
            info.height
        );
    }
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .with_context(|| format!("cannot decode {}", path.display()))?;
    buf.truncate(info.buffer_size());
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    let gray = match info.color_type {
        png::ColorType::Grayscale => buf,
        png::ColorType::GrayscaleAlpha => buf.chunks(2).map(|p| p[0]).collect(),
        png::ColorType::Rgb | png::ColorType::Rgba => buf
            .chunks(channels)
            .map(|p| ((u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2])) / 3) as u8)
            .collect(),
        png::ColorType::Indexed => {
            anyhow::bail!("{}: indexed PNGs are not supported", path.display())
        }
    };
    Ok((w, h, gray))
}
