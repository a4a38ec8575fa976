//! The kernel checks that run in the browser: the native tests' cases (`reference::cases`,
//! the GPU against the CPU reference with `reference::check`'s bounds), and a session's first
//! iteration against the reference's, so a WebGPU implementation that compiles but computes
//! wrongly is caught.

use anyhow::Result;
use dcgan_wgpu::gpu::{GpuContext, GpuError};
use dcgan_wgpu::model::{self, BnMode};
use dcgan_wgpu::ops::Ops;
use dcgan_wgpu::ops::batchnorm::BnShape;
use dcgan_wgpu::ops::dense::DenseShape;
use dcgan_wgpu::ops::embed::EmbedShape;
use dcgan_wgpu::ops::gemm::Driver;
use dcgan_wgpu::reference::{self, cases, model::RefNet};
use dcgan_wgpu::session::Session;

#[derive(serde::Serialize)]
pub struct Outcome {
    name: String,
    ok: bool,
    line: String,
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// Every check, each as an outcome (a check that cannot run is a failed one): the native
/// tests' cases (`reference::cases`), each at one odd shape.
pub async fn kernels(ctx: &GpuContext, ops: &Ops) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut record = |name: &str, r: Result<cases::Lines, GpuError>| match r {
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
    let dense = DenseShape {
        batch: 37,
        inputs: 45,
        outputs: 19,
    };
    record(
        "dense (GEMM, three mappings)",
        cases::dense(ctx, ops, dense, Driver::Auto, 1).await,
    );
    let bn = BnShape {
        rows: 243,
        channels: 5,
    };
    record("batchnorm", cases::batchnorm(ctx, ops, bn, 2).await);
    // 2500 logits: three workgroups and the finish.
    record("loss", cases::bce_with_logits(ctx, ops, 2500, 3).await);
    record("adam", cases::adam_steps(ctx, ops, 10_007, 4).await);
    let embed = async || -> Result<cases::Lines, GpuError> {
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
        let mut lines = cases::embed_product(ctx, ops, product, 1).await?;
        lines.extend(cases::label_plane(ctx, ops, plane, 2).await?);
        Ok(lines)
    };
    record("embed (label embeddings)", embed().await);
    out
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
    // The conditional iteration is checked natively (tests/train.rs), where its labels are known.
    anyhow::ensure!(
        !session.config.arch.conditional(),
        "the first-iteration check runs the unconditional networks"
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
