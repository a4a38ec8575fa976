//! Element-wise activations. LeakyReLU's derivative at exactly 0 is alpha, as in TensorFlow.

pub fn leaky_relu(x: &[f64], alpha: f64) -> Vec<f64> {
    x.iter()
        .map(|&v| if v > 0.0 { v } else { alpha * v })
        .collect()
}

pub fn leaky_relu_backward(x: &[f64], dy: &[f64], alpha: f64) -> Vec<f64> {
    x.iter()
        .zip(dy)
        .map(|(&v, &d)| if v > 0.0 { d } else { alpha * d })
        .collect()
}

pub fn tanh(x: &[f64]) -> Vec<f64> {
    x.iter().map(|v| v.tanh()).collect()
}

/// From the output y = tanh(x).
pub fn tanh_backward(y: &[f64], dy: &[f64]) -> Vec<f64> {
    y.iter().zip(dy).map(|(&t, &d)| d * (1.0 - t * t)).collect()
}

pub fn sigmoid(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect()
}

/// From the output y = sigmoid(x).
pub fn sigmoid_backward(y: &[f64], dy: &[f64]) -> Vec<f64> {
    y.iter().zip(dy).map(|(&s, &d)| d * s * (1.0 - s)).collect()
}
