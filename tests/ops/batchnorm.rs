//! Batch normalisation: statistics, apply, moving update, backward.

use super::*;

/// Input columns with varied means and spreads, including one whose variance is far below
/// its mean squared and below epsilon (as D's bn2 sees in the Keras fixture).
pub(crate) fn bn_input(rows: usize, channels: usize, seed: u64) -> (Vec<f32>, Vec<f64>) {
    let mut r = rng(seed);
    let (noise, _) = random(&mut r, rows * channels, 1.0);
    let x: Vec<f32> = noise
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = i % channels;
            match c % 4 {
                0 => v,
                1 => 3.0 + 2.0 * v,
                2 => 0.5 + 3e-3 * v,
                _ => -0.2 + 0.05 * v,
            }
        })
        .collect();
    let d = to_f64(&x);
    (x, d)
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn bn_case(rows: usize, channels: usize, seed: u64) {
    let g = gpu();
    let s = BnShape { rows, channels };
    let eps = EPSILON;
    let mut r = rng(seed + 1);
    let (x, xd) = bn_input(rows, channels, seed);
    let (gamma, gammad) = random(&mut r, channels, 2.0);
    let (beta, betad) = random(&mut r, channels, 1.0);
    let (dy, dyd) = random(&mut r, rows * channels, 1.0);
    // The kernels after bn_stats get the reference statistics rounded to f32, so each kernel
    // is checked on exact inputs.
    let (mean_ref, var_ref) = reference::batchnorm::stats(&xd, rows, channels);
    let (mean32, var32) = (f32s(&mean_ref), f32s(&var_ref));
    let (mean_r, var_r) = (to_f64(&mean32), to_f64(&var32));
    let (dgamma_ref, dbeta_ref) =
        reference::batchnorm::backward_sums(&xd, &dyd, channels, &mean_r, &var_r, eps);

    let (xs, gs, bs, dys) = (upload(&x), upload(&gamma), upload(&beta), upload(&dy));
    let zeros = vec![0.0; channels];
    let batch = Stats::upload(&g.ctx, "batch stats", &zeros, &zeros);
    let given = Stats::upload(&g.ctx, "given stats", &mean32, &var32);
    // dgamma then dbeta in one buffer, as a network's gradients hold them.
    let dgb = Stats::upload(&g.ctx, "dgamma dbeta", &zeros, &zeros);
    let (dgamma, dbeta) = (&dgb.mean, &dgb.variance);
    let (y_train, y_batch, y, dx) = (
        output(rows * channels),
        output(rows * channels),
        output(rows * channels),
        output(rows * channels),
    );
    let bn = &g.ops.batchnorm;
    let dx_sums = output(bn.dx_sums_len(s));
    let mut ds = bn
        .forward_train(&g.ctx, s, &xs, &gs, &bs, &batch, None, &y_train, None)
        .to_vec();
    ds.push(bn.apply(&g.ctx, s, &xs, &gs, &bs, &batch, &y_batch, None));
    ds.push(bn.apply(&g.ctx, s, &xs, &gs, &bs, &given, &y, None));
    ds.extend(bn.backward(
        &g.ctx,
        s,
        &xs,
        &dys,
        &gs,
        &given,
        dgamma,
        dbeta,
        &dx,
        Some(&dx_sums),
    ));
    // Without the column sums (every BatchNorm not after a transposed conv): the same dx, and
    // nothing written to the placeholder bound for them (the guard-band run checks that).
    let dgb_alone = Stats::upload(&g.ctx, "dgamma dbeta alone", &zeros, &zeros);
    let dx_alone = output(rows * channels);
    ds.extend(bn.backward(
        &g.ctx,
        s,
        &xs,
        &dys,
        &gs,
        &given,
        &dgb_alone.mean,
        &dgb_alone.variance,
        &dx_alone,
        None,
    ));
    run(&ds);
    check_bits(
        &format!("bn backward without column sums {rows}x{channels}"),
        &read(&dx_alone),
        &read(&dx),
    );
    // The training forward applies the statistics it computes exactly as `apply` does.
    check_bits(
        &format!("bn training apply {rows}x{channels}"),
        &read(&y_train),
        &read(&y_batch),
    );
    let (dgamma32, dbeta32) = (read(dgamma), read(dbeta));

    let name = format!("{rows}x{channels}");
    // The longest chain of roundings in a two-stage sum: a lane's rows, the tree over the row
    // lanes, the blocks; plus 4 for shifting, squaring, dividing and combining.
    let lane_depth = reduction_depth(rows, channels) + 4;
    let (mean_mag, var_mag) = reference::check::bn_stats_scales(&xd, rows, channels, &mean_ref);
    check_sum_of_products(
        &format!("bn stats mean {name}"),
        &read(&batch.mean),
        &mean_ref,
        &mean_mag,
        lane_depth,
    );
    check_sum_of_products(
        &format!("bn stats variance {name}"),
        &read(&batch.variance),
        &var_ref,
        &var_mag,
        lane_depth,
    );

    // rsqrt is allowed 2 ulp on Vulkan: 8 roundings relative to the magnitudes of the terms.
    let y_mag =
        reference::check::bn_apply_scales(&xd, channels, &gammad, &betad, &mean_r, &var_r, eps);
    let y_ref = reference::batchnorm::apply(&xd, channels, &gammad, &betad, &mean_r, &var_r, eps);
    check_sum_of_products(&format!("bn apply {name}"), &read(&y), &y_ref, &y_mag, 8);

    let xhat_abs: Vec<f64> = (0..rows * channels)
        .map(|i| ((xd[i] - mean_r[i % channels]) / (var_r[i % channels] + eps).sqrt()).abs())
        .collect();
    let dgamma_mag: Vec<f64> = {
        let mut m = vec![0.0; channels];
        for i in 0..rows * channels {
            m[i % channels] += (dyd[i] * xhat_abs[i]).abs();
        }
        m
    };
    check_sum_of_products(
        &format!("bn dgamma {name}"),
        &dgamma32,
        &dgamma_ref,
        &dgamma_mag,
        lane_depth + 4,
    );
    let dbeta_mag = reference::dense::column_sum(&abs(&dyd), rows, channels);
    check_sum_of_products(
        &format!("bn dbeta {name}"),
        &dbeta32,
        &dbeta_ref,
        &dbeta_mag,
        lane_depth,
    );

    let (dg_r, db_r) = (to_f64(&dgamma32), to_f64(&dbeta32));
    let dx_ref = reference::batchnorm::backward_input(
        &xd, &dyd, channels, &gammad, &mean_r, &var_r, &dg_r, &db_r, eps,
    );
    let n = rows as f64;
    let dx_mag: Vec<f64> = (0..rows * channels)
        .map(|i| {
            let c = i % channels;
            let scale = (gammad[c] / (var_r[c] + eps).sqrt() / n).abs();
            scale * (n * dyd[i].abs() + db_r[c].abs() + xhat_abs[i] * dg_r[c].abs())
        })
        .collect();
    let dx_gpu = read(&dx);
    check_sum_of_products(&format!("bn dX {name}"), &dx_gpu, &dx_ref, &dx_mag, 12);
    // dx's column sums per row group (a transposed conv's bias partials), added over groups:
    // the column sums of the dx just checked, within a sum's bound over `rows` terms.
    let sums = read(&dx_sums);
    let total: Vec<f32> = (0..channels)
        .map(|c| sums.iter().skip(c).step_by(channels).sum())
        .collect();
    let dx64 = to_f64(&dx_gpu);
    check_sum_of_products(
        &format!("bn dX column sums {name}"),
        &total,
        &reference::dense::column_sum(&dx64, rows, channels),
        &reference::dense::column_sum(&abs(&dx64), rows, channels),
        rows + bn.dx_sum_blocks(s),
    );
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
        &x,
        &gamma,
        &beta,
        &batch,
        Some(&fused),
        &y,
        None,
    ));
    run(&[g.ops.batchnorm.moving_update(&g.ctx, s, &batch, &alone)]);
    check_bits("fused moving mean", &read(&fused.mean), &read(&alone.mean));
    check_bits(
        "fused moving variance",
        &read(&fused.variance),
        &read(&alone.variance),
    );
}
