//! Binary cross-entropy on logits; softmax cross-entropy is in softmax.rs. The case is
//! `reference::cases::bce_with_logits` (the page's checks run it too).

use super::*;
use dcgan_wgpu::reference::cases;

#[test]
fn bce_with_logits_loss_gradient_accuracy() {
    let g = gpu();
    // 2500: three workgroups and the finish that adds them.
    for (n, &batch) in [1usize, 8, 300, 128, 2500].iter().enumerate() {
        expect_lines(cases::bce_with_logits(&g.ctx, &g.ops, batch, 900 + n as u64).block_on());
    }
}
