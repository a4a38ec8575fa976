// 2-D convolution with TensorFlow 'same' padding as GEMM operands (driver: gemm.wgsl).
//
// The conv maps x [batch, in_h, in_w, in_c] to y [batch, out_h, out_w, out_c] with a kernel
// W [kernel_h, kernel_w, in_c, out_c] (Keras layout): cross-correlation,
//   y[b, oy, ox, o] = sum_{ky, kx, c} x[b, oy*s + ky - pad_top, ox*s + kx - pad_left, c] W[ky, kx, c, o].
// A transposed convolution is the adjoint of this conv, so the host runs it with the same three
// mappings: its forward is CONV_BACKWARD_INPUT, its input gradient is CONV_FORWARD, and its
// weight gradient is CONV_BACKWARD_WEIGHT with the roles of x and dy exchanged.

const CONV_FORWARD: u32 = 0u;          // y  = im2col(x) W:     M = batch*out_h*out_w, K = kh*kw*in_c,  N = out_c
const CONV_BACKWARD_INPUT: u32 = 1u;   // dx = gather(dy) W^T:  M = batch*in_h*in_w,   K = kh*kw*out_c, N = in_c
const CONV_BACKWARD_WEIGHT: u32 = 2u;  // dW = im2col(x)^T dy:  M = kh*kw*in_c,        K = batch*out_h*out_w, N = out_c

override OP: u32 = CONV_FORWARD;

// Element (row = output pixel (b, oy, ox), col = tap (ky, kx, c)) of the virtual im2col matrix
// of a_src; zero in the padding.
fn im2col(row: u32, col: u32) -> f32 {
    let hw = p.out_h * p.out_w;
    let b = row / hw;
    let r = row % hw;
    let oy = r / p.out_w;
    let ox = r % p.out_w;
    let tap = col / p.in_c;
    let c = col % p.in_c;
    let iy = i32(oy * p.stride + tap / p.kernel_w) - i32(p.pad_top);
    let ix = i32(ox * p.stride + tap % p.kernel_w) - i32(p.pad_left);
    if iy < 0 || ix < 0 || iy >= i32(p.in_h) || ix >= i32(p.in_w) {
        return 0.0;
    }
    return a_src[((b * p.in_h + u32(iy)) * p.in_w + u32(ix)) * p.in_c + c];
}

// The dy value that input pixel (row = (b, iy, ix)) receives through tap (col = (ky, kx, o)):
// dy[b, oy, ox, o] with iy = oy*s + ky - pad_top, or zero when no such output pixel exists.
fn gather_dy(row: u32, col: u32) -> f32 {
    let hw = p.in_h * p.in_w;
    let b = row / hw;
    let r = row % hw;
    let iy = r / p.in_w;
    let ix = r % p.in_w;
    let tap = col / p.out_c;
    let o = col % p.out_c;
    let ty = i32(iy + p.pad_top) - i32(tap / p.kernel_w);
    let tx = i32(ix + p.pad_left) - i32(tap % p.kernel_w);
    if ty < 0 || tx < 0 {
        return 0.0;
    }
    let s = p.stride;
    if u32(ty) % s != 0u || u32(tx) % s != 0u {
        return 0.0;
    }
    let oy = u32(ty) / s;
    let ox = u32(tx) / s;
    if oy >= p.out_h || ox >= p.out_w {
        return 0.0;
    }
    return a_src[((b * p.out_h + oy) * p.out_w + ox) * p.out_c + o];
}

fn load_a(m: u32, k: u32) -> f32 {
    switch OP {
        case CONV_BACKWARD_INPUT: {
            return gather_dy(m, k);
        }
        case CONV_BACKWARD_WEIGHT: {
            return im2col(k, m);
        }
        default: {
            return im2col(m, k);
        }
    }
}

fn load_b(k: u32, n: u32) -> f32 {
    switch OP {
        case CONV_BACKWARD_INPUT: {
            // W^T: row (ky, kx, o), column c.
            let tap = k / p.out_c;
            let o = k % p.out_c;
            return b_src[(tap * p.in_c + n) * p.out_c + o];
        }
        default: {
            // W [(ky, kx, c), o] for the forward pass, dy [(b, oy, ox), o] for the weight gradient.
            return b_src[k * p.out_c + n];
        }
    }
}
