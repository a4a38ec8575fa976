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

// Each operand's K tile as vec4s in the order it was loaded, so every vec4 is stored whole by
// the invocation that loaded it (invocations storing components of one shared vec4 would race
// in WGSL's memory model): A loaded along m as [buffer][kk][m / 4] (4 rows at one k), along k
// as [buffer][m][kk / 4] (4 k of one row); B loaded along n as [buffer][kk][n / 4], along k as
// [buffer][n][kk / 4]. The multiply reads 4 kk at a time and transposes in registers where the
// tile is k-major, so each output's sum over k keeps its order.
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
            // Row u / 4, k quad u % 4.
            wide_a[buf * WIDE_ROWS * 4u + u] = v[part];
        }
    }
    // Along k: column t / 4, k quad t % 4; along n: k t / 16, column quad t % 16. Either way
    // the vec4 index is t.
    wide_b[buf * 256u + t] = v[2];
}

// A's 4 rows 4 mq.. at kk = 4 kq + j, for j = 0..3 (column j of the result).
fn wide_a4x4(buf: u32, kq: u32, mq: u32) -> mat4x4<f32> {
    let quads = WIDE_ROWS / 4u;
    if a_along_m() {
        let at = (buf * 16u + 4u * kq) * quads + mq;
        return mat4x4<f32>(wide_a[at], wide_a[at + quads], wide_a[at + 2u * quads], wide_a[at + 3u * quads]);
    }
    // Rows as loaded (4 k each): the transpose gives 4 rows per k.
    let at = buf * WIDE_ROWS * 4u + 4u * mq * 4u + kq;
    return transpose(mat4x4<f32>(wide_a[at], wide_a[at + 4u], wide_a[at + 8u], wide_a[at + 12u]));
}

// B's 4 columns 4 nq.. at kk = 4 kq + j, for j = 0..3.
fn wide_b4x4(buf: u32, kq: u32, nq: u32) -> mat4x4<f32> {
    if !b_along_k() {
        let at = buf * 256u + 4u * kq * 16u + nq;
        return mat4x4<f32>(wide_b[at], wide_b[at + 16u], wide_b[at + 32u], wide_b[at + 48u]);
    }
    let at = buf * 256u + 4u * nq * 4u + kq;
    return transpose(mat4x4<f32>(wide_b[at], wide_b[at + 4u], wide_b[at + 8u], wide_b[at + 12u]));
}

@compute @workgroup_size(256, 1, 1)
fn gemm_wide(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let ts = tile_of(wid, nwg);
    let m0 = ts.x * WIDE_ROWS;
    let n0 = wid.x * GEMM_TILE;
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
        for (var kq = 0u; kq < 4u; kq++) {
            let bs = wide_b4x4(buf, kq, tx);
            for (var q = 0u; q < row_quads; q++) {
                let a4 = wide_a4x4(buf, kq, ty * row_quads + q);
                for (var j = 0u; j < 4u; j++) {
                    let a = a4[j];
                    let b = bs[j];
                    acc[4u * q] += a.x * b;
                    acc[4u * q + 1u] += a.y * b;
                    acc[4u * q + 2u] += a.z * b;
                    acc[4u * q + 3u] += a.w * b;
                }
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
