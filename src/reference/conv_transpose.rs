//! Conv2DTranspose with 'same' padding as Keras defines it, NHWC, kernel [k, k, out_c, in_c].
//!
//! Written directly as a scatter: every input pixel i adds x[i] * W[k] to output position
//! i*s + k - before, where `before` is the 'same' padding of the convolution mapping the output
//! size (in*s) back to the input size; positions outside [0, in*s) are dropped.

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
    pub fn output(&self) -> (usize, usize) {
        (self.h * self.stride, self.w * self.stride)
    }

    /// Padding before, per axis, of the adjoint convolution out -> in.
    fn before(&self) -> (usize, usize) {
        let (oh, ow) = self.output();
        let (h, pt) = tf_same(oh, self.k, self.stride);
        let (w, pl) = tf_same(ow, self.k, self.stride);
        assert_eq!((h, w), (self.h, self.w));
        (pt, pl)
    }

    /// Calls f(b, iy, ix, ky, kx, (oy, ox)) for every tap that lands inside the output.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize, usize, usize, (usize, usize))) {
        let (oh, ow) = self.output();
        let (pt, pl) = self.before();
        for b in 0..self.batch {
            for iy in 0..self.h {
                for ix in 0..self.w {
                    for ky in 0..self.k {
                        for kx in 0..self.k {
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
        ((ky * self.k + kx) * self.out_c + o) * self.c + c
    }
}

pub fn forward(g: &Geometry, x: &[f64], w: &[f64], bias: &[f64]) -> Vec<f64> {
    let (oh, ow) = g.output();
    let mut y = vec![0.0; g.batch * oh * ow * g.out_c];
    for (i, v) in y.iter_mut().enumerate() {
        *v = bias[i % g.out_c];
    }
    g.for_each_tap(|b, iy, ix, ky, kx, (oy, ox)| {
        for c in 0..g.c {
            let xv = x[((b * g.h + iy) * g.w + ix) * g.c + c];
            for o in 0..g.out_c {
                y[((b * oh + oy) * ow + ox) * g.out_c + o] += xv * w[g.w_index(ky, kx, o, c)];
            }
        }
    });
    y
}

pub fn backward_input(g: &Geometry, dy: &[f64], w: &[f64]) -> Vec<f64> {
    let (oh, ow) = g.output();
    let mut dx = vec![0.0; g.batch * g.h * g.w * g.c];
    g.for_each_tap(|b, iy, ix, ky, kx, (oy, ox)| {
        for c in 0..g.c {
            let mut s = 0.0;
            for o in 0..g.out_c {
                s += dy[((b * oh + oy) * ow + ox) * g.out_c + o] * w[g.w_index(ky, kx, o, c)];
            }
            dx[((b * g.h + iy) * g.w + ix) * g.c + c] += s;
        }
    });
    dx
}

pub fn backward_weight(g: &Geometry, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let (oh, ow) = g.output();
    let mut dw = vec![0.0; g.k * g.k * g.out_c * g.c];
    g.for_each_tap(|b, iy, ix, ky, kx, (oy, ox)| {
        for c in 0..g.c {
            let xv = x[((b * g.h + iy) * g.w + ix) * g.c + c];
            for o in 0..g.out_c {
                dw[g.w_index(ky, kx, o, c)] += xv * dy[((b * oh + oy) * ow + ox) * g.out_c + o];
            }
        }
    });
    dw
}
