//! Gradients, Adam steps and moving statistics against Keras' training iteration.

use super::*;

/// Biases that feed a training-mode BatchNorm: their gradient is mathematically zero and the
/// fixture holds float32 noise (README: check only |grad| <= 1e-4).
fn gradient_is_zero(v: Variant, net: &str, name: &str) -> bool {
    matches!(
        (net, name),
        ("D", "conv2.bias") | ("D", "conv3.bias") | ("G", "convt1.bias") | ("G", "convt2.bias")
    ) || (v.arch == Arch::SeedCode && net == "D" && name == "bn3.beta")
}

fn check_gradients(v: Variant, step: &str, net: &str, p: &NetworkParams) {
    let fx = fixture();
    let grads = read(&p.grads);
    for e in &p.layout.entries {
        let ours = &grads[e.offset..e.offset + e.len];
        let label = format!("{} {step}.grad.{net}.{}", v.key, e.name);
        if gradient_is_zero(v, net, &e.name) {
            let m = ours.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            println!("{label}: mathematically zero, max |ours| {m:.2e}");
            assert!(m <= 1e-4, "{label}: {m}");
            continue;
        }
        // G.dense.kernel is stored for its first 16 rows (all 12544 columns).
        let keras = fx.tensor(v.key, &format!("{step}.grad.{net}.{}", e.name));
        check_e(&label, ours, &keras, 1e-4, 1e-6);
    }
}

/// Writes Keras' own activations and batch statistics of a training-mode pass into the
/// network's buffers, so its backward pass runs on exactly Keras' forward values. (Chaining our
/// own forward instead would let LeakyReLU's kink amplify float32 differences: a BN output
/// within ~1e-6 of 0 can take the other side of the kink and change its gradient 100-fold.)
fn load_keras_pass(v: Variant, step: &str, net: &str, network: &Network, input: &[f32]) {
    let g = gpu();
    let fx = fixture();
    let mut prev = input.to_vec();
    for (i, spec) in network.layers.iter().enumerate() {
        let out = match spec.layer {
            Layer::LeakyRelu => leaky_relu_f32(&prev),
            _ => fx.tensor(v.key, &format!("{step}.{net}.{}.out", spec.name)),
        };
        g.ctx.write(&network.acts[i], &out);
        if let Some(stats) = &network.batch_stats[i] {
            g.ctx.write(
                &stats.mean,
                &fx.tensor(v.key, &format!("{step}.{net}.{}.batch_mean", spec.name)),
            );
            g.ctx.write(
                &stats.variance,
                &fx.tensor(v.key, &format!("{step}.{net}.{}.batch_variance", spec.name)),
            );
        }
        prev = out;
    }
}

#[test]
fn gradients_match_keras() {
    // Each step's backward pass runs on Keras' own forward values (see load_keras_pass); our
    // forward passes are checked layer by layer in forward_layers_match_keras.
    let g = gpu();
    let fx = fixture();
    for v in VARIANTS {
        let gl = model::generator(v.arch, Z_DIM);
        let dl = model::discriminator(v.arch);
        let derived = derive_d(v, &dl);
        let d_layout = ParamLayout::trainable(&dl);
        let d_stats = ParamLayout::moving_stats(&dl);
        let d_net = Network::new(&g.ctx, "D", &dl, BATCH);
        let train = BnMode::Train {
            update_moving: true,
        };
        // Steps 2 and 3: D's gradients on the real batch (labels 1) and the fakes (labels 0).
        let starts = [
            (
                "step2",
                1.0f32,
                "input.real",
                flat_from_fixture(v, &d_layout, "init.D"),
                flat_from_fixture(v, &d_stats, "init.D"),
            ),
            (
                "step3",
                0.0,
                "step1.G.tanh.out",
                derived.after2_params.clone(),
                derived.after2_moving.clone(),
            ),
        ];
        for (step, label, input, params, moving) in starts {
            let p = params_on_gpu(&dl, &params, &moving);
            let input = fx.tensor(v.key, input);
            let x = upload(&input);
            // Our forward pass folds our batch statistics into the moving statistics.
            run_all(d_net.forward(&g.ops.recorder(&g.ctx), &p, &x, train));
            let mut expected = moving.clone();
            update_moving(v, &d_stats, &mut expected, step, "D", &dl);
            check_e(
                &format!("{} {step} D moving statistics", v.key),
                &read(&p.moving),
                &expected,
                1e-6,
                1e-6,
            );
            load_keras_pass(v, step, "D", &d_net, &input);
            let (dlogits, metrics) = (output(BATCH), output(2));
            let mut d =
                g.ops
                    .loss
                    .bce_with_logits(&g.ctx, label, d_net.output(), &dlogits, &metrics, 0);
            d.extend(d_net.backward(
                &g.ops.recorder(&g.ctx),
                &p,
                &x,
                Upstream::Output(&dlogits),
                Gradients::Weights,
                InputGrad::None,
            ));
            run_all(d);
            check_gradients(v, step, "D", &p);
        }
        // Step 4: G's gradients through the frozen D (after step 3), labels 1.
        let g_layout = ParamLayout::trainable(&gl);
        let g_stats = ParamLayout::moving_stats(&gl);
        let g_moving = flat_from_fixture(v, &g_stats, "init.G");
        let gp = params_on_gpu(&gl, &flat_from_fixture(v, &g_layout, "init.G"), &g_moving);
        let dp = params_on_gpu(&dl, &derived.after3_params, &derived.after3_moving);
        let g_net = Network::new(&g.ctx, "G", &gl, BATCH);
        let z2 = fx.tensor(v.key, "input.z2");
        let z = upload(&z2);
        let mut d = g_net.forward(&g.ops.recorder(&g.ctx), &gp, &z, train);
        d.extend(d_net.forward(
            &g.ops.recorder(&g.ctx),
            &dp,
            g_net.output(),
            BnMode::Train {
                update_moving: false,
            },
        ));
        run_all(d);
        check_e(
            &format!("{} step4 frozen D moving statistics unchanged", v.key),
            &read(&dp.moving),
            &derived.after3_moving,
            0.0,
            0.0,
        );
        let mut expected = g_moving.clone();
        update_moving(v, &g_stats, &mut expected, "step4", "G", &gl);
        check_e(
            &format!("{} step4 G moving statistics", v.key),
            &read(&gp.moving),
            &expected,
            1e-6,
            1e-6,
        );
        load_keras_pass(v, "step4", "G", &g_net, &z2);
        load_keras_pass(
            v,
            "step4",
            "D",
            &d_net,
            &fx.tensor(v.key, "step4.G.tanh.out"),
        );
        let (dlogits, metrics) = (output(BATCH), output(2));
        let mut d = g
            .ops
            .loss
            .bce_with_logits(&g.ctx, 1.0, d_net.output(), &dlogits, &metrics, 0);
        // The plain input gradient (Keras' grad.fakes), then G's backward through its tanh
        // (training fuses the tanh into D's input gradient instead; tests/train.rs runs that).
        d.extend(d_net.backward(
            &g.ops.recorder(&g.ctx),
            &dp,
            g_net.output(),
            Upstream::Output(&dlogits),
            Gradients::None,
            InputGrad::Plain,
        ));
        d.extend(g_net.backward(
            &g.ops.recorder(&g.ctx),
            &gp,
            &z,
            Upstream::Output(&d_net.input_grad),
            Gradients::Weights,
            InputGrad::None,
        ));
        run_all(d);
        check_e(
            &format!("{} step4.grad.fakes", v.key),
            &read(&d_net.input_grad),
            &fx.tensor(v.key, "step4.grad.fakes"),
            1e-4,
            1e-6,
        );
        check_gradients(v, "step4", "G", &gp);
    }
}

#[test]
fn adam_and_moving_statistics_match_keras() {
    // Adam applied to the fixture's own gradients (two D steps sharing one optimizer, one G
    // step) and BN moving statistics from the fixture's batch statistics. The expected values
    // are Keras' own after-step tensors (re-derived; see DerivedD).
    let g = gpu();
    let fx = fixture();
    let config = AdamConfig::default();
    for v in VARIANTS {
        let dl = model::discriminator(v.arch);
        let derived = derive_d(v, &dl);
        let d_layout = ParamLayout::trainable(&dl);
        let d_stats = ParamLayout::moving_stats(&dl);
        let p = params_on_gpu(
            &dl,
            &flat_from_fixture(v, &d_layout, "init.D"),
            &flat_from_fixture(v, &d_stats, "init.D"),
        );
        for (step, expected_params, expected_moving) in [
            ("step2", &derived.after2_params, &derived.after2_moving),
            ("step3", &derived.after3_params, &derived.after3_moving),
        ] {
            g.ctx.write(
                &p.grads,
                &flat_from_fixture(v, &d_layout, &format!("{step}.grad.D")),
            );
            let mut d = p.adam_step(&g.ops.recorder(&g.ctx), &config).to_vec();
            for l in dl
                .iter()
                .filter(|l| matches!(l.layer, Layer::BatchNorm { .. }))
            {
                let Layer::BatchNorm { channels } = l.layer else {
                    unreachable!()
                };
                let batch = Stats::upload(
                    &g.ctx,
                    "Keras batch statistics",
                    &fx.tensor(v.key, &format!("{step}.D.{}.batch_mean", l.name)),
                    &fx.tensor(v.key, &format!("{step}.D.{}.batch_variance", l.name)),
                );
                d.push(g.ops.batchnorm.moving_update(
                    &g.ctx,
                    BnShape { rows: 1, channels },
                    &batch,
                    &p.moving_stats(l.name),
                ));
            }
            run_all(d);
            let ours = read(&p.params);
            let exact = ours
                .iter()
                .zip(expected_params.iter())
                .filter(|(a, b)| a.to_bits() == b.to_bits())
                .count();
            println!(
                "{} {step} D Adam: {exact}/{} values bit-identical to Keras",
                v.key,
                ours.len()
            );
            check_e(
                &format!("{} {step} D weights after Adam", v.key),
                &ours,
                expected_params,
                0.0,
                1e-6,
            );
            check_e(
                &format!("{} {step} D moving statistics", v.key),
                &read(&p.moving),
                expected_moving,
                0.0,
                1e-6,
            );
        }
        assert_eq!(
            g.ctx.read::<u32>(&p.adam_state).block_on().unwrap()[0],
            2,
            "adam.D.iterations"
        );
        assert_eq!(fx.scalar(v.key, "adam.D.iterations"), 2.0);
    }
}
