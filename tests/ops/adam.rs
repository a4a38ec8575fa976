//! Keras' Adam over a flat parameter buffer.

use super::*;

#[test]
fn adam_matches_keras_float32() {
    let g = gpu();
    let n = 10_007;
    let mut r = rng(1000);
    let (theta0, _) = random(&mut r, n, 1.0);
    let grads: Vec<Vec<f32>> = (0..3).map(|_| random(&mut r, n, 0.1).0).collect();
    let config = AdamConfig::default();
    let (param, m, v) = (upload(&theta0), output(n), output(n));
    let state = g.ctx.storage_init("adam state", &initial_state());
    let alphas = output(MAX_STEPS);
    let grad: Vec<GpuSlice> = grads.iter().map(|gr| upload(gr)).collect();
    let mut adam = reference::adam::Adam::new(n);
    let mut theta = theta0.clone();
    // Step 1 alone (schedule + update); steps 2 and 3 as D takes them in an iteration: one
    // schedule of two steps, then the update of each slot.
    let a = &g.ops.adam;
    run(&a.step(&g.ctx, &config, &state, &alphas, &grad[0], &param, &m, &v));
    let mut checks = vec![(1, read(&param), read(&m), read(&v))];
    let schedule = Schedule {
        state: &state,
        alphas: &alphas,
        steps: 2,
    };
    run(&[
        a.schedule(&g.ctx, &config, schedule, None),
        a.update(&g.ctx, &config, &alphas, 0, &grad[1], &param, &m, &v),
    ]);
    checks.push((2, read(&param), read(&m), read(&v)));
    run(&[a.update(&g.ctx, &config, &alphas, 1, &grad[2], &param, &m, &v)]);
    checks.push((3, read(&param), read(&m), read(&v)));
    for ((step, got, got_m, got_v), gr) in checks.into_iter().zip(&grads) {
        adam.step(&mut theta, gr);
        let exact = to_f64(&theta);
        // Keras' float32 arithmetic, operation by operation: a handful of roundings of the
        // update (|update| <= ~lr) and one of theta.
        let mag: Vec<f64> = theta.iter().map(|t| f64::from(t.abs()) + 1e-3).collect();
        check_sum_of_products(&format!("adam step {step}"), &got, &exact, &mag, 4);
        let same = got
            .iter()
            .zip(&theta)
            .filter(|(a, b)| a.to_bits() == b.to_bits())
            .count();
        println!("adam step {step}: {same}/{n} parameters bit-identical to the reference");
        check_sum_of_products(
            "adam m",
            &got_m,
            &to_f64(&adam.m),
            &abs(&to_f64(&adam.m)),
            4,
        );
        check_sum_of_products(
            "adam v",
            &got_v,
            &to_f64(&adam.v),
            &abs(&to_f64(&adam.v)),
            4,
        );
    }
    let st: Vec<u32> = g.ctx.read(&state).block_on().unwrap();
    assert_eq!(st.len(), STATE_LEN);
    assert_eq!(st[0], 3, "step count");
}
