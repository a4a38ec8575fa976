// The activation functions and their gradients, shared by the element-wise kernels
// (activation.wgsl) and the epilogues of the GEMM drivers (gemm.wgsl) and BatchNorm's apply
// (batchnorm.wgsl), which apply them to their results before storing them (one pass over
// memory instead of two): forward, act(x); backward, the input-gradient GEMM's result times the
// activation's slope at its saved output.

// The ACT_* codes are shared.wgsl's (generated from the host's constants).

fn leaky_relu(x: f32, alpha: f32) -> f32 {
    return select(alpha * x, x, x > 0.0);
}

// tanh(+-15) is +-1 in f32; clamping keeps drivers that expand tanh through exp() finite.
fn tanh_(x: f32) -> f32 {
    return tanh(clamp(x, -15.0, 15.0));
}

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

fn activate(kind: u32, x: f32, alpha: f32) -> f32 {
    switch kind {
        case ACT_LEAKY_RELU: {
            return leaky_relu(x, alpha);
        }
        case ACT_TANH: {
            return tanh_(x);
        }
        case ACT_SIGMOID: {
            return sigmoid(x);
        }
        default: {
            return x;
        }
    }
}

// d loss / d input from d loss / d output `dy` and the saved output `y` (for LeakyReLU with
// alpha > 0, y > 0 exactly when the input is). The element-wise backward kernels and the fused
// GEMM epilogue both call this, so fused and unfused give the same bits.
fn activation_backward(kind: u32, y: f32, dy: f32, alpha: f32) -> f32 {
    switch kind {
        case ACT_LEAKY_RELU: {
            return select(alpha * dy, dy, y > 0.0);
        }
        case ACT_TANH: {
            return dy * (1.0 - y * y);
        }
        case ACT_SIGMOID: {
            return dy * y * (1.0 - y);
        }
        default: {
            return dy;
        }
    }
}
