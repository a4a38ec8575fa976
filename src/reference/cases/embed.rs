//! The label embeddings: z * E[label] and the label plane, forward and gradients.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{Lines, abs, garbage, random};
use crate::gpu::{GpuContext, GpuError, GpuSlice};
use crate::ops::Ops;
use crate::ops::activation::Activation;
use crate::ops::embed::EmbedShape;
use crate::reference::{check, embed};

/// Labels for `batch` samples, leaving the last of more than two classes out: its table
/// gradient must be written as 0.
fn labels(r: &mut StdRng, batch: usize, classes: usize) -> Vec<u32> {
    let used = if classes > 2 { classes - 1 } else { classes };
    (0..batch).map(|_| r.random_range(0..used as u32)).collect()
}

/// Sums over each class's samples of `terms` [batch, width] (the table gradient's magnitude).
fn class_sums(terms: &[f64], labels: &[u32], classes: usize, width: usize) -> Vec<f64> {
    let mut s = vec![0.0; classes * width];
    for (b, &l) in labels.iter().enumerate() {
        for j in 0..width {
            s[l as usize * width + j] += terms[b * width + j].abs();
        }
    }
    s
}

/// A case's inputs: labels, x, the table and dy (of `dy_len`), on the GPU and in f64.
struct Inputs {
    labels: Vec<u32>,
    xd: Vec<f64>,
    td: Vec<f64>,
    dyd: Vec<f64>,
    gpu: [GpuSlice; 4],
}

fn inputs(ctx: &GpuContext, s: EmbedShape, dy_len: usize, seed: u64) -> Inputs {
    let mut r = StdRng::seed_from_u64(seed);
    let labels = labels(&mut r, s.batch, s.classes);
    let (x, xd) = random(&mut r, s.input_len(), 1.0);
    let (t, td) = random(&mut r, s.table_len(), 0.05);
    let (dy, dyd) = random(&mut r, dy_len, 1.0);
    let gpu = [
        ctx.storage_init("labels", &labels),
        ctx.storage_init("x", &x),
        ctx.storage_init("table", &t),
        ctx.storage_init("dy", &dy),
    ];
    Inputs {
        labels,
        xd,
        td,
        dyd,
        gpu,
    }
}

/// The label embedding multiplied into x: forward and the table's gradient.
pub async fn embed_product(
    ctx: &GpuContext,
    ops: &Ops,
    s: EmbedShape,
    seed: u64,
) -> Result<Lines, GpuError> {
    let Inputs {
        labels: l,
        xd,
        td,
        dyd,
        gpu: [ls, xs, ts, dys],
    } = inputs(ctx, s, s.input_len(), seed);
    let (y, dt) = (garbage(ctx, s.input_len()), garbage(ctx, s.table_len()));
    let e = &ops.embed;
    ctx.run(&[
        e.scale_forward(ctx, s, &ls, &ts, &xs, &y),
        e.scale_table_grad(ctx, s, &ls, &xs, &dys, &dt),
    ])
    .await?;
    let name = format!(
        "embed product {}x{}, {} classes",
        s.batch, s.width, s.classes
    );
    let want = embed::scale_forward(&xd, &td, &l, s.width);
    let (_, dtable) = embed::scale_backward(&xd, &td, &l, s.width, &dyd);
    let terms: Vec<f64> = dyd.iter().zip(&xd).map(|(a, b)| a * b).collect();
    let magnitude = class_sums(&terms, &l, s.classes, s.width);
    Ok(vec![
        check::sum_of_products(
            &format!("{name} forward"),
            &ctx.read(&y).await?,
            &want,
            &abs(&want),
            1,
        ),
        check::sum_of_products(
            &format!("{name} dtable"),
            &ctx.read(&dt).await?,
            &dtable,
            &magnitude,
            s.batch,
        ),
    ])
}

/// The label plane beside x: forward (a copy), x's gradient (a copy, and taken through tanh
/// as in G's step) and the table's.
pub async fn label_plane(
    ctx: &GpuContext,
    ops: &Ops,
    s: EmbedShape,
    seed: u64,
) -> Result<Lines, GpuError> {
    let Inputs {
        labels: l,
        xd,
        td,
        dyd,
        gpu: [ls, xs, ts, dys],
    } = inputs(ctx, s, s.concat_len(), seed);
    let (y, dt, dx, dx_tanh) = (
        garbage(ctx, s.concat_len()),
        garbage(ctx, s.table_len()),
        garbage(ctx, s.input_len()),
        garbage(ctx, s.input_len()),
    );
    // x as the output of G's tanh, for the gradient taken through it (in G's step).
    let (saved, saved_d) = random(
        &mut StdRng::seed_from_u64(seed ^ 0x7a4),
        s.input_len(),
        0.99,
    );
    let saved_gpu = ctx.storage_init("saved tanh output", &saved);
    let e = &ops.embed;
    let tanh = Some((Activation::Tanh, &saved_gpu));
    ctx.run(&[
        e.concat_forward(ctx, s, &ls, &ts, &xs, &y),
        e.concat_table_grad(ctx, s, &ls, &dys, &dt),
        e.concat_input_grad(ctx, s, &dys, None, &dx),
        e.concat_input_grad(ctx, s, &dys, tanh, &dx_tanh),
    ])
    .await?;
    let name = format!(
        "label plane {}x{}x{}, {} classes",
        s.batch, s.width, s.channels, s.classes
    );
    let want = embed::concat_forward(&xd, &td, &l, s.width, s.channels);
    let (dxr, dtable) = embed::concat_backward(&l, s.classes, s.width, s.channels, &dyd);
    let label_channel: Vec<f64> = dyd
        .chunks(s.channels + 1)
        .map(|px| px[s.channels])
        .collect();
    let magnitude = class_sums(&label_channel, &l, s.classes, s.width);
    // Copies: exact.
    let exact = |n: usize| vec![0.0; n];
    Ok(vec![
        check::within(
            &format!("{name} forward"),
            &ctx.read(&y).await?,
            &want,
            &want,
            &exact(want.len()),
        ),
        check::within(
            &format!("{name} dx"),
            &ctx.read(&dx).await?,
            &dxr,
            &dxr,
            &exact(dxr.len()),
        ),
        // dy (1 - y^2): three roundings of terms no larger than |dy| (1 + y^2).
        check::sum_of_products(
            &format!("{name} dx through tanh"),
            &ctx.read(&dx_tanh).await?,
            &dxr.iter()
                .zip(&saved_d)
                .map(|(g, y)| g * (1.0 - y * y))
                .collect::<Vec<f64>>(),
            &dxr.iter()
                .zip(&saved_d)
                .map(|(g, y)| g.abs() * (1.0 + y * y))
                .collect::<Vec<f64>>(),
            1,
        ),
        check::sum_of_products(
            &format!("{name} dtable"),
            &ctx.read(&dt).await?,
            &dtable,
            &magnitude,
            s.batch,
        ),
    ])
}
