//! Dense layers: forward, input and weight (and bias) gradients, on any GEMM driver.

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{Lines, abs, garbage, random, upload};
use crate::gpu::{GpuContext, GpuError};
use crate::ops::Ops;
use crate::ops::dense::DenseShape;
use crate::ops::gemm::{Driver, Epilogue, Pass, WeightGrads};
use crate::reference::{check, dense as rd};

pub async fn dense(
    ctx: &GpuContext,
    ops: &Ops,
    s: DenseShape,
    driver: Driver,
    seed: u64,
) -> Result<Lines, GpuError> {
    let mut r = StdRng::seed_from_u64(seed);
    let (x, xd) = random(&mut r, s.batch * s.inputs, 1.0);
    let (w, wd) = random(&mut r, s.inputs * s.outputs, 0.5);
    let (b, bd) = random(&mut r, s.outputs, 0.5);
    let (dy, dyd) = random(&mut r, s.batch * s.outputs, 1.0);
    let [xs, ws, bs, dys] = [&x, &w, &b, &dy].map(|v| upload(ctx, v));
    let y = garbage(ctx, s.batch * s.outputs);
    let dx = garbage(ctx, s.batch * s.inputs);
    let dw = garbage(ctx, s.inputs * s.outputs);
    let db = garbage(ctx, s.outputs);
    let d = &ops.dense;
    let mut ds = d.forward(
        ctx,
        s,
        Pass::new(&xs, &ws, &y).epilogue(Epilogue::bias(&bs)),
        driver,
    );
    ds.extend(d.backward_input(ctx, s, Pass::new(&dys, &ws, &dx), driver));
    ds.extend(d.backward_weight(ctx, s, WeightGrads::new(&xs, &dys, &dw).db(&db), driver));
    ctx.run(&ds).await?;
    let (bt, i, o) = (s.batch, s.inputs, s.outputs);
    let name = format!("{bt}x{i}->{o} {driver:?}");
    Ok(vec![
        check::sum_of_products(
            &format!("dense forward {name}"),
            &ctx.read(&y).await?,
            &rd::forward(&xd, &wd, &bd, bt, i, o),
            &rd::forward(&abs(&xd), &abs(&wd), &abs(&bd), bt, i, o),
            i,
        ),
        check::sum_of_products(
            &format!("dense dX {name}"),
            &ctx.read(&dx).await?,
            &rd::backward_input(&dyd, &wd, bt, i, o),
            &rd::backward_input(&abs(&dyd), &abs(&wd), bt, i, o),
            o,
        ),
        check::sum_of_products(
            &format!("dense dW {name}"),
            &ctx.read(&dw).await?,
            &rd::backward_weight(&xd, &dyd, bt, i, o),
            &rd::backward_weight(&abs(&xd), &abs(&dyd), bt, i, o),
            bt,
        ),
        check::sum_of_products(
            &format!("dense db {name}"),
            &ctx.read(&db).await?,
            &rd::column_sum(&dyd, bt, o),
            &rd::column_sum(&abs(&dyd), bt, o),
            // db comes from dW's GEMM (a row of ones): a sum of bt terms, like dW's.
            bt,
        ),
    ])
}
