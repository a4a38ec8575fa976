//! The ceiling kernels `bench` times: the multiply-add chains against the reference, the copy
//! exact.

use super::*;
use dcgan_wgpu::ops::ceiling::{CeilingOps, FMA_LANES};

#[test]
fn fma_peak_matches_the_reference() {
    let g = gpu();
    let ceiling = CeilingOps::new(&g.ctx).expect("ceiling kernels");
    // 3 workgroups (invocation indices past 64 repeat the seeds), 0, 1 and 37 rounds.
    let invocations = 3 * FMA_LANES;
    for rounds in [0, 1, 37] {
        let out = output(invocations * 4);
        run(&[ceiling.fma_peak(&g.ctx, rounds, &out)]);
        let got = read(&out);
        let want = reference::ceiling::fma_peak(invocations, rounds);
        // 296 contracting steps in f32: each rounds once, and the rounding shrinks by 0.999 a
        // step after it, so the error stays within a few ulps of the values (at most 8).
        check_close(
            &format!("fma_peak, {rounds} rounds"),
            &got,
            &want,
            1e-5,
            1e-5,
        );
    }
}

#[test]
fn stream_copy_copies_every_element() {
    let g = gpu();
    let ceiling = CeilingOps::new(&g.ctx).expect("ceiling kernels");
    // More vec4s than 1024 workgroups of 256 lanes cover, so lanes walk the grid stride, and a
    // count that divides no workgroup.
    for n4 in [1, 257, 1024 * 256 + 3] {
        let (values, _) = random(&mut rng(1800 + n4 as u64), 4 * n4, 1.0);
        let src = upload(&values);
        let dst = output(4 * n4);
        run(&[ceiling.stream_copy(&g.ctx, &src, &dst)]);
        let got = read(&dst);
        assert!(got == values, "stream_copy of {n4} vec4s differs");
    }
}
