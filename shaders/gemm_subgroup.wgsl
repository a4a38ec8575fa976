// The subgroup GEMM driver (compiled only where the adapter has subgroups; declarations in
// gemm.wgsl). Each lane computes an 8x8 block; the 8 lanes of a row block hold the A values of
// its 8 rows and share them by subgroup shuffles, so A never goes through workgroup memory and
// every lane loads just 1 A value and 8 B values per 64 multiply-adds: as 16-byte vec4s where
// the layout allows (two per k where B runs along n; one of A and one per column of B per 4 k
// where both run along k), since llvmpipe emits each load as a loop over its lanes. On
// lavapipe (subgroups of 8) this is about twice the tiled driver.
//
// Lane u (the local index) owns rows 8 (u / 8).. and columns 8 (u % 8).. of the 64x64 tile; the
// row's A value for the others comes from the lane of index 8 (u / 8) + r. That lane is in the
// same subgroup, at invocation id (8 (u / 8) + r) - (u - id), when the subgroup is full, a
// multiple of 8 lanes, and laid out linearly (ids u % size, local indices one contiguous run):
// each subgroup checks that it is (subgroupAll, no barrier), and where it is not (4 lanes on
// SwiftShader, a partial subgroup of 128, an odd layout) its lanes load their 8 rows' A values
// themselves. Either way the same bits: every output is the same sequential sum over k. No
// barrier and no workgroup memory here: llvmpipe compiles a shader with barriers into
// coroutines that spill, which would halve this kernel's speed even where none is reached.

// Tint checks that subgroup operations run in subgroup-uniform control flow and counts the
// results of subgroup operations as non-uniform, so the branch on `shuffle` (a subgroupAll)
// fails its analysis though every lane of a subgroup takes the same side. The rule is off for
// this module: uniformity is argued above, and naga does not check it (nor know the rule: the
// shader loader gives this line to the browser only).
diagnostic(off, subgroup_uniformity);

// Whether this subgroup shares A values by shuffles: it is full, a multiple of 8 lanes and
// laid out linearly (called by the whole workgroup, in uniform control flow).
fn shuffles_fit(u: u32, lane: u32, sg: u32) -> bool {
    let count = subgroupAdd(1u);
    let first = subgroupBroadcastFirst(u);
    let linear = subgroupAll(lane == u % sg && u / sg == first / sg);
    return linear && count == sg && sg % 8u == 0u;
}

// B along n with N a multiple of 4: a lane's 8 columns from col at k as two 16-byte loads
// (llvmpipe emits every load whose address differs between lanes as a loop over the lanes, so
// fewer, wider loads are what these drivers are bound by). Columns past N read an in-bounds
// word and are zeroed.
fn b8_wide(k: u32, col: u32) -> array<vec4<f32>, 2> {
    let lo = select(vec4<f32>(0.0), load_b4(k, min(col, p.n - 4u)), col < p.n);
    let hi = select(vec4<f32>(0.0), load_b4(k, min(col + 4u, p.n - 4u)), col + 4u < p.n);
    return array<vec4<f32>, 2>(lo, hi);
}

// The same 8 columns, one load each (any layout).
fn b8_scalar(c: GemmCursor, col: u32) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(
        vec4<f32>(b_at(c, col), b_at(c, col + 1u), b_at(c, col + 2u), b_at(c, col + 3u)),
        vec4<f32>(b_at(c, col + 4u), b_at(c, col + 5u), b_at(c, col + 6u), b_at(c, col + 7u)),
    );
}

// Both operands along k: the 8 columns' B for 4 steps of k, one vec4 per column (zero past N).
fn b8_along_k4(c: GemmCursor, col: u32) -> array<vec4<f32>, 8> {
    var bk: array<vec4<f32>, 8>;
    for (var j = 0u; j < 8u; j++) {
        bk[j] = select(vec4<f32>(0.0), load_b_along_k4(c, min(col + j, p.n - 1u)), col + j < p.n);
    }
    return bk;
}

// Step kk of those 4: the 8 columns' values as two vec4s, as the other paths hold them.
fn b8_step(bk: array<vec4<f32>, 8>, kk: u32) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(
        vec4<f32>(bk[0][kk], bk[1][kk], bk[2][kk], bk[3][kk]),
        vec4<f32>(bk[4][kk], bk[5][kk], bk[6][kk], bk[7][kk]),
    );
}

@compute @workgroup_size(64, 1, 1)
fn gemm_subgroup(
    @builtin(local_invocation_index) u: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) sg: u32,
) {
    let shuffle = shuffles_fit(u, lane, sg);
    let ts = tile_of(wid, nwg);
    enter_row(ts.x * GEMM_TILE);
    let row0 = ts.x * GEMM_TILE + (u / 8u) * 8u;
    let col = wid.x * GEMM_TILE + (u % 8u) * 8u;
    let row = gemm_row(row0 + u % 8u);
    // The invocation id of the lane holding row 0 of this block (meaningful when shuffling).
    let src = (u / 8u) * 8u + lane - u;
    let kr = k_range(ts.y, ts.x * GEMM_TILE);
    var acc: array<vec4<f32>, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    var cur = cursor_at(kr.x);
    let b4 = !b_along_k() && p.n % 4u == 0u;
    // Input gradients with both operands along k: 4 steps of k per load, A as one vec4 per
    // lane and B as one vec4 per column, turned into rows of 4 columns in registers; each
    // output still sums k in order. A class's K and every split are multiples of 4 here.
    if shuffle && along_k4() {
        for (var k = kr.x; k < kr.y; k += 4u) {
            let a4 = load_a_along_k4(row, cur);
            let bk = b8_along_k4(cur, col);
            for (var kk = 0u; kk < 4u; kk++) {
                let b = b8_step(bk, kk);
                for (var r = 0u; r < 8u; r++) {
                    let x = subgroupShuffle(a4[kk], src + r);
                    acc[2u * r] += x * b[0];
                    acc[2u * r + 1u] += x * b[1];
                }
            }
            cur = cursor_next4(cur);
        }
    } else if shuffle && b4 {
        for (var k = kr.x; k < kr.y; k++) {
            let a = load_a(row, cur);
            let b = b8_wide(cur.k, col);
            for (var r = 0u; r < 8u; r++) {
                let x = subgroupShuffle(a, src + r);
                acc[2u * r] += x * b[0];
                acc[2u * r + 1u] += x * b[1];
            }
            cur = cursor_next(cur);
        }
    } else if shuffle {
        for (var k = kr.x; k < kr.y; k++) {
            let a = load_a(row, cur);
            let b = b8_scalar(cur, col);
            for (var r = 0u; r < 8u; r++) {
                let x = subgroupShuffle(a, src + r);
                acc[2u * r] += x * b[0];
                acc[2u * r + 1u] += x * b[1];
            }
            cur = cursor_next(cur);
        }
    } else {
        for (var k = kr.x; k < kr.y; k++) {
            let b = b8_scalar(cur, col);
            for (var r = 0u; r < 8u; r++) {
                let x = load_a(gemm_row(row0 + r), cur);
                acc[2u * r] += x * b[0];
                acc[2u * r + 1u] += x * b[1];
            }
            cur = cursor_next(cur);
        }
    }
    for (var i = 0u; i < 8u; i++) {
        store8(ts.y, row0 + i, col, acc[2u * i], acc[2u * i + 1u]);
    }
}

// The tall variant: 128 x 64 tiles, each lane 16 rows x 8 columns (two row blocks of 8: its
// own A values are rows 16 (u / 8) + u % 8 and the 8 below them). Per step of k a lane loads
// 2 A values and the same 8 B values as above for twice the multiply-adds, and the shuffles
// stay one per row: on llvmpipe, where every load costs a dozen or more multiply-adds, that is
// the cheaper ratio. The same sums in the same order as the 64-row driver: the same bits.
@compute @workgroup_size(64, 1, 1)
fn gemm_subgroup_tall(
    @builtin(local_invocation_index) u: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) sg: u32,
) {
    let shuffle = shuffles_fit(u, lane, sg);
    let ts = tile_of(wid, nwg);
    let tile_row0 = ts.x * GEMM_TALL_TILE;
    enter_row(tile_row0);
    let row0 = tile_row0 + (u / 8u) * 16u;
    let col = wid.x * GEMM_TILE + (u % 8u) * 8u;
    let row_lo = gemm_row(row0 + u % 8u);
    let row_hi = gemm_row(row0 + 8u + u % 8u);
    let src = (u / 8u) * 8u + lane - u;
    let kr = k_range(ts.y, tile_row0);
    // acc[2 r], acc[2 r + 1]: row row0 + r (r < 16), columns col.. and col + 4..
    var acc: array<vec4<f32>, 32>;
    for (var i = 0u; i < 32u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    var cur = cursor_at(kr.x);
    let b4 = !b_along_k() && p.n % 4u == 0u;
    if shuffle && along_k4() {
        for (var k = kr.x; k < kr.y; k += 4u) {
            let a_lo = load_a_along_k4(row_lo, cur);
            let a_hi = load_a_along_k4(row_hi, cur);
            let bk = b8_along_k4(cur, col);
            for (var kk = 0u; kk < 4u; kk++) {
                let b = b8_step(bk, kk);
                for (var r = 0u; r < 8u; r++) {
                    let x = subgroupShuffle(a_lo[kk], src + r);
                    let y = subgroupShuffle(a_hi[kk], src + r);
                    acc[2u * r] += x * b[0];
                    acc[2u * r + 1u] += x * b[1];
                    acc[16u + 2u * r] += y * b[0];
                    acc[17u + 2u * r] += y * b[1];
                }
            }
            cur = cursor_next4(cur);
        }
    } else if shuffle && b4 {
        for (var k = kr.x; k < kr.y; k++) {
            let a_lo = load_a(row_lo, cur);
            let a_hi = load_a(row_hi, cur);
            let b = b8_wide(cur.k, col);
            for (var r = 0u; r < 8u; r++) {
                let x = subgroupShuffle(a_lo, src + r);
                let y = subgroupShuffle(a_hi, src + r);
                acc[2u * r] += x * b[0];
                acc[2u * r + 1u] += x * b[1];
                acc[16u + 2u * r] += y * b[0];
                acc[17u + 2u * r] += y * b[1];
            }
            cur = cursor_next(cur);
        }
    } else if shuffle {
        for (var k = kr.x; k < kr.y; k++) {
            let a_lo = load_a(row_lo, cur);
            let a_hi = load_a(row_hi, cur);
            let b = b8_scalar(cur, col);
            for (var r = 0u; r < 8u; r++) {
                let x = subgroupShuffle(a_lo, src + r);
                let y = subgroupShuffle(a_hi, src + r);
                acc[2u * r] += x * b[0];
                acc[2u * r + 1u] += x * b[1];
                acc[16u + 2u * r] += y * b[0];
                acc[17u + 2u * r] += y * b[1];
            }
            cur = cursor_next(cur);
        }
    } else {
        for (var k = kr.x; k < kr.y; k++) {
            let b = b8_scalar(cur, col);
            for (var r = 0u; r < 16u; r++) {
                let x = load_a(gemm_row(row0 + r), cur);
                acc[2u * r] += x * b[0];
                acc[2u * r + 1u] += x * b[1];
            }
            cur = cursor_next(cur);
        }
    }
    for (var i = 0u; i < 16u; i++) {
        store8(ts.y, row0 + i, col, acc[2u * i], acc[2u * i + 1u]);
    }
}
