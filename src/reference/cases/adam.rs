//! Keras' Adam over a flat parameter buffer: three steps, the way an iteration takes them.

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{Lines, abs, f64s, random, upload};
use crate::gpu::{GpuContext, GpuError};
use crate::ops::Ops;
use crate::ops::adam::{AdamConfig, AdamTensors, MAX_STEPS, Schedule, initial_state};
use crate::reference::{self, check};

/// Step 1 alone (schedule + update); steps 2 and 3 as D takes them in an iteration: one
/// schedule of two steps, then the update of each slot. Parameters and both moments after
/// each step against Keras' float32 arithmetic, then the step count.
pub async fn adam_steps(
    ctx: &GpuContext,
    ops: &Ops,
    n: usize,
    seed: u64,
) -> Result<Lines, GpuError> {
    let mut r = StdRng::seed_from_u64(seed);
    let (theta0, _) = random(&mut r, n, 1.0);
    let grads: Vec<Vec<f32>> = (0..3).map(|_| random(&mut r, n, 0.1).0).collect();
    let config = AdamConfig::default();
    let (param, m, v) = (
        upload(ctx, &theta0),
        ctx.storage("m", n),
        ctx.storage("v", n),
    );
    let state = ctx.storage_init("adam state", &initial_state());
    let alphas = ctx.storage("alphas", MAX_STEPS);
    let grad: Vec<_> = grads.iter().map(|g| upload(ctx, g)).collect();
    let a = &ops.adam;
    let tensors = |grad| AdamTensors {
        grad,
        param: &param,
        m: &m,
        v: &v,
    };
    let read3 = async || -> Result<[Vec<f32>; 3], GpuError> {
        Ok([
            ctx.read(&param).await?,
            ctx.read(&m).await?,
            ctx.read(&v).await?,
        ])
    };
    ctx.run(&a.step(ctx, &config, &state, &alphas, tensors(&grad[0])))
        .await?;
    let mut after = vec![read3().await?];
    let schedule = Schedule {
        state: &state,
        alphas: &alphas,
        steps: 2,
    };
    ctx.run(&[
        a.schedule(ctx, &config, schedule, None),
        a.update(ctx, &config, &alphas, 0, tensors(&grad[1])),
    ])
    .await?;
    after.push(read3().await?);
    ctx.run(&[a.update(ctx, &config, &alphas, 1, tensors(&grad[2]))])
        .await?;
    after.push(read3().await?);
    let mut adam = reference::adam::Adam::new(n);
    let mut theta = theta0.clone();
    let mut lines = Vec::new();
    for (step, ([got, got_m, got_v], g)) in (1..).zip(after.iter().zip(&grads)) {
        adam.step(&mut theta, g);
        // Keras' float32 arithmetic, operation by operation: a handful of roundings of the
        // update (|update| <= ~lr) and one of theta.
        let mag: Vec<f64> = theta.iter().map(|t| f64::from(t.abs()) + 1e-3).collect();
        let same = got
            .iter()
            .zip(&theta)
            .filter(|(a, b)| a.to_bits() == b.to_bits())
            .count();
        lines.push(
            check::sum_of_products(&format!("adam step {step}"), got, &f64s(&theta), &mag, 4)
                .map(|l| format!("{l} ({same}/{n} bit-identical to the reference)")),
        );
        let (em, ev) = (f64s(&adam.m), f64s(&adam.v));
        lines.push(check::sum_of_products(
            &format!("adam m step {step}"),
            got_m,
            &em,
            &abs(&em),
            4,
        ));
        lines.push(check::sum_of_products(
            &format!("adam v step {step}"),
            got_v,
            &ev,
            &abs(&ev),
            4,
        ));
    }
    let count: Vec<u32> = ctx.read(&state).await?;
    lines.push(match count[0] {
        3 => Ok("adam step count: 3".into()),
        c => Err(format!("adam step count: {c}, expected 3")),
    });
    Ok(lines)
}
