// Batch normalisation over (N, H, W) per channel of an NHWC tensor viewed as [rows, cols]
// (cols = channels), with TensorFlow's arithmetic:
//   inv = gamma * rsqrt(var + epsilon);  y = x * inv + (beta - mean * inv).
// Training forward: bn_stats_partials, then bn_apply_batch. Inference: bn_apply with the moving
// statistics. Backward: bn_backward_partials, then bn_backward_input. The sums run in
// reduce.wgsl's two fixed-shape stages, the second (the finish) inside the kernel that uses
// them: each workgroup owns 16 channels and a block of rows, first adds its channels' partials
// (in the same order in every workgroup, so all get the same bits), then applies them; the
// workgroups of the first row block also store the statistics (and update the moving ones),
// or dgamma and dbeta. Two dispatches a pass, every one spread over the rows.
//
// The variance comes from sums shifted by the column's first value K: var = S2/n - (S1/n)^2
// with S1 = sum(x - K), S2 = sum((x - K)^2). Its rounding error scales with (mean - K)^2 / var
// (order 1 for a sample K) rather than mean^2 / var, so it stays accurate when the variance is
// far below mean^2 (D's bn2 sees variances of 1e-6 in the Keras fixture).

@group(0) @binding(0) var<uniform> p: ReduceParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
// Given statistics: mean[c], variance at [stats_stride + c] (moving ones, or the batch ones the
// forward stored, for the backward pass).
@group(0) @binding(5) var<storage, read> stats: array<f32>;
// bn_apply*: y; bn_backward_input: dx.
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
// bn_apply_batch: the batch statistics it computes (same layout as `stats`).
@group(0) @binding(7) var<storage, read_write> batch_stats: array<f32>;
// The moving statistics (same layout), updated in training mode.
@group(0) @binding(8) var<storage, read_write> moving: array<f32>;
// bn_backward_input: dgamma[c] and dbeta at [grad_stride + c].
@group(0) @binding(9) var<storage, read_write> dgb: array<f32>;
// Stage-1 sums, two per (block, column): [2][blocks][cols].
@group(0) @binding(10) var<storage, read_write> partials: array<f32>;
@group(0) @binding(11) var<storage, read> partials_in: array<f32>;
// bn_backward_input: its workgroups' column sums of dx, [row groups][cols] (the partials of the
// bias gradient of a transposed convolution before this layer; column_sum.wgsl finishes them).
@group(0) @binding(12) var<storage, read_write> dx_partials: array<f32>;

// Stores two stage-1 sums of this lane's column.
fn store_partials(tid: u32, wid: vec3<u32>, l: LaneRows, a: f32, b: f32) {
    let ta = row_lane_total(tid, p.col_lanes, a);
    let tb = row_lane_total(tid, p.col_lanes, b);
    if l.valid && tid < p.col_lanes {
        partials[wid.y * p.cols + l.col] = ta;
        partials[(p.blocks + wid.y) * p.cols + l.col] = tb;
    }
}

// Both stage-1 sums of this lane's column over all blocks (stage 2, uniform control flow).
fn finish_totals(tid: u32, wid: vec3<u32>) -> vec2<f32> {
    return vec2<f32>(finish_total(tid, wid, 0u), finish_total(tid, wid, p.blocks * p.cols));
}

// This lane's channel and its rows in a blocked kernel: 16 channels by 16 row lanes.
struct GroupLane {
    col: u32,
    valid: bool,
    first: u32,
    end: u32,
}

fn group_lane(tid: u32, wid: vec3<u32>) -> GroupLane {
    let col = wid.x * FINISH_COLS + tid % FINISH_COLS;
    let start = wid.y * p.group_rows;
    return GroupLane(col, col < p.cols, start + tid / FINISH_COLS, min(start + p.group_rows, p.rows));
}

// Sum of v over the 16 row lanes of this lane's channel, to every lane (uniform control flow).
fn group_total(tid: u32, v: f32) -> f32 {
    return row_lane_total(tid, FINISH_COLS, v);
}

@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn bn_stats_partials(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lane_rows(tid, wid, p);
    var s1 = 0.0;
    var s2 = 0.0;
    if l.valid {
        let shift = x[l.col];
        for (var r = l.first; r < l.end; r += l.step) {
            let d = x[r * p.cols + l.col] - shift;
            s1 += d;
            s2 += d * d;
        }
    }
    store_partials(tid, wid, l, s1, s2);
}

// moving = moving * momentum + batch * (1 - momentum), with Keras' float32 constants.
fn update_moving(c: u32, mean: f32, variance: f32) {
    let v = p.stats_stride + c;
    moving[c] = moving[c] * p.momentum + mean * p.one_minus_momentum;
    moving[v] = moving[v] * p.momentum + variance * p.one_minus_momentum;
}

// The update alone from given batch statistics: what the tests feed Keras' own statistics
// through, to check the arithmetic bit for bit.
@compute @workgroup_size(64, 1, 1)
fn bn_moving_update(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c < p.cols {
        update_moving(c, stats[c], stats[p.stats_stride + c]);
    }
}

// Training-mode forward: the batch statistics from the partials, then y = act(bn(x)).
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn bn_apply_batch(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let sums = finish_totals(tid, wid);
    let l = group_lane(tid, wid);
    if !l.valid {
        return;
    }
    let n = f32(p.rows);
    let m = sums.x / n;
    let mean = x[l.col] + m;
    let variance = max(sums.y / n - m * m, 0.0);
    if wid.y == 0u && tid < FINISH_COLS {
        batch_stats[l.col] = mean;
        batch_stats[p.stats_stride + l.col] = variance;
        if p.update_moving != 0u {
            update_moving(l.col, mean, variance);
        }
    }
    let inv = gamma[l.col] * inverseSqrt(variance + p.epsilon);
    let shift = beta[l.col] - mean * inv;
    for (var r = l.first; r < l.end; r += WORKGROUP_1D / FINISH_COLS) {
        let i = r * p.cols + l.col;
        out[i] = activate(p.activation, x[i] * inv + shift, p.alpha);
    }
}

// Forward with given statistics (inference: the moving ones), element-wise.
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn bn_apply(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = element_index(wid, nwg, tid);
    if i >= p.rows * p.cols {
        return;
    }
    let c = i % p.cols;
    let inv = gamma[c] * inverseSqrt(stats[p.stats_stride + c] + p.epsilon);
    out[i] = activate(p.activation, x[i] * inv + (beta[c] - stats[c] * inv), p.alpha);
}

// Stage 1 of dgamma = sum(dy * xhat), dbeta = sum(dy), xhat = (x - mean) * rsqrt(var + eps).
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn bn_backward_partials(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lane_rows(tid, wid, p);
    var sd = 0.0;
    var sdx = 0.0;
    if l.valid {
        let mu = stats[l.col];
        let rs = inverseSqrt(stats[p.stats_stride + l.col] + p.epsilon);
        for (var r = l.first; r < l.end; r += l.step) {
            let i = r * p.cols + l.col;
            sd += dy[i];
            sdx += dy[i] * (x[i] - mu) * rs;
        }
    }
    store_partials(tid, wid, l, sdx, sd);
}

// dgamma and dbeta from the partials, then dx = gamma * rstd / N * (N * dy - dbeta - xhat *
// dgamma): the gradient through the batch statistics (training mode). Also the column sums
// of dx over this workgroup's rows.
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn bn_backward_input(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let sums = finish_totals(tid, wid);
    let l = group_lane(tid, wid);
    var col_sum = 0.0;
    if l.valid {
        let dgamma = sums.x;
        let dbeta = sums.y;
        if wid.y == 0u && tid < FINISH_COLS {
            dgb[l.col] = dgamma;
            dgb[p.grad_stride + l.col] = dbeta;
        }
        let n = f32(p.rows);
        let mean = stats[l.col];
        let rs = inverseSqrt(stats[p.stats_stride + l.col] + p.epsilon);
        for (var r = l.first; r < l.end; r += WORKGROUP_1D / FINISH_COLS) {
            let i = r * p.cols + l.col;
            let xhat = (x[i] - mean) * rs;
            let dx = gamma[l.col] * rs / n * (n * dy[i] - dbeta - xhat * dgamma);
            out[i] = dx;
            col_sum += dx;
        }
    }
    let total = group_total(tid, col_sum);
    if p.store_dx_sums != 0u && l.valid && tid < FINISH_COLS {
        dx_partials[wid.y * p.cols + l.col] = total;
    }
}
