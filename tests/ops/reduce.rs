//! Determinism of the two-stage reductions.

use super::*;

#[test]
fn reductions_are_bit_reproducible() {
    // Split-K weight gradients, column sums, BN statistics and the loss: run twice, compare bits.
    let g = gpu();
    let s = Conv2d {
        transposed: false,
        batch: 128,
        in_h: 14,
        in_w: 14,
        in_c: 32,
        out_c: 64,
        kernel: 3,
        stride: 2,
    };
    let mut r = rng(1100);
    let (x, _) = random(&mut r, s.input_len(), 1.0);
    let (dy, _) = random(&mut r, s.output_len(), 1.0);
    let (xs, dys) = (upload(&x), upload(&dy));
    let bn_shape = BnShape {
        rows: s.batch * 49,
        channels: 64,
    };
    let logits = dys.range(0, 128);
    let outs = || {
        let dw = output(s.kernel_len());
        let db = output(s.out_c);
        let st = Stats::upload(&g.ctx, "stats", &[0.0; 64], &[0.0; 64]);
        let (ones, zeros, bn_y) = (upload(&[1.0; 64]), upload(&[0.0; 64]), output(dys.len));
        let dz = output(128);
        let metrics = output(2);
        let mut ds =
            g.ops
                .conv
                .backward_weight(&g.ctx, s, WeightGrads::new(&xs, &dys, &dw), Driver::Auto);
        assert!(ds.len() == 2, "this shape should use split-K");
        ds.extend(g.ops.conv.backward_bias(&g.ctx, &dys, s.out_c, &db));
        ds.extend(g.ops.batchnorm.forward_train(
            &g.ctx,
            bn_shape,
            BnLayer {
                gamma: &ones,
                beta: &zeros,
                activation: None,
            },
            &dys,
            TrainStats {
                batch: &st,
                moving: None,
            },
            &bn_y,
        ));
        ds.extend(
            g.ops
                .loss
                .bce_with_logits(&g.ctx, 1.0, &logits, &dz, &metrics, 0),
        );
        run(&ds);
        [
            read(&dw),
            read(&db),
            read(&st.mean),
            read(&st.variance),
            read(&dz),
            read(&metrics),
        ]
    };
    let first = outs();
    let second = outs();
    for (i, (a, b)) in first.iter().zip(&second).enumerate() {
        check_bits(&format!("run twice, output {i}"), b, a);
    }
}
