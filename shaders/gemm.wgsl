// Implicit-GEMM drivers shared by the dense and conv families.
//
//   out[m][n] = act(sum_k A[m][k] B[k][n] + bias[n])        forward epilogue (optional)
//   out[m][n] = act'(saved) * sum_k A[m][k] B[k][n]          gradient epilogue (optional)
//
// No im2col buffer is ever built: the op file compiled before this one says how to read A and
// B straight from the NHWC tensors, through a per-row descriptor and a K cursor so the inner
// loops do no integer division:
//   struct GemmRow, struct GemmCursor
//   fn enter_row(m)                      before a tile's (or a thread's) first row: selects
//                                        what depends on the row range (a parity class)
//   fn gemm_k(m) -> u32                  K for the rows of m's range (from the parameters
//                                        alone: uniform wherever m is, as Tint requires of
//                                        the K loops around barriers)
//   fn gemm_row(m) -> GemmRow            once per row (any m; rows >= M load zeros)
//   fn cursor_at(k) -> GemmCursor        once per K chunk (divides)
//   fn cursor_next(c) -> GemmCursor      the next k (adds and compares only)
//   fn load_a(row, cursor) -> f32        A[m][k]
//   fn load_b(cursor, n) -> f32          B[k][n], n < N
//   fn out_index(m, n) -> u32            where C[m][n] goes in `out`
//
// Drivers: `gemm_tiled` (portable: 64x64 tile per 64-thread workgroup, 8-deep K tiles in
// workgroup memory, 8x8 outputs per thread), `gemm_subgroup` (gemm_subgroup.wgsl: A rows shared
// by subgroup shuffles instead of workgroup memory, when the adapter has subgroups), and
// `gemm_narrow` (one thread per output, for N < 16 where a 64-wide tile would mostly idle).
// Weight gradients (K = batch x pixels) split K over workgroups and `gemm_splitk_sum` adds the
// partials in a fixed order: bit-reproducible without atomics. With `bias_row` the last row of
// A is all ones: its results are the bias gradient (column sums of B), stored to `bias_out`.
// Tile rows beyond 65535 workgroups fold into z (z = fold * splits + split).

struct GemmParams {
    m: u32,
    n: u32,
    // The largest K of the rows (per parity class it can be smaller: gemm_k(m)).
    k: u32,
    // K per split (a multiple of 8); k when there is no split.
    k_chunk: u32,
    splits: u32,
    has_bias: u32,
    // Convolution geometry (unused by dense): the conv's input and output, NHWC.
    batch: u32,
    in_h: u32,
    in_w: u32,
    in_c: u32,
    out_h: u32,
    out_w: u32,
    out_c: u32,
    stride: u32,
    pad_top: u32,
    pad_left: u32,
    kernel_h: u32,
    kernel_w: u32,
    // Forward epilogue: out = activate(activation, C + bias, alpha) (epilogue.wgsl).
    activation: u32,
    alpha: f32,
    // Gradient epilogue: out = activation_backward(grad_activation, saved[i], C, alpha).
    grad_activation: u32,
    // The last row of A is ones and its results go to bias_out.
    bias_row: u32,
    // Strided input gradients (conv.wgsl): up to 4 parity classes in one GEMM, class c's rows
    // from class_row0[c] (a multiple of 128, so a tile of any driver holds one class).
    classes: u32,
    _pad0: u32,
    class_y: vec4<u32>,
    class_x: vec4<u32>,
    class_h: vec4<u32>,
    class_w: vec4<u32>,
    taps_h: vec4<u32>,
    taps_w: vec4<u32>,
    tap_y0: vec4<u32>,
    tap_x0: vec4<u32>,
    class_row0: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: GemmParams;
@group(0) @binding(1) var<storage, read> a_src: array<f32>;
@group(0) @binding(2) var<storage, read> b_src: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
// gemm_splitk_sum only: the partial products.
@group(0) @binding(5) var<storage, read> partials: array<f32>;
// Gradient epilogue: the activation's saved output, laid out like `out`.
@group(0) @binding(6) var<storage, read> saved: array<f32>;
// Bias row: the bias gradient.
@group(0) @binding(7) var<storage, read_write> bias_out: array<f32>;
// gemm_wide: the operands again, read 16 bytes at a time.
@group(0) @binding(8) var<storage, read> a_src4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> b_src4: array<vec4<f32>>;

fn bias_at(n: u32) -> f32 {
    if p.has_bias != 0u {
        return bias[n];
    }
    return 0.0;
}

fn b_at(c: GemmCursor, n: u32) -> f32 {
    if n < p.n {
        return load_b(c, n);
    }
    return 0.0;
}

// The workgroup's tile row and K split (z = fold * splits + split).
fn tile_of(wid: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
    return vec2<u32>((wid.z / p.splits) * nwg.y + wid.y, wid.z % p.splits);
}

// The K range of split z for the rows of the tile starting at m0.
fn k_range(z: u32, m0: u32) -> vec2<u32> {
    let begin = z * p.k_chunk;
    return vec2<u32>(begin, min(begin + p.k_chunk, gemm_k(m0)));
}

// The finished value of C[m][n], stored where it belongs.
fn store_final(m: u32, n: u32, v: f32) {
    if p.bias_row != 0u && m + 1u == p.m {
        bias_out[n] = v;
        return;
    }
    let i = out_index(m, n);
    var r = activate(p.activation, v + bias_at(n), p.alpha);
    if p.grad_activation != 0u {
        r = activation_backward(p.grad_activation, saved[i], r, p.alpha);
    }
    out[i] = r;
}

// C[m][n] of split `split`: to the partials when K is split, else finished.
fn store(split: u32, m: u32, n: u32, v: f32) {
    if m >= p.m || n >= p.n || !row_stored(m) {
        return;
    }
    if p.splits > 1u {
        out[(split * p.m + m) * p.n + n] = v;
    } else {
        store_final(m, n, v);
    }
}

// Writes 8 outputs of row m from column n0.
fn store8(split: u32, m: u32, n0: u32, lo: vec4<f32>, hi: vec4<f32>) {
    for (var j = 0u; j < 4u; j++) {
        store(split, m, n0 + j, lo[j]);
        store(split, m, n0 + 4u + j, hi[j]);
    }
}

// K-tile of A stored [k][m] and of B stored [k][n], as vec4s of 4 consecutive m or n, each
// written whole by one invocation (a store to one component of a vec4 that other invocations
// also write accesses the whole vector: a data race in WGSL's memory model).
var<workgroup> tile_a: array<vec4<f32>, 128>;
var<workgroup> tile_b: array<vec4<f32>, 128>;

// One 64x64 output tile per workgroup of 64 invocations (tile row and split from tile_of).
@compute @workgroup_size(64, 1, 1)
fn gemm_tiled(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let ts = tile_of(wid, nwg);
    let m0 = ts.x * GEMM_TILE;
    let n0 = wid.x * GEMM_TILE;
    enter_row(m0);
    let kr = k_range(ts.y, m0);
    // Loading: thread tid fills A's rows 8 (tid % 8)..+8 at depth tid / 8 of each K tile (two
    // whole vec4s), and B's row tid / 8, columns 8 (tid % 8)..+8.
    let ak = tid / 8u;
    let ar = (tid % 8u) * 8u;
    var rows: array<GemmRow, 8>;
    for (var i = 0u; i < 8u; i++) {
        rows[i] = gemm_row(m0 + ar + i);
    }
    let bk = tid / 8u;
    let bn = n0 + (tid % 8u) * 8u;
    // Computing: an 8x8 block at rows 8 (tid / 8), columns 8 (tid % 8).
    let ty = tid / 8u;
    let tx = tid % 8u;
    var acc: array<vec4<f32>, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    for (var k0 = kr.x; k0 < kr.y; k0 += 8u) {
        var a_lo = vec4<f32>(0.0);
        var a_hi = vec4<f32>(0.0);
        if k0 + ak < kr.y {
            let ac = cursor_at(k0 + ak);
            a_lo = vec4<f32>(load_a(rows[0], ac), load_a(rows[1], ac), load_a(rows[2], ac), load_a(rows[3], ac));
            a_hi = vec4<f32>(load_a(rows[4], ac), load_a(rows[5], ac), load_a(rows[6], ac), load_a(rows[7], ac));
        }
        tile_a[ak * 16u + ar / 4u] = a_lo;
        tile_a[ak * 16u + ar / 4u + 1u] = a_hi;
        var b_lo = vec4<f32>(0.0);
        var b_hi = vec4<f32>(0.0);
        if k0 + bk < kr.y {
            let bc = cursor_at(k0 + bk);
            b_lo = vec4<f32>(b_at(bc, bn), b_at(bc, bn + 1u), b_at(bc, bn + 2u), b_at(bc, bn + 3u));
            b_hi = vec4<f32>(b_at(bc, bn + 4u), b_at(bc, bn + 5u), b_at(bc, bn + 6u), b_at(bc, bn + 7u));
        }
        tile_b[bk * 16u + (tid % 8u) * 2u] = b_lo;
        tile_b[bk * 16u + (tid % 8u) * 2u + 1u] = b_hi;
        workgroupBarrier();
        for (var kk = 0u; kk < 8u; kk++) {
            let a0 = tile_a[kk * 16u + ty * 2u];
            let a1 = tile_a[kk * 16u + ty * 2u + 1u];
            let b0 = tile_b[kk * 16u + tx * 2u];
            let b1 = tile_b[kk * 16u + tx * 2u + 1u];
            acc[0] += a0.x * b0;
            acc[1] += a0.x * b1;
            acc[2] += a0.y * b0;
            acc[3] += a0.y * b1;
            acc[4] += a0.z * b0;
            acc[5] += a0.z * b1;
            acc[6] += a0.w * b0;
            acc[7] += a0.w * b1;
            acc[8] += a1.x * b0;
            acc[9] += a1.x * b1;
            acc[10] += a1.y * b0;
            acc[11] += a1.y * b1;
            acc[12] += a1.z * b0;
            acc[13] += a1.z * b1;
            acc[14] += a1.w * b0;
            acc[15] += a1.w * b1;
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 8u; i++) {
        store8(ts.y, m0 + ty * 8u + i, n0 + tx * 8u, acc[2u * i], acc[2u * i + 1u]);
    }
}

@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn gemm_narrow(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = element_index(wid, nwg, tid);
    if idx >= p.m * p.n {
        return;
    }
    let m = idx / p.n;
    let n = idx % p.n;
    enter_row(m);
    let row = gemm_row(m);
    var cur = cursor_at(0u);
    var acc = 0.0;
    let k_end = gemm_k(m);
    for (var k = 0u; k < k_end; k++) {
        acc += load_a(row, cur) * load_b(cur, n);
        cur = cursor_next(cur);
    }
    store(0u, m, n, acc);
}

@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn gemm_splitk_sum(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = element_index(wid, nwg, tid);
    let total = p.m * p.n;
    if idx >= total {
        return;
    }
    let m = idx / p.n;
    enter_row(m);
    if !row_stored(m) {
        return;
    }
    var acc = 0.0;
    for (var s = 0u; s < p.splits; s++) {
        acc += partials[s * total + idx];
    }
    store_final(m, idx % p.n, acc);
}
