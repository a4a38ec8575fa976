// The GPU-shaped GEMM driver (declarations in gemm.wgsl; 16-byte operand loads from the op
// file: load_a4, load_b4, a_along_m, b_along_k). A WIDE_ROWS x 64 output tile per workgroup of
// 256 invocations (WIDE_ROWS 64 or 128, a pipeline constant: 4x4 or 8x4 outputs each); K in
// tiles of 16 staged in workgroup memory, double-buffered:
// while the tile in one buffer is multiplied, the next one is already in registers, so each
// K tile costs one barrier. Every invocation loads one vec4 of A and one of B per K tile, along
// the operand's contiguous axis (neighbouring invocations read neighbouring 16-byte words).
// Each output is still one sequential sum over k, like the other drivers.
//
// The host offers it only where the layout is aligned (the channel counts a vec4 walks are
// multiples of 4). 2 x 16 x (WIDE_ROWS + 64) floats of workgroup memory: 16 KiB for 64 rows
// (WebGPU's default limit), 24 KiB for 128 (compiled only where the adapter allows it).

override WIDE_ROWS: u32 = 64u;

// [buffer][kk][m / 4] as vec4 of 4 rows, and [buffer][kk][n / 4] as vec4 of 4 columns.
var<workgroup> wide_a: array<vec4<f32>, WIDE_ROWS * 8u>;
var<workgroup> wide_b: array<vec4<f32>, 512>;

// This invocation's vec4s of A (WIDE_ROWS / 64 of them) and of B in the K tile at k0 (zeros
// at and past `end`): [A part 0, A part 1, B].
fn wide_fetch(t: u32, m0: u32, n0: u32, k0: u32, end: u32) -> array<vec4<f32>, 3> {
    var v: array<vec4<f32>, 3>;
    for (var part = 0u; part < WIDE_ROWS / 64u; part++) {
        let u = t + 256u * part;
        if a_along_m() {
            let k = k0 + u / (WIDE_ROWS / 4u);
            if k < end {
                v[part] = load_a4(m0 + (u % (WIDE_ROWS / 4u)) * 4u, k);
            }
        } else {
            let k = k0 + (u % 4u) * 4u;
            if k < end {
                v[part] = load_a4(m0 + u / 4u, k);
            }
        }
    }
    if b_along_k() {
        let k = k0 + (t % 4u) * 4u;
        let n = n0 + t / 4u;
        if k < end && n < p.n {
            v[2] = load_b4(k, n);
        }
    } else {
        let k = k0 + t / 16u;
        let n = n0 + (t % 16u) * 4u;
        if k < end && n < p.n {
            v[2] = load_b4(k, n);
        }
    }
    return v;
}

// Stores fetched vec4s into buffer `buf`, transposing the operands read along k.
fn wide_put(t: u32, buf: u32, v: array<vec4<f32>, 3>) {
    let quads = WIDE_ROWS / 4u;
    for (var part = 0u; part < WIDE_ROWS / 64u; part++) {
        let u = t + 256u * part;
        if a_along_m() {
            wide_a[(buf * 16u + u / quads) * quads + u % quads] = v[part];
        } else {
            let m = u / 4u;
            let kq = (u % 4u) * 4u;
            for (var j = 0u; j < 4u; j++) {
                wide_a[(buf * 16u + kq + j) * quads + m / 4u][m % 4u] = v[part][j];
            }
        }
    }
    let base = buf * 256u;
    if b_along_k() {
        let n = t / 4u;
        let kq = (t % 4u) * 4u;
        for (var j = 0u; j < 4u; j++) {
            wide_b[base + (kq + j) * 16u + n / 4u][n % 4u] = v[2][j];
        }
    } else {
        wide_b[base + (t / 16u) * 16u + t % 16u] = v[2];
    }
}

@compute @workgroup_size(256, 1, 1)
fn gemm_wide(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let ts = tile_of(wid, nwg);
    let m0 = ts.x * WIDE_ROWS;
    let n0 = wid.x * 64u;
    enter_row(m0);
    let kr = k_range(ts.y, m0);
    let tx = t % 16u;
    let ty = t / 16u;
    // Rows ty * rows.. of the tile (as row_quads vec4s of A), columns 4 tx..
    let rows = WIDE_ROWS / 16u;
    let row_quads = WIDE_ROWS / 64u;
    let quads = WIDE_ROWS / 4u;
    var acc: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    wide_put(t, 0u, wide_fetch(t, m0, n0, kr.x, kr.y));
    workgroupBarrier();
    var buf = 0u;
    for (var k0 = kr.x; k0 < kr.y; k0 += 16u) {
        let next = k0 + 16u;
        var staged: array<vec4<f32>, 3>;
        if next < kr.y {
            staged = wide_fetch(t, m0, n0, next, kr.y);
        }
        for (var kk = 0u; kk < 16u; kk++) {
            let b = wide_b[buf * 256u + kk * 16u + tx];
            for (var q = 0u; q < row_quads; q++) {
                let a = wide_a[(buf * 16u + kk) * quads + ty * row_quads + q];
                acc[4u * q] += a.x * b;
                acc[4u * q + 1u] += a.y * b;
                acc[4u * q + 2u] += a.z * b;
                acc[4u * q + 3u] += a.w * b;
            }
        }
        if next < kr.y {
            wide_put(t, 1u - buf, staged);
        }
        workgroupBarrier();
        buf = 1u - buf;
    }
    for (var i = 0u; i < rows; i++) {
        let m = m0 + ty * rows + i;
        for (var j = 0u; j < 4u; j++) {
            store(ts.y, m, n0 + tx * 4u + j, acc[i][j]);
        }
    }
}
