//! Dense layers: forward, input and weight gradients, every GEMM driver.

use super::*;

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
