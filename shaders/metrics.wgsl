// The end of both loss kernels (loss.wgsl, softmax.wgsl): one workgroup of 256 lanes, each
// holding partial sums of the loss and of the correct predictions; a fixed-shape tree adds them
// (deterministic) and lane 0 stores the means in metrics[slot], metrics[slot + 1].

var<workgroup> loss_lanes: array<f32, 256>;
var<workgroup> hit_lanes: array<f32, 256>;

fn store_loss_and_accuracy(tid: u32, loss: f32, hits: f32, count: f32, slot: u32) {
    loss_lanes[tid] = loss;
    hit_lanes[tid] = hits;
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if tid < half {
            loss_lanes[tid] += loss_lanes[tid + half];
            hit_lanes[tid] += hit_lanes[tid + half];
        }
        workgroupBarrier();
    }
    if tid == 0u {
        metrics[slot] = loss_lanes[0] / count;
        metrics[slot + 1u] = hit_lanes[0] / count;
    }
}
