// The on-GPU data path: random batch indices, the batch of real images gathered from the
// u8 training set and scaled to [-1, 1], and N(0, 1) noise; all keyed by
// (seed, iteration, stream) through Philox (philox.wgsl), so nothing is uploaded per iteration
// and a run is reproducible. The iteration comes from a one-word GPU counter that the training
// step advances itself.

struct DataParams {
    seed_lo: u32,
    seed_hi: u32,
    stream: u32,
    // Elements to produce (indices: the batch size; noise: batch * z_dim; images: batch * pixels).
    count: u32,
    // sample_indices: the number of images to draw from.
    num_images: u32,
    // gather_images: pixels per image (28 * 28).
    pixels: u32,
    // When nonzero the iteration is `fixed_iteration`, not the GPU counter (fixed sample noise).
    use_fixed_iteration: u32,
    fixed_iteration: u32,
    // draw_batch: workgroups of the image part (the noise part follows), elements per noise
    // stream, and where the second stream's noise starts in noise_out.
    image_workgroups: u32,
    noise_count: u32,
    noise_stride: u32,
    // draw_labels: 0 to take the labels of the batch drawn from `stream`, else uniform labels
    // in [0, classes).
    classes: u32,
}

@group(0) @binding(0) var<uniform> p: DataParams;
@group(0) @binding(1) var<storage, read> iteration: array<u32>;
@group(0) @binding(2) var<storage, read_write> iteration_rw: array<u32>;
// The training images, four u8 pixels per word (little-endian).
@group(0) @binding(3) var<storage, read> images: array<u32>;
@group(0) @binding(4) var<storage, read_write> indices: array<u32>;
@group(0) @binding(5) var<storage, read> indices_in: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
// gather_labels: the labels of the data set, and those of the batch.
@group(0) @binding(7) var<storage, read> labels: array<u32>;
@group(0) @binding(8) var<storage, read_write> labels_out: array<u32>;
// draw_batch: the noise of two consecutive streams.
@group(0) @binding(9) var<storage, read_write> noise_out: array<f32>;
// draw_labels: the same labels again (G's and D's copies).
@group(0) @binding(10) var<storage, read_write> labels_out2: array<u32>;

fn current_iteration() -> u32 {
    if p.use_fixed_iteration != 0u {
        return p.fixed_iteration;
    }
    return iteration[0];
}

fn random_block_of(block: u32, stream: u32) -> vec4<u32> {
    return philox4x32_10(vec4<u32>(block, current_iteration(), stream, 0u), vec2<u32>(p.seed_lo, p.seed_hi));
}

fn random_block(block: u32) -> vec4<u32> {
    return random_block_of(block, p.stream);
}

// The index of image i of the batch drawn from `stream`.
fn image_index(i: u32, stream: u32) -> u32 {
    return mul_hi_lo(random_block_of(i / 4u, stream)[i % 4u], p.num_images).x;
}

// Pixel `byte` of the u8 data set, scaled to [-1, 1].
fn pixel(byte: u32) -> f32 {
    let value = (images[byte / 4u] >> ((byte % 4u) * 8u)) & 0xffu;
    return f32(value) / 127.5 - 1.0;
}

// indices[i] = floor(u_i * num_images / 2^32): uniform over the images (sampling with
// replacement, like the seed's np.random.randint), bias below 2^-16 for 60000 images.
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn sample_indices(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(wid, nwg, tid);
    if i >= p.count {
        return;
    }
    indices[i] = image_index(i, p.stream);
}

@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn gather_images(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(wid, nwg, tid);
    if i >= p.count {
        return;
    }
    out[i] = pixel(indices_in[i / p.pixels] * p.pixels + i % p.pixels);
}

// labels_out[b] = labels[indices[b]] (the classifier's batches).
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn gather_labels(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(wid, nwg, tid);
    if i < p.count {
        labels_out[i] = labels[indices_in[i]];
    }
}

// The labels of a conditional iteration, into G's and D's label buffers: those of the real
// batch (the images draw_batch gathers from the same stream) with p.classes 0, else uniform
// in [0, classes) (the generator step's fresh labels, as np.random.randint draws them).
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn draw_labels(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element_index(wid, nwg, tid);
    if i < p.count {
        var label: u32;
        if p.classes == 0u {
            label = labels[image_index(i, p.stream)];
        } else {
            label = mul_hi_lo(random_block(i / 4u)[i % 4u], p.classes).x;
        }
        labels_out[i] = label;
        labels_out2[i] = label;
    }
}

// Box-Muller: each Philox block gives two pairs (u1, u2) -> four normals. u1 lies in (0, 1]
// so log(u1) is finite; the angle is taken in [-pi, pi) where GPU sin/cos are most accurate.
fn normal_block(block: u32, stream: u32) -> vec4<f32> {
    let r = random_block_of(block, stream);
    let u = vec4<f32>((vec4<f32>(r >> vec4<u32>(8u)) + vec4<f32>(1.0, 0.5, 1.0, 0.5)) * (1.0 / 16777216.0));
    let pi = 3.14159265358979;
    let r0 = sqrt(-2.0 * log(u.x));
    let a0 = 2.0 * pi * u.y - pi;
    let r1 = sqrt(-2.0 * log(u.z));
    let a1 = 2.0 * pi * u.w - pi;
    return vec4<f32>(r0 * cos(a0), r0 * sin(a0), r1 * cos(a1), r1 * sin(a1));
}

@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn normal_noise(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let block = element_index(wid, nwg, tid);
    if block * 4u >= p.count {
        return;
    }
    let z = normal_block(block, p.stream);
    for (var j = 0u; j < 4u; j++) {
        let i = block * 4u + j;
        if i < p.count {
            out[i] = z[j];
        }
    }
}

// One training iteration's draws in one dispatch: the real batch (stream p.stream, the image
// indices computed where they are used) in the first image_workgroups workgroups, then the
// noise of streams p.stream + 1 and + 2 into noise_out (the second at noise_stride). The same
// bits as sample_indices + gather_images + normal_noise twice.
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn draw_batch(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = workgroup_index(wid, nwg);
    if g < p.image_workgroups {
        let i = g * WORKGROUP_1D + tid;
        if i < p.count {
            out[i] = pixel(image_index(i / p.pixels, p.stream) * p.pixels + i % p.pixels);
        }
        return;
    }
    let blocks = (p.noise_count + 3u) / 4u;
    let t = (g - p.image_workgroups) * WORKGROUP_1D + tid;
    if t >= 2u * blocks {
        return;
    }
    let s = t / blocks;
    let block = t % blocks;
    let z = normal_block(block, p.stream + 1u + s);
    for (var j = 0u; j < 4u; j++) {
        let i = block * 4u + j;
        if i < p.noise_count {
            noise_out[s * p.noise_stride + i] = z[j];
        }
    }
}

// Ends a training iteration: the next one draws fresh indices and noise.
@compute @workgroup_size(1, 1, 1)
fn advance_iteration() {
    iteration_rw[0] += 1u;
}
