//! The figures of a run, drawn with plotters into memory and written with the png crate:
//! `losses.png` (D loss, G loss and D accuracy against the iteration, the book's figure) and
//! `progress.png` (every sample grid of the run, labelled). The font is compiled in, so no
//! system font is needed at run time.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;

/// DejaVu Sans (Bitstream Vera licence, assets/fonts/DejaVuSans-LICENSE.txt).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // A failure here would only lose the labels; the font is a known-good constant.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// One report's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossPoint {
    pub iteration: u64,
    pub d_loss: f32,
    pub d_acc: f32,
    pub g_loss: f32,
    /// FID of the fixed evaluation samples, at evaluations.
    pub fid: Option<f32>,
}

fn write_rgb_png(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<()> {
    let mut bytes = Vec::new();
    let mut enc = png::Encoder::new(&mut bytes, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .and_then(|mut w| w.write_image_data(rgb))
        .with_context(|| format!("cannot encode {}", path.display()))?;
    super::files::write_atomically(path, &bytes)
}

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a plot failed: {e:?}")
}

/// Losses (top), D's accuracy (middle) and, when the run was evaluated, FID (bottom) against
/// the iteration.
pub fn losses_png(path: &Path, points: &[LossPoint]) -> Result<()> {
    register_font();
    let fids: Vec<(u64, f32)> = points
        .iter()
        .filter_map(|p| p.fid.map(|f| (p.iteration, f)))
        .collect();
    let (w, h) = (900u32, if fids.is_empty() { 640u32 } else { 900 });
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (top, rest) = root.split_vertically(384);
        let (bottom, fid_area) = rest.split_vertically(256);
        let max_it = points.iter().map(|p| p.iteration).max().unwrap_or(1).max(1);
        let max_loss = points
            .iter()
            .flat_map(|p| [p.d_loss, p.g_loss])
            .filter(|v| v.is_finite())
            .fold(0.0f32, f32::max)
            .max(0.1)
            * 1.05;
        let mut chart = ChartBuilder::on(&top)
            .caption("Training losses", ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0u64..max_it, 0f32..max_loss)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .max_light_lines(2)
            .y_desc("loss")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(plot_err)?;
        for (label, color, pick) in [
            (
                "D loss",
                RED,
                (|p: &LossPoint| p.d_loss) as fn(&LossPoint) -> f32,
            ),
            ("G loss", BLUE, |p: &LossPoint| p.g_loss),
        ] {
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|p| (p.iteration, pick(p))),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(plot_err)?;
        let mut acc = ChartBuilder::on(&bottom)
            .caption("Discriminator accuracy", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0u64..max_it, 0f32..100f32)
            .map_err(plot_err)?;
        acc.configure_mesh()
            .max_light_lines(2)
            .x_desc("iteration")
            .y_desc("accuracy (%)")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(plot_err)?;
        acc.draw_series(LineSeries::new(
            points.iter().map(|p| (p.iteration, 100.0 * p.d_acc)),
            GREEN.stroke_width(2),
        ))
        .map_err(plot_err)?;
        if !fids.is_empty() {
            let max_fid = fids
                .iter()
                .map(|f| f.1)
                .filter(|v| v.is_finite())
                .fold(1.0f32, f32::max)
                * 1.05;
            let mut fid = ChartBuilder::on(&fid_area)
                .caption(
                    "FID of the evaluation samples (lower is better)",
                    ("sans-serif", 18),
                )
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(50)
                .build_cartesian_2d(0u64..max_it, 0f32..max_fid)
                .map_err(plot_err)?;
            fid.configure_mesh()
                .max_light_lines(2)
                .x_desc("iteration")
                .y_desc("FID")
                .label_style(("sans-serif", 13))
                .draw()
                .map_err(plot_err)?;
            fid.draw_series(LineSeries::new(
                fids.iter().copied(),
                MAGENTA.stroke_width(2),
            ))
            .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    write_rgb_png(path, w, h, &rgb)
}

/// Grayscale images (`(label, width, height, pixels)`), tiled `columns` to a row with their
/// labels above them.
pub fn tiled_png(
    path: &Path,
    images: &[(String, usize, usize, Vec<u8>)],
    columns: usize,
) -> Result<()> {
    register_font();
    anyhow::ensure!(!images.is_empty(), "no images to tile");
    let (iw, ih) = (images[0].1, images[0].2);
    let (pad, label_h) = (8usize, 22usize);
    let cols = columns.min(images.len()).max(1);
    let rows = images.len().div_ceil(cols);
    let (w, h) = (cols * (iw + pad) + pad, rows * (ih + label_h + pad) + pad);
    let mut rgb = vec![255u8; w * h * 3];
    for (n, (_, width, height, px)) in images.iter().enumerate() {
        anyhow::ensure!((*width, *height) == (iw, ih), "images of different sizes");
        let x0 = pad + (n % cols) * (iw + pad);
        let y0 = pad + (n / cols) * (ih + label_h + pad) + label_h;
        for y in 0..ih {
            for x in 0..iw {
                let v = px[y * iw + x];
                let o = ((y0 + y) * w + x0 + x) * 3;
                rgb[o..o + 3].copy_from_slice(&[v, v, v]);
            }
        }
    }
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w as u32, h as u32)).into_drawing_area();
        for (n, (label, ..)) in images.iter().enumerate() {
            let x0 = pad + (n % cols) * (iw + pad);
            let y0 = pad + (n / cols) * (ih + label_h + pad);
            root.draw(&Text::new(
                label.clone(),
                (x0 as i32, y0 as i32 + 2),
                ("sans-serif", 16).into_font(),
            ))
            .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    write_rgb_png(path, w as u32, h as u32, &rgb)
}
