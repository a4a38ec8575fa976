//! Batch normalisation: statistics, apply, moving update, backward.

use super::*;
use dcgan_wgpu::reference::cases;

pub(crate) use cases::bn_input;

/// The shared case (`reference::cases::batchnorm`; the page's checks run it too).
fn bn_case(rows: usize, channels: usize, seed: u64) {
    let g = gpu();
    let s = BnShape { rows, channels };
    expect_lines(cases::batchnorm(&g.ctx, &g.ops, s, seed).block_on());
}

#[test]
fn batchnorm_odd_shapes() {
    for (n, &(rows, channels)) in [(243, 5), (7, 3), (1000, 17), (1, 4)].iter().enumerate() {
        bn_case(rows, channels, 500 + n as u64);
    }
}

#[test]
fn batchnorm_dcgan_shapes() {
    // D: bn2 (7x7x64), bn3 (4x4x128); G: bn1 (14x14x128), bn2 (14x14x64); batch 128.
    let shapes = [
        (128 * 49, 64),
        (128 * 16, 128),
        (128 * 196, 128),
        (128 * 196, 64),
    ];
    for (n, &(rows, channels)) in shapes.iter().enumerate() {
        bn_case(rows, channels, 600 + n as u64);
    }
}

#[test]
fn batchnorm_moving_update_is_keras_float32() {
    let g = gpu();
    let channels = 37;
    let mut r = rng(700);
    let (mean0, _) = random(&mut r, channels, 1.0);
    let var0: Vec<f32> = random(&mut r, channels, 1.0)
        .0
        .iter()
        .map(|v| v.abs() + 0.5)
        .collect();
    let (bmean, _) = random(&mut r, channels, 2.0);
    let bvar: Vec<f32> = random(&mut r, channels, 1.0)
        .0
        .iter()
        .map(|v| v * v)
        .collect();
    let moving = Stats::upload(&g.ctx, "moving", &mean0, &var0);
    let batch = Stats::upload(&g.ctx, "batch", &bmean, &bvar);
    let s = BnShape { rows: 1, channels };
    run(&[g.ops.batchnorm.moving_update(&g.ctx, s, &batch, &moving)]);
    let (mut m_ref, mut v_ref) = (mean0.clone(), var0.clone());
    reference::batchnorm::moving_update(&mut m_ref, &bmean, MOMENTUM);
    reference::batchnorm::moving_update(&mut v_ref, &bvar, MOMENTUM);
    // Two products and a sum: within 2 ulp of the reference's float32 arithmetic even where
    // the driver fuses them into an fma.
    let mag = |a: &[f32], b: &[f32]| -> Vec<f64> {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(x.abs()) * 0.99 + f64::from(y.abs()) * 0.01)
            .collect()
    };
    check_sum_of_products(
        "bn moving mean",
        &read(&moving.mean),
        &to_f64(&m_ref),
        &mag(&mean0, &bmean),
        2,
    );
    check_sum_of_products(
        "bn moving variance",
        &read(&moving.variance),
        &to_f64(&v_ref),
        &mag(&var0, &bvar),
        2,
    );
    // Training fuses the update into the statistics' finish: the same arithmetic on the batch
    // statistics it has just computed, bit for bit.
    let rows = 300;
    let x = upload(&random(&mut r, rows * channels, 1.5).0);
    let s = BnShape { rows, channels };
    let fused = Stats::upload(&g.ctx, "fused", &mean0, &var0);
    let alone = Stats::upload(&g.ctx, "alone", &mean0, &var0);
    let zeros = vec![0.0; channels];
    let batch = Stats::upload(&g.ctx, "batch", &zeros, &zeros);
    let (gamma, beta) = (upload(&vec![1.0; channels]), upload(&zeros));
    let y = output(rows * channels);
    run(&g.ops.batchnorm.forward_train(
        &g.ctx,
        s,
        BnLayer {
            gamma: &gamma,
            beta: &beta,
            activation: None,
        },
        &x,
        TrainStats {
            batch: &batch,
            moving: Some(&fused),
        },
        &y,
    ));
    run(&[g.ops.batchnorm.moving_update(&g.ctx, s, &batch, &alone)]);
    check_bits("fused moving mean", &read(&fused.mean), &read(&alone.mean));
    check_bits(
        "fused moving variance",
        &read(&fused.variance),
        &read(&alone.variance),
    );
}
