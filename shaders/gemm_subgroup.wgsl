// The subgroup GEMM driver (compiled only where the adapter has subgroups; declarations in
// gemm.wgsl). Each lane computes an 8x8 block; the 8 lanes of a row block hold the A values of
// its 8 rows and share them by subgroup shuffles, so A never goes through workgroup memory and
// every lane loads just 1 A value and 8 B values per 64 multiply-adds. Works for subgroup sizes
// 8 to 64 (the host checks): a subgroup of S lanes covers S rows x 64 columns, the 64-lane
// workgroup a 64x64 tile. On lavapipe (subgroups of 8) this is about twice the tiled driver.

@compute @workgroup_size(64, 1, 1)
fn gemm_subgroup(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_id) sid: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) sg: u32,
) {
    let block = lane / 8u;
    let row0 = wid.y * 64u + sid * sg + block * 8u;
    let col = wid.x * 64u + (lane % 8u) * 8u;
    let row = gemm_row(row0 + lane % 8u);
    let src = block * 8u;
    let kr = k_range(wid.z);
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
        store8(wid.z, row0 + i, col, acc[2u * i], acc[2u * i + 1u]);
    }
}
