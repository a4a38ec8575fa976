// Implicit-GEMM driver shared by the dense and conv families.
//
//   out[z][m][n] = sum_{k in split z} load_a(m, k) * load_b(k, n)  (+ bias[n] when has_bias)
//
// The op file compiled before this one defines `load_a(m, k)` and `load_b(k, n)` (called only
// with in-range indices) and `out_index(m, n)` (where C[m][n] goes in `out`), reading its
// geometry from `p`. No im2col buffer is ever built: the loaders gather operands straight from
// the NHWC tensors.
//
// Two drivers: `gemm_tiled` (64x64 output tile per workgroup, 16-deep K tiles in workgroup
// memory, 4x4 outputs per thread in registers) and `gemm_narrow` (one thread per output, for
// N < 16 where a 64-wide tile would waste most of its work). Long reductions (weight gradients,
// K = batch * pixels) split K over workgroups z and `gemm_splitk_sum` adds the partials in a
// fixed order, so results are bit-reproducible without float atomics.

struct GemmParams {
    m: u32,
    n: u32,
    k: u32,
    // K rows per split (a multiple of 16); k when there is no split.
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
    // Strided input gradients run one GEMM per output parity class (see conv.wgsl): the class
    // offset, its size in pixels, and its taps (count and first index) per axis.
    class_y: u32,
    class_x: u32,
    class_h: u32,
    class_w: u32,
    taps_h: u32,
    taps_w: u32,
    tap_y0: u32,
    tap_x0: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: GemmParams;
@group(0) @binding(1) var<storage, read> a_src: array<f32>;
@group(0) @binding(2) var<storage, read> b_src: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
// gemm_splitk_sum only: the partial products written by gemm_tiled.
@group(0) @binding(5) var<storage, read> partials: array<f32>;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

// K-tile of A stored [k][m] and of B stored [k][n], so the inner loop reads 4 contiguous values.
var<workgroup> tile_a: array<f32, 1024>;
var<workgroup> tile_b: array<f32, 1024>;

fn bias_at(n: u32) -> f32 {
    if p.has_bias != 0u {
        return bias[n];
    }
    return 0.0;
}

fn store_row(split: u32, m: u32, n0: u32, v: vec4<f32>) {
    if m >= p.m {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        let n = n0 + j;
        if n < p.n {
            if p.splits > 1u {
                // Split-K partials: dense [split][m][n], summed by gemm_splitk_sum.
                out[(split * p.m + m) * p.n + n] = v[j];
            } else {
                out[out_index(m, n)] = v[j] + bias_at(n);
            }
        }
    }
}

@compute @workgroup_size(16, 16, 1)
fn gemm_tiled(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;
    let k_begin = wid.z * p.k_chunk;
    let k_end = min(k_begin + p.k_chunk, p.k);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        for (var i = 0u; i < 4u; i++) {
            let e = tid + i * 256u;
            // A: consecutive threads take consecutive k (contiguous channels in NHWC).
            let ak = e % BK;
            let am = e / BK;
            var va = 0.0;
            if m0 + am < p.m && k0 + ak < k_end {
                va = load_a(m0 + am, k0 + ak);
            }
            tile_a[ak * BM + am] = va;
            // B: consecutive threads take consecutive n.
            let bn = e % BN;
            let bk = e / BN;
            var vb = 0.0;
            if n0 + bn < p.n && k0 + bk < k_end {
                vb = load_b(k0 + bk, n0 + bn);
            }
            tile_b[bk * BN + bn] = vb;
        }
        workgroupBarrier();
        let ra = lid.y * 4u;
        let cb = lid.x * 4u;
        for (var kk = 0u; kk < BK; kk++) {
            let a = vec4<f32>(tile_a[kk * BM + ra], tile_a[kk * BM + ra + 1u], tile_a[kk * BM + ra + 2u], tile_a[kk * BM + ra + 3u]);
            let b = vec4<f32>(tile_b[kk * BN + cb], tile_b[kk * BN + cb + 1u], tile_b[kk * BN + cb + 2u], tile_b[kk * BN + cb + 3u]);
            acc0 += a.x * b;
            acc1 += a.y * b;
            acc2 += a.z * b;
            acc3 += a.w * b;
        }
        workgroupBarrier();
    }
    let m = m0 + lid.y * 4u;
    let n = n0 + lid.x * 4u;
    store_row(wid.z, m, n, acc0);
    store_row(wid.z, m + 1u, n, acc1);
    store_row(wid.z, m + 2u, n, acc2);
    store_row(wid.z, m + 3u, n, acc3);
}

@compute @workgroup_size(256, 1, 1)
fn gemm_narrow(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = (wid.y * nwg.x + wid.x) * 256u + tid;
    if idx >= p.m * p.n {
        return;
    }
    let m = idx / p.n;
    let n = idx % p.n;
    var acc = 0.0;
    for (var k = 0u; k < p.k; k++) {
        acc += load_a(m, k) * load_b(k, n);
    }
    out[out_index(m, n)] = acc + bias_at(n);
}

@compute @workgroup_size(256, 1, 1)
fn gemm_splitk_sum(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = (wid.y * nwg.x + wid.x) * 256u + tid;
    let total = p.m * p.n;
    if idx >= total {
        return;
    }
    var acc = 0.0;
    for (var s = 0u; s < p.splits; s++) {
        acc += partials[s * total + idx];
    }
    out[out_index(idx / p.n, idx % p.n)] = acc + bias_at(idx % p.n);
}
