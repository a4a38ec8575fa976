//! Training-mode batch normalisation: statistics, apply, backward (with and without the
//! column sums a transposed conv's bias takes).

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{Lines, abs, f64s, garbage, random, upload};
use crate::gpu::{GpuContext, GpuError};
use crate::ops::Ops;
use crate::ops::batchnorm::{BnGrads, BnLayer, BnSaved, BnShape, EPSILON, Stats, TrainStats};
use crate::reference::{self, check};

/// Input columns with varied means and spreads, including one whose variance is far below
/// its mean squared and below epsilon (as D's bn2 sees in the Keras fixture).
pub fn bn_input(rows: usize, channels: usize, seed: u64) -> (Vec<f32>, Vec<f64>) {
    let mut r = StdRng::seed_from_u64(seed);
    let (noise, _) = random(&mut r, rows * channels, 1.0);
    let x: Vec<f32> = noise
        .iter()
        .enumerate()
        .map(|(i, &v)| match (i % channels) % 4 {
            0 => v,
            1 => 3.0 + 2.0 * v,
            2 => 0.5 + 3e-3 * v,
            _ => -0.2 + 0.05 * v,
        })
        .collect();
    let d = f64s(&x);
    (x, d)
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

pub async fn batchnorm(
    ctx: &GpuContext,
    ops: &Ops,
    s: BnShape,
    seed: u64,
) -> Result<Lines, GpuError> {
    let (rows, channels) = (s.rows, s.channels);
    let eps = EPSILON;
    let mut r = StdRng::seed_from_u64(seed + 1);
    let (x, xd) = bn_input(rows, channels, seed);
    let (gamma, gammad) = random(&mut r, channels, 2.0);
    let (beta, betad) = random(&mut r, channels, 1.0);
    let (dy, dyd) = random(&mut r, rows * channels, 1.0);
    // The kernels after bn_stats get the reference statistics rounded to f32, so each kernel
    // is checked on exact inputs.
    let (mean_ref, var_ref) = reference::batchnorm::stats(&xd, rows, channels);
    let (mean32, var32) = (f32s(&mean_ref), f32s(&var_ref));
    let (mean_r, var_r) = (f64s(&mean32), f64s(&var32));
    let norm = reference::batchnorm::Norm {
        mean: &mean_r,
        var: &var_r,
        eps,
    };
    let (dgamma_ref, dbeta_ref) = reference::batchnorm::backward_sums(&xd, &dyd, channels, norm);

    let [xs, gs, bs, dys] = [&x, &gamma, &beta, &dy].map(|v| upload(ctx, v));
    let zeros = vec![0.0; channels];
    let batch = Stats::upload(ctx, "batch stats", &zeros, &zeros);
    let given = Stats::upload(ctx, "given stats", &mean32, &var32);
    // dgamma then dbeta in one buffer, as a network's gradients hold them.
    let dgb = Stats::upload(ctx, "dgamma dbeta", &zeros, &zeros);
    let (dgamma, dbeta) = (&dgb.mean, &dgb.variance);
    let [y_train, y_batch, y, dx, dx_alone] = [(); 5].map(|()| garbage(ctx, rows * channels));
    let bn = &ops.batchnorm;
    let dx_sums = garbage(ctx, bn.dx_sums_len(s));
    let layer = BnLayer {
        gamma: &gs,
        beta: &bs,
        activation: None,
    };
    let mut ds = bn
        .forward_train(
            ctx,
            s,
            layer,
            &xs,
            TrainStats {
                batch: &batch,
                moving: None,
            },
            &y_train,
        )
        .to_vec();
    ds.push(bn.apply(ctx, s, layer, &xs, &batch, &y_batch));
    ds.push(bn.apply(ctx, s, layer, &xs, &given, &y));
    ds.extend(bn.backward(
        ctx,
        s,
        &gs,
        BnSaved {
            x: &xs,
            stats: &given,
        },
        &dys,
        BnGrads {
            dgamma,
            dbeta,
            dx: &dx,
            dx_sums: Some(&dx_sums),
        },
    ));
    // Without the column sums (every BatchNorm not after a transposed conv): the same dx, and
    // nothing written to the placeholder bound for them (the guard-band run checks that).
    let dgb_alone = Stats::upload(ctx, "dgamma dbeta alone", &zeros, &zeros);
    ds.extend(bn.backward(
        ctx,
        s,
        &gs,
        BnSaved {
            x: &xs,
            stats: &given,
        },
        &dys,
        BnGrads {
            dgamma: &dgb_alone.mean,
            dbeta: &dgb_alone.variance,
            dx: &dx_alone,
            dx_sums: None,
        },
    ));
    ctx.run(&ds).await?;
    let name = format!("{rows}x{channels}");
    let dx_gpu: Vec<f32> = ctx.read(&dx).await?;
    let mut lines = vec![
        check::bits(
            &format!("bn backward without column sums {name}"),
            &ctx.read(&dx_alone).await?,
            &dx_gpu,
        ),
        // The training forward applies the statistics it computes exactly as `apply` does.
        check::bits(
            &format!("bn training apply {name}"),
            &ctx.read(&y_train).await?,
            &ctx.read(&y_batch).await?,
        ),
    ];
    let (dgamma32, dbeta32): (Vec<f32>, Vec<f32>) =
        (ctx.read(dgamma).await?, ctx.read(dbeta).await?);

    // The longest chain of roundings in a two-stage sum: a lane's rows, the tree over the row
    // lanes, the blocks; plus 4 for shifting, squaring, dividing and combining.
    let lane_depth = check::reduction_depth(rows, channels) + 4;
    let (mean_mag, var_mag) = check::bn_stats_scales(&xd, rows, channels, &mean_ref);
    lines.push(check::sum_of_products(
        &format!("bn stats mean {name}"),
        &ctx.read(&batch.mean).await?,
        &mean_ref,
        &mean_mag,
        lane_depth,
    ));
    lines.push(check::sum_of_products(
        &format!("bn stats variance {name}"),
        &ctx.read(&batch.variance).await?,
        &var_ref,
        &var_mag,
        lane_depth,
    ));

    // rsqrt is allowed 2 ulp on Vulkan: 8 roundings relative to the magnitudes of the terms.
    let y_mag = check::bn_apply_scales(&xd, channels, &gammad, &betad, norm);
    let y_ref = reference::batchnorm::apply(&xd, channels, &gammad, &betad, norm);
    lines.push(check::sum_of_products(
        &format!("bn apply {name}"),
        &ctx.read(&y).await?,
        &y_ref,
        &y_mag,
        8,
    ));

    let xhat_abs: Vec<f64> = (0..rows * channels)
        .map(|i| ((xd[i] - mean_r[i % channels]) / (var_r[i % channels] + eps).sqrt()).abs())
        .collect();
    let mut dgamma_mag = vec![0.0; channels];
    for i in 0..rows * channels {
        dgamma_mag[i % channels] += (dyd[i] * xhat_abs[i]).abs();
    }
    lines.push(check::sum_of_products(
        &format!("bn dgamma {name}"),
        &dgamma32,
        &dgamma_ref,
        &dgamma_mag,
        lane_depth + 4,
    ));
    let dbeta_mag = reference::dense::column_sum(&abs(&dyd), rows, channels);
    lines.push(check::sum_of_products(
        &format!("bn dbeta {name}"),
        &dbeta32,
        &dbeta_ref,
        &dbeta_mag,
        lane_depth,
    ));

    let (dg_r, db_r) = (f64s(&dgamma32), f64s(&dbeta32));
    let dx_ref =
        reference::batchnorm::backward_input(&xd, &dyd, channels, &gammad, norm, &dg_r, &db_r);
    let n = rows as f64;
    let dx_mag: Vec<f64> = (0..rows * channels)
        .map(|i| {
            let c = i % channels;
            let scale = (gammad[c] / (var_r[c] + eps).sqrt() / n).abs();
            scale * (n * dyd[i].abs() + db_r[c].abs() + xhat_abs[i] * dg_r[c].abs())
        })
        .collect();
    lines.push(check::sum_of_products(
        &format!("bn dX {name}"),
        &dx_gpu,
        &dx_ref,
        &dx_mag,
        12,
    ));
    // dx's column sums per row group (a transposed conv's bias partials), added over groups:
    // the column sums of the dx just checked, within a sum's bound over `rows` terms.
    let sums: Vec<f32> = ctx.read(&dx_sums).await?;
    let total: Vec<f32> = (0..channels)
        .map(|c| sums.iter().skip(c).step_by(channels).sum())
        .collect();
    let dx64 = f64s(&dx_gpu);
    lines.push(check::sum_of_products(
        &format!("bn dX column sums {name}"),
        &total,
        &reference::dense::column_sum(&dx64, rows, channels),
        &reference::dense::column_sum(&abs(&dx64), rows, channels),
        rows + bn.dx_sum_blocks(s),
    ));
    Ok(lines)
}
