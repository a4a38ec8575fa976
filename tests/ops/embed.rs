//! Class conditioning: the label embedding multiplied into z and set beside the image as a
//! channel, forward and the table's and input's gradients, against the reference.

use super::*;
use dcgan_wgpu::ops::embed::EmbedShape;

/// Labels for `batch` samples over `classes`, leaving the last class out when there are
/// enough samples for it not to matter (its gradient must be 0, not stale).
fn labels(r: &mut rand::rngs::StdRng, batch: usize, classes: usize) -> Vec<u32> {
    use rand::RngExt;
    let used = if classes > 2 { classes - 1 } else { classes };
    (0..batch).map(|_| r.random_range(0..used as u32)).collect()
}

/// Sums over the samples of each class of `terms` [batch, width] (for the error bound).
fn class_sums(terms: &[f64], labels: &[u32], classes: usize, width: usize) -> Vec<f64> {
    let mut s = vec![0.0; classes * width];
    for (b, &l) in labels.iter().enumerate() {
        for j in 0..width {
            s[l as usize * width + j] += terms[b * width + j];
        }
    }
    s
}

#[test]
fn embedding_product_forward_and_table_gradient() {
    let g = gpu();
    // Odd shapes, then the conditional G's (z of 100, ten digits, batch 32 and 128).
    for (n, &(batch, classes, width)) in [
        (1, 1, 1),
        (7, 3, 13),
        (33, 5, 257),
        (32, 10, 100),
        (128, 10, 100),
    ]
    .iter()
    .enumerate()
    {
        let mut r = rng(2100 + n as u64);
        let s = EmbedShape {
            batch,
            classes,
            width,
            channels: 1,
        };
        let l = labels(&mut r, batch, classes);
        let (x, xd) = random(&mut r, s.input_len(), 1.0);
        let (t, td) = random(&mut r, s.table_len(), 0.05);
        let (dy, dyd) = random(&mut r, s.input_len(), 1.0);
        let (ls, xs, ts, dys) = (
            g.ctx.storage_init("labels", &l),
            upload(&x),
            upload(&t),
            upload(&dy),
        );
        // The table gradient starts as garbage: every entry is written, an unused class's as 0.
        let (y, dt) = (output(s.input_len()), upload(&vec![7.0; s.table_len()]));
        let e = &g.ops.embed;
        run(&[
            e.scale_forward(&g.ctx, s, &ls, &ts, &xs, &y),
            e.scale_table_grad(&g.ctx, s, &ls, &xs, &dys, &dt),
        ]);
        let name = format!("embed product {batch}x{width}, {classes} classes");
        let want = reference::embed::scale_forward(&xd, &td, &l, width);
        check_sum_of_products(&format!("{name} forward"), &read(&y), &want, &abs(&want), 1);
        let (_, dtable) = reference::embed::scale_backward(&xd, &td, &l, width, &dyd);
        let terms: Vec<f64> = dyd.iter().zip(&xd).map(|(a, b)| (a * b).abs()).collect();
        let magnitude = class_sums(&terms, &l, classes, width);
        check_sum_of_products(
            &format!("{name} dtable"),
            &read(&dt),
            &dtable,
            &magnitude,
            batch,
        );
    }
}

#[test]
fn label_plane_forward_and_gradients() {
    let g = gpu();
    // Odd shapes and channel counts, then the conditional D's (28x28 images, one channel).
    for (n, &(batch, classes, width, channels)) in [
        (1, 1, 1, 1),
        (5, 4, 29, 1),
        (6, 3, 17, 3),
        (32, 10, 784, 1),
        (128, 10, 784, 1),
    ]
    .iter()
    .enumerate()
    {
        let mut r = rng(2200 + n as u64);
        let s = EmbedShape {
            batch,
            classes,
            width,
            channels,
        };
        let l = labels(&mut r, batch, classes);
        let (x, xd) = random(&mut r, s.input_len(), 1.0);
        let (t, td) = random(&mut r, s.table_len(), 0.05);
        let (dy, dyd) = random(&mut r, s.concat_len(), 1.0);
        let (ls, xs, ts, dys) = (
            g.ctx.storage_init("labels", &l),
            upload(&x),
            upload(&t),
            upload(&dy),
        );
        let (y, dt, dx) = (
            output(s.concat_len()),
            upload(&vec![7.0; s.table_len()]),
            output(s.input_len()),
        );
        let e = &g.ops.embed;
        run(&[
            e.concat_forward(&g.ctx, s, &ls, &ts, &xs, &y),
            e.concat_table_grad(&g.ctx, s, &ls, &dys, &dt),
            e.concat_input_grad(&g.ctx, s, &dys, &dx),
        ]);
        let name = format!("label plane {batch}x{width}x{channels}, {classes} classes");
        let want = reference::embed::concat_forward(&xd, &td, &l, width, channels);
        let as_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        check_bits(&format!("{name} forward"), &read(&y), &as_f32(&want));
        let (dxr, dtable) = reference::embed::concat_backward(&l, classes, width, channels, &dyd);
        check_bits(&format!("{name} dx"), &read(&dx), &as_f32(&dxr));
        let label_channel: Vec<f64> = dyd
            .chunks(channels + 1)
            .map(|px| px[channels].abs())
            .collect();
        let magnitude = class_sums(&label_channel, &l, classes, width);
        check_sum_of_products(
            &format!("{name} dtable"),
            &read(&dt),
            &dtable,
            &magnitude,
            batch,
        );
    }
}
