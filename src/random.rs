//! Philox4x32-10 and the batch indices and normals derived from it, on the CPU: the latent
//! vectors of `generate` and `evaluate`, and the check of the GPU draws (`shaders/philox.wgsl`).

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for _ in 0..10 {
        let p0 = u64::from(M0) * u64::from(c[0]);
        let p1 = u64::from(M1) * u64::from(c[2]);
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

fn block(seed: u64, iteration: u32, stream: u32, block: u32) -> [u32; 4] {
    philox4x32_10(
        [block, iteration, stream, 0],
        [seed as u32, (seed >> 32) as u32],
    )
}

/// indices[i] = floor(u_i * num_images / 2^32).
pub fn sample_indices(
    seed: u64,
    iteration: u32,
    stream: u32,
    count: usize,
    num_images: u32,
) -> Vec<u32> {
    (0..count)
        .map(|i| {
            let u = block(seed, iteration, stream, (i / 4) as u32)[i % 4];
            ((u64::from(u) * u64::from(num_images)) >> 32) as u32
        })
        .collect()
}

/// Box-Muller normals, four per Philox block, in f64 (the GPU's f32 sin/cos/log agree to ~1e-6).
pub fn normals(seed: u64, iteration: u32, stream: u32, count: usize) -> Vec<f64> {
    let pi = std::f64::consts::PI;
    let mut out = Vec::with_capacity(count);
    for b in 0..count.div_ceil(4) {
        let r = block(seed, iteration, stream, b as u32);
        let unit = |v: u32, offset: f64| (f64::from(v >> 8) + offset) / 16_777_216.0;
        for pair in 0..2 {
            let u1 = unit(r[2 * pair], 1.0);
            let u2 = unit(r[2 * pair + 1], 0.5);
            let radius = (-2.0 * u1.ln()).sqrt();
            let angle = 2.0 * pi * u2 - pi;
            out.push(radius * angle.cos());
            out.push(radius * angle.sin());
        }
    }
    out.truncate(count);
    out
}
