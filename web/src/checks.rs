//! The kernel checks that run in the browser: the GPU against the CPU reference with the
//! native tests' bounds (`reference::check`), and a session's first iteration against the
//! reference's, so a WebGPU implementation that compiles but computes wrongly is caught.

use anyhow::Result;
use dcgan_wgpu::gpu::{Dispatch, GpuContext, GpuSlice};
use dcgan_wgpu::model::{self, BnMode};
use dcgan_wgpu::ops::Ops;
use dcgan_wgpu::ops::adam::{AdamConfig, MAX_STEPS, initial_state};
use dcgan_wgpu::ops::batchnorm::{BnShape, EPSILON, Stats};
use dcgan_wgpu::ops::dense::DenseShape;
use dcgan_wgpu::ops::gemm::{Driver, Epilogue};
use dcgan_wgpu::reference::{self, check, model::RefNet};
use dcgan_wgpu::session::Session;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[derive(serde::Serialize)]
pub struct Outcome {
    name: String,
    ok: bool,
    line: String,
}

fn random(r: &mut StdRng, n: usize, scale: f32) -> (Vec<f32>, Vec<f64>) {
    let v: Vec<f32> = (0..n).map(|_| r.random_range(-scale..=scale)).collect();
    let d = v.iter().map(|&x| f64::from(x)).collect();
    (v, d)
}

fn abs(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.abs()).collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

struct Gpu<'a> {
    ctx: &'a GpuContext,
    ops: &'a Ops,
}

impl Gpu<'_> {
    fn upload(&self, v: &[f32]) -> GpuSlice {
        self.ctx.storage_init("check input", v)
    }
    fn output(&self, n: usize) -> GpuSlice {
        self.ctx.storage("check output", n)
    }
    async fn run(&self, d: &[Dispatch]) -> Result<()> {
        Ok(self.ctx.run(d).await?)
    }
    async fn read(&self, s: &GpuSlice) -> Result<Vec<f32>> {
        Ok(self.ctx.read(s).await?)
    }
}

/// Every check, each as an outcome (a check that cannot run is a failed one).
pub async fn kernels(ctx: &GpuContext, ops: &Ops) -> Vec<Outcome> {
    let g = Gpu { ctx, ops };
    let mut out = Vec::new();
    let mut record = |name: &str, r: Result<Vec<Result<String, String>>>| match r {
        Ok(lines) => out.extend(lines.into_iter().map(|l| Outcome {
            name: name.into(),
            ok: l.is_ok(),
            line: l.unwrap_or_else(|e| e),
        })),
        Err(e) => out.push(Outcome {
            name: name.into(),
            ok: false,
            line: format!("{e:#}"),
        }),
    };
    record("dense (GEMM, three mappings)", dense(&g).await);
    record("batchnorm", batchnorm(&g).await);
    record("loss", loss(&g).await);
    record("adam", adam(&g).await);
    record("embed (label embeddings)", embed(&g).await);
    out
}

/// The label embeddings at odd shapes: `reference::cases`, the native tests' cases.
async fn embed(g: &Gpu<'_>) -> Result<Vec<Result<String, String>>> {
    use dcgan_wgpu::ops::embed::EmbedShape;
    use dcgan_wgpu::reference::cases;
    let product = EmbedShape {
        batch: 7,
        classes: 3,
        width: 13,
        channels: 1,
    };
    let plane = EmbedShape {
        batch: 6,
        classes: 3,
        width: 17,
        channels: 3,
    };
    let mut lines = cases::embed_product(g.ctx, g.ops, product, 1).await?;
    lines.extend(cases::label_plane(g.ctx, g.ops, plane, 2).await?);
    Ok(lines)
}

/// A dense layer at a shape that divides no tile: forward, input and weight gradients.
async fn dense(g: &Gpu<'_>) -> Result<Vec<Result<String, String>>> {
    let s = DenseShape {
        batch: 37,
        inputs: 45,
        outputs: 19,
    };
    let mut r = StdRng::seed_from_u64(1);
    let (x, xd) = random(&mut r, s.batch * s.inputs, 1.0);
    let (w, wd) = random(&mut r, s.inputs * s.outputs, 0.5);
    let (b, bd) = random(&mut r, s.outputs, 0.5);
    let (dy, dyd) = random(&mut r, s.batch * s.outputs, 1.0);
    let (xs, ws, bs, dys) = (g.upload(&x), g.upload(&w), g.upload(&b), g.upload(&dy));
    let (y, dx, dw) = (
        g.output(s.batch * s.outputs),
        g.output(s.batch * s.inputs),
        g.output(s.inputs * s.outputs),
    );
    let d = &g.ops.dense;
    let mut ds = d.forward(g.ctx, s, &xs, &ws, Epilogue::bias(&bs), &y, Driver::Auto);
    ds.extend(d.backward_input(g.ctx, s, &dys, &ws, Epilogue::NONE, &dx, Driver::Auto));
    ds.extend(d.backward_weight(g.ctx, s, &xs, &dys, &dw, None, Driver::Auto));
    g.run(&ds).await?;
    use reference::dense as rd;
    let (bt, i, o) = (s.batch, s.inputs, s.outputs);
    Ok(vec![
        check::sum_of_products(
            "dense forward 37x45->19",
            &g.read(&y).await?,
            &rd::forward(&xd, &wd, &bd, bt, i, o),
            &rd::forward(&abs(&xd), &abs(&wd), &abs(&bd), bt, i, o),
            i,
        ),
        check::sum_of_products(
            "dense dX",
            &g.read(&dx).await?,
            &rd::backward_input(&dyd, &wd, bt, i, o),
            &rd::backward_input(&abs(&dyd), &abs(&wd), bt, i, o),
            o,
        ),
        check::sum_of_products(
            "dense dW",
            &g.read(&dw).await?,
            &rd::backward_weight(&xd, &dyd, bt, i, o),
            &rd::backward_weight(&abs(&xd), &abs(&dyd), bt, i, o),
            bt,
        ),
    ])
}

/// Training-mode BatchNorm: the batch statistics (two-stage sums) and the normalisation.
async fn batchnorm(g: &Gpu<'_>) -> Result<Vec<Result<String, String>>> {
    let (rows, channels) = (243, 5);
    let s = BnShape { rows, channels };
    let mut r = StdRng::seed_from_u64(2);
    let (x, xd) = random(&mut r, rows * channels, 3.0);
    let (gamma, gammad) = random(&mut r, channels, 2.0);
    let (beta, betad) = random(&mut r, channels, 1.0);
    let zeros = vec![0.0; channels];
    let batch = Stats::upload(g.ctx, "batch stats", &zeros, &zeros);
    let (xs, gs, bs, y) = (
        g.upload(&x),
        g.upload(&gamma),
        g.upload(&beta),
        g.output(rows * channels),
    );
    let bn = &g.ops.batchnorm;
    let ds = bn
        .forward_train(g.ctx, s, &xs, &gs, &bs, &batch, None, &y, None)
        .to_vec();
    g.run(&ds).await?;
    let (mean_ref, var_ref) = reference::batchnorm::stats(&xd, rows, channels);
    let depth = check::reduction_depth(rows, channels) + 4;
    let (mean_mag, var_mag) = check::bn_stats_scales(&xd, rows, channels, &mean_ref);
    let (mean, var) = (g.read(&batch.mean).await?, g.read(&batch.variance).await?);
    let (mean_r, var_r) = (f64s(&mean), f64s(&var));
    let y_mag = check::bn_apply_scales(&xd, channels, &gammad, &betad, &mean_r, &var_r, EPSILON);
    let y_ref =
        reference::batchnorm::apply(&xd, channels, &gammad, &betad, &mean_r, &var_r, EPSILON);
    Ok(vec![
        check::sum_of_products("bn mean 243x5", &mean, &mean_ref, &mean_mag, depth),
        check::sum_of_products("bn variance 243x5", &var, &var_ref, &var_mag, depth),
        check::sum_of_products("bn apply 243x5", &g.read(&y).await?, &y_ref, &y_mag, 8),
    ])
}

/// Sigmoid + binary cross-entropy on 2500 logits (three workgroups and the finish).
async fn loss(g: &Gpu<'_>) -> Result<Vec<Result<String, String>>> {
    let n = 2500;
    let mut r = StdRng::seed_from_u64(3);
    let (z, zd) = random(&mut r, n, 6.0);
    let (zs, dz, metrics) = (g.upload(&z), g.output(n), g.output(4));
    g.run(
        &g.ops
            .loss
            .bce_with_logits(g.ctx, 1.0, &zs, &dz, &metrics, 0),
    )
    .await?;
    let (loss, grad, acc) = reference::loss::bce_with_logits(&zd, 1.0);
    let m = g.read(&metrics).await?;
    let (mag, bound) = check::bce_gradient_bounds(&zd, 1.0);
    Ok(vec![
        check::close("bce loss (2500 logits)", &m[..1], &[loss], 1e-6, 1e-6),
        check::close("bce accuracy", &m[1..2], &[acc], 2.0 * check::U32, 0.0),
        check::within("bce gradient", &g.read(&dz).await?, &grad, &mag, &bound),
    ])
}

/// Three Keras Adam steps over 10007 parameters.
async fn adam(g: &Gpu<'_>) -> Result<Vec<Result<String, String>>> {
    let n = 10_007;
    let mut r = StdRng::seed_from_u64(4);
    let (theta0, _) = random(&mut r, n, 1.0);
    let config = AdamConfig::default();
    let (param, m, v) = (g.upload(&theta0), g.output(n), g.output(n));
    let state = g.ctx.storage_init("adam state", &initial_state());
    let alphas = g.output(MAX_STEPS);
    let mut adam = reference::adam::Adam::new(n);
    let mut theta = theta0.clone();
    let mut lines = Vec::new();
    for step in 1..=3 {
        let (grad, _) = random(&mut r, n, 0.1);
        let gs = g.upload(&grad);
        let a = &g.ops.adam;
        g.run(&a.step(g.ctx, &config, &state, &alphas, &gs, &param, &m, &v))
            .await?;
        adam.step(&mut theta, &grad);
        let mag: Vec<f64> = theta.iter().map(|t| f64::from(t.abs()) + 1e-3).collect();
        lines.push(check::sum_of_products(
            &format!("adam step {step}"),
            &g.read(&param).await?,
            &f64s(&theta),
            &mag,
            4,
        ));
    }
    Ok(lines)
}

/// Trains `session`'s first iteration and checks it against the CPU reference's: the same
/// initial weights and the same inputs (the batch and noise the GPU drew, read back), then the
/// seed's iteration in f64. The GPU is held to `tests/train.rs`'s tolerances: losses within
/// 1e-5 (1 + |reference|), accuracies exact. JSON `{ok, gpu, reference, lines}`.
pub async fn first_iteration(session: &mut Session<'_>) -> Result<String> {
    anyhow::ensure!(
        session.iteration == 0,
        "the check trains the first iteration: start a new session"
    );
    let c = session.config.clone();
    let start = session.snapshot().await?;
    session.advance(1, false).await?;
    let m = session.metrics().await?;
    let ctx = session.ctx;
    let [real, z_fake, z_gen] = ctx
        .read_many::<f32>(&[&session.real, &session.z_fake, &session.z_gen])
        .await?
        .try_into()
        .expect("three buffers");
    let (gl, dl) = (
        model::generator(c.arch, c.z_dim),
        model::discriminator(c.arch),
    );
    let mut gref = RefNet::new(&gl, start.g.params, start.g.moving);
    let mut dref = RefNet::new(&dl, start.d.params, start.d.moving);
    let mode = match c.fake_bn {
        dcgan_wgpu::config::FakeBn::Train => BnMode::Train {
            update_moving: true,
        },
        dcgan_wgpu::config::FakeBn::Inference => BnMode::Inference,
    };
    let (real, z_fake, z_gen) = (f64s(&real), f64s(&z_fake), f64s(&z_gen));
    let draws = reference::model::Draws {
        real: &real,
        z_fake: &z_fake,
        z_gen: &z_gen,
        labels: None,
    };
    let r = reference::model::train_iteration(&mut gref, &mut dref, &draws, c.batch_size, mode);
    let mut lines = Vec::new();
    let mut ok = true;
    for (name, gpu, cpu) in [
        ("d_loss_real", m.d_loss_real, r.d_loss_real),
        ("d_loss_fake", m.d_loss_fake, r.d_loss_fake),
        ("g_loss", m.g_loss, r.g_loss),
    ] {
        let good = gpu.is_finite() && (f64::from(gpu) - cpu).abs() <= 1e-5 * (1.0 + cpu.abs());
        ok &= good;
        lines.push(format!(
            "{name}: GPU {gpu}, reference {cpu:.7} ({})",
            if good { "ok" } else { "OFF" }
        ));
    }
    for (name, gpu, cpu) in [
        ("d_acc_real", m.d_acc_real, r.d_acc_real),
        ("d_acc_fake", m.d_acc_fake, r.d_acc_fake),
    ] {
        let good = f64::from(gpu) == cpu;
        ok &= good;
        lines.push(format!(
            "{name}: GPU {gpu}, reference {cpu} ({})",
            if good { "ok" } else { "OFF" }
        ));
    }
    Ok(serde_json::json!({
        "ok": ok,
        "gpu": [m.d_loss_real, m.d_acc_real, m.d_loss_fake, m.d_acc_fake, m.g_loss],
        "reference": [r.d_loss_real, r.d_acc_real, r.d_loss_fake, r.d_acc_fake, r.g_loss],
        "lines": lines,
    })
    .to_string())
}
