//! The ceiling kernels' results (`shaders/ceiling.wgsl`), in f64: each `fma_peak` invocation's
//! four chains acc = acc * 0.999 + 0.001, summed.

/// `invocations` x 4 values: what `fma_peak` stores after `rounds` rounds (8 steps each).
pub fn fma_peak(invocations: usize, rounds: u32) -> Vec<f64> {
    let steps = 8 * rounds as usize;
    let mut out = Vec::with_capacity(invocations * 4);
    for i in 0..invocations {
        let s = (i % 64) as f64 / 64.0;
        for component in 0..4 {
            let start = s + 0.25 * component as f64;
            let total: f64 = (0..4)
                .map(|chain| {
                    let mut acc = start + chain as f64;
                    for _ in 0..steps {
                        acc = acc * 0.999 + 0.001;
                    }
                    acc
                })
                .sum();
            out.push(total);
        }
    }
    out
}
