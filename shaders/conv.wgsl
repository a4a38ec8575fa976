// 2-D convolution with TensorFlow 'same' padding as GEMM operands (driver: gemm.wgsl).
//
// The conv maps x [batch, in_h, in_w, in_c] to y [batch, out_h, out_w, out_c] with a kernel
// W [kernel_h, kernel_w, in_c, out_c] (Keras layout): cross-correlation,
//   y[b, oy, ox, o] = sum_{ky, kx, c} x[b, oy*s + ky - pad_top, ox*s + kx - pad_left, c] W[ky, kx, c, o].
// A transposed convolution is the adjoint of this conv, so the host runs it with the same three
// mappings: its forward is CONV_BACKWARD_INPUT, its input gradient is CONV_FORWARD, and its
// weight gradient is CONV_BACKWARD_WEIGHT with the roles of x and dy exchanged.

const CONV_FORWARD: u32 = 0u;          // y  = im2col(x) W:     M = batch*out_h*out_w, K = kh*kw*in_c,  N = out_c
const CONV_BACKWARD_INPUT: u32 = 1u;   // dx = gather(dy) W^T:  M = batch*class pixels, K = class taps*out_c, N = in_c
const CONV_BACKWARD_WEIGHT: u32 = 2u;  // dW = im2col(x)^T dy:  M = kh*kw*in_c,        K = batch*out_h*out_w, N = out_c
//
// The input gradient of a strided conv (and so a strided transposed conv's forward) only
// receives from the taps whose offset matches the input pixel's parity: with stride s, input
// row iy gets tap ky only when (iy + pad_top - ky) is a multiple of s. So it runs as s*s
// GEMMs, one per parity class (class_y, class_x) of input pixels, each over just that class's
// taps (ky = tap_y0 + s*t): no multiply by a structural zero, s*s times less work than a
// gather over all taps.

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

// Input pixel (b, iy, ix) of row `row` of the current parity class.
fn class_pixel(row: u32) -> vec3<u32> {
    let hw = p.class_h * p.class_w;
    let r = row % hw;
    return vec3<u32>(row / hw, p.class_y + p.stride * (r / p.class_w), p.class_x + p.stride * (r % p.class_w));
}

// Kernel tap (ky, kx) and output channel o of column `col` of the current parity class.
fn class_tap(col: u32) -> vec3<u32> {
    let t = col / p.out_c;
    return vec3<u32>(p.tap_y0 + p.stride * (t / p.taps_w), p.tap_x0 + p.stride * (t % p.taps_w), col % p.out_c);
}

// The dy value that an input pixel receives through a tap: dy[b, oy, ox, o] with
// iy = oy*s + ky - pad_top (exact by the class), or zero past the border.
fn gather_dy(row: u32, col: u32) -> f32 {
    let px = class_pixel(row);
    let tap = class_tap(col);
    let ty = i32(px.y + p.pad_top) - i32(tap.x);
    let tx = i32(px.z + p.pad_left) - i32(tap.y);
    if ty < 0 || tx < 0 {
        return 0.0;
    }
    let oy = u32(ty) / p.stride;
    let ox = u32(tx) / p.stride;
    if oy >= p.out_h || ox >= p.out_w {
        return 0.0;
    }
    return a_src[((px.x * p.out_h + oy) * p.out_w + ox) * p.out_c + tap.z];
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
            // W^T: row (ky, kx, o) of the class's taps, column c.
            let tap = class_tap(k);
            return b_src[((tap.x * p.kernel_w + tap.y) * p.in_c + n) * p.out_c + tap.z];
        }
        default: {
            // W [(ky, kx, c), o] for the forward pass, dy [(b, oy, ox), o] for the weight gradient.
            return b_src[k * p.out_c + n];
        }
    }
}

fn out_index(m: u32, n: u32) -> u32 {
    if OP == CONV_BACKWARD_INPUT {
        let px = class_pixel(m);
        return ((px.x * p.in_h + px.y) * p.in_w + px.z) * p.in_c + n;
    }
    return m * p.n + n;
}
