// Adam as Keras 3 implements it (keras/src/optimizers/adam.py), over a whole network's flat
// parameter buffer in one dispatch:
//   t += 1;  alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
//   m += (g - m) * (1 - beta1);  v += (g^2 - v) * (1 - beta2)
//   theta -= m * alpha / (sqrt(v) + epsilon)
// The step count and the powers beta^t live in a GPU state buffer, so steps can be recorded
// ahead without uploads: adam_schedule, once at the start of a training iteration, advances up
// to two networks' states by their steps in it (D takes two, G one) and stores each step's
// alpha; adam_update step k reads alphas[k]. beta^t is a running float32 product: exactly
// Keras' pow() for the first steps, and within an ulp per step afterwards.

struct AdamParams {
    n: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    // 1 - beta as float32 constants rounded from double (0.1f, 0.001f), as Keras computes them.
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    epsilon: f32,
    // adam_update: which of the iteration's steps this is (its alpha).
    slot: u32,
    // adam_schedule: steps of the first and the second network this iteration.
    steps: u32,
    steps_b: u32,
    _pad0: u32,
    _pad1: u32,
}

struct AdamState {
    t: u32,
    beta1_power: f32,
    beta2_power: f32,
    alpha: f32,
}

@group(0) @binding(0) var<uniform> p: AdamParams;
@group(0) @binding(1) var<storage, read_write> state: AdamState;
@group(0) @binding(2) var<storage, read_write> alphas: array<f32>;
@group(0) @binding(7) var<storage, read_write> state_b: AdamState;
@group(0) @binding(8) var<storage, read_write> alphas_b: array<f32>;
@group(0) @binding(9) var<storage, read> alphas_in: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> param: array<f32>;
@group(0) @binding(5) var<storage, read_write> m: array<f32>;
@group(0) @binding(6) var<storage, read_write> v: array<f32>;

// One step's bookkeeping: t, the powers and the step size alpha_t.
fn advance(s: AdamState) -> AdamState {
    var n = s;
    n.t += 1u;
    n.beta1_power *= p.beta1;
    n.beta2_power *= p.beta2;
    n.alpha = p.lr * sqrt(1.0 - n.beta2_power) / (1.0 - n.beta1_power);
    return n;
}

@compute @workgroup_size(1, 1, 1)
fn adam_schedule() {
    var a = state;
    for (var k = 0u; k < p.steps; k++) {
        a = advance(a);
        alphas[k] = a.alpha;
    }
    state = a;
    var b = state_b;
    for (var k = 0u; k < p.steps_b; k++) {
        b = advance(b);
        alphas_b[k] = b.alpha;
    }
    if p.steps_b > 0u {
        state_b = b;
    }
}

@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn adam_update(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = element_index(wid, nwg, tid);
    if i >= p.n {
        return;
    }
    let g = grad[i];
    let mi = m[i] + (g - m[i]) * p.one_minus_beta1;
    let vi = v[i] + (g * g - v[i]) * p.one_minus_beta2;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] - (mi * alphas_in[p.slot]) / (sqrt(vi) + p.epsilon);
}
