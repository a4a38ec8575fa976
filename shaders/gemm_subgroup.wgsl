// The subgroup GEMM driver (compiled only where the adapter has subgroups; declarations in
// gemm.wgsl). Each lane computes an 8x8 block; the 8 lanes of a row block hold the A values of
// its 8 rows and share them by subgroup shuffles, so A never goes through workgroup memory and
// every lane loads just 1 A value and 8 B values per 64 multiply-adds. On lavapipe (subgroups of
// 8) this is about twice the tiled driver.
//
// Nothing is assumed about how a driver lays lanes out: each subgroup takes a range of the 64
// block slots with an atomic (not `subgroup_id`, which DX12 emulates from the local index), and
// ranks its lanes with an exclusive scan. Shuffles need each subgroup to be full and a multiple
// of 8 lanes with its range 8-aligned (sizes 8 to 64 in practice); where any subgroup of the
// workgroup is not (4 lanes on SwiftShader, 128 on a partial subgroup, an odd layout), the whole
// workgroup runs the tiled driver's body instead. Both give the same bits: every output is the
// same sequential sum over k.

var<workgroup> slots: atomic<u32>;
var<workgroup> misfits: atomic<u32>;
var<workgroup> use_shuffles: u32;

@compute @workgroup_size(64, 1, 1)
fn gemm_subgroup(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) sg: u32,
) {
    if tid == 0u {
        atomicStore(&slots, 0u);
        atomicStore(&misfits, 0u);
    }
    workgroupBarrier();
    // Every subgroup builtin below is reached by the whole workgroup (uniform control flow).
    let count = subgroupAdd(1u);
    let rank = subgroupExclusiveAdd(1u);
    var first = 0u;
    if rank == 0u {
        first = atomicAdd(&slots, count);
    }
    let base = subgroupBroadcastFirst(first);
    let fits = count == sg && count % 8u == 0u && base % 8u == 0u && lane == rank;
    if !fits {
        atomicOr(&misfits, 1u);
    }
    workgroupBarrier();
    if tid == 0u {
        use_shuffles = select(0u, 1u, atomicLoad(&misfits) == 0u);
    }
    let ts = tile_of(wid, nwg);
    if workgroupUniformLoad(&use_shuffles) == 0u {
        tiled_tile(tid, wid.x, ts);
        return;
    }
    // Block slot u = base + rank: rows 8 (u / 8) and columns 8 (u % 8) of the 64x64 tile. The A
    // value of row r of the block is held by the lane of slot 8 (u / 8) + r.
    let u = base + rank;
    enter_row(ts.x * 64u);
    let row0 = ts.x * 64u + (u / 8u) * 8u;
    let col = wid.x * 64u + (u % 8u) * 8u;
    let row = gemm_row(row0 + u % 8u);
    let src = (u / 8u) * 8u - base;
    let kr = k_range(ts.y);
    var acc: array<vec4<f32>, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    var cur = cursor_at(kr.x);
    for (var k = kr.x; k < kr.y; k++) {
        let a = load_a(row, cur);
        let b0 = vec4<f32>(b_at(cur, col), b_at(cur, col + 1u), b_at(cur, col + 2u), b_at(cur, col + 3u));
        let b1 = vec4<f32>(b_at(cur, col + 4u), b_at(cur, col + 5u), b_at(cur, col + 6u), b_at(cur, col + 7u));
        for (var r = 0u; r < 8u; r++) {
            let x = subgroupShuffle(a, src + r);
            acc[2u * r] += x * b0;
            acc[2u * r + 1u] += x * b1;
        }
        cur = cursor_next(cur);
    }
    for (var i = 0u; i < 8u; i++) {
        store8(ts.y, row0 + i, col, acc[2u * i], acc[2u * i + 1u]);
    }
}
