// Batch normalisation over (N, H, W) per channel of an NHWC tensor viewed as [rows, channels].
//
// Training forward = bn_stats (batch mean, biased variance) + bn_apply with those statistics;
// inference forward = bn_apply with the moving statistics. TensorFlow's arithmetic:
//   inv = gamma * rsqrt(var + epsilon);  y = x * inv + (beta - mean * inv).
// Reductions use the fixed-order 16x16 lane tree of reduce.wgsl: deterministic.

struct BnParams {
    rows: u32,
    channels: u32,
    epsilon: f32,
    momentum: f32,
    // 1 - momentum rounded from double, as Keras computes it (0.01f for momentum 0.99).
    one_minus_momentum: f32,
    // bn_apply's epilogue (epilogue.wgsl): y = activate(activation, bn(x), alpha).
    activation: u32,
    alpha: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: BnParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
// Statistics used by bn_apply and the backward pass (batch or moving).
@group(0) @binding(5) var<storage, read> mean: array<f32>;
@group(0) @binding(6) var<storage, read> variance: array<f32>;
// bn_apply: y; bn_backward_input: dx.
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
// bn_stats: the batch statistics; bn_moving_update: the moving statistics.
@group(0) @binding(8) var<storage, read_write> out_mean: array<f32>;
@group(0) @binding(9) var<storage, read_write> out_variance: array<f32>;
// bn_backward_reduce writes dgamma = sum(dy * xhat), dbeta = sum(dy); bn_backward_input reads them.
@group(0) @binding(10) var<storage, read_write> dgamma_out: array<f32>;
@group(0) @binding(11) var<storage, read_write> dbeta_out: array<f32>;
@group(0) @binding(12) var<storage, read> dgamma: array<f32>;
@group(0) @binding(13) var<storage, read> dbeta: array<f32>;

var<workgroup> lanes: array<f32, 256>;

// Sum of `v` over the 16 row lanes of column lid.x, returned to every lane.
fn lane_total(lid: vec3<u32>, v: f32) -> f32 {
    lanes[lid.y * 16u + lid.x] = v;
    workgroupBarrier();
    for (var half = 8u; half > 0u; half >>= 1u) {
        if lid.y < half {
            lanes[lid.y * 16u + lid.x] += lanes[(lid.y + half) * 16u + lid.x];
        }
        workgroupBarrier();
    }
    let total = lanes[lid.x];
    workgroupBarrier();
    return total;
}

fn inv_std(c: u32) -> f32 {
    return inverseSqrt(variance[c] + p.epsilon);
}

// Two passes over the column (mean, then the mean squared deviation): the variance stays
// accurate when it is far below mean^2 (D's bn2 sees variances of 1e-6 in the Keras fixture).
@compute @workgroup_size(16, 16, 1)
fn bn_stats(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let c = wid.x * 16u + lid.x;
    let valid = c < p.channels;
    let n = f32(p.rows);
    var s = 0.0;
    if valid {
        for (var r = lid.y; r < p.rows; r += 16u) {
            s += x[r * p.channels + c];
        }
    }
    let mu = lane_total(lid, s) / n;
    var q = 0.0;
    if valid {
        for (var r = lid.y; r < p.rows; r += 16u) {
            let d = x[r * p.channels + c] - mu;
            q += d * d;
        }
    }
    let var_ = lane_total(lid, q) / n;
    if valid && lid.y == 0u {
        out_mean[c] = mu;
        out_variance[c] = var_;
    }
}

// moving = moving * momentum + batch * (1 - momentum), with Keras' float32 constants.
@compute @workgroup_size(64, 1, 1)
fn bn_moving_update(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.channels {
        return;
    }
    out_mean[c] = out_mean[c] * p.momentum + mean[c] * p.one_minus_momentum;
    out_variance[c] = out_variance[c] * p.momentum + variance[c] * p.one_minus_momentum;
}

@compute @workgroup_size(256, 1, 1)
fn bn_apply(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = (wid.y * nwg.x + wid.x) * 256u + tid;
    if i >= p.rows * p.channels {
        return;
    }
    let c = i % p.channels;
    let inv = gamma[c] * inv_std(c);
    out[i] = activate(p.activation, x[i] * inv + (beta[c] - mean[c] * inv), p.alpha);
}

// dgamma = sum(dy * xhat), dbeta = sum(dy), xhat = (x - mean) * rsqrt(var + eps).
@compute @workgroup_size(16, 16, 1)
fn bn_backward_reduce(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let c = wid.x * 16u + lid.x;
    let valid = c < p.channels;
    var sd = 0.0;
    var sdx = 0.0;
    if valid {
        let mu = mean[c];
        let rs = inv_std(c);
        for (var r = lid.y; r < p.rows; r += 16u) {
            let i = r * p.channels + c;
            sd += dy[i];
            sdx += dy[i] * (x[i] - mu) * rs;
        }
    }
    let total_d = lane_total(lid, sd);
    let total_dx = lane_total(lid, sdx);
    if valid && lid.y == 0u {
        dgamma_out[c] = total_dx;
        dbeta_out[c] = total_d;
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
    if i >= p.rows * p.channels {
        return;
    }
    let c = i % p.channels;
    let n = f32(p.rows);
    let rs = inv_std(c);
    let xhat = (x[i] - mean[c]) * rs;
    out[i] = gamma[c] * rs / n * (n * dy[i] - dbeta[c] - xhat * dgamma[c]);
}
