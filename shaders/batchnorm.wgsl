// Batch normalisation over (N, H, W) per channel of an NHWC tensor viewed as [rows, cols]
// (cols = channels), with TensorFlow's arithmetic:
//   inv = gamma * rsqrt(var + epsilon);  y = x * inv + (beta - mean * inv).
// Training forward = bn_stats_partials + bn_stats_finish[_moving] (batch statistics; the moving
// ones updated too) + bn_apply; inference forward = bn_apply with the moving statistics.
// Backward = bn_backward_partials + bn_backward_finish (dgamma, dbeta) + bn_backward_input.
// The sums run in reduce.wgsl's two fixed-shape stages: deterministic, parallel over the rows.
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
// Statistics used by bn_apply and the backward pass (batch or moving).
@group(0) @binding(5) var<storage, read> mean: array<f32>;
@group(0) @binding(6) var<storage, read> variance: array<f32>;
// bn_apply: y; bn_backward_input: dx.
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
// bn_stats_finish: the batch statistics.
@group(0) @binding(8) var<storage, read_write> out_mean: array<f32>;
@group(0) @binding(9) var<storage, read_write> out_variance: array<f32>;
// bn_backward_finish writes dgamma = sum(dy * xhat), dbeta = sum(dy); bn_backward_input reads them.
@group(0) @binding(10) var<storage, read_write> dgamma_out: array<f32>;
@group(0) @binding(11) var<storage, read_write> dbeta_out: array<f32>;
@group(0) @binding(12) var<storage, read> dgamma: array<f32>;
@group(0) @binding(13) var<storage, read> dbeta: array<f32>;
// Stage-1 sums, two per (block, column): [2][blocks][cols].
@group(0) @binding(14) var<storage, read_write> partials: array<f32>;
@group(0) @binding(15) var<storage, read> partials_in: array<f32>;
// bn_stats_finish_moving: the moving statistics it updates.
@group(0) @binding(16) var<storage, read_write> moving_mean: array<f32>;
@group(0) @binding(17) var<storage, read_write> moving_variance: array<f32>;

fn inv_std(c: u32) -> f32 {
    return inverseSqrt(variance[c] + p.epsilon);
}

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

@compute @workgroup_size(256, 1, 1)
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

// The batch mean and biased variance of column c from its shifted sums.
fn batch_stats(c: u32, sums: vec2<f32>) -> vec2<f32> {
    let n = f32(p.rows);
    let m = sums.x / n;
    return vec2<f32>(x[c] + m, max(sums.y / n - m * m, 0.0));
}

@compute @workgroup_size(256, 1, 1)
fn bn_stats_finish(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let sums = finish_totals(tid, wid);
    let c = finish_column(tid, wid);
    if c < p.cols {
        let st = batch_stats(c, sums);
        out_mean[c] = st.x;
        out_variance[c] = st.y;
    }
}

// moving = moving * momentum + batch * (1 - momentum), with Keras' float32 constants.
fn update_moving(c: u32, batch: vec2<f32>) {
    moving_mean[c] = moving_mean[c] * p.momentum + batch.x * p.one_minus_momentum;
    moving_variance[c] = moving_variance[c] * p.momentum + batch.y * p.one_minus_momentum;
}

// bn_stats_finish, then the moving statistics' update (training mode, network not frozen).
@compute @workgroup_size(256, 1, 1)
fn bn_stats_finish_moving(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let sums = finish_totals(tid, wid);
    let c = finish_column(tid, wid);
    if c < p.cols {
        let st = batch_stats(c, sums);
        out_mean[c] = st.x;
        out_variance[c] = st.y;
        update_moving(c, st);
    }
}

// The same update from given batch statistics (mean, variance): what the tests feed Keras'
// own statistics through, to check the arithmetic bit for bit.
@compute @workgroup_size(64, 1, 1)
fn bn_moving_update(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c < p.cols {
        update_moving(c, vec2<f32>(mean[c], variance[c]));
    }
}

@compute @workgroup_size(256, 1, 1)
fn bn_apply(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = (wid.y * nwg.x + wid.x) * 256u + tid;
    if i >= p.rows * p.cols {
        return;
    }
    let c = i % p.cols;
    let inv = gamma[c] * inv_std(c);
    out[i] = activate(p.activation, x[i] * inv + (beta[c] - mean[c] * inv), p.alpha);
}

// Stage 1 of dgamma = sum(dy * xhat), dbeta = sum(dy), xhat = (x - mean) * rsqrt(var + eps).
@compute @workgroup_size(256, 1, 1)
fn bn_backward_partials(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lane_rows(tid, wid, p);
    var sd = 0.0;
    var sdx = 0.0;
    if l.valid {
        let mu = mean[l.col];
        let rs = inv_std(l.col);
        for (var r = l.first; r < l.end; r += l.step) {
            let i = r * p.cols + l.col;
            sd += dy[i];
            sdx += dy[i] * (x[i] - mu) * rs;
        }
    }
    store_partials(tid, wid, l, sdx, sd);
}

@compute @workgroup_size(256, 1, 1)
fn bn_backward_finish(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let sums = finish_totals(tid, wid);
    let c = finish_column(tid, wid);
    if c < p.cols {
        dgamma_out[c] = sums.x;
        dbeta_out[c] = sums.y;
    }
}

// dx = gamma * rstd / N * (N * dy - dbeta - xhat * dgamma): the gradient through the batch
// statistics (training mode).
@compute @workgroup_size(256, 1, 1)
fn bn_backward_input(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = (wid.y * nwg.x + wid.x) * 256u + tid;
    if i >= p.rows * p.cols {
        return;
    }
    let c = i % p.cols;
    let n = f32(p.rows);
    let rs = inv_std(c);
    let xhat = (x[i] - mean[c]) * rs;
    out[i] = gamma[c] * rs / n * (n * dy[i] - dbeta[c] - xhat * dgamma[c]);
}
