// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
// counter-based generator of cuRAND, JAX and PyTorch: four 32-bit outputs from a 128-bit counter
// and a 64-bit key, with no state. WGSL has no 64-bit integers, so the 32x32->64 products are
// assembled from 16-bit halves.

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// (high, low) 32-bit halves of the 64-bit product a * b.
fn mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_hi = a_hi * b_hi;
    // Cannot overflow: at most 0xffff + 0xffff + 0xfffe0001.
    let cross = (lo_lo >> 16u) + (hi_lo & 0xffffu) + lo_hi;
    let hi = hi_hi + (hi_lo >> 16u) + (cross >> 16u);
    let lo = (cross << 16u) | (lo_lo & 0xffffu);
    return vec2<u32>(hi, lo);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        let p0 = mul_hi_lo(PHILOX_M0, c.x);
        let p1 = mul_hi_lo(PHILOX_M1, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k += vec2<u32>(PHILOX_W0, PHILOX_W1);
    }
    return c;
}
