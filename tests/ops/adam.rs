//! Keras' Adam over a flat parameter buffer. The case is `reference::cases::adam_steps` (the
//! page's checks run it too).

use super::*;
use dcgan_wgpu::reference::cases;

#[test]
fn adam_matches_keras_float32() {
    let g = gpu();
    expect_lines(cases::adam_steps(&g.ctx, &g.ops, 10_007, 1000).block_on());
}
