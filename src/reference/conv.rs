//! Conv2D with TensorFlow 'same' padding, NHWC, kernel [k, k, in_c, out_c]; cross-correlation.
//! The input gradient is written as the scatter (adjoint) of the forward loop, not as the
//! gather the GPU kernel uses, so the two are independent.

use super::tf_same;

// Only the layer description's fields are read here: sizes and padding are this file's own
// arithmetic, independent of the GPU side's.
use crate::geometry::Conv2d;

/// This file's loops over a layer.
trait Loops {
    fn sizes(&self) -> (usize, usize, usize, usize);
    fn for_each_tap(
        &self,
        f: impl FnMut(usize, usize, usize, usize, usize, Option<(usize, usize)>),
    );
}

impl Loops for Conv2d {
    /// (out_h, out_w, pad_top, pad_left).
    fn sizes(&self) -> (usize, usize, usize, usize) {
        assert!(
            !self.transposed,
            "a transposed convolution: see conv_transpose"
        );
        let (oh, pt) = tf_same(self.in_h, self.kernel, self.stride);
        let (ow, pl) = tf_same(self.in_w, self.kernel, self.stride);
        (oh, ow, pt, pl)
    }

    /// Calls f(b, oy, ox, ky, kx, input index (y, x) or None in the padding).
    fn for_each_tap(
        &self,
        mut f: impl FnMut(usize, usize, usize, usize, usize, Option<(usize, usize)>),
    ) {
        let (oh, ow, pt, pl) = self.sizes();
        for b in 0..self.batch {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ky in 0..self.kernel {
                        for kx in 0..self.kernel {
                            let iy = (oy * self.stride + ky) as isize - pt as isize;
                            let ix = (ox * self.stride + kx) as isize - pl as isize;
                            let inside = iy >= 0
                                && ix >= 0
                                && (iy as usize) < self.in_h
                                && (ix as usize) < self.in_w;
                            f(
                                b,
                                oy,
                                ox,
                                ky,
                                kx,
                                inside.then_some((iy as usize, ix as usize)),
                            );
                        }
                    }
                }
            }
        }
    }
}

pub fn forward(g: &Conv2d, x: &[f64], w: &[f64], bias: &[f64]) -> Vec<f64> {
    let (oh, ow, _, _) = g.sizes();
    let mut y = vec![0.0; g.batch * oh * ow * g.out_c];
    for b in 0..g.batch {
        for p in 0..oh * ow {
            for o in 0..g.out_c {
                y[(b * oh * ow + p) * g.out_c + o] = bias[o];
            }
        }
    }
    g.for_each_tap(|b, oy, ox, ky, kx, src| {
        let Some((iy, ix)) = src else { return };
        for c in 0..g.in_c {
            let xv = x[((b * g.in_h + iy) * g.in_w + ix) * g.in_c + c];
            for o in 0..g.out_c {
                y[((b * oh + oy) * ow + ox) * g.out_c + o] +=
                    xv * w[((ky * g.kernel + kx) * g.in_c + c) * g.out_c + o];
            }
        }
    });
    y
}

pub fn backward_input(g: &Conv2d, dy: &[f64], w: &[f64]) -> Vec<f64> {
    let (oh, ow, _, _) = g.sizes();
    let mut dx = vec![0.0; g.batch * g.in_h * g.in_w * g.in_c];
    g.for_each_tap(|b, oy, ox, ky, kx, src| {
        let Some((iy, ix)) = src else { return };
        for c in 0..g.in_c {
            let mut s = 0.0;
            for o in 0..g.out_c {
                s += dy[((b * oh + oy) * ow + ox) * g.out_c + o]
                    * w[((ky * g.kernel + kx) * g.in_c + c) * g.out_c + o];
            }
            dx[((b * g.in_h + iy) * g.in_w + ix) * g.in_c + c] += s;
        }
    });
    dx
}

pub fn backward_weight(g: &Conv2d, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let (oh, ow, _, _) = g.sizes();
    let mut dw = vec![0.0; g.kernel * g.kernel * g.in_c * g.out_c];
    g.for_each_tap(|b, oy, ox, ky, kx, src| {
        let Some((iy, ix)) = src else { return };
        for c in 0..g.in_c {
            let xv = x[((b * g.in_h + iy) * g.in_w + ix) * g.in_c + c];
            for o in 0..g.out_c {
                dw[((ky * g.kernel + kx) * g.in_c + c) * g.out_c + o] +=
                    xv * dy[((b * oh + oy) * ow + ox) * g.out_c + o];
            }
        }
    });
    dw
}
