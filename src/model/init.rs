//! Keras' default initialisation: glorot_uniform kernels, uniform embeddings, zero biases.

use rand::RngExt;

/// fan_in, fan_out of a kernel shape as Keras computes them: for a dense [in, out] kernel
/// (in, out); for a conv kernel [kh, kw, a, b], receptive field kh*kw times a and b.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [n_in, n_out] => (*n_in, *n_out),
        [rest @ .., a, b] => {
            let field: usize = rest.iter().product();
            (field * a, field * b)
        }
        _ => panic!("kernel shape {shape:?} has fewer than two dimensions"),
    }
}

/// The glorot-uniform limit sqrt(6 / (fan_in + fan_out)).
pub fn glorot_limit(shape: &[usize]) -> f32 {
    let (fi, fo) = fans(shape);
    (6.0 / (fi + fo) as f64).sqrt() as f32
}

/// Samples U(-limit, limit) for every element of a kernel of this shape.
pub fn glorot_uniform(shape: &[usize], rng: &mut impl rand::Rng) -> Vec<f32> {
    let limit = glorot_limit(shape);
    let n: usize = shape.iter().product();
    (0..n).map(|_| rng.random_range(-limit..limit)).collect()
}

/// Keras' `Embedding` default (`RandomUniform(-0.05, 0.05)`) for every element.
pub fn embedding_uniform(shape: &[usize], rng: &mut impl rand::Rng) -> Vec<f32> {
    let n: usize = shape.iter().product();
    (0..n).map(|_| rng.random_range(-0.05..0.05)).collect()
}
