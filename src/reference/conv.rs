//! Conv2D with TensorFlow 'same' padding, NHWC, kernel [k, k, in_c, out_c]; cross-correlation.
//! The input gradient is written as the scatter (adjoint) of the forward loop, not as the
//! gather the GPU kernel uses, so the two are independent.

use super::tf_same;

#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    pub batch: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub out_c: usize,
    pub k: usize,
    pub stride: usize,
}

impl Geometry {
    /// (out_h, out_w, pad_top, pad_left).
    pub fn output(&self) -> (usize, usize, usize, usize) {
        let (oh, pt) = tf_same(self.h, self.k, self.stride);
        let (ow, pl) = tf_same(self.w, self.k, self.stride);
        (oh, ow, pt, pl)
    }

    /// Calls f(b, oy, ox, ky, kx, input index (y, x) or None in the padding).
    fn for_each_tap(
        &self,
        mut f: impl FnMut(usize, usize, usize, usize, usize, Option<(usize, usize)>),
    ) {
        let (oh, ow, pt, pl) = self.output();
        for b in 0..self.batch {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ky in 0..self.k {
                        for kx in 0..self.k {
                            let iy = (oy * self.stride + ky) as isize - pt as isize;
                            let ix = (ox * self.stride + kx) as isize - pl as isize;
                            let inside = iy >= 0
                                && ix >= 0
                                && (iy as usize) < self.h
                                && (ix as usize) < self.w;
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

pub fn forward(g: &Geometry, x: &[f64], w: &[f64], bias: &[f64]) -> Vec<f64> {
    let (oh, ow, _, _) = g.output();
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
        for c in 0..g.c {
            let xv = x[((b * g.h + iy) * g.w + ix) * g.c + c];
            for o in 0..g.out_c {
                y[((b * oh + oy) * ow + ox) * g.out_c + o] +=
                    xv * w[((ky * g.k + kx) * g.c + c) * g.out_c + o];
            }
        }
    });
    y
}

pub fn backward_input(g: &Geometry, dy: &[f64], w: &[f64]) -> Vec<f64> {
    let (oh, ow, _, _) = g.output();
    let mut dx = vec![0.0; g.batch * g.h * g.w * g.c];
    g.for_each_tap(|b, oy, ox, ky, kx, src| {
        let Some((iy, ix)) = src else { return };
        for c in 0..g.c {
            let mut s = 0.0;
            for o in 0..g.out_c {
                s += dy[((b * oh + oy) * ow + ox) * g.out_c + o]
                    * w[((ky * g.k + kx) * g.c + c) * g.out_c + o];
            }
            dx[((b * g.h + iy) * g.w + ix) * g.c + c] += s;
        }
    });
    dx
}

pub fn backward_weight(g: &Geometry, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let (oh, ow, _, _) = g.output();
    let mut dw = vec![0.0; g.k * g.k * g.c * g.out_c];
    g.for_each_tap(|b, oy, ox, ky, kx, src| {
        let Some((iy, ix)) = src else { return };
        for c in 0..g.c {
            let xv = x[((b * g.h + iy) * g.w + ix) * g.c + c];
            for o in 0..g.out_c {
                dw[((ky * g.k + kx) * g.c + c) * g.out_c + o] +=
                    xv * dy[((b * oh + oy) * ow + ox) * g.out_c + o];
            }
        }
    });
    dw
}
