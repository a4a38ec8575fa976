// Dense layer y = x W + b as GEMM operands (drivers: gemm.wgsl).
// x: [batch, in], W: [in, out] (Keras layout), y: [batch, out], all row-major.

// MAPPING_FORWARD:          y  = x W (+ b):  M = batch, K = in,    N = out
// MAPPING_BACKWARD_INPUT:   dx = dy W^T:     M = batch, K = out,   N = in
// MAPPING_BACKWARD_WEIGHT:  dW = x^T dy:     M = in (+1: db), K = batch, N = out

// The mapping constants come from the host (`gpu::shaders::Mapping`, generated into the module).
override OP: u32 = MAPPING_FORWARD;

struct GemmRow {
    valid: bool,
    m: u32,
}

struct GemmCursor {
    k: u32,
}

fn enter_row(m: u32) {}

fn gemm_k(m: u32) -> u32 {
    return p.k;
}

fn row_stored(m: u32) -> bool {
    return true;
}

// With a bias row (weight gradient), row M - 1 of A is all ones.
fn is_ones_row(m: u32) -> bool {
    return p.bias_row != 0u && m + 1u == p.m;
}

fn gemm_row(m: u32) -> GemmRow {
    return GemmRow(m < p.m, m);
}

fn cursor_at(k: u32) -> GemmCursor {
    return GemmCursor(k);
}

fn cursor_next(c: GemmCursor) -> GemmCursor {
    return GemmCursor(c.k + 1u);
}

fn load_a(r: GemmRow, c: GemmCursor) -> f32 {
    if !r.valid {
        return 0.0;
    }
    // OP is a pipeline constant: the other mappings compile this test away.
    if OP == MAPPING_BACKWARD_WEIGHT && is_ones_row(r.m) {
        return 1.0;
    }
    switch OP {
        case MAPPING_BACKWARD_WEIGHT: {
            return a_src[c.k * (p.m - p.bias_row) + r.m]; // x^T (x has M rows of data)
        }
        default: {
            return a_src[r.m * p.k + c.k]; // x or dy, row-major
        }
    }
}

fn load_b(c: GemmCursor, n: u32) -> f32 {
    switch OP {
        case MAPPING_BACKWARD_INPUT: {
            return b_src[n * p.k + c.k]; // W^T
        }
        default: {
            return b_src[c.k * p.n + n]; // W or dy, row-major
        }
    }
}

// Input gradients with K a multiple of 4: A (dy) and B (W^T) both run along k in whole vec4s.
fn along_k4() -> bool {
    return OP == MAPPING_BACKWARD_INPUT && p.k % 4u == 0u;
}

// A[m][k..k+4] at a cursor whose k is a multiple of 4 (along_k4).
fn load_a_along_k4(r: GemmRow, c: GemmCursor) -> vec4<f32> {
    return load_a4(r.m, c.k);
}

// B[k..k+4][n] at a cursor whose k is a multiple of 4 (along_k4), n < N.
fn load_b_along_k4(c: GemmCursor, n: u32) -> vec4<f32> {
    return load_b4(c.k, n);
}

fn cursor_next4(c: GemmCursor) -> GemmCursor {
    return GemmCursor(c.k + 4u);
}

fn out_index(m: u32, n: u32) -> u32 {
    return m * p.n + n;
}

// ---- 16-byte operand loads for gemm_wide (only where the host found the layout aligned:
// the dimension a vec4 walks a multiple of 4) ----

fn a_along_m() -> bool {
    return OP == MAPPING_BACKWARD_WEIGHT;
}

fn b_along_k() -> bool {
    return OP == MAPPING_BACKWARD_INPUT;
}

// A[m][k..k+4] (x or dy, row-major) or A[m..m+4][k] (x^T), zeros past the edges.
fn load_a4(m: u32, k: u32) -> vec4<f32> {
    if m >= p.m {
        return vec4<f32>(0.0);
    }
    if OP == MAPPING_BACKWARD_WEIGHT {
        if is_ones_row(m) {
            return vec4<f32>(1.0, 0.0, 0.0, 0.0);
        }
        return a_src4[(k * (p.m - p.bias_row) + m) / 4u];
    }
    return a_src4[(m * p.k + k) / 4u];
}

// B[k][n..n+4] (W or dy, row-major) or B[k..k+4][n] (W^T); callers keep k < K and n < N.
fn load_b4(k: u32, n: u32) -> vec4<f32> {
    if OP == MAPPING_BACKWARD_INPUT {
        return b_src4[(n * p.k + k) / 4u];
    }
    return b_src4[(k * p.n + n) / 4u];
}
