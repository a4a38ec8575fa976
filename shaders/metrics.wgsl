// The end of both loss kernels (loss.wgsl, softmax.wgsl): each workgroup takes up to 1024
// samples (4 per lane); a fixed-shape tree adds its lanes' loss and hit counts. With one
// workgroup, lane 0 stores the means in metrics[slot], metrics[slot + 1]; with more, each
// stores its sums and `metrics_finish` adds them in workgroup order. Deterministic either way.
//
// The op file provides `metrics` and the functions sample_count() and metrics_slot().

@group(0) @binding(8) var<storage, read_write> loss_partials: array<f32>;
@group(0) @binding(9) var<storage, read> loss_partials_in: array<f32>;

// Call in workgroup-uniform control flow.
fn store_loss_and_accuracy(tid: u32, wid: u32, workgroups: u32, loss: f32, hits: f32) {
    let loss_sum = lane_total(tid, 1u, loss);
    let hit_sum = lane_total(tid, 1u, hits);
    if tid == 0u {
        if workgroups == 1u {
            let n = f32(sample_count());
            metrics[metrics_slot()] = loss_sum / n;
            metrics[metrics_slot() + 1u] = hit_sum / n;
        } else {
            loss_partials[2u * wid] = loss_sum;
            loss_partials[2u * wid + 1u] = hit_sum;
        }
    }
}

@compute @workgroup_size(1, 1, 1)
fn metrics_finish() {
    let workgroups = (sample_count() + SAMPLES_PER_WORKGROUP - 1u) / SAMPLES_PER_WORKGROUP;
    var loss = 0.0;
    var hits = 0.0;
    for (var w = 0u; w < workgroups; w++) {
        loss += loss_partials_in[2u * w];
        hits += loss_partials_in[2u * w + 1u];
    }
    let n = f32(sample_count());
    metrics[metrics_slot()] = loss / n;
    metrics[metrics_slot() + 1u] = hits / n;
}
