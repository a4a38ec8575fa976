//! GEMM driver choice: every driver the same bits, the tuner and its bit check.

use super::*;

#[test]
fn gemm_drivers_agree_bit_for_bit() {
    // The autotuner may pick any unsplit driver; each output is the same sequential sum over k
    // in all of them, so a run's bits do not depend on the choice.
    let g = gpu();
    let mut choices = vec![
        Driver::Tiled { splits: 1 },
        Driver::Narrow,
        Driver::Wide {
            splits: 1,
            rows: 64,
        },
        Driver::Wide {
            splits: 1,
            rows: 128,
        },
    ];
    if g.ctx.has_subgroups() {
        choices.extend([64, 128].map(|rows| Driver::Subgroup { splits: 1, rows }));
    }
    let s = Conv2d {
        transposed: false,
        batch: 5,
        in_h: 9,
        in_w: 10,
        in_c: 12,
        out_c: 20,
        kernel: 3,
        stride: 2,
    };
    let ts = Conv2d {
        transposed: true,
        batch: 5,
        in_h: 5,
        in_w: 4,
        in_c: 12,
        out_c: 20,
        kernel: 3,
        stride: 2,
    };
    let ds = DenseShape {
        batch: 7,
        inputs: 30,
        outputs: 21,
    };
    let mut r = rng(1200);
    let inputs: Vec<GpuSlice> = [
        s.input_len(),
        s.kernel_len(),
        s.output_len(),
        ts.input_len(),
        ts.output_len(),
        7 * 30,
        30 * 21,
        7 * 21,
    ]
    .iter()
    .map(|&n| upload(&random(&mut r, n, 1.0).0))
    .collect();
    let [x, w, dy, tx, tdy, dx_, dw_, ddy] = &inputs[..] else {
        unreachable!()
    };
    let c = &g.ops.conv;
    let d = &g.ops.dense;
    type Build<'a> = Box<dyn Fn(Driver, &GpuSlice) -> Vec<Dispatch> + 'a>;
    let cases: Vec<(&str, usize, Build)> = vec![
        (
            "conv forward",
            s.output_len(),
            Box::new(|dr, o| c.forward(&g.ctx, s, Pass::new(x, w, o), dr)),
        ),
        (
            "conv dX",
            s.input_len(),
            Box::new(|dr, o| c.backward_input(&g.ctx, s, Pass::new(dy, w, o), dr)),
        ),
        (
            "conv dW",
            s.kernel_len(),
            Box::new(|dr, o| c.backward_weight(&g.ctx, s, WeightGrads::new(x, dy, o), dr)),
        ),
        (
            "conv_transpose forward",
            ts.output_len(),
            Box::new(|dr, o| c.forward(&g.ctx, ts, Pass::new(tx, w, o), dr)),
        ),
        (
            "conv_transpose dW",
            ts.kernel_len(),
            Box::new(|dr, o| c.backward_weight(&g.ctx, ts, WeightGrads::new(tx, tdy, o), dr)),
        ),
        (
            "dense forward",
            7 * 21,
            Box::new(|dr, o| d.forward(&g.ctx, ds, Pass::new(dx_, dw_, o), dr)),
        ),
        (
            "dense dX",
            7 * 30,
            Box::new(|dr, o| d.backward_input(&g.ctx, ds, Pass::new(ddy, dw_, o), dr)),
        ),
        (
            "dense dW",
            30 * 21,
            Box::new(|dr, o| d.backward_weight(&g.ctx, ds, WeightGrads::new(dx_, ddy, o), dr)),
        ),
    ];
    for (name, len, build) in &cases {
        let outs: Vec<Vec<f32>> = choices
            .iter()
            .map(|&dr| {
                let o = output(*len);
                run(&build(dr, &o));
                read(&o)
            })
            .collect();
        for (i, o) in outs.iter().enumerate().skip(1) {
            check_bits(
                &format!("{name}: {:?} vs {:?}", choices[i], choices[0]),
                o,
                &outs[0],
            );
        }
    }
}

#[test]
fn tuning_check_tells_equal_bits_from_a_different_summation() {
    // Another driver with the same split gives the same bits; another split (another order of
    // the K sum) does not, and the check must say so, or the tuner could change a run's bits.
    use dcgan_wgpu::ops::gemm::GemmParams;
    let g = gpu();
    let (batch, inputs, outputs) = (2048, 37, 70);
    let x = upload(&random(&mut rng(1250), batch * inputs, 1.0).0);
    let dy = upload(&random(&mut rng(1251), batch * outputs, 1.0).0);
    let dw = output(inputs * outputs);
    let p = GemmParams {
        m: inputs as u32,
        n: outputs as u32,
        k: batch as u32,
        ..Default::default()
    };
    let kernels = &g.ops.dense.backward_weight;
    let check = |fixed, candidate| {
        kernels
            .identical(
                &g.ctx,
                Gemm {
                    params: p,
                    a: &x,
                    b: &dy,
                    epilogue: Epilogue::NONE,
                    out: &dw,
                },
                fixed,
                candidate,
            )
            .block_on()
            .unwrap()
    };
    let tiled = Driver::Tiled { splits: 1 };
    assert!(check(tiled, Driver::Narrow), "narrow vs tiled");
    if g.ctx.has_subgroups() {
        for rows in [64, 128] {
            let subgroup = Driver::Subgroup { splits: 1, rows };
            assert!(check(tiled, subgroup), "subgroup {rows} vs tiled");
        }
    }
    assert!(
        !check(tiled, Driver::Tiled { splits: 3 }),
        "a 3-way split-K sums in another order: the check must see different bits"
    );
}

#[test]
fn tuner_chooses_a_correct_variant_and_caches_it() {
    use dcgan_wgpu::ops::Ops;
    let g = gpu();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tuning.json");
    let ops = Ops::with_tuner(&g.ctx, common::tuner_with_file(&g.ctx, &path)).unwrap();
    let s = Conv2d {
        transposed: false,
        batch: 3,
        in_h: 9,
        in_w: 9,
        in_c: 5,
        out_c: 24,
        kernel: 3,
        stride: 1,
    };
    let mut r = rng(1300);
    let (x, xd) = random(&mut r, s.input_len(), 1.0);
    let (w, wd) = random(&mut r, s.kernel_len(), 0.5);
    let (xs, ws, y) = (upload(&x), upload(&w), output(s.output_len()));
    let record = || {
        ops.conv
            .forward(&g.ctx, s, Pass::new(&xs, &ws, &y), Driver::Auto)
    };
    // Recording queues the open choice (the fixed driver is recorded meanwhile); tuning
    // settles it, and the next recording uses it without queueing again.
    let _ = record();
    assert!(ops.tune(&g.ctx).block_on(), "nothing was queued for tuning");
    run(&record());
    assert!(
        !ops.tune(&g.ctx).block_on(),
        "a settled choice was queued again"
    );
    let geo = s;
    let zero = vec![0.0; 24];
    check_sum_of_products(
        "tuned conv forward",
        &read(&y),
        &reference::conv::forward(&geo, &xd, &wd, &zero),
        &reference::conv::forward(&geo, &abs(&xd), &abs(&wd), &zero),
        45,
    );
    common::save_tuner(&ops, &path);
    let text = std::fs::read_to_string(&path).expect("the cache was written");
    assert!(text.contains("conv OP=0"), "{text}");
    // A new tuner reads the choice back instead of timing again.
    let again = common::tuner_with_file(&g.ctx, &path);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let key = json["adapters"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    assert!(again.cached(&key).is_some());
}
