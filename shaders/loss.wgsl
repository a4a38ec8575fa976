// Sigmoid + binary cross-entropy on the discriminator's logits z, with every sample sharing
// one label y (1 real, 0 fake), in the logit form Keras 3 evaluates:
//   loss = mean(max(z, 0) - z*y + log(1 + exp(-|z|))),  dloss/dz = (sigmoid(z) - y) / B.
// Accuracy is Keras 2's binary accuracy: round(sigmoid(z)) == y with round-half-to-even, i.e.
// a real sample counts when p > 0.5, a fake one when p <= 0.5.
// One workgroup; metrics.wgsl sums the lanes in a fixed order (deterministic).

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

@compute @workgroup_size(256, 1, 1)
fn bce_with_logits(@builtin(local_invocation_index) tid: u32) {
    let y = p.label;
    let b = f32(p.batch);
    var loss = 0.0;
    var hits = 0.0;
    for (var i = tid; i < p.batch; i += 256u) {
        let z = logits[i];
        loss += max(z, 0.0) - z * y + log(1.0 + exp(-abs(z)));
        let prob = 1.0 / (1.0 + exp(-z));
        dlogits[i] = (prob - y) / b;
        if (prob > 0.5) == (y > 0.5) {
            hits += 1.0;
        }
    }
    store_loss_and_accuracy(tid, loss, hits, b, p.slot);
}
