// Deterministic two-stage column reductions of a row-major [rows, cols] matrix (bias gradients,
// BatchNorm statistics and sums), shared by reduce.wgsl's and batchnorm.wgsl's kernels.
//
// Stage 1 (`*_partials`): workgroup (gx, gy) reduces columns gx*col_lanes.. over block gy of
// block_rows rows. Its 256 lanes are col_lanes columns x row_lanes row lanes (col_lanes a power
// of two up to 64, the smallest that covers cols), so neighbouring lanes read neighbouring
// addresses; each lane reads at most 60 elements, a workgroup under 16384. A fixed tree
// over the row lanes gives one partial per (block, column).
// Stage 2 (`*_finish`): 16 columns per workgroup, 16 lanes per column each adding every 16th
// block's partial, then the same tree. Every summation order depends on the shape alone:
// bit-reproducible, no float atomics. The op file declares `partials_in`.

struct ReduceParams {
    rows: u32,
    cols: u32,
    col_lanes: u32,
    // rows per block = row lanes (256 / col_lanes) x rows per lane (60 / matrices read)
    block_rows: u32,
    blocks: u32,
    // BatchNorm only (batchnorm.wgsl): epsilon, momentum, 1 - momentum as Keras rounds it,
    // the fused activation of bn_apply and its slope.
    epsilon: f32,
    momentum: f32,
    one_minus_momentum: f32,
    activation: u32,
    alpha: f32,
    update_moving: u32,
    // Pairs of per-channel vectors bound as one binding: the second's offset in elements
    // (variance after mean; dbeta after dgamma).
    stats_stride: u32,
    grad_stride: u32,
    // bn_apply_batch and bn_backward_input: rows per workgroup (16 row lanes walk them).
    group_rows: u32,
    // bn_backward_input: store dx's column sums (0 when `dx_partials` is a placeholder).
    store_dx_sums: u32,
    _pad0: u32,
}

// The lane's place in stage 1: its column, its first row and how far it walks.
struct LaneRows {
    col: u32,
    valid: bool,
    first: u32,
    end: u32,
    step: u32,
}

fn lane_rows(tid: u32, wid: vec3<u32>, p: ReduceParams) -> LaneRows {
    let col = wid.x * p.col_lanes + tid % p.col_lanes;
    let row_lanes = WORKGROUP_1D / p.col_lanes;
    let start = wid.y * p.block_rows;
    return LaneRows(col, col < p.cols, start + tid / p.col_lanes, min(start + p.block_rows, p.rows), row_lanes);
}

// Sum of v over the row lanes of this lane's column (common.wgsl's tree), to every lane.
// Call in workgroup-uniform control flow.
fn row_lane_total(tid: u32, col_lanes: u32, v: f32) -> f32 {
    return lane_total(tid, col_lanes, v);
}

// Stage 2 takes FINISH_COLS columns per workgroup (shared.wgsl); the other lanes of a column
// walk the blocks.

// Stage 2: the total over all blocks of the partials of this lane's column, the partials of
// block k at partials_in[offset + k * cols + col]; every lane gets its column's total. Call in
// workgroup-uniform control flow.
fn finish_total(tid: u32, wid: vec3<u32>, offset: u32) -> f32 {
    let col = wid.x * FINISH_COLS + tid % FINISH_COLS;
    var s = 0.0;
    if col < p.cols {
        for (var k = tid / FINISH_COLS; k < p.blocks; k += WORKGROUP_1D / FINISH_COLS) {
            s += partials_in[offset + k * p.cols + col];
        }
    }
    return row_lane_total(tid, FINISH_COLS, s);
}

// The column a stage-2 lane stores, if it is one of the storing lanes.
fn finish_column(tid: u32, wid: vec3<u32>) -> u32 {
    let col = wid.x * FINISH_COLS + tid;
    return select(p.cols, col, tid < FINISH_COLS);
}
