//! Fused epilogues: activations in GEMM and BatchNorm stores, activation gradients in the input-gradient GEMM.

use super::*;

#[test]
fn input_gradient_epilogue_takes_the_activation_backward() {
    // dx = act'(saved) * (dy W^T) in one kernel equals the input-gradient GEMM followed by the
    // activation's backward kernel, bit for bit, for every driver, through the strided conv's
    // parity classes (one dispatch) and the dense mapping.
    let g = gpu();
    let s = Conv2d {
        transposed: false,
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
            let mut ds = c.backward_input(&g.ctx, s, Pass::new(&dy, &w, &plain), driver);
            ds.push(
                g.ops
                    .activation
                    .backward(&g.ctx, act, &saved, &plain, &separate),
            );
            ds.extend(c.backward_input(
                &g.ctx,
                s,
                Pass::new(&dy, &w, &fused).epilogue(through),
                driver,
            ));
            let through = Epilogue::through(Some(act), Some(&dsaved));
            let (dplain, dfused, dseparate) = (output(7 * 30), output(7 * 30), output(7 * 30));
            let d = &g.ops.dense;
            ds.extend(d.backward_input(&g.ctx, ds_, Pass::new(&ddy, &dw, &dplain), driver));
            ds.push(
                g.ops
                    .activation
                    .backward(&g.ctx, act, &dsaved, &dplain, &dseparate),
            );
            ds.extend(d.backward_input(
                &g.ctx,
                ds_,
                Pass::new(&ddy, &dw, &dfused).epilogue(through),
                driver,
            ));
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
    let s = Conv2d {
        transposed: false,
        batch: 3,
        in_h: 9,
        in_w: 8,
        in_c: 5,
        out_c: 20,
        kernel: 3,
        stride: 2,
    };
    let ts = Conv2d {
        transposed: true,
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
            let mut ds = g.ops.conv.forward(
                &g.ctx,
                s,
                Pass::new(&x, &w, &plain).epilogue(Epilogue::bias(&b)),
                driver,
            );
            ds.push(g.ops.activation.forward(&g.ctx, act, &plain, &separate));
            ds.extend(g.ops.conv.forward(
                &g.ctx,
                s,
                Pass::new(&x, &w, &fused).epilogue(Epilogue::bias(&b).then(Some(act))),
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
            let mut ds = g.ops.conv.forward(
                &g.ctx,
                ts,
                Pass::new(&tx, &tw, &plain).epilogue(Epilogue::bias(&tb)),
                driver,
            );
            ds.push(g.ops.activation.forward(&g.ctx, act, &plain, &separate));
            ds.extend(g.ops.conv.forward(
                &g.ctx,
                ts,
                Pass::new(&tx, &tw, &fused).epilogue(Epilogue::bias(&tb).then(Some(act))),
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
    let (bx, _) = super::batchnorm::bn_input(243, 5, 1401);
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
            .forward_train(
                &g.ctx,
                bs,
                BnLayer {
                    gamma: &gamma,
                    beta: &beta,
                    activation: None,
                },
                &bx,
                TrainStats {
                    batch: &stats,
                    moving: None,
                },
                &plain,
            )
            .to_vec();
        ds.push(g.ops.activation.forward(&g.ctx, act, &plain, &separate));
        ds.extend(bn.forward_train(
            &g.ctx,
            bs,
            BnLayer {
                gamma: &gamma,
                beta: &beta,
                activation: Some(act),
            },
            &bx,
            TrainStats {
                batch: &stats,
                moving: None,
            },
            &fused,
        ));
        run(&ds);
        check_bits(
            &format!("batchnorm + {act:?} fused"),
            &read(&fused),
            &read(&separate),
        );
    }
}
