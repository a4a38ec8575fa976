// Column sums of a row-major [rows, cols] matrix: bias gradients db[c] = sum_rows dy[r, c].
//
// A workgroup owns 16 columns; its 16 row lanes each sum every 16th row, then a fixed-shape
// tree in workgroup memory adds the lanes. The summation order depends only on the shape, so
// the result is bit-reproducible (no float atomics).

struct ReduceParams {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: ReduceParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

var<workgroup> lanes: array<f32, 256>;

@compute @workgroup_size(16, 16, 1)
fn column_sum(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let c = wid.x * 16u + lid.x;
    var s = 0.0;
    if c < p.cols {
        for (var r = lid.y; r < p.rows; r += 16u) {
            s += src[r * p.cols + c];
        }
    }
    lanes[lid.y * 16u + lid.x] = s;
    workgroupBarrier();
    for (var half = 8u; half > 0u; half >>= 1u) {
        if lid.y < half {
            lanes[lid.y * 16u + lid.x] += lanes[(lid.y + half) * 16u + lid.x];
        }
        workgroupBarrier();
    }
    if lid.y == 0u && c < p.cols {
        dst[c] = lanes[lid.x];
    }
}
