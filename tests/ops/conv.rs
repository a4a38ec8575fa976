//! Conv2D and Conv2DTranspose: forward, input and weight gradients, every GEMM driver.

use super::*;

fn conv_case(s: Conv2d, driver: Driver, seed: u64) {
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
    let mut ds = c.forward(
        &g.ctx,
        s,
        Pass::new(&xs, &ws, &y).epilogue(Epilogue::bias(&bs)),
        driver,
    );
    ds.extend(c.backward_input(&g.ctx, s, Pass::new(&dys, &ws, &dx), driver));
    ds.extend(c.backward_weight(&g.ctx, s, WeightGrads::new(&xs, &dys, &dw).db(&db), driver));
    run(&ds);

    use reference::conv as rc;
    let geo = s;
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
            let s = Conv2d {
                transposed: false,
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
        let s = Conv2d {
            transposed: false,
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

fn conv_transpose_case(s: Conv2d, driver: Driver, seed: u64) {
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
    let mut ds = c.forward(
        &g.ctx,
        s,
        Pass::new(&xs, &ws, &y).epilogue(Epilogue::bias(&bs)),
        driver,
    );
    ds.extend(c.backward_input(&g.ctx, s, Pass::new(&dys, &ws, &dx), driver));
    ds.extend(c.backward_weight(&g.ctx, s, WeightGrads::new(&xs, &dys, &dw), driver));
    ds.extend(c.backward_bias(&g.ctx, &dys, s.out_c, &db));
    run(&ds);

    use reference::conv_transpose as rt;
    let geo = s;
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
            let s = Conv2d {
                transposed: true,
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
        let s = Conv2d {
            transposed: true,
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
