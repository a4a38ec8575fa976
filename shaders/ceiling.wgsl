// The adapter's own ceilings, for `bench`: how fast it multiplies and adds with no memory
// traffic (fma_peak) and how fast it moves memory with no arithmetic (stream_copy). The GEMMs'
// GFLOP/s over the first say how much of the machine they use.

struct CeilingParams {
    // fma_peak: loop trips per invocation.
    rounds: u32,
    // stream_copy: vec4s to copy, and the grid's invocations (each walks with that stride).
    n4: u32,
    stride4: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: CeilingParams;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;

// Four independent vec4 chains, each acc = acc * m + c, eight steps per loop trip: 128
// multiply-adds per trip and no load or store. Independent chains hide the FMA latency;
// unrolling matters on llvmpipe, which keeps execution masks per trip. With m < 1 each chain
// converges to c / (1 - m), so any number of rounds stays finite. The sum is stored so that no
// compiler can drop the work.
@compute @workgroup_size(64, 1, 1)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let s = f32(i % 64u) * 0.015625;
    var a0 = vec4<f32>(s, s + 0.25, s + 0.5, s + 0.75);
    var a1 = a0 + 1.0;
    var a2 = a0 + 2.0;
    var a3 = a0 + 3.0;
    let m = vec4<f32>(0.999);
    let c = vec4<f32>(0.001);
    for (var r = 0u; r < p.rounds; r++) {
        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    }
    out[i] = (a0 + a1) + (a2 + a3);
}

// out = src, one 16-byte vec4 per lane and step: adjacent lanes read adjacent vec4s (coalesced
// on a GPU), every lane walks the buffer with the grid's stride.
@compute @workgroup_size(WORKGROUP_1D, 1, 1)
fn stream_copy(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var j = gid.x; j < p.n4; j += p.stride4) {
        out[j] = src[j];
    }
}
