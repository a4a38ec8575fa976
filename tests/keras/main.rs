//! The kernels against Keras itself: `tests/fixtures/keras_step.safetensors` holds one full
//! training iteration computed by Keras 3 / TensorFlow (both architecture variants, batch 8;
//! see `tests/fixtures/trim_golden.py` and shared/golden/README.md). The checks replay each
//! step from the fixture's own starting state, with the fixture README's tolerances:
//! e = max|ours - keras| / max|keras| <= 1e-4 for outputs, statistics and gradients (gradient
//! floor 1e-6 absolute), 1e-5 absolute for losses, exact accuracy, 1e-6 absolute for Adam and
//! the moving statistics.

#[path = "../common/mod.rs"]
mod common;
mod training;

use common::fixture::*;
use common::*;
use dcgan_wgpu::gpu::GpuSlice;
use dcgan_wgpu::model::{
    self, Arch, BnMode, Layer, LayerSpec, Network, NetworkParams, ParamLayout,
};
use dcgan_wgpu::model::{Gradients, InputGrad, Upstream};
use dcgan_wgpu::ops::activation::Activation;
use dcgan_wgpu::ops::adam::AdamConfig;
use dcgan_wgpu::ops::batchnorm::{BnShape, Stats};
use pollster::FutureExt as _;

/// Keras' LeakyReLU in float32 (the trimming script checked this formula against Keras' own
/// outputs bit for bit, which is why those outputs are not stored).
fn leaky_relu_f32(x: &[f32]) -> Vec<f32> {
    x.iter()
        .map(|&v| if v > 0.0 { v } else { 0.01f32 * v })
        .collect()
}

/// Pads a fixture tensor of fewer samples (step 1's large tensors keep 2) to the batch.
fn pad_to_batch(t: &[f32], per_sample: usize) -> (GpuSlice, usize) {
    let samples = t.len() / per_sample;
    let mut v = t.to_vec();
    v.resize(BATCH * per_sample, 0.0);
    (upload(&v), samples)
}

/// Runs every layer of one step on the fixture's own input to that layer and compares the
/// output (and a training-mode BatchNorm's batch statistics) with Keras'.
fn replay_layers(
    v: Variant,
    step: &str,
    net: &str,
    layers: &[LayerSpec],
    params: &NetworkParams,
    mode: BnMode,
    input: &[f32],
) {
    let g = gpu();
    let fx = fixture();
    let network = Network::new(&g.ctx, net, layers, BATCH);
    let mut prev = input.to_vec();
    for (i, spec) in layers.iter().enumerate() {
        let (x, samples) = pad_to_batch(&prev, spec.in_len);
        run_all(network.layer_forward(&g.ops.recorder(&g.ctx), params, i, &x, mode, None));
        let ours = read(&network.acts[i]);
        let label = format!("{} {step}.{net}.{}", v.key, spec.name);
        let expected = match spec.layer {
            Layer::LeakyRelu => {
                let e = leaky_relu_f32(&prev);
                check_bits(&format!("{label} (exact LeakyReLU)"), &ours[..e.len()], &e);
                e
            }
            _ => {
                let e = fx.tensor(v.key, &format!("{step}.{net}.{}.out", spec.name));
                let n = samples.min(e.len() / spec.out_len) * spec.out_len;
                check_e(&label, &ours[..n], &e[..n], 1e-4, 0.0);
                e
            }
        };
        if let (Layer::BatchNorm { .. }, BnMode::Train { .. }) = (spec.layer, mode) {
            let stats = network.batch_stats[i].as_ref().unwrap();
            for (what, buf) in [
                ("batch_mean", &stats.mean),
                ("batch_variance", &stats.variance),
            ] {
                let k = fx.tensor(v.key, &format!("{step}.{net}.{}.{what}", spec.name));
                // Seed-code bn3b normalises bn3's output, whose batch mean is mathematically
                // beta (0 here): Keras' value is float32 noise (~1e-7), so an absolute floor.
                check_e(&format!("{label}.{what}"), &read(buf), &k, 1e-4, 1e-6);
            }
        }
        prev = expected;
    }
}

fn run_all(d: Vec<dcgan_wgpu::gpu::Dispatch>) {
    gpu().ctx.run(&d).block_on().expect("GPU run");
}

fn params_on_gpu(layers: &[LayerSpec], params: &[f32], moving: &[f32]) -> NetworkParams {
    NetworkParams::new(&gpu().ctx, layers, params, moving)
}

#[test]
fn forward_layers_match_keras() {
    let fx = fixture();
    for v in VARIANTS {
        let gl = model::generator(v.arch, Z_DIM);
        let dl = model::discriminator(v.arch);
        let gl_layout = ParamLayout::trainable(&gl);
        let g_init = params_on_gpu(
            &gl,
            &flat_from_fixture(v, &gl_layout, "init.G"),
            &flat_from_fixture(v, &ParamLayout::moving_stats(&gl), "init.G"),
        );
        let derived = derive_d(v, &dl);
        let d_init = params_on_gpu(
            &dl,
            &flat_from_fixture(v, &ParamLayout::trainable(&dl), "init.D"),
            &flat_from_fixture(v, &ParamLayout::moving_stats(&dl), "init.D"),
        );
        let d_after2 = params_on_gpu(&dl, &derived.after2_params, &derived.after2_moving);
        let d_after3 = params_on_gpu(&dl, &derived.after3_params, &derived.after3_moving);
        let train = BnMode::Train {
            update_moving: false,
        };
        // Step 1: G in inference mode (moving statistics) makes the fakes.
        replay_layers(
            v,
            "step1",
            "G",
            &gl,
            &g_init,
            BnMode::Inference,
            &fx.tensor(v.key, "input.z1"),
        );
        // Steps 2 and 3: D in training mode on the real batch, then on the step-1 fakes.
        replay_layers(
            v,
            "step2",
            "D",
            &dl,
            &d_init,
            train,
            &fx.tensor(v.key, "input.real"),
        );
        replay_layers(
            v,
            "step3",
            "D",
            &dl,
            &d_after2,
            train,
            &fx.tensor(v.key, "step1.G.tanh.out"),
        );
        // Step 4: G and D both in training mode.
        replay_layers(
            v,
            "step4",
            "G",
            &gl,
            &g_init,
            train,
            &fx.tensor(v.key, "input.z2"),
        );
        replay_layers(
            v,
            "step4",
            "D",
            &dl,
            &d_after3,
            train,
            &fx.tensor(v.key, "step4.G.tanh.out"),
        );
    }
}

#[test]
fn sigmoid_and_losses_match_keras() {
    let g = gpu();
    let fx = fixture();
    for v in VARIANTS {
        let mut losses = Vec::new();
        let mut accs = Vec::new();
        for (step, label) in [("step2", 1.0f32), ("step3", 0.0), ("step4", 1.0)] {
            let logits = fx.tensor(v.key, &format!("{step}.D.dense.out"));
            let z = upload(&logits);
            let (p, dz, metrics) = (output(BATCH), output(BATCH), output(2));
            let mut d = vec![
                g.ops
                    .activation
                    .forward(&g.ctx, Activation::Sigmoid, &z, &p),
            ];
            d.extend(
                g.ops
                    .loss
                    .bce_with_logits(&g.ctx, label, &z, &dz, &metrics, 0),
            );
            run_all(d);
            check_e(
                &format!("{} {step}.D.sigmoid", v.key),
                &read(&p),
                &fx.tensor(v.key, &format!("{step}.D.sigmoid.out")),
                1e-4,
                0.0,
            );
            let m = read(&metrics);
            let keras = fx.scalar(v.key, &format!("{step}.loss"));
            println!(
                "{} {step}: loss {} (keras {keras}), accuracy {}",
                v.key, m[0], m[1]
            );
            assert!(
                (m[0] - keras).abs() <= 1e-5,
                "{step} loss {} vs keras {keras}",
                m[0]
            );
            losses.push(m[0]);
            accs.push(m[1]);
        }
        let d_loss = 0.5 * (losses[0] + losses[1]);
        let d_acc = 0.5 * (accs[0] + accs[1]);
        assert!((d_loss - fx.scalar(v.key, "d_loss")).abs() <= 1e-5);
        assert_eq!(d_acc, fx.scalar(v.key, "d_acc"), "{}: d_acc", v.key);
        assert!((losses[2] - fx.scalar(v.key, "g_loss")).abs() <= 1e-5);
        println!(
            "{}: d_loss {d_loss}, d_acc {d_acc}, g_loss {}",
            v.key, losses[2]
        );
    }
}
