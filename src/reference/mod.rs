//! CPU reference implementations: plain loops, written for obviousness, independent of the GPU
//! code (no shared index helpers). The math ops work in f64, so a GPU result can be compared
//! against (nearly) exact values and the finite-difference checks are precise; the ops whose
//! float32 rounding is part of Keras' definition (Adam, moving statistics, input scaling, the
//! RNG) reproduce that float32 arithmetic exactly.

pub mod activation;
pub mod adam;
pub mod batchnorm;
pub mod cases;
pub mod ceiling;
pub mod check;
pub mod conv;
pub mod conv_transpose;
pub mod data;
pub mod dense;
pub mod embed;
pub mod finite;
pub mod loss;
pub mod model;
pub mod softmax;

/// TensorFlow 'same' padding of one spatial dimension: (output size, padding before).
/// out = ceil(in / s); total = max((out - 1) * s + k - in, 0); before = floor(total / 2).
pub fn tf_same(input: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = input.div_ceil(stride);
    let needed = (out - 1) * stride + kernel;
    let total = needed.saturating_sub(input);
    (out, total / 2)
}
