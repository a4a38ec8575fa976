//! Keras 3's Adam in float32, operation by operation (keras/src/optimizers/adam.py).

/// One optimizer's state. Hyper-parameters are doubles, like Keras' Python floats, and are
/// cast to float32 where Keras casts them.
#[derive(Clone, Debug)]
pub struct Adam {
    pub learning_rate: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    /// Completed steps.
    pub t: u32,
    pub m: Vec<f32>,
    pub v: Vec<f32>,
    beta1_power: f32,
    beta2_power: f32,
}

impl Adam {
    pub fn new(n: usize) -> Adam {
        Adam {
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            t: 0,
            m: vec![0.0; n],
            v: vec![0.0; n],
            beta1_power: 1.0,
            beta2_power: 1.0,
        }
    }

    /// theta -= m * alpha / (sqrt(v) + eps) after updating the moments with g.
    pub fn step(&mut self, theta: &mut [f32], g: &[f32]) {
        self.t += 1;
        // beta^t as a running float32 product (what the GPU keeps); equal to powf for t <= 2.
        self.beta1_power *= self.beta1 as f32;
        self.beta2_power *= self.beta2 as f32;
        let lr = self.learning_rate as f32;
        let alpha = lr * (1.0 - self.beta2_power).sqrt() / (1.0 - self.beta1_power);
        // 1 - beta in double, rounded once: 0.1f, not 1f - 0.9f.
        let one_minus_b1 = (1.0 - self.beta1) as f32;
        let one_minus_b2 = (1.0 - self.beta2) as f32;
        let eps = self.epsilon as f32;
        for i in 0..theta.len() {
            let gi = g[i];
            self.m[i] += (gi - self.m[i]) * one_minus_b1;
            self.v[i] += (gi * gi - self.v[i]) * one_minus_b2;
            theta[i] -= (self.m[i] * alpha) / (self.v[i].sqrt() + eps);
        }
    }
}
