//! Every GPU kernel, forward and backward, against the CPU reference (`src/reference`), on
//! random data, with the DCGAN's real shapes (batch 128) and with odd shapes that divide no
//! tile size. Each check prints its worst errors; the tolerances are derived in
//! `common::check_sum_of_products` (sums of products) or stated beside the check.
//!
//! Backend: `DCGAN_BACKEND=vulkan|gl|...` (default: the best adapter).

mod common;

use common::*;
use dcgan_wgpu::gpu::{Dispatch, GpuSlice};
use dcgan_wgpu::ops::activation::{Activation, LEAKY_ALPHA};
use dcgan_wgpu::ops::adam::{AdamConfig, MAX_STEPS, STATE_LEN, Schedule, initial_state};
use dcgan_wgpu::ops::batchnorm::{BnShape, EPSILON, MOMENTUM, Stats};
use dcgan_wgpu::ops::conv::{ConvShape, ConvTransposeShape};
use dcgan_wgpu::ops::data::{Iteration, stream};
use dcgan_wgpu::ops::dense::DenseShape;
use dcgan_wgpu::ops::gemm::{Driver, Epilogue};
use dcgan_wgpu::ops::reduce::Blocks;
use dcgan_wgpu::reference;
use pollster::FutureExt as _;

/// Every GEMM driver the adapter can run, for the odd shapes.
fn drivers() -> Vec<Driver> {
    // Wide falls back to tiled where a shape is not 16-byte aligned; the aligned shapes below
    // (and the DCGAN's) run it.
    let mut d = vec![
        Driver::Auto,
        Driver::Narrow,
        Driver::Tiled { splits: 1 },
        Driver::Tiled { splits: 3 },
        Driver::Wide {
            splits: 1,
            rows: 64,
        },
        Driver::Wide {
            splits: 3,
            rows: 64,
        },
        Driver::Wide {
            splits: 1,
            rows: 128,
        },
        Driver::Wide {
            splits: 3,
            rows: 128,
        },
    ];
    // Wherever subgroups exist, at any size: sizes 8 to 64 take the shuffle path, others the
    // tiled fallback inside the same kernel (lavapipe: LP_NATIVE_VECTOR_WIDTH=128 gives 4 lanes,
    // 256 gives 8, 512 gives 16).
    if gpu().ctx.has_subgroups() {
        println!(
            "subgroups of {}..{} lanes",
            gpu().ctx.info.subgroup_min_size,
            gpu().ctx.info.subgroup_max_size
        );
        d.extend([
            Driver::Subgroup { splits: 1 },
            Driver::Subgroup { splits: 3 },
        ]);
    } else {
        println!("no subgroup kernels on this adapter: the subgroup driver is not tested here");
    }
    d
}

/// The longest chain of roundings in a two-stage column sum (ops::reduce): the rows one lane
/// walks and the tree over the row lanes, then the blocks one finishing lane walks and its tree.
fn reduction_depth(rows: usize, cols: usize) -> usize {
    // One input walks 60 rows a lane in fewer blocks, two walk 30 in more: bound both.
    [1, 2]
        .map(|inputs| {
            let b = Blocks::new(rows, cols, inputs);
            let row_lanes = 256 / b.col_lanes;
            (b.block_rows / row_lanes) as usize
                + row_lanes.ilog2() as usize
                + b.blocks.div_ceil(16) as usize
                + 4
        })
        .into_iter()
        .max()
        .unwrap()
}

fn run(dispatches: &[Dispatch]) {
    gpu().ctx.run(dispatches).block_on().expect("GPU run");
}

// ---------------------------------------------------------------------------------------------
// Dense

fn dense_case(s: DenseShape, driver: Driver, seed: u64) {
    let g = gpu();
    let mut r = rng(seed);
    let (x, xd) = random(&mut r, s.batch * s.inputs, 1.0);
    let (w, wd) = random(&mut r, s.inputs * s.outputs, 0.5);
    let (b, bd) = random(&mut r, s.outputs, 0.5);
    let (dy, dyd) = random(&mut r, s.batch * s.outputs, 1.0);
    let (xs, ws, bs, dys) = (upload(&x), upload(&w), upload(&b), upload(&dy));
    let y = output(s.batch * s.outputs);
    let dx = output(s.batch * s.inputs);
    let dw = output(s.inputs * s.outputs);
    let db = output(s.outputs);
    let d = &g.ops.dense;
    let mut ds = d.forward(&g.ctx, s, &xs, &ws, Epilogue::bias(&bs), &y, driver);
    ds.extend(d.backward_input(&g.ctx, s, &dys, &ws, Epilogue::NONE, &dx, driver));
    ds.extend(d.backward_weight(&g.ctx, s, &xs, &dys, &dw, Some(&db), driver));
    run(&ds);

    use reference::dense as rd;
    let (bt, i, o) = (s.batch, s.inputs, s.outputs);
    let name = format!("{bt}x{i}->{o} {driver:?}");
    check_sum_of_products(
        &format!("dense forward {name}"),
        &read(&y),
        &rd::forward(&xd, &wd, &bd, bt, i, o),
        &rd::forward(&abs(&xd), &abs(&wd), &abs(&bd), bt, i, o),
        i,
    );
    check_sum_of_products(
        &format!("dense dX {name}"),
        &read(&dx),
        &rd::backward_input(&dyd, &wd, bt, i, o),
        &rd::backward_input(&abs(&dyd), &abs(&wd), bt, i, o),
        o,
    );
    check_sum_of_products(
        &format!("dense dW {name}"),
        &read(&dw),
        &rd::backward_weight(&xd, &dyd, bt, i, o),
        &rd::backward_weight(&abs(&xd), &abs(&dyd), bt, i, o),
        bt,
    );
    check_sum_of_products(
        &format!("dense db {name}"),
        &read(&db),
        &rd::column_sum(&dyd, bt, o),
        &rd::column_sum(&abs(&dyd), bt, o),
        // db comes from dW's GEMM (a row of ones): a sum of bt terms, like dW's.
        bt,
    );
}

#[test]
fn dense_odd_shapes_every_driver() {
    // The last two are 16-byte aligned (inputs and outputs multiples of 4) for `Wide`.
    let shapes = [
        (3, 7, 5),
        (5, 33, 70),
        (1, 100, 1),
        (9, 2, 130),
        (70, 65, 17),
        (7, 36, 68),
        (130, 20, 12),
    ];
    for (n, &(batch, inputs, outputs)) in shapes.iter().enumerate() {
        for driver in drivers() {
            dense_case(
                DenseShape {
                    batch,
                    inputs,
                    outputs,
                },
                driver,
                n as u64,
            );
        }
    }
}

#[test]
fn dense_dcgan_shapes() {
    // G: z -> 7*7*256; D: flatten(4*4*128) -> logit.
    dense_case(
        DenseShape {
            batch: 128,
            inputs: 100,
            outputs: 7 * 7 * 256,
        },
        Driver::Auto,
        10,
    );
    dense_case(
        DenseShape {
            batch: 128,
            inputs: 4 * 4 * 128,
            outputs: 1,
        },
        Driver::Auto,
        11,
    );
}

// ---------------------------------------------------------------------------------------------
// Conv2D

fn conv_case(s: ConvShape, driver: Driver, seed: u64) {
    let g = gpu();
    let mut r = rng(seed);
    let (x, xd) = random(&mut r, s.input_len(), 1.0);
    let (w, wd) = random(&mut r, s.kernel_len(), 0.5);
    let (b, bd) = random(&mut r, s.out_c, 0.5);
    let (dy, dyd) = random(&mut r, s.output_len(), 1.0);
    let (xs, ws, bs, dys) = (upload(&x), upload(&w), upload(&b), upload(&dy));
    let y = output(s.output_len());
    let dx = output(s.input_len());
    let dw = output(s.kernel_len());
    let db = output(s.out_c);
    let c = &g.ops.conv;
    let mut ds = c.conv2d_forward(&g.ctx, s, &xs, &ws, Epilogue::bias(&bs), &y, driver);
    ds.extend(c.conv2d_backward_input(&g.ctx, s, &dys, &ws, Epilogue::NONE, &dx, driver));
    ds.extend(c.conv2d_backward_weight(&g.ctx, s, &xs, &dys, &dw, Some(&db), driver));
    run(&ds);

    use reference::conv as rc;
    let geo = rc::Geometry {
        batch: s.batch,
        h: s.in_h,
        w: s.in_w,
        c: s.in_c,
        out_c: s.out_c,
        k: s.kernel,
        stride: s.stride,
    };
    let name = format!(
        "{}x{}x{}x{} -> {} s{} {driver:?}",
        s.batch, s.in_h, s.in_w, s.in_c, s.out_c, s.stride
    );
    let taps = s.kernel * s.kernel;
    let pixels = s.batch * s.out_h() * s.out_w();
    check_sum_of_products(
        &format!("conv2d forward {name}"),
        &read(&y),
        &rc::forward(&geo, &xd, &wd, &bd),
        &rc::forward(&geo, &abs(&xd), &abs(&wd), &abs(&bd)),
        taps * s.in_c,
    );
    check_sum_of_products(
        &format!("conv2d dX {name}"),
        &read(&dx),
        &rc::backward_input(&geo, &dyd, &wd),
        &rc::backward_input(&geo, &abs(&dyd), &abs(&wd)),
        taps * s.out_c,
    );
    check_sum_of_products(
        &format!("conv2d dW {name}"),
        &read(&dw),
        &rc::backward_weight(&geo, &xd, &dyd),
        &rc::backward_weight(&geo, &abs(&xd), &abs(&dyd)),
        pixels,
    );
    check_sum_of_products(
        &format!("conv2d db {name}"),
        &read(&db),
        &reference::dense::column_sum(&dyd, pixels, s.out_c),
        &reference::dense::column_sum(&abs(&dyd), pixels, s.out_c),
        // db comes from dW's GEMM (a row of ones): a sum of `pixels` terms, like dW's.
        pixels,
    );
}

#[test]
fn conv2d_padding_matches_keras() {
    // shared/golden/README.md: 28->14 pads (0,1), 14->7 (0,1), 7->4 (1,1).
    use dcgan_wgpu::ops::conv::same_padding;
    assert_eq!(same_padding(28, 3, 2), (14, 0, 1));
    assert_eq!(same_padding(14, 3, 2), (7, 0, 1));
    assert_eq!(same_padding(7, 3, 2), (4, 1, 1));
    assert_eq!(same_padding(14, 3, 1), (14, 1, 1));
    for (i, k, s) in [
        (28, 3, 2),
        (14, 3, 2),
        (7, 3, 2),
        (14, 3, 1),
        (9, 3, 2),
        (10, 5, 3),
    ] {
        let (o, before, _) = same_padding(i, k, s);
        assert_eq!(
            reference::tf_same(i, k, s),
            (o, before),
            "in {i} k {k} s {s}"
        );
    }
}

#[test]
fn conv2d_odd_shapes_every_driver() {
    // The last two are 16-byte aligned (channels multiples of 4) for `Wide`.
    let shapes = [
        (3, 9, 9, 5, 7, 1),
        (3, 9, 9, 5, 6, 2),
        (2, 10, 7, 3, 17, 2),
        (1, 5, 6, 70, 1, 1),
        (4, 8, 8, 1, 66, 2),
        (3, 9, 9, 4, 8, 2),
        (2, 7, 10, 12, 20, 1),
    ];
    for (n, &(batch, in_h, in_w, in_c, out_c, stride)) in shapes.iter().enumerate() {
        for driver in drivers() {
            let s = ConvShape {
                batch,
                in_h,
                in_w,
                in_c,
                out_c,
                kernel: 3,
                stride,
            };
            conv_case(s, driver, 100 + n as u64);
        }
    }
}

#[test]
fn conv2d_dcgan_shapes() {
    // The discriminator at batch 128.
    for (n, &(hw, in_c, out_c)) in [(28, 1, 32), (14, 32, 64), (7, 64, 128)].iter().enumerate() {
        let s = ConvShape {
            batch: 128,
            in_h: hw,
            in_w: hw,
            in_c,
            out_c,
            kernel: 3,
            stride: 2,
        };
        conv_case(s, Driver::Auto, 200 + n as u64);
    }
}

// ---------------------------------------------------------------------------------------------
// Conv2DTranspose

fn conv_transpose_case(s: ConvTransposeShape, driver: Driver, seed: u64) {
    let g = gpu();
    let mut r = rng(seed);
    let (x, xd) = random(&mut r, s.input_len(), 1.0);
    let (w, wd) = random(&mut r, s.kernel_len(), 0.5);
    let (b, bd) = random(&mut r, s.out_c, 0.5);
    let (dy, dyd) = random(&mut r, s.output_len(), 1.0);
    let (xs, ws, bs, dys) = (upload(&x), upload(&w), upload(&b), upload(&dy));
    let y = output(s.output_len());
    let dx = output(s.input_len());
    let dw = output(s.kernel_len());
    let db = output(s.out_c);
    let c = &g.ops.conv;
    let mut ds = c.conv_transpose_forward(&g.ctx, s, &xs, &ws, Epilogue::bias(&bs), &y, driver);
    ds.extend(c.conv_transpose_backward_input(&g.ctx, s, &dys, &ws, Epilogue::NONE, &dx, driver));
    ds.extend(c.conv_transpose_backward_weight(&g.ctx, s, &xs, &dys, &dw, driver));
    ds.extend(c.backward_bias(&g.ctx, &dys, s.out_c, &db));
    run(&ds);

    use reference::conv_transpose as rt;
    let geo = rt::Geometry {
        batch: s.batch,
        h: s.in_h,
        w: s.in_w,
        c: s.in_c,
        out_c: s.out_c,
        k: s.kernel,
        stride: s.stride,
    };
    let name = format!(
        "{}x{}x{}x{} -> {} s{} {driver:?}",
        s.batch, s.in_h, s.in_w, s.in_c, s.out_c, s.stride
    );
    let taps = s.kernel * s.kernel;
    let out_pixels = s.batch * s.out_h() * s.out_w();
    check_sum_of_products(
        &format!("conv_transpose forward {name}"),
        &read(&y),
        &rt::forward(&geo, &xd, &wd, &bd),
        &rt::forward(&geo, &abs(&xd), &abs(&wd), &abs(&bd)),
        taps * s.in_c,
    );
    check_sum_of_products(
        &format!("conv_transpose dX {name}"),
        &read(&dx),
        &rt::backward_input(&geo, &dyd, &wd),
        &rt::backward_input(&geo, &abs(&dyd), &abs(&wd)),
        taps * s.out_c,
    );
    check_sum_of_products(
        &format!("conv_transpose dW {name}"),
        &read(&dw),
        &rt::backward_weight(&geo, &xd, &dyd),
        &rt::backward_weight(&geo, &abs(&xd), &abs(&dyd)),
        s.batch * s.in_h * s.in_w,
    );
    check_sum_of_products(
        &format!("conv_transpose db {name}"),
        &read(&db),
        &reference::dense::column_sum(&dyd, out_pixels, s.out_c),
        &reference::dense::column_sum(&abs(&dyd), out_pixels, s.out_c),
        reduction_depth(out_pixels, s.out_c),
    );
}

#[test]
fn conv_transpose_odd_shapes_every_driver() {
    // The last one is 16-byte aligned (channels multiples of 4) for `Wide`.
    let shapes = [
        (3, 9, 9, 5, 7, 1),
        (3, 9, 9, 5, 6, 2),
        (2, 4, 5, 3, 17, 2),
        (1, 5, 3, 70, 1, 2),
        (4, 7, 7, 1, 66, 1),
        (3, 5, 4, 12, 8, 2),
    ];
    for (n, &(batch, in_h, in_w, in_c, out_c, stride)) in shapes.iter().enumerate() {
        for driver in drivers() {
            let s = ConvTransposeShape {
                batch,
                in_h,
                in_w,
                in_c,
                out_c,
                kernel: 3,
                stride,
            };
            conv_transpose_case(s, driver, 300 + n as u64);
        }
    }
}

#[test]
fn conv_transpose_dcgan_shapes() {
    // The generator at batch 128: 7x7x256 -> 14x14x128 -> 14x14x64 -> 28x28x1.
    let shapes = [(7, 256, 128, 2), (14, 128, 64, 1), (14, 64, 1, 2)];
    for (n, &(hw, in_c, out_c, stride)) in shapes.iter().enumerate() {
        let s = ConvTransposeShape {
            batch: 128,
            in_h: hw,
            in_w: hw,
            in_c,
            out_c,
            kernel: 3,
            stride,
        };
        conv_transpose_case(s, Driver::Auto, 400 + n as u64);
    }
}

// ---------------------------------------------------------------------------------------------
// Batch normalisation

/// Input columns with varied means and spreads, including one whose variance is far below
/// its mean squared and below epsilon (as D's bn2 sees in the Keras fixture).
fn bn_input(rows: usize, channels: usize, seed: u64) -> (Vec<f32>, Vec<f64>) {
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
    run(&ds);
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
    // Sums shifted by the first row K: mean = K + S1/n, var = S2/n - (S1/n)^2 with
    // S1 = sum(x - K), S2 = sum((x - K)^2); the errors scale with sum|x - K| and S2.
    let (mut mean_mag, mut var_mag) = (vec![0.0; channels], vec![0.0; channels]);
    for c in 0..channels {
        let k = xd[c];
        let (mut s1, mut s2) = (0.0, 0.0);
        for r in 0..rows {
            let d: f64 = xd[r * channels + c] - k;
            s1 += d.abs();
            s2 += d * d;
        }
        let n = rows as f64;
        mean_mag[c] = k.abs() + s1 / n;
        var_mag[c] = s2 / n + 2.0 * (mean_ref[c] - k).abs() * s1 / n;
    }
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

    // apply: x * inv + (beta - mean * inv) with inv = gamma * rsqrt(var + eps); rsqrt is
    // allowed 2 ulp on Vulkan, so allow 8 roundings relative to the magnitudes of the terms.
    let inv: Vec<f64> = (0..channels)
        .map(|c| gammad[c] / (var_r[c] + eps).sqrt())
        .collect();
    let y_mag: Vec<f64> = (0..rows * channels)
        .map(|i| {
            let c = i % channels;
            (xd[i] * inv[c]).abs() + betad[c].abs() + (mean_r[c] * inv[c]).abs()
        })
        .collect();
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

// ---------------------------------------------------------------------------------------------
// Activations

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

// ---------------------------------------------------------------------------------------------
// Loss

#[test]
fn bce_with_logits_loss_gradient_accuracy() {
    let g = gpu();
    // 2500: three workgroups and the finish that adds them.
    for (n, &batch) in [1usize, 8, 300, 128, 2500].iter().enumerate() {
        let mut r = rng(900 + n as u64);
        let (mut z, _) = random(&mut r, batch, 6.0);
        for (i, v) in [0.0, 30.0, -30.0, 100.0, -100.0].iter().enumerate() {
            if i < batch {
                z[i] = *v;
            }
        }
        let zd = to_f64(&z);
        for label in [1.0f32, 0.0] {
            let zs = upload(&z);
            let dz = output(batch);
            let metrics = output(4);
            run(&g
                .ops
                .loss
                .bce_with_logits(&g.ctx, label, &zs, &dz, &metrics, 2));
            let (loss, grad, acc) = reference::loss::bce_with_logits(&zd, f64::from(label));
            let m = read(&metrics);
            let name = format!("bce batch {batch} label {label}");
            // Per sample a few transcendental evaluations (abs error ~1e-7 each) summed over B.
            assert!(
                (f64::from(m[2]) - loss).abs() <= 1e-6 * (1.0 + loss),
                "{name}: loss {} vs {loss}",
                m[2]
            );
            // The hit count is exact; the accuracy is that count divided by B in f32.
            assert_eq!(
                (f64::from(m[3]) * batch as f64).round(),
                (acc * batch as f64).round(),
                "{name}: accuracy"
            );
            assert!(
                (f64::from(m[3]) - acc).abs() <= 2.0 * U32 * acc,
                "{name}: accuracy rounding"
            );
            assert_eq!((m[0], m[1]), (0.0, 0.0), "{name}: other slots untouched");
            // (sigmoid(z) - y) / B cancels when sigmoid(z) ~ y, so errors are relative to
            // (p + y) / B: a few roundings, plus exp(), which Vulkan allows 3 + 2|z| ulp.
            let mag: Vec<f64> = zd
                .iter()
                .map(|&v| (1.0 / (1.0 + (-v).exp()) + f64::from(label)) / batch as f64)
                .collect();
            let bound: Vec<f64> = zd
                .iter()
                .zip(&mag)
                .map(|(v, m)| (8.0 + 2.0 * v.abs()) * U32 * m)
                .collect();
            check_within(&format!("{name} gradient"), &read(&dz), &grad, &mag, &bound);
            println!("{name}: loss {} (ref {loss:.7}), accuracy {}", m[2], m[3]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Adam

#[test]
fn adam_matches_keras_float32() {
    let g = gpu();
    let n = 10_007;
    let mut r = rng(1000);
    let (theta0, _) = random(&mut r, n, 1.0);
    let grads: Vec<Vec<f32>> = (0..3).map(|_| random(&mut r, n, 0.1).0).collect();
    let config = AdamConfig::default();
    let (param, m, v) = (upload(&theta0), output(n), output(n));
    let state = g.ctx.storage_init("adam state", &initial_state());
    let alphas = output(MAX_STEPS);
    let grad: Vec<GpuSlice> = grads.iter().map(|gr| upload(gr)).collect();
    let mut adam = reference::adam::Adam::new(n);
    let mut theta = theta0.clone();
    // Step 1 alone (schedule + update); steps 2 and 3 as D takes them in an iteration: one
    // schedule of two steps, then the update of each slot.
    let a = &g.ops.adam;
    run(&a.step(&g.ctx, &config, &state, &alphas, &grad[0], &param, &m, &v));
    let mut checks = vec![(1, read(&param), read(&m), read(&v))];
    let schedule = Schedule {
        state: &state,
        alphas: &alphas,
        steps: 2,
    };
    run(&[
        a.schedule(&g.ctx, &config, schedule, None),
        a.update(&g.ctx, &config, &alphas, 0, &grad[1], &param, &m, &v),
    ]);
    checks.push((2, read(&param), read(&m), read(&v)));
    run(&[a.update(&g.ctx, &config, &alphas, 1, &grad[2], &param, &m, &v)]);
    checks.push((3, read(&param), read(&m), read(&v)));
    for ((step, got, got_m, got_v), gr) in checks.into_iter().zip(&grads) {
        adam.step(&mut theta, gr);
        let exact = to_f64(&theta);
        // Keras' float32 arithmetic, operation by operation: a handful of roundings of the
        // update (|update| <= ~lr) and one of theta.
        let mag: Vec<f64> = theta.iter().map(|t| f64::from(t.abs()) + 1e-3).collect();
        check_sum_of_products(&format!("adam step {step}"), &got, &exact, &mag, 4);
        let same = got
            .iter()
            .zip(&theta)
            .filter(|(a, b)| a.to_bits() == b.to_bits())
            .count();
        println!("adam step {step}: {same}/{n} parameters bit-identical to the reference");
        check_sum_of_products(
            "adam m",
            &got_m,
            &to_f64(&adam.m),
            &abs(&to_f64(&adam.m)),
            4,
        );
        check_sum_of_products(
            "adam v",
            &got_v,
            &to_f64(&adam.v),
            &abs(&to_f64(&adam.v)),
            4,
        );
    }
    let st: Vec<u32> = g.ctx.read(&state).block_on().unwrap();
    assert_eq!(st.len(), STATE_LEN);
    assert_eq!(st[0], 3, "step count");
}

// ---------------------------------------------------------------------------------------------
// Data path and RNG

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
            seed,
            stream::REAL_INDICES,
            Iteration::Counter(&counter),
            60000,
            &idx,
        ),
        g.ops.data.sample_indices(
            &g.ctx,
            seed,
            stream::REAL_INDICES,
            Iteration::Fixed(7),
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
        d.draw_batch(&g.ctx, 9, s0, it, &img, count, pixels, &real, &noise),
        d.sample_indices(&g.ctx, 9, s0, it, count, &indices),
        d.gather_images(&g.ctx, pixels, &img, &indices, &real2),
        d.normal_noise(&g.ctx, 9, s0 + 1, it, &z1),
        d.normal_noise(&g.ctx, 9, s0 + 2, it, &z2),
    ]);
    check_bits("draw_batch images", &read(&real), &read(&real2));
    check_bits("draw_batch first noise", &read(&noise.first), &read(&z1));
    check_bits("draw_batch second noise", &read(&noise.second), &read(&z2));
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
        seed,
        stream::FAKE_NOISE,
        Iteration::Counter(&counter),
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
            9,
            stream::GENERATOR_NOISE,
            Iteration::Counter(&counter),
            &a,
        ),
        g.ops.data.advance_iteration(&g.ctx, &counter),
        g.ops.data.normal_noise(
            &g.ctx,
            9,
            stream::GENERATOR_NOISE,
            Iteration::Counter(&counter),
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

// ---------------------------------------------------------------------------------------------
// Determinism

#[test]
fn reductions_are_bit_reproducible() {
    // Split-K weight gradients, column sums, BN statistics and the loss: run twice, compare bits.
    let g = gpu();
    let s = ConvShape {
        batch: 128,
        in_h: 14,
        in_w: 14,
        in_c: 32,
        out_c: 64,
        kernel: 3,
        stride: 2,
    };
    let mut r = rng(1100);
    let (x, _) = random(&mut r, s.input_len(), 1.0);
    let (dy, _) = random(&mut r, s.output_len(), 1.0);
    let (xs, dys) = (upload(&x), upload(&dy));
    let bn_shape = BnShape {
        rows: s.batch * 49,
        channels: 64,
    };
    let logits = dys.range(0, 128);
    let outs = || {
        let dw = output(s.kernel_len());
        let db = output(s.out_c);
        let st = Stats::upload(&g.ctx, "stats", &[0.0; 64], &[0.0; 64]);
        let (ones, zeros, bn_y) = (upload(&[1.0; 64]), upload(&[0.0; 64]), output(dys.len));
        let dz = output(128);
        let metrics = output(2);
        let mut ds =
            g.ops
                .conv
                .conv2d_backward_weight(&g.ctx, s, &xs, &dys, &dw, None, Driver::Auto);
        assert!(ds.len() == 2, "this shape should use split-K");
        ds.extend(g.ops.conv.backward_bias(&g.ctx, &dys, s.out_c, &db));
        ds.extend(g.ops.batchnorm.forward_train(
            &g.ctx, bn_shape, &dys, &ones, &zeros, &st, None, &bn_y, None,
        ));
        ds.extend(
            g.ops
                .loss
                .bce_with_logits(&g.ctx, 1.0, &logits, &dz, &metrics, 0),
        );
        run(&ds);
        [
            read(&dw),
            read(&db),
            read(&st.mean),
            read(&st.variance),
            read(&dz),
            read(&metrics),
        ]
    };
    let first = outs();
    let second = outs();
    for (i, (a, b)) in first.iter().zip(&second).enumerate() {
        check_bits(&format!("run twice, output {i}"), b, a);
    }
}

// ---------------------------------------------------------------------------------------------
// Driver choice and tuning

#[test]
fn gemm_drivers_agree_bit_for_bit() {
    // The autotuner may pick any unsplit driver; each output is the same sequential sum over k
    // in all of them, so a run's bits do not depend on the choice.
    let g = gpu();
    let mut choices = vec![
        Driver::Tiled { splits: 1 },
        Driver::Narrow,
        Driver::Wide {
            splits: 1,
            rows: 64,
        },
        Driver::Wide {
            splits: 1,
            rows: 128,
        },
    ];
    if g.ctx.has_subgroups() {
        choices.push(Driver::Subgroup { splits: 1 });
    }
    let s = ConvShape {
        batch: 5,
        in_h: 9,
        in_w: 10,
        in_c: 12,
        out_c: 20,
        kernel: 3,
        stride: 2,
    };
    let ts = ConvTransposeShape {
        batch: 5,
        in_h: 5,
        in_w: 4,
        in_c: 12,
        out_c: 20,
        kernel: 3,
        stride: 2,
    };
    let ds = DenseShape {
        batch: 7,
        inputs: 30,
        outputs: 21,
    };
    let mut r = rng(1200);
    let inputs: Vec<GpuSlice> = [
        s.input_len(),
        s.kernel_len(),
        s.output_len(),
        ts.input_len(),
        ts.output_len(),
        7 * 30,
        30 * 21,
        7 * 21,
    ]
    .iter()
    .map(|&n| upload(&random(&mut r, n, 1.0).0))
    .collect();
    let [x, w, dy, tx, tdy, dx_, dw_, ddy] = &inputs[..] else {
        unreachable!()
    };
    let c = &g.ops.conv;
    let d = &g.ops.dense;
    type Build<'a> = Box<dyn Fn(Driver, &GpuSlice) -> Vec<Dispatch> + 'a>;
    let cases: Vec<(&str, usize, Build)> = vec![
        (
            "conv forward",
            s.output_len(),
            Box::new(|dr, o| c.conv2d_forward(&g.ctx, s, x, w, Epilogue::NONE, o, dr)),
        ),
        (
            "conv dX",
            s.input_len(),
            Box::new(|dr, o| c.conv2d_backward_input(&g.ctx, s, dy, w, Epilogue::NONE, o, dr)),
        ),
        (
            "conv dW",
            s.kernel_len(),
            Box::new(|dr, o| c.conv2d_backward_weight(&g.ctx, s, x, dy, o, None, dr)),
        ),
        (
            "conv_transpose forward",
            ts.output_len(),
            Box::new(|dr, o| c.conv_transpose_forward(&g.ctx, ts, tx, w, Epilogue::NONE, o, dr)),
        ),
        (
            "conv_transpose dW",
            ts.kernel_len(),
            Box::new(|dr, o| c.conv_transpose_backward_weight(&g.ctx, ts, tx, tdy, o, dr)),
        ),
        (
            "dense forward",
            7 * 21,
            Box::new(|dr, o| d.forward(&g.ctx, ds, dx_, dw_, Epilogue::NONE, o, dr)),
        ),
        (
            "dense dX",
            7 * 30,
            Box::new(|dr, o| d.backward_input(&g.ctx, ds, ddy, dw_, Epilogue::NONE, o, dr)),
        ),
        (
            "dense dW",
            30 * 21,
            Box::new(|dr, o| d.backward_weight(&g.ctx, ds, dx_, ddy, o, None, dr)),
        ),
    ];
    for (name, len, build) in &cases {
        let outs: Vec<Vec<f32>> = choices
            .iter()
            .map(|&dr| {
                let o = output(*len);
                run(&build(dr, &o));
                read(&o)
            })
            .collect();
        for (i, o) in outs.iter().enumerate().skip(1) {
            check_bits(
                &format!("{name}: {:?} vs {:?}", choices[i], choices[0]),
                o,
                &outs[0],
            );
        }
    }
}

#[test]
fn tuning_check_tells_equal_bits_from_a_different_summation() {
    // Another driver with the same split gives the same bits; another split (another order of
    // the K sum) does not, and the check must say so, or the tuner could change a run's bits.
    use dcgan_wgpu::ops::gemm::GemmParams;
    let g = gpu();
    let (batch, inputs, outputs) = (2048, 37, 70);
    let x = upload(&random(&mut rng(1250), batch * inputs, 1.0).0);
    let dy = upload(&random(&mut rng(1251), batch * outputs, 1.0).0);
    let dw = output(inputs * outputs);
    let p = GemmParams {
        m: inputs as u32,
        n: outputs as u32,
        k: batch as u32,
        ..Default::default()
    };
    let kernels = &g.ops.dense.backward_weight;
    let check = |fixed, candidate| {
        kernels
            .identical(&g.ctx, p, &x, &dy, Epilogue::NONE, &dw, fixed, candidate)
            .block_on()
            .unwrap()
    };
    let tiled = Driver::Tiled { splits: 1 };
    assert!(check(tiled, Driver::Narrow), "narrow vs tiled");
    if g.ctx.has_subgroups() {
        assert!(
            check(tiled, Driver::Subgroup { splits: 1 }),
            "subgroup vs tiled"
        );
    }
    assert!(
        !check(tiled, Driver::Tiled { splits: 3 }),
        "a 3-way split-K sums in another order: the check must see different bits"
    );
}

#[test]
fn tuner_chooses_a_correct_variant_and_caches_it() {
    use dcgan_wgpu::ops::Ops;
    let g = gpu();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tuning.json");
    let ops = Ops::with_tuner(&g.ctx, common::tuner_with_file(&g.ctx, &path)).unwrap();
    let s = ConvShape {
        batch: 3,
        in_h: 9,
        in_w: 9,
        in_c: 5,
        out_c: 24,
        kernel: 3,
        stride: 1,
    };
    let mut r = rng(1300);
    let (x, xd) = random(&mut r, s.input_len(), 1.0);
    let (w, wd) = random(&mut r, s.kernel_len(), 0.5);
    let (xs, ws, y) = (upload(&x), upload(&w), output(s.output_len()));
    run(&ops
        .conv
        .conv2d_forward(&g.ctx, s, &xs, &ws, Epilogue::NONE, &y, Driver::Auto));
    let geo = reference::conv::Geometry {
        batch: 3,
        h: 9,
        w: 9,
        c: 5,
        out_c: 24,
        k: 3,
        stride: 1,
    };
    let zero = vec![0.0; 24];
    check_sum_of_products(
        "tuned conv forward",
        &read(&y),
        &reference::conv::forward(&geo, &xd, &wd, &zero),
        &reference::conv::forward(&geo, &abs(&xd), &abs(&wd), &zero),
        45,
    );
    common::save_tuner(&ops, &path);
    let text = std::fs::read_to_string(&path).expect("the cache was written");
    assert!(text.contains("conv OP=0"), "{text}");
    // A new tuner reads the choice back instead of timing again.
    let again = common::tuner_with_file(&g.ctx, &path);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let key = json["adapters"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    assert!(again.cached(&key).is_some());
}

// ---------------------------------------------------------------------------------------------
// Fused epilogues

#[test]
fn input_gradient_epilogue_takes_the_activation_backward() {
    // dx = act'(saved) * (dy W^T) in one kernel equals the input-gradient GEMM followed by the
    // activation's backward kernel, bit for bit, for every driver, through the strided conv's
    // parity classes (one dispatch) and the dense mapping.
    let g = gpu();
    let s = ConvShape {
        batch: 3,
        in_h: 9,
        in_w: 8,
        in_c: 5,
        out_c: 20,
        kernel: 3,
        stride: 2,
    };
    let ds_ = DenseShape {
        batch: 7,
        inputs: 30,
        outputs: 21,
    };
    let mut r = rng(1450);
    let (dy, w, saved) = (
        upload(&random(&mut r, s.output_len(), 1.0).0),
        upload(&random(&mut r, s.kernel_len(), 1.0).0),
        upload(&random(&mut r, s.input_len(), 1.0).0),
    );
    let (ddy, dw, dsaved) = (
        upload(&random(&mut r, 7 * 21, 1.0).0),
        upload(&random(&mut r, 30 * 21, 1.0).0),
        upload(&random(&mut r, 7 * 30, 1.0).0),
    );
    for driver in drivers() {
        for act in [Activation::LeakyRelu, Activation::Tanh] {
            let through = Epilogue::through(Some(act), Some(&saved));
            let (plain, fused, separate) = (
                output(s.input_len()),
                output(s.input_len()),
                output(s.input_len()),
            );
            let c = &g.ops.conv;
            let mut ds =
                c.conv2d_backward_input(&g.ctx, s, &dy, &w, Epilogue::NONE, &plain, driver);
            ds.push(
                g.ops
                    .activation
                    .backward(&g.ctx, act, &saved, &plain, &separate),
            );
            ds.extend(c.conv2d_backward_input(&g.ctx, s, &dy, &w, through, &fused, driver));
            let through = Epilogue::through(Some(act), Some(&dsaved));
            let (dplain, dfused, dseparate) = (output(7 * 30), output(7 * 30), output(7 * 30));
            let d = &g.ops.dense;
            ds.extend(d.backward_input(&g.ctx, ds_, &ddy, &dw, Epilogue::NONE, &dplain, driver));
            ds.push(
                g.ops
                    .activation
                    .backward(&g.ctx, act, &dsaved, &dplain, &dseparate),
            );
            ds.extend(d.backward_input(&g.ctx, ds_, &ddy, &dw, through, &dfused, driver));
            run(&ds);
            check_bits(
                &format!("conv dX through {act:?} ({driver:?})"),
                &read(&fused),
                &read(&separate),
            );
            check_bits(
                &format!("dense dX through {act:?} ({driver:?})"),
                &read(&dfused),
                &read(&dseparate),
            );
        }
    }
}

#[test]
fn gemm_and_batchnorm_epilogues_apply_the_activation() {
    // act(conv + b) and act(bn(x)) in one kernel equal the unfused kernels' results bit for bit
    // (the same float32 operations in the same order), for every driver.
    let g = gpu();
    let s = ConvShape {
        batch: 3,
        in_h: 9,
        in_w: 8,
        in_c: 5,
        out_c: 20,
        kernel: 3,
        stride: 2,
    };
    let ts = ConvTransposeShape {
        batch: 3,
        in_h: 5,
        in_w: 4,
        in_c: 20,
        out_c: 1,
        kernel: 3,
        stride: 2,
    };
    let mut r = rng(1400);
    let (x, w, b) = (
        upload(&random(&mut r, s.input_len(), 1.0).0),
        upload(&random(&mut r, s.kernel_len(), 1.0).0),
        upload(&random(&mut r, 20, 1.0).0),
    );
    let (tx, tw, tb) = (
        upload(&random(&mut r, ts.input_len(), 1.0).0),
        upload(&random(&mut r, ts.kernel_len(), 1.0).0),
        upload(&random(&mut r, 1, 1.0).0),
    );
    for driver in drivers() {
        for act in [Activation::LeakyRelu, Activation::Tanh, Activation::Sigmoid] {
            let (plain, fused, separate) = (
                output(s.output_len()),
                output(s.output_len()),
                output(s.output_len()),
            );
            let mut ds =
                g.ops
                    .conv
                    .conv2d_forward(&g.ctx, s, &x, &w, Epilogue::bias(&b), &plain, driver);
            ds.push(g.ops.activation.forward(&g.ctx, act, &plain, &separate));
            ds.extend(g.ops.conv.conv2d_forward(
                &g.ctx,
                s,
                &x,
                &w,
                Epilogue::bias(&b).then(Some(act)),
                &fused,
                driver,
            ));
            run(&ds);
            check_bits(
                &format!("conv forward + {act:?} fused ({driver:?})"),
                &read(&fused),
                &read(&separate),
            );
            let (plain, fused, separate) = (
                output(ts.output_len()),
                output(ts.output_len()),
                output(ts.output_len()),
            );
            let mut ds = g.ops.conv.conv_transpose_forward(
                &g.ctx,
                ts,
                &tx,
                &tw,
                Epilogue::bias(&tb),
                &plain,
                driver,
            );
            ds.push(g.ops.activation.forward(&g.ctx, act, &plain, &separate));
            ds.extend(g.ops.conv.conv_transpose_forward(
                &g.ctx,
                ts,
                &tx,
                &tw,
                Epilogue::bias(&tb).then(Some(act)),
                &fused,
                driver,
            ));
            run(&ds);
            check_bits(
                &format!("conv_transpose forward + {act:?} fused ({driver:?})"),
                &read(&fused),
                &read(&separate),
            );
        }
    }
    let bs = BnShape {
        rows: 243,
        channels: 5,
    };
    let (bx, _) = bn_input(243, 5, 1401);
    let (bx, gamma, beta) = (
        upload(&bx),
        upload(&random(&mut r, 5, 2.0).0),
        upload(&random(&mut r, 5, 1.0).0),
    );
    let stats = Stats::upload(&g.ctx, "stats", &[0.0; 5], &[0.0; 5]);
    for act in [Activation::LeakyRelu, Activation::Tanh] {
        let (plain, fused, separate) = (output(243 * 5), output(243 * 5), output(243 * 5));
        let bn = &g.ops.batchnorm;
        let mut ds = bn
            .forward_train(&g.ctx, bs, &bx, &gamma, &beta, &stats, None, &plain, None)
            .to_vec();
        ds.push(g.ops.activation.forward(&g.ctx, act, &plain, &separate));
        ds.extend(bn.forward_train(
            &g.ctx,
            bs,
            &bx,
            &gamma,
            &beta,
            &stats,
            None,
            &fused,
            Some(act),
        ));
        run(&ds);
        check_bits(
            &format!("batchnorm + {act:?} fused"),
            &read(&fused),
            &read(&separate),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy (the classifier's loss)

#[test]
fn softmax_cross_entropy_and_probabilities() {
    let g = gpu();
    // 2100 rows: three workgroups and the finish.
    for (n, &(rows, classes)) in [(1usize, 10usize), (7, 3), (300, 10), (128, 10), (2100, 10)]
        .iter()
        .enumerate()
    {
        let mut r = rng(1500 + n as u64);
        let (mut z, _) = random(&mut r, rows * classes, 8.0);
        z[0] = 80.0; // far beyond exp's range without the max subtraction
        let zd = to_f64(&z);
        let labels: Vec<u32> = (0..rows).map(|i| ((i * 7 + n) % classes) as u32).collect();
        let (zs, ls) = (upload(&z), g.ctx.storage_init("labels", &labels));
        let (dz, probs, metrics) = (output(rows * classes), output(rows * classes), output(4));
        let mut ds = g
            .ops
            .softmax
            .cross_entropy(&g.ctx, classes, &zs, &ls, &dz, &metrics, 2);
        ds.push(g.ops.softmax.probabilities(&g.ctx, classes, &zs, &probs));
        run(&ds);
        let (loss, grad, acc) = reference::softmax::cross_entropy(&zd, &labels, classes);
        let m = read(&metrics);
        let name = format!("softmax {rows}x{classes}");
        // log-sum-exp and the gather: a few roundings of values up to |z| + log(classes).
        assert!(
            (f64::from(m[2]) - loss).abs() <= 1e-5 * (1.0 + loss),
            "{name}: loss {} vs {loss}",
            m[2]
        );
        assert_eq!(
            (f64::from(m[3]) * rows as f64).round(),
            (acc * rows as f64).round(),
            "{name}: accuracy"
        );
        // exp(z - max) is allowed 3 + 2|z - max| ulp (Vulkan), the row sum and the division a few
        // more; p - onehot cancels near p = 1, so the gradient's errors are relative to (p + 1) / rows.
        let p = reference::softmax::softmax(&zd, classes);
        let ulps: Vec<f64> = zd
            .chunks(classes)
            .flat_map(|row| {
                let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                row.iter()
                    .map(move |v| 12.0 + 2.0 * (m - v))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mag: Vec<f64> = p.iter().map(|v| (v + 1.0) / rows as f64).collect();
        let bound: Vec<f64> = mag.iter().zip(&ulps).map(|(m, k)| k * U32 * m).collect();
        check_within(&format!("{name} gradient"), &read(&dz), &grad, &mag, &bound);
        let bound: Vec<f64> = p
            .iter()
            .zip(&ulps)
            .map(|(v, k)| k * U32 * v + 1e-30)
            .collect();
        check_within(
            &format!("{name} probabilities"),
            &read(&probs),
            &p,
            &p,
            &bound,
        );
    }
}
