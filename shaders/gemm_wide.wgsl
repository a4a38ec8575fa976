// The GPU-shaped GEMM driver (declarations in gemm.wgsl; 16-byte operand loads from the op
// file: load_a4, load_b4, a_along_m, b_along_k). A 64x64 output tile per workgroup of 256
// invocations, 4x4 outputs each; K in tiles of 16 staged in workgroup memory, double-buffered:
// while the tile in one buffer is multiplied, the next one is already in registers, so each
// K tile costs one barrier. Every invocation loads one vec4 of A and one of B per K tile, along
// the operand's contiguous axis (neighbouring invocations read neighbouring 16-byte words).
// Each output is still one sequential sum over k, like the other drivers.
//
// The host offers it only where the layout is aligned (the channel counts a vec4 walks are
// multiples of 4). 2 x (16 x 64 + 16 x 64) floats = 16 KiB of workgroup memory, WebGPU's
// default limit.

// [buffer][kk][m / 4] as vec4 of 4 rows, and [buffer][kk][n / 4] as vec4 of 4 columns.
var<workgroup> wide_a: array<vec4<f32>, 512>;
var<workgroup> wide_b: array<vec4<f32>, 512>;

// This invocation's vec4 of A and of B in the K tile at k0 (zeros at and past `end`).
fn wide_fetch(t: u32, m0: u32, n0: u32, k0: u32, end: u32) -> array<vec4<f32>, 2> {
    var a = vec4<f32>(0.0);
    var b = vec4<f32>(0.0);
    if a_along_m() {
        let k = k0 + t / 16u;
        if k < end {
            a = load_a4(m0 + (t % 16u) * 4u, k);
        }
    } else {
        let k = k0 + (t % 4u) * 4u;
        if k < end {
            a = load_a4(m0 + t / 4u, k);
        }
    }
    if b_along_k() {
        let k = k0 + (t % 4u) * 4u;
        let n = n0 + t / 4u;
        if k < end && n < p.n {
            b = load_b4(k, n);
        }
    } else {
        let k = k0 + t / 16u;
        let n = n0 + (t % 16u) * 4u;
        if k < end && n < p.n {
            b = load_b4(k, n);
        }
    }
    return array<vec4<f32>, 2>(a, b);
}

// Stores a fetched pair into buffer `buf`, transposing the operands read along k.
fn wide_put(t: u32, buf: u32, v: array<vec4<f32>, 2>) {
    let base = buf * 256u;
    if a_along_m() {
        wide_a[base + (t / 16u) * 16u + t % 16u] = v[0];
    } else {
        let m = t / 4u;
        let kq = (t % 4u) * 4u;
        for (var j = 0u; j < 4u; j++) {
            wide_a[base + (kq + j) * 16u + m / 4u][m % 4u] = v[0][j];
        }
    }
    if b_along_k() {
        let n = t / 4u;
        let kq = (t % 4u) * 4u;
        for (var j = 0u; j < 4u; j++) {
            wide_b[base + (kq + j) * 16u + n / 4u][n % 4u] = v[1][j];
        }
    } else {
        wide_b[base + (t / 16u) * 16u + t % 16u] = v[1];
    }
}

@compute @workgroup_size(256, 1, 1)
fn gemm_wide(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let ts = tile_of(wid, nwg);
    let m0 = ts.x * 64u;
    let n0 = wid.x * 64u;
    enter_row(m0);
    let kr = k_range(ts.y);
    let tx = t % 16u;
    let ty = t / 16u;
    var acc: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    wide_put(t, 0u, wide_fetch(t, m0, n0, kr.x, kr.y));
    workgroupBarrier();
    var buf = 0u;
    for (var k0 = kr.x; k0 < kr.y; k0 += 16u) {
        let next = k0 + 16u;
        var staged: array<vec4<f32>, 2>;
        if next < kr.y {
            staged = wide_fetch(t, m0, n0, next, kr.y);
        }
        let base = buf * 256u;
        for (var kk = 0u; kk < 16u; kk++) {
            let a = wide_a[base + kk * 16u + ty];
            let b = wide_b[base + kk * 16u + tx];
            acc[0] += a.x * b;
            acc[1] += a.y * b;
            acc[2] += a.z * b;
            acc[3] += a.w * b;
        }
        if next < kr.y {
            wide_put(t, 1u - buf, staged);
        }
        workgroupBarrier();
        buf = 1u - buf;
    }
    for (var i = 0u; i < 4u; i++) {
        let m = m0 + ty * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            store(ts.y, m, n0 + tx * 4u + j, acc[i][j]);
        }
    }
}
