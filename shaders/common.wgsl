// What many kernels share, composed by the shader loader (src/gpu/shaders.rs) into every module
// that uses it.

// The element an invocation of a WORKGROUP_1D-lane workgroup owns in a 1-D dispatch folded into a 2-D
// grid (the host's `grid_1d`: at most 65535 workgroups along x, the rest along y).
fn element_index(wid: vec3<u32>, nwg: vec3<u32>, tid: u32) -> u32 {
    return workgroup_index(wid, nwg) * WORKGROUP_1D + tid;
}

// The workgroup's place in that folded grid.
fn workgroup_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}

var<workgroup> lanes: array<f32, WORKGROUP_1D>;

// The sum of v over the lanes tid, tid + stride, tid + 2 stride, ... of a WORKGROUP_1D-lane workgroup
// (stride a power of two), by a fixed tree, returned to every lane: lanes with the same
// tid % stride add together, so `stride` columns are summed side by side (stride 1: the whole
// workgroup). The order depends on nothing but the shape: bit-reproducible. Call in
// workgroup-uniform control flow.
fn lane_total(tid: u32, stride: u32, v: f32) -> f32 {
    lanes[tid] = v;
    workgroupBarrier();
    // A stride of 0 would never end the loop: 1 sums the whole workgroup.
    let least = max(stride, 1u);
    for (var half = WORKGROUP_1D / 2u; half >= least; half >>= 1u) {
        if tid < half {
            lanes[tid] += lanes[tid + half];
        }
        workgroupBarrier();
    }
    let total = lanes[tid % least];
    workgroupBarrier();
    return total;
}
