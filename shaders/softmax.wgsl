// Softmax over the classes of each row of logits [rows, classes], and softmax cross-entropy with
// integer labels, the classifier's loss:
//   loss = mean_r (log sum_c exp(z[r, c]) - z[r, label_r]),  dloss/dz[r, c] = (p[r, c] - [c == label_r]) / rows,
// with the row maximum subtracted before exp (no overflow). Accuracy: argmax_c z[r, c] == label_r
// (the first maximum on ties). Up to 1024 rows per workgroup; metrics.wgsl sums them in a fixed
// order (deterministic).

struct SoftmaxParams {
    rows: u32,
    classes: u32,
    // metrics[slot] = mean loss, metrics[slot + 1] = accuracy.
    slot: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: SoftmaxParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
// softmax_probabilities: p; softmax_cross_entropy: d loss / d logits.
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> metrics: array<f32>;

fn row_max(base: u32) -> f32 {
    var m = logits[base];
    for (var c = 1u; c < p.classes; c++) {
        m = max(m, logits[base + c]);
    }
    return m;
}

fn row_sum_exp(base: u32, m: f32) -> f32 {
    var s = 0.0;
    for (var c = 0u; c < p.classes; c++) {
        s += exp(logits[base + c] - m);
    }
    return s;
}

@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn softmax_probabilities(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let r = element_index(wid, nwg, tid);
    if r >= p.rows {
        return;
    }
    let base = r * p.classes;
    let m = row_max(base);
    let s = row_sum_exp(base, m);
    for (var c = 0u; c < p.classes; c++) {
        out[base + c] = exp(logits[base + c] - m) / s;
    }
}

fn sample_count() -> u32 {
    return p.rows;
}

fn metrics_slot() -> u32 {
    return p.slot;
}

@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn softmax_cross_entropy(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = f32(p.rows);
    var loss = 0.0;
    var hits = 0.0;
    let end = min((wid.x + 1u) * SAMPLES_PER_WORKGROUP, p.rows);
    for (var r = wid.x * SAMPLES_PER_WORKGROUP + tid; r < end; r += WORKGROUP_1D) {
        let base = r * p.classes;
        // The host checks labels against the classes (data::parse_labels); clamped here too, so
        // a bad label can never index past its row.
        let label = min(labels[r], p.classes - 1u);
        let m = row_max(base);
        let s = row_sum_exp(base, m);
        loss += log(s) + m - logits[base + label];
        var best = 0u;
        for (var c = 0u; c < p.classes; c++) {
            let z = logits[base + c];
            out[base + c] = (exp(z - m) / s - select(0.0, 1.0, c == label)) / n;
            if z > logits[base + best] {
                best = c;
            }
        }
        if best == label {
            hits += 1.0;
        }
    }
    store_loss_and_accuracy(tid, wid.x, nwg.x, loss, hits);
}
