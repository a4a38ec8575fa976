//! The data path: Philox draws, batch indices, gathers, noise, the iteration counter.

use super::*;

#[test]
fn batch_indices_are_bit_exact() {
    let g = gpu();
    let seed = 0x1234_5678_9abc_def0;
    let counter = g.ctx.storage_init("iteration", &[7u32]);
    let idx = output(301);
    let fixed = output(301);
    run(&[
        g.ops.data.sample_indices(
            &g.ctx,
            Draw::new(seed, stream::REAL_INDICES, Iteration::Counter(&counter)),
            60000,
            &idx,
        ),
        g.ops.data.sample_indices(
            &g.ctx,
            Draw::new(seed, stream::REAL_INDICES, Iteration::Fixed(7)),
            60000,
            &fixed,
        ),
    ]);
    let got: Vec<u32> = g.ctx.read(&idx).block_on().unwrap();
    let expected = dcgan_wgpu::random::sample_indices(seed, 7, stream::REAL_INDICES, 301, 60000);
    assert_eq!(got, expected);
    assert_eq!(
        g.ctx.read::<u32>(&fixed).block_on().unwrap(),
        expected,
        "fixed iteration = counter"
    );
    assert!(got.iter().all(|&i| i < 60000));
    println!(
        "sample_indices: 301 indices bit-identical, e.g. {:?}",
        &got[..5]
    );
}

#[test]
fn draw_batch_equals_the_separate_draws() {
    // The training step's one data dispatch: the same bits as drawing the indices, gathering
    // and drawing each noise batch on their own (odd sizes: 7-pixel images, 5 x 9 noise).
    use dcgan_wgpu::ops::data::NoisePair;
    let g = gpu();
    let (pixels, count, batch, z) = (7, 61, 5, 9);
    let images: Vec<u8> = (0..pixels * count).map(|i| (i * 37 % 256) as u8).collect();
    let mut packed = vec![0u32; images.len().div_ceil(4)];
    for (i, &b) in images.iter().enumerate() {
        packed[i / 4] |= u32::from(b) << (8 * (i % 4));
    }
    let img = g.ctx.storage_init("images", &packed);
    let counter = g.ctx.storage_init("counter", &[3u32]);
    let it = Iteration::Counter(&counter);
    let d = &g.ops.data;
    let (real, noise) = (
        output(batch * pixels),
        NoisePair::new(&g.ctx, "noise", batch * z),
    );
    let (indices, real2, z1, z2) = (
        output(batch),
        output(batch * pixels),
        output(batch * z),
        output(batch * z),
    );
    let s0 = stream::REAL_INDICES;
    run(&[
        d.draw_batch(
            &g.ctx,
            Draw::new(9, s0, it),
            PackedImages {
                words: &img,
                count,
                pixels,
            },
            &real,
            &noise,
        ),
        d.sample_indices(&g.ctx, Draw::new(9, s0, it), count, &indices),
        d.gather_images(&g.ctx, pixels, &img, &indices, &real2),
        d.normal_noise(&g.ctx, Draw::new(9, s0 + 1, it), &z1),
        d.normal_noise(&g.ctx, Draw::new(9, s0 + 2, it), &z2),
    ]);
    check_bits("draw_batch images", &read(&real), &read(&real2));
    check_bits("draw_batch first noise", &read(&noise.first), &read(&z1));
    check_bits("draw_batch second noise", &read(&noise.second), &read(&z2));
}

#[test]
fn draw_labels_are_the_batch_labels_and_uniform_digits() {
    // A conditional iteration's labels: those of the images draw_batch draws from the same
    // stream (odd sizes: 37 labels of 61 images), and fresh uniform digits; both copies equal,
    // over garbage-filled outputs.
    use dcgan_wgpu::ops::data::Labels;
    let g = gpu();
    let (count, batch, seed) = (61usize, 37usize, 0x5eed_u64);
    let labels: Vec<u32> = (0..count as u32).map(|i| (i * 7 + 3) % 10).collect();
    let data = g.ctx.storage_init("labels", &labels);
    let counter = g.ctx.storage_init("counter", &[5u32]);
    let it = Iteration::Counter(&counter);
    let d = &g.ops.data;
    let garbage = vec![0xdead_beefu32; batch];
    let outs: Vec<_> = (0..4)
        .map(|_| g.ctx.storage_init("labels out", &garbage))
        .collect();
    run(&[
        d.draw_labels(
            &g.ctx,
            Draw::new(seed, stream::REAL_INDICES, it),
            Labels::OfBatch { data: &data },
            [&outs[0], &outs[1]],
        ),
        d.draw_labels(
            &g.ctx,
            Draw::new(seed, stream::GENERATOR_LABELS, it),
            Labels::Uniform { classes: 10 },
            [&outs[2], &outs[3]],
        ),
    ]);
    let got: Vec<Vec<u32>> = outs
        .iter()
        .map(|o| g.ctx.read::<u32>(o).block_on().unwrap())
        .collect();
    let indices =
        dcgan_wgpu::random::sample_indices(seed, 5, stream::REAL_INDICES, batch, count as u32);
    let real: Vec<u32> = indices.iter().map(|&i| labels[i as usize]).collect();
    let fresh = dcgan_wgpu::random::sample_indices(seed, 5, stream::GENERATOR_LABELS, batch, 10);
    assert_eq!(got[0], real, "the real batch's labels");
    assert_eq!(got[2], fresh, "uniform labels");
    assert_eq!(got[0], got[1], "both copies");
    assert_eq!(got[2], got[3], "both copies");
    let mut seen = [0; 10];
    fresh.iter().for_each(|&l| seen[l as usize] += 1);
    assert!(seen.iter().filter(|&&n| n > 0).count() >= 8, "{seen:?}");
}

#[test]
fn gather_scales_images_like_the_seed() {
    let g = gpu();
    let pixels = 7; // not a multiple of 4: images straddle words
    let images: Vec<u8> = (0..=255u8).chain(0..=200u8).collect();
    let count = images.len() / pixels;
    let mut packed = vec![0u32; images.len().div_ceil(4)];
    for (i, &b) in images.iter().enumerate() {
        packed[i / 4] |= u32::from(b) << (8 * (i % 4));
    }
    let indices: Vec<u32> = (0..count as u32).rev().step_by(3).collect();
    let (img, idx) = (
        g.ctx.storage_init("images", &packed),
        g.ctx.storage_init("indices", &indices),
    );
    let out = output(indices.len() * pixels);
    run(&[g.ops.data.gather_images(&g.ctx, pixels, &img, &idx, &out)]);
    let expected = reference::data::gather_images(&images, pixels, &indices);
    // f32 division then subtraction: within 2 ulp of 1 of the once-rounded double result.
    check_close(
        "gather_images",
        &read(&out),
        &to_f64(&expected),
        0.0,
        2.5e-7,
    );
}

#[test]
fn normal_noise_matches_reference_and_is_standard_normal() {
    let g = gpu();
    let seed = 42;
    let n = 100 * 128 + 3;
    let counter = g.ctx.storage_init("iteration", &[3u32]);
    let z = output(n);
    run(&[g.ops.data.normal_noise(
        &g.ctx,
        Draw::new(seed, stream::FAKE_NOISE, Iteration::Counter(&counter)),
        &z,
    )]);
    let got = read(&z);
    let expected = dcgan_wgpu::random::normals(seed, 3, stream::FAKE_NOISE, n);
    // Vulkan allows sin/cos an absolute error of 2^-11 on [-pi, pi] and log 3 ulp; times the
    // radius (at most sqrt(2 ln 2^24) = 5.8) that is 3e-3.
    check_close("normal_noise", &got, &expected, 1e-5, 3e-3);
    let mean = got.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let var = got
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    // 5 standard errors.
    assert!(mean.abs() < 5.0 / (n as f64).sqrt(), "mean {mean}");
    assert!(
        (var - 1.0).abs() < 5.0 * (2.0 / n as f64).sqrt(),
        "variance {var}"
    );
    println!("normal_noise: mean {mean:.4}, variance {var:.4} over {n}");
}

#[test]
fn iteration_counter_advances_and_changes_the_draw() {
    let g = gpu();
    let counter = g.ctx.storage_init("iteration", &[0u32]);
    let (a, b) = (output(64), output(64));
    run(&[
        g.ops.data.normal_noise(
            &g.ctx,
            Draw::new(9, stream::GENERATOR_NOISE, Iteration::Counter(&counter)),
            &a,
        ),
        g.ops.data.advance_iteration(&g.ctx, &counter),
        g.ops.data.normal_noise(
            &g.ctx,
            Draw::new(9, stream::GENERATOR_NOISE, Iteration::Counter(&counter)),
            &b,
        ),
    ]);
    assert_eq!(g.ctx.read::<u32>(&counter).block_on().unwrap(), vec![1]);
    let (a, b) = (read(&a), read(&b));
    assert_ne!(a, b);
    check_close(
        "iteration 1 noise",
        &b,
        &dcgan_wgpu::random::normals(9, 1, stream::GENERATOR_NOISE, 64),
        1e-5,
        3e-3,
    );
}
