//! The CPU reference checked on its own: every backward pass against central finite
//! differences in f64, the transposed convolution as the exact adjoint of the convolution,
//! Philox against its published known-answer vectors, and Keras' initialisation. Needs no GPU.

use dcgan_wgpu::geometry::Conv2d;
use dcgan_wgpu::reference::{self, activation as ra, batchnorm as rb, conv, conv_transpose, dense};
use rand::{RngExt, SeedableRng, rngs::StdRng};

fn random(rng: &mut StdRng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Compares `analytic` with the central difference (f(x + h e_i) - f(x - h e_i)) / 2h for every
/// i. With h = 1e-5 in f64 the truncation error is ~h^2 |f'''| and the rounding error
/// ~1e-16 |f| / h, both far below the 1e-6 tolerance.
fn check_gradient(name: &str, x: &[f64], analytic: &[f64], f: impl Fn(&[f64]) -> f64) {
    assert_eq!(x.len(), analytic.len(), "{name}: length");
    let h = 1e-5;
    let mut worst = 0.0f64;
    let mut xp = x.to_vec();
    for i in 0..x.len() {
        xp[i] = x[i] + h;
        let up = f(&xp);
        xp[i] = x[i] - h;
        let down = f(&xp);
        xp[i] = x[i];
        let numeric = (up - down) / (2.0 * h);
        let err = (numeric - analytic[i]).abs() / (1.0 + analytic[i].abs());
        worst = worst.max(err);
        assert!(
            err < 1e-6,
            "{name}[{i}]: analytic {}, numeric {numeric}",
            analytic[i]
        );
    }
    println!(
        "{name}: {} partials, worst relative difference {worst:.2e}",
        x.len()
    );
}

#[test]
fn dense_gradients() {
    let mut r = StdRng::seed_from_u64(1);
    let (b, i, o) = (3, 4, 5);
    let (x, w, bias, probe) = (
        random(&mut r, b * i),
        random(&mut r, i * o),
        random(&mut r, o),
        random(&mut r, b * o),
    );
    let loss =
        |x: &[f64], w: &[f64], bias: &[f64]| dot(&dense::forward(x, w, bias, b, i, o), &probe);
    check_gradient(
        "dense dX",
        &x,
        &dense::backward_input(&probe, &w, b, i, o),
        |v| loss(v, &w, &bias),
    );
    check_gradient(
        "dense dW",
        &w,
        &dense::backward_weight(&x, &probe, b, i, o),
        |v| loss(&x, v, &bias),
    );
    check_gradient("dense db", &bias, &dense::column_sum(&probe, b, o), |v| {
        loss(&x, &w, v)
    });
}

#[test]
fn conv2d_gradients() {
    let mut r = StdRng::seed_from_u64(2);
    for (h, w, stride) in [(5, 5, 1), (6, 5, 2), (7, 7, 2)] {
        let g = Conv2d::conv((h, w, 3), 2, 3, stride).with_batch(2);
        let (oh, ow, _) = g.output();
        let x = random(&mut r, 2 * h * w * 3);
        let k = random(&mut r, 9 * 3 * 2);
        let bias = random(&mut r, 2);
        let probe = random(&mut r, 2 * oh * ow * 2);
        let loss = |x: &[f64], k: &[f64], b: &[f64]| dot(&conv::forward(&g, x, k, b), &probe);
        let name = format!("conv2d {h}x{w} s{stride}");
        check_gradient(
            &format!("{name} dX"),
            &x,
            &conv::backward_input(&g, &probe, &k),
            |v| loss(v, &k, &bias),
        );
        check_gradient(
            &format!("{name} dW"),
            &k,
            &conv::backward_weight(&g, &x, &probe),
            |v| loss(&x, v, &bias),
        );
        let db = dense::column_sum(&probe, 2 * oh * ow, 2);
        check_gradient(&format!("{name} db"), &bias, &db, |v| loss(&x, &k, v));
    }
}

#[test]
fn conv_transpose_gradients() {
    let mut r = StdRng::seed_from_u64(3);
    for (h, w, stride) in [(4, 4, 1), (3, 4, 2), (4, 4, 2)] {
        let g = Conv2d::transpose((h, w, 3), 2, 3, stride).with_batch(2);
        let (oh, ow, _) = g.output();
        let x = random(&mut r, 2 * h * w * 3);
        let k = random(&mut r, 9 * 2 * 3);
        let bias = random(&mut r, 2);
        let probe = random(&mut r, 2 * oh * ow * 2);
        let loss =
            |x: &[f64], k: &[f64], b: &[f64]| dot(&conv_transpose::forward(&g, x, k, b), &probe);
        let name = format!("conv_transpose {h}x{w} s{stride}");
        check_gradient(
            &format!("{name} dX"),
            &x,
            &conv_transpose::backward_input(&g, &probe, &k),
            |v| loss(v, &k, &bias),
        );
        check_gradient(
            &format!("{name} dW"),
            &k,
            &conv_transpose::backward_weight(&g, &x, &probe),
            |v| loss(&x, v, &bias),
        );
        let db = dense::column_sum(&probe, 2 * oh * ow, 2);
        check_gradient(&format!("{name} db"), &bias, &db, |v| loss(&x, &k, v));
    }
}

#[test]
fn conv_transpose_is_the_adjoint_of_conv2d() {
    // Keras' Conv2DTranspose is conv2d_backprop_input of the 'same' conv mapping its output
    // size back to its input size: <convT(x), y> = <x, conv(y)> for every x, y (no bias).
    let mut r = StdRng::seed_from_u64(4);
    for (h, stride) in [(7, 2), (14, 1), (5, 2), (4, 3)] {
        let t = Conv2d::transpose((h, h, 3), 4, 3, stride).with_batch(2);
        let (oh, ow, _) = t.output();
        let c = Conv2d::conv((oh, ow, 4), 3, 3, stride).with_batch(2);
        assert_eq!(c.output().0, h);
        let k = random(&mut r, 9 * 4 * 3);
        let x = random(&mut r, 2 * h * h * 3);
        let y = random(&mut r, 2 * oh * ow * 4);
        let lhs = dot(&conv_transpose::forward(&t, &x, &k, &[0.0; 4]), &y);
        let rhs = dot(&x, &conv::forward(&c, &y, &k, &[0.0; 3]));
        assert!(
            (lhs - rhs).abs() < 1e-12 * (1.0 + lhs.abs()),
            "{h} s{stride}: {lhs} vs {rhs}"
        );
    }
}

#[test]
fn conv_transpose_geometry_matches_keras() {
    // shared/golden/README.md: 7->14 and 14->28 drop the last row (before = 0); 14->14 has
    // before = 1. One input pixel at (0, 0) with a kernel of ones lands on outputs 0..=1 (s2)
    // or 0..=1 around -1 (s1).
    for (h, stride, expect) in [(7, 2, vec![0, 1, 2]), (14, 1, vec![0, 1])] {
        let g = Conv2d::transpose((h, h, 1), 1, 3, stride).with_batch(1);
        let mut x = vec![0.0; h * h];
        x[0] = 1.0;
        let y = conv_transpose::forward(&g, &x, &[1.0; 9], &[0.0]);
        let ow = h * stride;
        let rows: Vec<usize> = (0..ow).filter(|&r| y[r * ow] != 0.0).collect();
        assert_eq!(rows, expect, "7->14 pads (0, 1); 14->14 pads (1, 1)");
    }
}

#[test]
fn batchnorm_gradients() {
    let mut r = StdRng::seed_from_u64(5);
    let (rows, ch) = (6, 3);
    let x = random(&mut r, rows * ch);
    let gamma: Vec<f64> = random(&mut r, ch).iter().map(|v| v + 1.5).collect();
    let beta = random(&mut r, ch);
    let probe = random(&mut r, rows * ch);
    let eps = 1e-3;
    let loss =
        |x: &[f64], g: &[f64], b: &[f64]| dot(&rb::forward_train(x, rows, ch, g, b, eps).0, &probe);
    let (dx, dgamma, dbeta) = rb::backward(&x, &probe, rows, ch, &gamma, eps);
    check_gradient("batchnorm dX", &x, &dx, |v| loss(v, &gamma, &beta));
    check_gradient("batchnorm dgamma", &gamma, &dgamma, |v| loss(&x, v, &beta));
    check_gradient("batchnorm dbeta", &beta, &dbeta, |v| loss(&x, &gamma, v));
}

#[test]
fn activation_gradients() {
    let mut r = StdRng::seed_from_u64(6);
    // Keep LeakyReLU's inputs away from its kink, where the central difference straddles it.
    let x: Vec<f64> = random(&mut r, 20)
        .iter()
        .map(|v| v * 3.0 + v.signum() * 0.01)
        .collect();
    let probe = random(&mut r, 20);
    check_gradient(
        "leaky_relu",
        &x,
        &ra::leaky_relu_backward(&x, &probe, 0.01),
        |v| dot(&ra::leaky_relu(v, 0.01), &probe),
    );
    check_gradient("tanh", &x, &ra::tanh_backward(&ra::tanh(&x), &probe), |v| {
        dot(&ra::tanh(v), &probe)
    });
    check_gradient(
        "sigmoid",
        &x,
        &ra::sigmoid_backward(&ra::sigmoid(&x), &probe),
        |v| dot(&ra::sigmoid(v), &probe),
    );
}

#[test]
fn bce_gradient_and_forms() {
    let mut r = StdRng::seed_from_u64(7);
    let z: Vec<f64> = random(&mut r, 9).iter().map(|v| v * 4.0).collect();
    for y in [0.0, 1.0] {
        let (_, grad, _) = reference::loss::bce_with_logits(&z, y);
        check_gradient(&format!("bce label {y}"), &z, &grad, |v| {
            reference::loss::bce_with_logits(v, y).0
        });
        // The logit form and Keras' documented clipped form agree while nothing saturates.
        let p = ra::sigmoid(&z);
        let (logit_form, _, _) = reference::loss::bce_with_logits(&z, y);
        assert!((logit_form - reference::loss::bce_clipped(&p, y)).abs() < 1e-6);
    }
    // ...and differ once it does: the clipped loss caps at -ln(1e-7) = 16.12.
    let (logit_form, _, _) = reference::loss::bce_with_logits(&[-30.0], 1.0);
    assert!((logit_form - 30.0).abs() < 1e-9);
    assert!((reference::loss::bce_clipped(&ra::sigmoid(&[-30.0]), 1.0) - 16.118).abs() < 1e-3);
}

#[test]
fn philox_known_answers() {
    // Random123's kat_vectors for philox4x32_10.
    use dcgan_wgpu::random::philox4x32_10;
    assert_eq!(
        philox4x32_10([0; 4], [0; 2]),
        [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
    );
    assert_eq!(
        philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
        [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
    );
    assert_eq!(
        philox4x32_10(
            [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
            [0xa409_3822, 0x299f_31d0]
        ),
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
    );
}

#[test]
fn glorot_uniform_matches_keras() {
    use dcgan_wgpu::model::init;
    // fan_in = kh*kw*in, fan_out = kh*kw*out for a conv kernel; (in, out) for dense.
    assert_eq!(init::fans(&[100, 12544]), (100, 12544));
    assert_eq!(init::fans(&[3, 3, 128, 256]), (1152, 2304));
    let limit = init::glorot_limit(&[3, 3, 64, 128]);
    assert!((f64::from(limit) - (6.0f64 / (576.0 + 1152.0)).sqrt()).abs() < 1e-7);
    let mut r = StdRng::seed_from_u64(8);
    let w = init::glorot_uniform(&[3, 3, 64, 128], &mut r);
    assert_eq!(w.len(), 73728);
    assert!(w.iter().all(|v| v.abs() <= limit));
    // U(-a, a): mean 0, variance a^2 / 3.
    let n = w.len() as f64;
    let mean = w.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = w.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / n;
    let a2 = f64::from(limit).powi(2);
    assert!(mean.abs() < 5.0 * (a2 / 3.0 / n).sqrt());
    assert!((var - a2 / 3.0).abs() < 0.02 * a2 / 3.0);
}

#[test]
fn adam_first_step_matches_the_closed_form() {
    // After one step from zero moments: m = 0.1f g, v = 0.001f g^2 exactly (golden README).
    let g = [0.3f32, -2e-4, 5.0, 0.0];
    let mut theta = [1.0f32; 4];
    let mut adam = reference::adam::Adam::new(4);
    adam.step(&mut theta, &g);
    for (i, &gi) in g.iter().enumerate() {
        assert_eq!(adam.m[i], 0.1f32 * gi);
        assert_eq!(adam.v[i], 0.001f32 * (gi * gi));
    }
    assert_eq!(theta[3], 1.0, "zero gradient, no update");
    assert!(
        (theta[0] - (1.0 - 1e-3)).abs() < 1e-6,
        "first step moves by ~lr * sign(g)"
    );
}

#[test]
fn softmax_cross_entropy_gradient() {
    let mut r = StdRng::seed_from_u64(9);
    let z: Vec<f64> = random(&mut r, 4 * 5).iter().map(|v| v * 3.0).collect();
    let labels = [0u32, 4, 2, 2];
    let (_, grad, _) = reference::softmax::cross_entropy(&z, &labels, 5);
    check_gradient("softmax cross-entropy", &z, &grad, |v| {
        reference::softmax::cross_entropy(v, &labels, 5).0
    });
    let p = reference::softmax::softmax(&z, 5);
    for row in p.chunks(5) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

#[test]
fn embedding_gradients() {
    use reference::embed;
    let mut r = StdRng::seed_from_u64(7);
    // Class 3 of 4 has no sample (its gradient is 0); class 1 has several.
    let labels = [1u32, 0, 1, 2, 1];
    let (classes, batch) = (4, labels.len());
    for width in [1, 6] {
        let (x, table) = (
            random(&mut r, batch * width),
            random(&mut r, classes * width),
        );
        let probe = random(&mut r, batch * width);
        let loss = |x: &[f64], t: &[f64]| dot(&embed::scale_forward(x, t, &labels, width), &probe);
        let (dx, dtable) = embed::scale_backward(&x, &table, &labels, width, &probe);
        check_gradient(&format!("embed scale {width} dx"), &x, &dx, |v| {
            loss(v, &table)
        });
        check_gradient(
            &format!("embed scale {width} dtable"),
            &table,
            &dtable,
            |v| loss(&x, v),
        );
    }
    for (width, channels) in [(5, 1), (3, 2)] {
        let (x, table) = (
            random(&mut r, batch * width * channels),
            random(&mut r, classes * width),
        );
        let probe = random(&mut r, batch * width * (channels + 1));
        let loss = |x: &[f64], t: &[f64]| {
            dot(
                &embed::concat_forward(x, t, &labels, width, channels),
                &probe,
            )
        };
        let (dx, dtable) = embed::concat_backward(&labels, classes, width, channels, &probe);
        let name = format!("embed concat {width}x{channels}");
        check_gradient(&format!("{name} dx"), &x, &dx, |v| loss(v, &table));
        check_gradient(&format!("{name} dtable"), &table, &dtable, |v| loss(&x, v));
        assert!(dtable[3 * width..].iter().all(|&g| g == 0.0));
    }
}
