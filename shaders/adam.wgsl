// Adam as Keras 3 implements it (keras/src/optimizers/adam.py), over a whole network's flat
// parameter buffer in one dispatch:
//   t += 1;  alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
//   m += (g - m) * (1 - beta1);  v += (g^2 - v) * (1 - beta2)
//   theta -= m * alpha / (sqrt(v) + epsilon)
// The step count and the powers beta^t live in a GPU state buffer (adam_begin_step), so steps
// can be recorded ahead without uploads. beta^t is a running float32 product: exactly Keras'
// pow() for the first steps, and within an ulp per step afterwards.

struct AdamParams {
    n: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    // 1 - beta as float32 constants rounded from double (0.1f, 0.001f), as Keras computes them.
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    epsilon: f32,
    _pad0: u32,
}

struct AdamState {
    t: u32,
    beta1_power: f32,
    beta2_power: f32,
    alpha: f32,
}

@group(0) @binding(0) var<uniform> p: AdamParams;
@group(0) @binding(1) var<storage, read_write> state: AdamState;
@group(0) @binding(2) var<storage, read> state_in: AdamState;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> param: array<f32>;
@group(0) @binding(5) var<storage, read_write> m: array<f32>;
@group(0) @binding(6) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(1, 1, 1)
fn adam_begin_step() {
    state.t += 1u;
    state.beta1_power *= p.beta1;
    state.beta2_power *= p.beta2;
    state.alpha = p.lr * sqrt(1.0 - state.beta2_power) / (1.0 - state.beta1_power);
}

@compute @workgroup_size(256, 1, 1)
fn adam_update(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = (wid.y * nwg.x + wid.x) * 256u + tid;
    if i >= p.n {
        return;
    }
    let g = grad[i];
    let mi = m[i] + (g - m[i]) * p.one_minus_beta1;
    let vi = v[i] + (g * g - v[i]) * p.one_minus_beta2;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] - (mi * state_in.alpha) / (sqrt(vi) + p.epsilon);
}
