//! Element-wise activations, forward and backward.

use super::*;

fn activation_case(n: usize, seed: u64) {
    let g = gpu();
    let mut r = rng(seed);
    let (mut x, _) = random(&mut r, n, 20.0);
    // Exact zeros (LeakyReLU's kink) and saturating values.
    for (i, v) in [0.0, -0.0, 100.0, -100.0].iter().enumerate() {
        if i < n {
            x[i] = *v;
        }
    }
    let xd = to_f64(&x);
    let (dy, dyd) = random(&mut r, n, 1.0);
    let (xs, dys) = (upload(&x), upload(&dy));
    let act = &g.ops.activation;
    let outs: Vec<(Activation, GpuSlice, GpuSlice)> =
        [Activation::LeakyRelu, Activation::Tanh, Activation::Sigmoid]
            .into_iter()
            .map(|a| (a, output(n), output(n)))
            .collect();
    let mut ds = Vec::new();
    for (a, y, dx) in &outs {
        ds.push(act.forward(&g.ctx, *a, &xs, y));
        // Every gradient reads the saved output.
        ds.push(act.backward(&g.ctx, *a, y, &dys, dx));
    }
    run(&ds);
    use reference::activation as ra;
    let alpha = f64::from(LEAKY_ALPHA);
    for (a, y, dx) in &outs {
        let (y, dx) = (read(y), read(dx));
        let yd = to_f64(&y);
        match a {
            Activation::LeakyRelu => {
                // One rounding (alpha * x in f32).
                check_close(
                    "leaky_relu forward",
                    &y,
                    &ra::leaky_relu(&xd, alpha),
                    2.0 * U32,
                    0.0,
                );
                check_close(
                    "leaky_relu backward",
                    &dx,
                    &ra::leaky_relu_backward(&xd, &dyd, alpha),
                    2.0 * U32,
                    0.0,
                );
            }
            Activation::Tanh => {
                // GPU tanh is an approximation (Vulkan inherits its error from exp); an absolute
                // 2e-6 is ~30 ulp of 1.
                check_close("tanh forward", &y, &ra::tanh(&xd), 0.0, 2e-6);
                // From the GPU's own saved output: 1 - y*y cancels near |y| = 1, so the three
                // roundings are relative to |dy| (1 + y^2).
                let mag: Vec<f64> = yd
                    .iter()
                    .zip(&dyd)
                    .map(|(y, d)| d.abs() * (1.0 + y * y))
                    .collect();
                check_sum_of_products("tanh backward", &dx, &ra::tanh_backward(&yd, &dyd), &mag, 3);
            }
            Activation::Sigmoid => {
                check_close("sigmoid forward", &y, &ra::sigmoid(&xd), 0.0, 1e-6);
                // 1 - y cancels near y = 1: roundings relative to |dy y| (1 + y).
                let mag: Vec<f64> = yd
                    .iter()
                    .zip(&dyd)
                    .map(|(y, d)| (d * y).abs() * (1.0 + y))
                    .collect();
                check_sum_of_products(
                    "sigmoid backward",
                    &dx,
                    &ra::sigmoid_backward(&yd, &dyd),
                    &mag,
                    3,
                );
            }
        }
    }
}

#[test]
fn activations_odd_and_dcgan_sizes() {
    activation_case(1001, 800);
    // G's largest activation at batch 128: 14x14x128.
    activation_case(128 * 14 * 14 * 128, 801);
}
