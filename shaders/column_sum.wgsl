// Column sums dst[c] = sum_r src[r * cols + c]: bias gradients, in the two stages of
// reduce.wgsl (partials per block of rows, then the blocks in order per column).

@group(0) @binding(0) var<uniform> p: ReduceParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<storage, read> partials_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn column_sum_partials(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lane_rows(tid, wid, p);
    var s = 0.0;
    if l.valid {
        for (var r = l.first; r < l.end; r += l.step) {
            s += src[r * p.cols + l.col];
        }
    }
    let total = row_lane_total(tid, p.col_lanes, s);
    if l.valid && tid < p.col_lanes {
        partials[wid.y * p.cols + l.col] = total;
    }
}

@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn column_sum_finish(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let total = finish_total(tid, wid, 0u);
    let c = finish_column(tid, wid);
    if c < p.cols {
        dst[c] = total;
    }
}
