// Element-wise activations and their gradients, all taken from the saved outputs y.
// LeakyReLU follows TensorFlow: y = x for x > 0, alpha * x otherwise, and dy/dx = alpha at
// x = 0; with alpha > 0, y > 0 exactly when x > 0, so the output decides the slope as well as
// the input would. That lets a fused kernel (GEMM or BatchNorm with an activation epilogue,
// see epilogue.wgsl) keep only the activation's output.

struct ActParams {
    n: u32,
    alpha: f32,
    _pad0: u32,
    _pad1: u32,
}

// Which activation (an ACT_* code, shared.wgsl): one pipeline per activation, each compiled
// with its own code, so the switch in activate() folds away.
override ACT: u32;

@group(0) @binding(0) var<uniform> p: ActParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn forward(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(wid, nwg, tid);
    if i < p.n {
        out[i] = activate(ACT, x[i], p.alpha);
    }
}

// x: the saved output y = f(input).
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn backward(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(wid, nwg, tid);
    if i < p.n {
        out[i] = activation_backward(ACT, x[i], dy[i], p.alpha);
    }
}
