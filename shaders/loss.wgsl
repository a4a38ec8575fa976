// Sigmoid + binary cross-entropy on the discriminator's logits z, with every sample sharing
// one label y (1 real, 0 fake), in the logit form Keras 3 evaluates:
//   loss = mean(max(z, 0) - z*y + log(1 + exp(-|z|))),  dloss/dz = (sigmoid(z) - y) / B.
// Accuracy is Keras 2's binary accuracy: round(sigmoid(z)) == y with round-half-to-even, i.e.
// a real sample counts when p > 0.5, a fake one when p <= 0.5.
// Up to 1024 samples per workgroup; metrics.wgsl sums them in a fixed order (deterministic).

struct LossParams {
    batch: u32,
    label: f32,
    // metrics[slot] = loss, metrics[slot + 1] = accuracy.
    slot: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: LossParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(3) var<storage, read_write> metrics: array<f32>;

fn sample_count() -> u32 {
    return p.batch;
}

fn metrics_slot() -> u32 {
    return p.slot;
}

@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn bce_with_logits(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let y = p.label;
    let b = f32(p.batch);
    var loss = 0.0;
    var hits = 0.0;
    let end = min((wid.x + 1u) * SAMPLES_PER_WORKGROUP, p.batch);
    for (var i = wid.x * SAMPLES_PER_WORKGROUP + tid; i < end; i += WORKGROUP_1D) {
        let z = logits[i];
        loss += max(z, 0.0) - z * y + log(1.0 + exp(-abs(z)));
        let prob = 1.0 / (1.0 + exp(-z));
        dlogits[i] = (prob - y) / b;
        if (prob > 0.5) == (y > 0.5) {
            hits += 1.0;
        }
    }
    store_loss_and_accuracy(tid, wid.x, nwg.x, loss, hits);
}
