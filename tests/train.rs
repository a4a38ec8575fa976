//! The training step as a whole: one GPU iteration against the same iteration in the CPU
//! reference, and against Keras' own iteration (the golden fixture).

mod common;

use common::fixture::*;
use common::*;
use dcgan_wgpu::config::{FakeBn, TrainConfig};
use dcgan_wgpu::data::{Images, TrainingSet};
use dcgan_wgpu::model::{self, Arch, BnMode, ParamLayout};
use dcgan_wgpu::ops::data::stream;
use dcgan_wgpu::reference::{self, model::RefNet};
use dcgan_wgpu::session::Session;
use pollster::FutureExt as _;

/// Parameters whose gradient is mathematically zero (a bias feeding a training-mode BN; the
/// seed-code bn3.beta feeding bn3b): float32 noise that Adam normalises into updates of up to
/// lr per step, so two implementations legitimately differ by up to ~2 lr per step there.
fn noise_driven(net: &str, name: &str) -> bool {
    matches!(
        (net, name),
        ("D", "conv2.bias")
            | ("D", "conv3.bias")
            | ("D", "bn3.beta")
            | ("G", "convt1.bias")
            | ("G", "convt2.bias")
    )
}

/// Compares two flat parameter vectors tensor by tensor: 1e-4 absolute (the fixture README's
/// tolerance for weights after a step from one's own gradients), 3e-3 for noise-driven ones.
///
/// One allowance: a value that lands within float32 noise of LeakyReLU's kink can take the
/// other side of it in another correct implementation (seen here: a D bn2 output of 3e-7 where
/// Keras has -2e-7), which changes its gradient 100-fold; downstream, gradients that were near
/// zero change sign, and Adam's first steps turn any sign into an update of about lr. Measured,
/// that moves up to ~0.3% of a G tensor by ~2 lr. So up to 1% of a tensor's values (at least 4)
/// may differ by up to 2.5 lr; a wrong kernel scrambles far more of them.
fn check_params(
    label: &str,
    net: &str,
    layout: &ParamLayout,
    ours: &[f32],
    expected: &[f32],
    rows: Option<(&str, usize)>,
) {
    for e in &layout.entries {
        let mut n = e.len;
        if let Some((name, keep)) = rows
            && e.name == name
        {
            n = keep;
        }
        let a = &ours[e.offset..e.offset + n];
        let b = &expected[e.offset..e.offset + n];
        let diffs: Vec<f32> = a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect();
        let max = diffs.iter().fold(0.0f32, |m, &d| m.max(d));
        let name = format!("{label} {net}.{}", e.name);
        if noise_driven(net, &e.name) {
            println!("{name}: max |diff| {max:.2e} (noise-driven, tolerance 3e-3)");
            assert!(max <= 3e-3, "{name}: max |diff| {max}");
            continue;
        }
        let flipped = diffs.iter().filter(|&&d| d > 1e-4).count();
        let allowed = (n / 100).max(4);
        println!(
            "{name}: max |diff| {max:.2e}, {flipped} values beyond 1e-4 (allowed {allowed}, each <= 2.5e-3)"
        );
        assert!(
            max <= 2.5e-3 && flipped <= allowed,
            "{name}: max |diff| {max}, {flipped} values beyond 1e-4"
        );
    }
}

fn synthetic_images(count: usize, seed: u64) -> Images {
    use rand::RngExt;
    let mut r = rng(seed);
    Images {
        count,
        rows: 28,
        cols: 28,
        pixels: (0..count * 784).map(|_| r.random::<u8>()).collect(),
    }
}

#[test]
fn one_iteration_matches_the_cpu_reference() {
    let g = gpu();
    for (arch, fake_bn) in [
        (Arch::Full, FakeBn::Train),
        (Arch::SeedCode, FakeBn::Inference),
        (Arch::Cgan, FakeBn::Train),
    ] {
        let images = synthetic_images(40, 3);
        // Labels where the run is conditional: uneven, so a wrong index shows.
        let labels: Vec<u8> = (0..40u8).map(|i| (i * 3 + i / 7) % 10).collect();
        let data = TrainingSet {
            images: &images,
            labels: Some(&labels),
        };
        let config = TrainConfig {
            batch_size: 4,
            z_dim: 100,
            seed: 11,
            arch,
            fake_bn,
            ..Default::default()
        };
        let batch = config.batch_size;
        let mut t = Session::new(&g.ctx, &g.ops, config.clone(), Some(data))
            .block_on()
            .unwrap();
        let (gl, dl) = (model::generator(arch, 100), model::discriminator(arch));
        let mut gref = RefNet::new(&gl, read(&t.g.params), read(&t.g.moving));
        let mut dref = RefNet::new(&dl, read(&t.d.params), read(&t.d.moving));
        t.advance(1, false).block_on().unwrap();
        let m = t.metrics().block_on().unwrap();
        // The iteration's inputs, still in their buffers, drawn on the GPU from (seed, 0, stream).
        let (real, z_fake, z_gen) = (read(&t.real), read(&t.z_fake), read(&t.z_gen));
        let indices = dcgan_wgpu::random::sample_indices(11, 0, stream::REAL_INDICES, batch, 40);
        let expected_real = reference::data::gather_images(&images.pixels, 784, &indices);
        check_close("real batch", &real, &to_f64(&expected_real), 0.0, 2.5e-7);
        check_close(
            "z fake",
            &z_fake,
            &dcgan_wgpu::random::normals(11, 0, stream::FAKE_NOISE, batch * 100),
            1e-5,
            3e-3,
        );
        check_close(
            "z gen",
            &z_gen,
            &dcgan_wgpu::random::normals(11, 0, stream::GENERATOR_NOISE, batch * 100),
            1e-5,
            3e-3,
        );

        let mode = match fake_bn {
            FakeBn::Train => BnMode::Train {
                update_moving: true,
            },
            FakeBn::Inference => BnMode::Inference,
        };
        // A conditional iteration's labels: the real batch's, then fresh digits for G's step
        // (left in both networks' label buffers).
        let real_labels: Vec<u32> = indices
            .iter()
            .map(|&i| u32::from(labels[i as usize]))
            .collect();
        let fresh = dcgan_wgpu::random::sample_indices(11, 0, stream::GENERATOR_LABELS, batch, 10);
        if arch.conditional() {
            for net in [&t.g_net, &t.d_net] {
                let l = net
                    .labels
                    .as_ref()
                    .expect("a conditional network has labels");
                assert_eq!(
                    g.ctx.read::<u32>(l).block_on().unwrap(),
                    fresh,
                    "{arch:?} labels"
                );
            }
        }
        let (real, z_fake, z_gen) = (to_f64(&real), to_f64(&z_fake), to_f64(&z_gen));
        let draws = reference::model::Draws {
            real: &real,
            z_fake: &z_fake,
            z_gen: &z_gen,
            labels: arch.conditional().then_some((&real_labels[..], &fresh[..])),
        };
        let r = reference::model::train_iteration(&mut gref, &mut dref, &draws, batch, mode);
        let label = format!("{arch:?}/{fake_bn:?}");
        println!("{label}: gpu {m:?}\n{label}: cpu {r:?}");
        for (name, ours, cpu) in [
            ("d_loss_real", m.d_loss_real, r.d_loss_real),
            ("d_loss_fake", m.d_loss_fake, r.d_loss_fake),
            ("g_loss", m.g_loss, r.g_loss),
        ] {
            assert!(
                (f64::from(ours) - cpu).abs() <= 1e-5 * (1.0 + cpu.abs()),
                "{label} {name}: {ours} vs {cpu}"
            );
        }
        assert_eq!(
            (f64::from(m.d_acc_real), f64::from(m.d_acc_fake)),
            (r.d_acc_real, r.d_acc_fake)
        );
        check_params(
            &label,
            "G",
            &gref.layout,
            &read(&t.g.params),
            &gref.params,
            None,
        );
        check_params(
            &label,
            "D",
            &dref.layout,
            &read(&t.d.params),
            &dref.params,
            None,
        );
        // As in the Keras test: bias noise reaches D's step-3 batch means, 0.01 of it the moving means.
        check_e(
            &format!("{label} G moving statistics"),
            &read(&t.g.moving),
            &gref.moving,
            0.0,
            2e-5,
        );
        check_e(
            &format!("{label} D moving statistics"),
            &read(&t.d.moving),
            &dref.moving,
            0.0,
            2e-5,
        );
        assert_eq!(
            g.ctx.read::<u32>(&t.counter).block_on().unwrap(),
            vec![1],
            "iteration counter"
        );
    }
}

#[test]
fn one_iteration_from_keras_state_ends_at_keras_weights() {
    // The fixture's iteration: fakes by G in inference mode (`--fake-bn inference`), batch 8,
    // Keras' initial weights, inputs z1, z2 and real images 0..7.
    let g = gpu();
    let fx = fixture();
    for v in VARIANTS {
        let config = TrainConfig {
            batch_size: BATCH,
            z_dim: Z_DIM,
            arch: v.arch,
            fake_bn: FakeBn::Inference,
            ..Default::default()
        };
        let mut t = Session::new(&g.ctx, &g.ops, config, None)
            .block_on()
            .unwrap();
        let (gl, dl) = (
            model::generator(v.arch, Z_DIM),
            model::discriminator(v.arch),
        );
        let (gla, gsa) = (ParamLayout::trainable(&gl), ParamLayout::moving_stats(&gl));
        let (dla, dsa) = (ParamLayout::trainable(&dl), ParamLayout::moving_stats(&dl));
        g.ctx
            .write(&t.g.params, &flat_from_fixture(v, &gla, "init.G"));
        g.ctx
            .write(&t.g.moving, &flat_from_fixture(v, &gsa, "init.G"));
        g.ctx
            .write(&t.d.params, &flat_from_fixture(v, &dla, "init.D"));
        g.ctx
            .write(&t.d.moving, &flat_from_fixture(v, &dsa, "init.D"));
        g.ctx.write(&t.real, &fx.tensor(v.key, "input.real"));
        g.ctx.write(&t.z_fake, &fx.tensor(v.key, "input.z1"));
        g.ctx.write(&t.z_gen, &fx.tensor(v.key, "input.z2"));
        t.advance(1, false).block_on().unwrap();
        let m = t.metrics().block_on().unwrap();
        println!(
            "{}: d_loss {} acc {} g_loss {}",
            v.key,
            m.d_loss(),
            m.d_acc(),
            m.g_loss
        );
        assert!(
            (m.d_loss() - fx.scalar(v.key, "d_loss")).abs() <= 1e-5,
            "d_loss"
        );
        assert_eq!(m.d_acc(), fx.scalar(v.key, "d_acc"), "d_acc");
        assert!(
            (m.g_loss - fx.scalar(v.key, "g_loss")).abs() <= 1e-5,
            "g_loss"
        );

        // D ends at Keras' after-step-3 state (frozen in step 4).
        let derived = derive_d(v, &dl);
        check_params(
            v.key,
            "D",
            &dla,
            &read(&t.d.params),
            &derived.after3_params,
            None,
        );
        // Chained from our own step 2, step 3's conv2/conv3 outputs carry the noise-driven bias
        // differences (up to ~1e-3, fixture README) into their batch means; 0.01 of that
        // reaches the moving means.
        check_e(
            &format!("{} D moving statistics", v.key),
            &read(&t.d.moving),
            &derived.after3_moving,
            0.0,
            2e-5,
        );
        // G ends at init + one Adam step on Keras' gradient; the fixture keeps 16 rows of
        // G.dense.kernel's gradient, so that tensor is compared on those rows.
        let mut grads = vec![0.0; gla.len];
        for e in &gla.entries {
            let k = fx.tensor(v.key, &format!("step4.grad.G.{}", e.name));
            grads[e.offset..e.offset + k.len()].copy_from_slice(&k);
        }
        let mut expected = flat_from_fixture(v, &gla, "init.G");
        reference::adam::Adam::new(gla.len).step(&mut expected, &grads);
        let dense_rows = fx.tensor(v.key, "step4.grad.G.dense.kernel").len();
        check_params(
            v.key,
            "G",
            &gla,
            &read(&t.g.params),
            &expected,
            Some(("dense.kernel", dense_rows)),
        );
        let mut moving = flat_from_fixture(v, &gsa, "init.G");
        update_moving(v, &gsa, &mut moving, "step4", "G", &gl);
        check_e(
            &format!("{} G moving statistics", v.key),
            &read(&t.g.moving),
            &moving,
            0.0,
            1e-6,
        );
    }
}

/// Same seed, same adapter: same bits, whatever the tuning cache holds. A short run with the
/// fixed choice (`--no-tune`) against runs with a fresh cache (timed now), the cache it wrote
/// (read back), a stale cache (another adapter's and unknown entries), and caches hand-edited to
/// prefer each driver for every GEMM: parameters, Adam state and losses must match bit for bit.
#[test]
fn tuning_state_never_changes_a_run() {
    use dcgan_wgpu::ops::Ops;
    let g = gpu();
    let images = synthetic_images(200, 21);
    let config = TrainConfig {
        batch_size: 32,
        seed: 5,
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tuning.json");
    let run = |ops: &Ops| {
        let mut t = Session::new(&g.ctx, ops, config.clone(), Some((&images).into()))
            .block_on()
            .unwrap();
        common::save_tuner(ops, &path);
        t.advance(2, false).block_on().unwrap();
        let m = t.metrics().block_on().unwrap();
        let c = t.snapshot().block_on().unwrap();
        let mut bits: Vec<u32> = [m.d_loss_real, m.d_loss_fake, m.g_loss]
            .iter()
            .map(|v| v.to_bits())
            .collect();
        for net in [&c.g, &c.d] {
            for v in [&net.params, &net.adam_m, &net.adam_v, &net.moving] {
                bits.extend(v.iter().map(|x| x.to_bits()));
            }
        }
        bits
    };
    let fixed = run(&g.ops);
    let tuned = |label: &str| {
        let ops = Ops::with_tuner(&g.ctx, common::tuner_with_file(&g.ctx, &path)).unwrap();
        let bits = run(&ops);
        let differing = bits.iter().zip(&fixed).filter(|(a, b)| a != b).count();
        assert_eq!(
            differing, 0,
            "{label}: {differing} values differ from the fixed choice"
        );
        println!("{label}: {} values bit-identical to --no-tune", bits.len());
    };
    tuned("fresh cache");
    let written = std::fs::read_to_string(&path).expect("the tuner wrote its cache");
    tuned("cache read back");
    let mut cache: serde_json::Value = serde_json::from_str(&written).unwrap();
    let ours = cache["adapters"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let choices = cache["adapters"][&ours].clone();
    assert!(
        !choices.as_object().unwrap().is_empty(),
        "nothing was tuned"
    );
    // Stale: this adapter's entries under another driver version, unknown shapes for ours.
    let stale = serde_json::json!({
        "version": cache["version"],
        "adapters": {
            format!("{ours} (older driver)"): choices,
            ours.clone(): { "dense OP=9 unknown": "narrow", "conv OP=0 unknown": "subgroup" },
        }
    });
    std::fs::write(&path, stale.to_string()).unwrap();
    tuned("stale cache");
    for driver in [
        "tiled",
        "subgroup",
        "subgroup128",
        "narrow",
        "wide",
        "wide128",
    ] {
        let mut edited = choices.clone();
        for v in edited.as_object_mut().unwrap().values_mut() {
            *v = driver.into();
        }
        cache["adapters"][&ours] = edited;
        std::fs::write(&path, cache.to_string()).unwrap();
        tuned(&format!("cache edited to prefer {driver}"));
    }
}

/// The iteration at the seed's batch of 128 is shaped for a GPU: at most 100 dispatches (113
/// for the conditional GAN: its two label draws, five embedding passes, three table gradients,
/// and D's input gradient split from the label plane, through G's tanh), and
/// no dispatch but a GEMM reads more than 16384 elements per workgroup it launches (reductions
/// spread over many workgroups instead of walking long columns on a few).
#[test]
fn iteration_shape_fits_a_gpu() {
    let g = gpu();
    let images = synthetic_images(256, 31);
    let labels: Vec<u8> = (0..256).map(|i| (i % 10) as u8).collect();
    for arch in [Arch::Full, Arch::SeedCode, Arch::Cgan] {
        let config = TrainConfig {
            batch_size: 128,
            arch,
            ..Default::default()
        };
        let data = TrainingSet {
            images: &images,
            labels: Some(&labels),
        };
        let t = Session::new(&g.ctx, &g.ops, config, Some(data))
            .block_on()
            .unwrap();
        let shapes = t.dispatch_shapes();
        let mut census = std::collections::BTreeMap::<&str, usize>::new();
        for s in &shapes {
            *census.entry(s.kernel.as_str()).or_default() += 1;
        }
        println!("{arch:?}: {} dispatches: {census:#?}", shapes.len());
        for s in shapes.iter().filter(|s| !s.gemm) {
            assert!(
                s.elements_per_workgroup() <= 16384.0,
                "{} ({}): {} elements over {} workgroups",
                s.kernel,
                s.scope,
                s.elements_read,
                s.workgroups
            );
        }
        let most = if arch.conditional() { 113 } else { 100 };
        assert!(
            shapes.len() <= most,
            "{arch:?}: {} dispatches per iteration",
            shapes.len()
        );
    }
}

/// A state that stops being finite is caught at the next report by the GPU's flag (its losses
/// may well stay finite: NaN in G shows first in G's samples), and never handed out as a
/// checkpoint; a finite state restored clears the flag.
#[test]
fn a_non_finite_state_stops_at_the_next_report() {
    let g = gpu();
    let images = synthetic_images(40, 5);
    let config = TrainConfig {
        batch_size: 4,
        ..Default::default()
    };
    let mut t = Session::new(&g.ctx, &g.ops, config, Some((&images).into()))
        .block_on()
        .unwrap();
    t.advance(1, true).block_on().unwrap();
    t.finish().block_on().unwrap();
    let good = t.snapshot().block_on().unwrap();
    for (net, at) in [("G", 0), ("G", good.g.params.len() - 1), ("D", 7)] {
        let mut bad = good.clone();
        let state = if net == "G" { &mut bad.g } else { &mut bad.d };
        state.params[at] = f32::INFINITY;
        t.restore(&bad).block_on().unwrap();
        // A report reads the flag; no training happens in between.
        let e = t
            .advance(0, true)
            .block_on()
            .and_then(|r| t.finish().block_on().map(|f| (r, f)))
            .expect_err("a non-finite parameter went unreported");
        let d = e
            .downcast_ref::<dcgan_wgpu::session::Diverged>()
            .unwrap_or_else(|| panic!("{e:#}"));
        assert_eq!(d.iteration, 1);
        assert!(d.what.contains("parameter"), "{d}");
        let e = t.snapshot().block_on().expect_err("a diverged snapshot");
        assert!(format!("{e}").contains("diverged"), "{e}");
        // Back to the finite state: reports pass again.
        t.restore(&good).block_on().unwrap();
        t.advance(0, true).block_on().unwrap();
        t.finish().block_on().unwrap();
    }
}

/// The conditional networks of GANs in Action chapter 8 (label embedding multiplied into z;
/// label plane beside D's image) at an odd batch: forward and backward on the GPU against the
/// reference network, parameter gradients tensor by tensor and D's input gradient through G's
/// tanh (as G's step takes it).
#[test]
fn conditional_networks_match_the_reference() {
    use dcgan_wgpu::model::{Gradients, InputGrad, Network, NetworkParams, Upstream};
    use dcgan_wgpu::ops::activation::Activation;
    let g = gpu();
    let batch = 3;
    let labels = [7u32, 0, 7];
    let mut r = rng(2300);
    for (name, layers) in [
        ("G", model::conditional_generator(100)),
        ("D", model::conditional_discriminator()),
    ] {
        let layout = ParamLayout::trainable(&layers);
        let params = layout.keras_init(5);
        let moving = ParamLayout::moving_stats(&layers).keras_init(0);
        let p = NetworkParams::new(&g.ctx, &layers, &params, &moving);
        let net = Network::new(&g.ctx, name, &layers, batch);
        g.ctx.write(net.labels.as_ref().unwrap(), &labels);
        // D's input: images in tanh's range, as G makes them.
        let (input, input_d) = random(&mut r, batch * layers[0].in_len, 0.9);
        let (dout, dout_d) = random(&mut r, batch * layers.last().unwrap().out_len, 1.0);
        let (xs, dys) = (upload(&input), upload(&dout));
        let mode = BnMode::Train {
            update_moving: false,
        };
        let input_grad = match name {
            "D" => InputGrad::ThroughInputActivation(Activation::Tanh),
            _ => InputGrad::None,
        };
        let rec = g.ops.recorder(&g.ctx);
        let mut ds = net.forward(&rec, &p, &xs, mode);
        ds.extend(net.backward(
            &rec,
            &p,
            &xs,
            Upstream::Output(&dys),
            Gradients::Weights,
            input_grad,
        ));
        g.ctx.run(&ds).block_on().unwrap();

        let mut rnet = RefNet::new(&layers, params.clone(), moving.clone());
        rnet.labels = labels.to_vec();
        let pass = rnet.forward(&input_d, batch, mode);
        let (grads, dx) = rnet.backward(&pass, &dout_d, batch);
        check_close(
            &format!("{name} output"),
            &read(net.output()),
            pass.output(),
            1e-4,
            1e-5,
        );
        let got = read(&p.grads);
        let largest = grads.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for e in &layout.entries {
            let (a, b) = (layout.slice(&got, &e.name), layout.slice(&grads, &e.name));
            let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let worst = a
                .iter()
                .zip(b)
                .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            // Per tensor relative to its own scale; a gradient that is zero in exact
            // arithmetic (a bias before BatchNorm) is float32 noise, bounded by the largest.
            let bound = 1e-3 * scale + 1e-5 * largest;
            println!("{name} {}: worst {worst:.2e} of scale {scale:.2e}", e.name);
            assert!(
                worst <= bound,
                "{name} {}: off by {worst} (scale {scale})",
                e.name
            );
        }
        let embeddings = layout.slice(&got, "embedding.embeddings");
        assert!(
            embeddings.iter().any(|&v| v != 0.0),
            "{name}: no embedding gradient"
        );
        if name == "D" {
            // Through tanh at its output: d/d(pre-tanh) = dx * (1 - y^2).
            let through: Vec<f64> = dx
                .iter()
                .zip(&input_d)
                .map(|(d, y)| d * (1.0 - y * y))
                .collect();
            let scale = through.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            check_close(
                "D input gradient",
                &read(&net.input_grad),
                &through,
                1e-3,
                1e-4 * scale,
            );
        }
    }
}
