// Dense layer y = x W + b as GEMM operands (driver: gemm.wgsl).
// x: [batch, in], W: [in, out] (Keras layout), y: [batch, out], all row-major.

const DENSE_FORWARD: u32 = 0u;        // y  = x W (+ b):  M = batch, K = in,    N = out
const DENSE_BACKWARD_INPUT: u32 = 1u; // dx = dy W^T:     M = batch, K = out,   N = in
const DENSE_BACKWARD_WEIGHT: u32 = 2u; // dW = x^T dy:    M = in,    K = batch, N = out

override OP: u32 = DENSE_FORWARD;

fn load_a(m: u32, k: u32) -> f32 {
    switch OP {
        case DENSE_BACKWARD_WEIGHT: {
            return a_src[k * p.m + m]; // x^T
        }
        default: {
            return a_src[m * p.k + k]; // x or dy, row-major
        }
    }
}

fn load_b(k: u32, n: u32) -> f32 {
    switch OP {
        case DENSE_BACKWARD_INPUT: {
            return b_src[n * p.k + k]; // W^T
        }
        default: {
            return b_src[k * p.n + n]; // W or dy, row-major
        }
    }
}

fn out_index(m: u32, n: u32) -> u32 {
    return m * p.n + n;
}
