// 2-D convolution with TensorFlow 'same' padding as GEMM operands (drivers: gemm.wgsl).
//
// The conv maps x [batch, in_h, in_w, in_c] to y [batch, out_h, out_w, out_c] with a kernel
// W [kernel_h, kernel_w, in_c, out_c] (Keras layout): cross-correlation,
//   y[b, oy, ox, o] = sum_{ky, kx, c} x[b, oy*s + ky - pad_top, ox*s + kx - pad_left, c] W[ky, kx, c, o].
// A transposed convolution is the adjoint of this conv, so the host runs it with the same three
// mappings: its forward is MAPPING_BACKWARD_INPUT, its input gradient is MAPPING_FORWARD, and its
// weight gradient is MAPPING_BACKWARD_WEIGHT with the roles of x and dy exchanged.

// MAPPING_FORWARD:          y  = im2col(x) W:     M = batch*out_h*out_w,   K = kh*kw*in_c,      N = out_c
// MAPPING_BACKWARD_INPUT:   dx = gather(dy) W^T:  M = batch*class pixels,  K = class taps*out_c, N = in_c
// MAPPING_BACKWARD_WEIGHT:  dW = im2col(x)^T dy:  M = kh*kw*in_c (+1: db),  K = batch*out_h*out_w, N = out_c
//
// The input gradient of a strided conv (and so a strided transposed conv's forward) only
// receives from the taps whose offset matches the input pixel's parity: with stride s, input
// row iy gets tap ky only when (iy + pad_top - ky) is a multiple of s. So each parity class
// (class_y, class_x) of input pixels is a GEMM over just that class's taps (ky = tap_y0 + s*t):
// no multiply by a structural zero, s*s times less work than a gather over all taps. The
// classes share one dispatch: class c owns rows class_row0[c].. (padded to whole 128-row
// tiles, so a workgroup's tile is in one class), and enter_row() loads the class of a row range.
// With a bias row (weight gradient), A's last row is all ones: its results are db.

// The mapping constants come from the host (`gpu::shaders::Mapping`, generated into the module).
override OP: u32 = MAPPING_FORWARD;

// The parity class of the rows entered (MAPPING_BACKWARD_INPUT).
struct ParityClass {
    y: u32,
    x: u32,
    h: u32,
    w: u32,
    taps_h: u32,
    taps_w: u32,
    tap_y0: u32,
    tap_x0: u32,
    row0: u32,
}

var<private> cls: ParityClass;

// The parity class of row m: from the parameters alone, so a workgroup-uniform m gives a
// uniform class (what keeps the K loops around barriers uniform for Tint's analysis).
fn class_of(m: u32) -> u32 {
    var c = 0u;
    for (var i = 1u; i < p.classes; i++) {
        if m >= p.class_row0[i] {
            c = i;
        }
    }
    return c;
}

fn enter_row(m: u32) {
    if OP != MAPPING_BACKWARD_INPUT {
        return;
    }
    let c = class_of(m);
    cls = ParityClass(
        p.class_y[c], p.class_x[c], p.class_h[c], p.class_w[c],
        p.taps_h[c], p.taps_w[c], p.tap_y0[c], p.tap_x0[c],
        p.class_row0[c],
    );
}

fn gemm_k(m: u32) -> u32 {
    if OP == MAPPING_BACKWARD_INPUT {
        let c = class_of(m);
        return p.taps_h[c] * p.taps_w[c] * p.out_c;
    }
    return p.k;
}

// Row m's index inside its class, for the rows entered.
fn class_local(m: u32) -> u32 {
    return m - cls.row0;
}

// Whether row m is an output (not the padding after a class's rows).
fn row_stored(m: u32) -> bool {
    if OP == MAPPING_BACKWARD_INPUT {
        return class_local(m) < p.batch * cls.h * cls.w;
    }
    return true;
}

// Per OP: forward, the output pixel's batch and top-left input corner (b, y, x); input
// gradient, the class pixel's batch and the output pixel its first class tap reads (b, y, x);
// weight gradient, the row's tap and channel (b = c, y = ky, x = kx).
struct GemmRow {
    valid: bool,
    ones: bool,
    b: u32,
    y: i32,
    x: i32,
}

// The position k walks through: forward (i, j, l) = (ky, kx, c); input gradient
// (ty, tx, o), the class tap indices and output channel; weight gradient (b, oy, ox).
struct GemmCursor {
    k: u32,
    i: u32,
    j: u32,
    l: u32,
}

fn gemm_row(m: u32) -> GemmRow {
    if m >= p.m || !row_stored(m) {
        return GemmRow(false, false, 0u, 0, 0);
    }
    switch OP {
        case MAPPING_BACKWARD_INPUT: {
            let local = class_local(m);
            let hw = cls.h * cls.w;
            let r = local % hw;
            // iy = class_y + s*jy reads oy = (iy + pad_top - ky) / s = (class_y + pad_top) / s + jy - ty.
            let y = (cls.y + p.pad_top) / p.stride + r / cls.w;
            let x = (cls.x + p.pad_left) / p.stride + r % cls.w;
            return GemmRow(true, false, local / hw, i32(y), i32(x));
        }
        case MAPPING_BACKWARD_WEIGHT: {
            if p.bias_row != 0u && m + 1u == p.m {
                return GemmRow(true, true, 0u, 0, 0);
            }
            let tap = m / p.in_c;
            return GemmRow(true, false, m % p.in_c, i32(tap / p.kernel_w), i32(tap % p.kernel_w));
        }
        default: {
            let hw = p.out_h * p.out_w;
            let r = m % hw;
            let y = i32((r / p.out_w) * p.stride) - i32(p.pad_top);
            let x = i32((r % p.out_w) * p.stride) - i32(p.pad_left);
            return GemmRow(true, false, m / hw, y, x);
        }
    }
}

fn cursor_at(k: u32) -> GemmCursor {
    switch OP {
        case MAPPING_BACKWARD_INPUT: {
            let t = k / p.out_c;
            return GemmCursor(k, t / cls.taps_w, t % cls.taps_w, k % p.out_c);
        }
        case MAPPING_BACKWARD_WEIGHT: {
            let hw = p.out_h * p.out_w;
            let r = k % hw;
            return GemmCursor(k, k / hw, r / p.out_w, r % p.out_w);
        }
        default: {
            let tap = k / p.in_c;
            return GemmCursor(k, tap / p.kernel_w, tap % p.kernel_w, k % p.in_c);
        }
    }
}

// Advances the innermost index l, carrying into j then i: (l, j) wrap at (inner, middle).
fn carry(c: GemmCursor, inner: u32, middle: u32) -> GemmCursor {
    var n = GemmCursor(c.k + 1u, c.i, c.j, c.l + 1u);
    if n.l == inner {
        n.l = 0u;
        n.j += 1u;
        if n.j == middle {
            n.j = 0u;
            n.i += 1u;
        }
    }
    return n;
}

fn cursor_next(c: GemmCursor) -> GemmCursor {
    switch OP {
        case MAPPING_BACKWARD_INPUT: {
            return carry(c, p.out_c, cls.taps_w);
        }
        case MAPPING_BACKWARD_WEIGHT: {
            return carry(c, p.out_w, p.out_h);
        }
        default: {
            return carry(c, p.in_c, p.kernel_w);
        }
    }
}

fn input_at(b: u32, iy: i32, ix: i32, c: u32) -> f32 {
    if iy < 0 || ix < 0 || iy >= i32(p.in_h) || ix >= i32(p.in_w) {
        return 0.0;
    }
    return a_src[((b * p.in_h + u32(iy)) * p.in_w + u32(ix)) * p.in_c + c];
}

fn load_a(r: GemmRow, c: GemmCursor) -> f32 {
    if !r.valid {
        return 0.0;
    }
    // OP is a pipeline constant: the other mappings compile this test away.
    if OP == MAPPING_BACKWARD_WEIGHT && r.ones {
        return 1.0;
    }
    switch OP {
        case MAPPING_BACKWARD_INPUT: {
            // dy[b, oy, ox, o], zero past the border.
            let oy = r.y - i32(c.i);
            let ox = r.x - i32(c.j);
            if oy < 0 || ox < 0 || oy >= i32(p.out_h) || ox >= i32(p.out_w) {
                return 0.0;
            }
            return a_src[((r.b * p.out_h + u32(oy)) * p.out_w + u32(ox)) * p.out_c + c.l];
        }
        case MAPPING_BACKWARD_WEIGHT: {
            // im2col(x)^T: tap (r.y, r.x), channel r.b, output pixel (c.i, c.j, c.l).
            let iy = i32(c.j * p.stride) + r.y - i32(p.pad_top);
            let ix = i32(c.l * p.stride) + r.x - i32(p.pad_left);
            return input_at(c.i, iy, ix, r.b);
        }
        default: {
            return input_at(r.b, r.y + i32(c.i), r.x + i32(c.j), c.l);
        }
    }
}

fn load_b(c: GemmCursor, n: u32) -> f32 {
    switch OP {
        case MAPPING_BACKWARD_INPUT: {
            // W^T: row (ky, kx, o) of the class's taps, column c = n.
            let ky = cls.tap_y0 + p.stride * c.i;
            let kx = cls.tap_x0 + p.stride * c.j;
            return b_src[((ky * p.kernel_w + kx) * p.in_c + n) * p.out_c + c.l];
        }
        default: {
            // W [(ky, kx, c), o] for the forward pass, dy [(b, oy, ox), o] for the weight gradient.
            return b_src[c.k * p.out_c + n];
        }
    }
}

// Input gradients with out_c a multiple of 4: A (dy) and B (W^T) both run along k in whole
// vec4s (a class's K is taps x out_c, and a cursor at a multiple of 4 stays inside one tap for
// 4 steps), so a driver may take 4 steps of k per load.
fn along_k4() -> bool {
    return OP == MAPPING_BACKWARD_INPUT && p.out_c % 4u == 0u;
}

// A[m][k..k+4] at a cursor whose k is a multiple of 4 (along_k4): load_a4 from the row and
// the cursor instead of dividing m and k.
fn load_a_along_k4(r: GemmRow, c: GemmCursor) -> vec4<f32> {
    let oy = r.y - i32(c.i);
    let ox = r.x - i32(c.j);
    if !r.valid || oy < 0 || ox < 0 || oy >= i32(p.out_h) || ox >= i32(p.out_w) {
        return vec4<f32>(0.0);
    }
    return a_src4[(((r.b * p.out_h + u32(oy)) * p.out_w + u32(ox)) * p.out_c + c.l) / 4u];
}

// B[k..k+4][n] at a cursor whose k is a multiple of 4 (along_k4), n < N: load_b4 from the
// cursor's tap instead of dividing k.
fn load_b_along_k4(c: GemmCursor, n: u32) -> vec4<f32> {
    let ky = cls.tap_y0 + p.stride * c.i;
    let kx = cls.tap_x0 + p.stride * c.j;
    return b_src4[(((ky * p.kernel_w + kx) * p.in_c + n) * p.out_c + c.l) / 4u];
}

// The cursor 4 steps on (along_k4: l stays a multiple of 4, so it wraps exactly).
fn cursor_next4(c: GemmCursor) -> GemmCursor {
    var n = GemmCursor(c.k + 4u, c.i, c.j, c.l + 4u);
    if n.l == p.out_c {
        n.l = 0u;
        n.j += 1u;
        if n.j == cls.taps_w {
            n.j = 0u;
            n.i += 1u;
        }
    }
    return n;
}

fn out_index(m: u32, n: u32) -> u32 {
    if OP == MAPPING_BACKWARD_INPUT {
        let local = class_local(m);
        let hw = cls.h * cls.w;
        let r = local % hw;
        let iy = cls.y + p.stride * (r / cls.w);
        let ix = cls.x + p.stride * (r % cls.w);
        return (((local / hw) * p.in_h + iy) * p.in_w + ix) * p.in_c + n;
    }
    return m * p.n + n;
}

// ---- 16-byte operand loads for gemm_wide (only where the host found the layout aligned:
// every channel count a vec4 walks a multiple of 4) ----
// A is contiguous along k (channels of a tap) in the forward and input-gradient mappings,
// along m (channels of a tap) in the weight gradient; B along n (output channels) in the
// forward and weight gradient, along k (output channels) in the input gradient.

fn a_along_m() -> bool {
    return OP == MAPPING_BACKWARD_WEIGHT;
}

fn b_along_k() -> bool {
    return OP == MAPPING_BACKWARD_INPUT;
}

fn input4(b: u32, iy: i32, ix: i32, c: u32) -> vec4<f32> {
    if iy < 0 || ix < 0 || iy >= i32(p.in_h) || ix >= i32(p.in_w) {
        return vec4<f32>(0.0);
    }
    return a_src4[(((b * p.in_h + u32(iy)) * p.in_w + u32(ix)) * p.in_c + c) / 4u];
}

// A[m][k..k+4] (k along) or A[m..m+4][k] (m along), zeros past the edges.
fn load_a4(m: u32, k: u32) -> vec4<f32> {
    switch OP {
        case MAPPING_BACKWARD_WEIGHT: {
            if m >= p.m {
                return vec4<f32>(0.0);
            }
            if p.bias_row != 0u && m + 1u == p.m {
                return vec4<f32>(1.0, 0.0, 0.0, 0.0);
            }
            let tap = m / p.in_c;
            let hw = p.out_h * p.out_w;
            let r = k % hw;
            let iy = i32((r / p.out_w) * p.stride + tap / p.kernel_w) - i32(p.pad_top);
            let ix = i32((r % p.out_w) * p.stride + tap % p.kernel_w) - i32(p.pad_left);
            // The ones row comes right after the last data row (a multiple of 4): its own vec4.
            return input4(k / hw, iy, ix, m % p.in_c);
        }
        case MAPPING_BACKWARD_INPUT: {
            if m >= p.m || !row_stored(m) {
                return vec4<f32>(0.0);
            }
            let local = class_local(m);
            let hw = cls.h * cls.w;
            let r = local % hw;
            let t = k / p.out_c;
            let oy = i32((cls.y + p.pad_top) / p.stride + r / cls.w) - i32(t / cls.taps_w);
            let ox = i32((cls.x + p.pad_left) / p.stride + r % cls.w) - i32(t % cls.taps_w);
            if oy < 0 || ox < 0 || oy >= i32(p.out_h) || ox >= i32(p.out_w) {
                return vec4<f32>(0.0);
            }
            return a_src4[((((local / hw) * p.out_h + u32(oy)) * p.out_w + u32(ox)) * p.out_c + k % p.out_c) / 4u];
        }
        default: {
            if m >= p.m {
                return vec4<f32>(0.0);
            }
            let hw = p.out_h * p.out_w;
            let r = m % hw;
            let tap = k / p.in_c;
            let iy = i32((r / p.out_w) * p.stride + tap / p.kernel_w) - i32(p.pad_top);
            let ix = i32((r % p.out_w) * p.stride + tap % p.kernel_w) - i32(p.pad_left);
            return input4(m / hw, iy, ix, k % p.in_c);
        }
    }
}

// B[k][n..n+4] (n along) or B[k..k+4][n] (k along); callers keep k < K and n < N.
fn load_b4(k: u32, n: u32) -> vec4<f32> {
    if OP == MAPPING_BACKWARD_INPUT {
        let t = k / p.out_c;
        let ky = cls.tap_y0 + p.stride * (t / cls.taps_w);
        let kx = cls.tap_x0 + p.stride * (t % cls.taps_w);
        return b_src4[(((ky * p.kernel_w + kx) * p.in_c + n) * p.out_c + k % p.out_c) / 4u];
    }
    return b_src4[(k * p.out_c + n) / 4u];
}
