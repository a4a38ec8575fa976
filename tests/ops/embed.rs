//! Class conditioning: the label embedding multiplied into z and set beside the image as a
//! channel, forward and the table's and input's gradients, against the reference. The cases
//! are `reference::cases`' (the page's checks run them too).

use super::*;
use dcgan_wgpu::ops::embed::EmbedShape;
use dcgan_wgpu::reference::cases;

fn shape(batch: usize, classes: usize, width: usize, channels: usize) -> EmbedShape {
    EmbedShape {
        batch,
        classes,
        width,
        channels,
    }
}

#[test]
fn embedding_product_forward_and_table_gradient() {
    let g = gpu();
    // Odd shapes, then the conditional G's (z of 100, ten digits, batch 32 and 128).
    for (n, (batch, classes, width)) in [
        (1, 1, 1),
        (7, 3, 13),
        (33, 5, 257),
        (32, 10, 100),
        (128, 10, 100),
    ]
    .into_iter()
    .enumerate()
    {
        let s = shape(batch, classes, width, 1);
        expect_lines(cases::embed_product(&g.ctx, &g.ops, s, 2100 + n as u64).block_on());
    }
}

#[test]
fn label_plane_forward_and_gradients() {
    let g = gpu();
    // Odd shapes and channel counts, then the conditional D's (28x28 images, one channel).
    for (n, (batch, classes, width, channels)) in [
        (1, 1, 1, 1),
        (5, 4, 29, 1),
        (6, 3, 17, 3),
        (32, 10, 784, 1),
        (128, 10, 784, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let s = shape(batch, classes, width, channels);
        expect_lines(cases::label_plane(&g.ctx, &g.ops, s, 2200 + n as u64).block_on());
    }
}
