//! Conv2DTranspose with 'same' padding as Keras defines it, NHWC, kernel [k, k, out_c, in_c].
//!
//! Written directly as a scatter: every input pixel i adds x[i] * W[k] to output position
//! i*s + k - before, where `before` is the 'same' padding of the convolution mapping the output
//! size (in*s) back to the input size; positions outside [0, in*s) are dropped.

use super::tf_same;

// Only the layer description's fields are read here: sizes and padding are this file's own
// arithmetic, independent of the GPU side's.
use crate::geometry::Conv2d;

/// This file's loops over a layer.
trait Loops {
    fn sizes(&self) -> (usize, usize);
    fn before(&self) -> (usize, usize);
    fn for_each_tap(&self, f: impl FnMut(usize, usize, usize, usize, usize, (usize, usize)));
    fn w_index(&self, ky: usize, kx: usize, o: usize, c: usize) -> usize;
}

impl Loops for Conv2d {
    fn sizes(&self) -> (usize, usize) {
        assert!(self.transposed, "a convolution: see conv");
        (self.in_h * self.stride, self.in_w * self.stride)
    }

    /// Padding before, per axis, of the adjoint convolution out -> in.
    fn before(&self) -> (usize, usize) {
        let (oh, ow) = self.sizes();
        let (h, pt) = tf_same(oh, self.kernel, self.stride);
        let (w, pl) = tf_same(ow, self.kernel, self.stride);
        assert_eq!((h, w), (self.in_h, self.in_w));
        (pt, pl)
    }

    /// Calls f(b, iy, ix, ky, kx, (oy, ox)) for every tap that lands inside the output.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize, usize, usize, (usize, usize))) {
        let (oh, ow) = self.sizes();
        let (pt, pl) = self.before();
        for b in 0..self.batch {
            for iy in 0..self.in_h {
                for ix in 0..self.in_w {
                    for ky in 0..self.kernel {
                        for kx in 0..self.kernel {
                            let oy = (iy * self.stride + ky) as isize - pt as isize;
                            let ox = (ix * self.stride + kx) as isize - pl as isize;
                            if oy >= 0 && ox >= 0 && (oy as usize) < oh && (ox as usize) < ow {
                                f(b, iy, ix, ky, kx, (oy as usize, ox as usize));
                            }
                        }
                    }
                }
            }
        }
    }

    fn w_index(&self, ky: usize, kx: usize, o: usize, c: usize) -> usize {
        ((ky * self.kernel + kx) * self.out_c + o) * self.in_c + c
    }
}

pub fn forward(g: &Conv2d, x: &[f64], w: &[f64], bias: &[f64]) -> Vec<f64> {
    let (oh, ow) = g.sizes();
    let mut y = vec![0.0; g.batch * oh * ow * g.out_c];
    for (i, v) in y.iter_mut().enumerate() {
        *v = bias[i % g.out_c];
    }
    g.for_each_tap(|b, iy, ix, ky, kx, (oy, ox)| {
        for c in 0..g.in_c {
            let xv = x[((b * g.in_h + iy) * g.in_w + ix) * g.in_c + c];
            for o in 0..g.out_c {
                y[((b * oh + oy) * ow + ox) * g.out_c + o] += xv * w[g.w_index(ky, kx, o, c)];
            }
        }
    });
    y
}

pub fn backward_input(g: &Conv2d, dy: &[f64], w: &[f64]) -> Vec<f64> {
    let (oh, ow) = g.sizes();
    let mut dx = vec![0.0; g.batch * g.in_h * g.in_w * g.in_c];
    g.for_each_tap(|b, iy, ix, ky, kx, (oy, ox)| {
        for c in 0..g.in_c {
            let mut s = 0.0;
            for o in 0..g.out_c {
                s += dy[((b * oh + oy) * ow + ox) * g.out_c + o] * w[g.w_index(ky, kx, o, c)];
            }
            dx[((b * g.in_h + iy) * g.in_w + ix) * g.in_c + c] += s;
        }
    });
    dx
}

pub fn backward_weight(g: &Conv2d, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let (oh, ow) = g.sizes();
    let mut dw = vec![0.0; g.kernel * g.kernel * g.out_c * g.in_c];
    g.for_each_tap(|b, iy, ix, ky, kx, (oy, ox)| {
        for c in 0..g.in_c {
            let xv = x[((b * g.in_h + iy) * g.in_w + ix) * g.in_c + c];
            for o in 0..g.out_c {
                dw[g.w_index(ky, kx, o, c)] += xv * dy[((b * oh + oy) * ow + ox) * g.out_c + o];
            }
        }
    });
    dw
}
