// Finiteness of a buffer: flag[0] gets bit 0 when any element is NaN or infinite, so a report
// can say that a run has diverged without reading its parameters back. The test is on the bits
// (exponent all ones), which no compiler's fast-math may fold away. The flag only ever gains
// the bit: a host clears it by writing 0.

struct FiniteParams {
    n: u32,
    // Invocations in the grid (workgroups x WORKGROUP_1D): each walks the buffer with this stride, so
    // neighbouring lanes read neighbouring words.
    stride: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: FiniteParams;
@group(0) @binding(1) var<storage, read> values: array<u32>;
@group(0) @binding(2) var<storage, read_write> flag: array<atomic<u32>>;

@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn flag_nonfinite(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    var bad = false;
    for (var i = element_index(wid, nwg, tid); i < p.n; i += p.stride) {
        bad = bad || (values[i] & 0x7f800000u) == 0x7f800000u;
    }
    if bad {
        atomicOr(&flag[0], 1u);
    }
}
