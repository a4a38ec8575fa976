// Class conditioning (the conditional GAN of GANs in Action, chapter 8): a table of one row per
// class, looked up by each sample's label, either multiplied into the sample (G: z * E[label])
// or set beside it as one more channel per pixel (D: the label plane after the image's
// channels). The table's gradient is a per-class sum over the batch in batch order, one
// invocation per table entry: the same bits every run, no atomics.
//
// A label is never out of range (the host draws them below `classes` and checks the data's);
// `row` clamps anyway, so no lane can read outside the table.

struct EmbedParams {
    batch: u32,
    // Elements of a table row: per-sample elements of x (scale) or pixels (concat).
    width: u32,
    classes: u32,
    // concat: x's channels per pixel (the output has one more).
    channels: u32,
    // concat_input_grad: the ACT_* code of the activation x is the output of (ACT_NONE: a
    // copy), and LeakyReLU's alpha.
    act: u32,
    alpha: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: EmbedParams;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

fn row(b: u32) -> u32 {
    return min(labels[b], p.classes - 1u) * p.width;
}

// out[b, j] = x[b, j] * table[label[b], j].
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn scale_forward(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(wid, nwg, tid);
    if i < p.batch * p.width {
        let b = i / p.width;
        out[i] = x[i] * table[row(b) + i % p.width];
    }
}

// d table[c, j] = sum over the samples b labelled c, in order, of dy[b, j] * x[b, j].
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn scale_table_grad(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(wid, nwg, tid);
    if i < p.classes * p.width {
        let c = i / p.width;
        let j = i % p.width;
        var s = 0.0;
        for (var b = 0u; b < p.batch; b++) {
            if labels[b] == c {
                s += dy[b * p.width + j] * x[b * p.width + j];
            }
        }
        out[i] = s;
    }
}

// out[b, pixel, 0..channels] = x[b, pixel, ..]; out[b, pixel, channels] = table[label[b], pixel].
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn concat_forward(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(wid, nwg, tid);
    let wide = p.channels + 1u;
    if i < p.batch * p.width * wide {
        let ch = i % wide;
        let pixel = i / wide; // b * width + the pixel
        if ch < p.channels {
            out[i] = x[pixel * p.channels + ch];
        } else {
            out[i] = table[row(pixel / p.width) + pixel % p.width];
        }
    }
}

// d table[c, pixel] = sum over the samples b labelled c, in order, of dy[b, pixel, channels].
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn concat_table_grad(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(wid, nwg, tid);
    if i < p.classes * p.width {
        let c = i / p.width;
        let pixel = i % p.width;
        let wide = p.channels + 1u;
        var s = 0.0;
        for (var b = 0u; b < p.batch; b++) {
            if labels[b] == c {
                s += dy[(b * p.width + pixel) * wide + p.channels];
            }
        }
        out[i] = s;
    }
}

// dx[b, pixel, ch] = dy[b, pixel, ch]: the gradient of x's channels, the label's dropped; with
// p.act, taken through the activation whose saved output x is (epilogue.wgsl's
// activation_backward, as the activation kernels and the GEMM epilogues take it). x is bound
// only then.
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn concat_input_grad(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(wid, nwg, tid);
    if i < p.batch * p.width * p.channels {
        let pixel = i / p.channels;
        let g = dy[pixel * (p.channels + 1u) + i % p.channels];
        if p.act == ACT_NONE {
            out[i] = g;
        } else {
            out[i] = activation_backward(p.act, x[i], g, p.alpha);
        }
    }
}
