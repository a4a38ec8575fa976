//! What makes the bugs software drivers hide fail here: a digest of kernel outputs that must
//! not depend on llvmpipe's thread count or on doubled barriers, and every barrier removed in
//! turn (with poisoned workgroup memory) failing the kernel tests. The mutants run as child
//! processes of this test binary (`DCGAN_MUTATION`, read by `common::checks_from_env`).

use super::*;

/// FNV-1a over the bits of every output.
fn digest(outputs: &[Vec<f32>]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for v in outputs {
        for x in v {
            for b in x.to_bits().to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    h
}

/// Every GEMM driver (dense, forward and both gradients, split-K included), BatchNorm
/// statistics and backward, the bias column sums and the loss, on one seeded input; prints
/// `kernel digest: <hex>`. CI compares it across llvmpipe thread counts; the barrier test
/// across doubled barriers.
#[test]
fn kernel_digest() {
    let g = gpu();
    let mut r = rng(4242);
    let s = DenseShape {
        batch: 70,
        inputs: 68,
        outputs: 36,
    };
    let (x, _) = random(&mut r, s.batch * s.inputs, 1.0);
    let (w, _) = random(&mut r, s.inputs * s.outputs, 0.5);
    let (dy, _) = random(&mut r, s.batch * s.outputs, 1.0);
    let (xs, ws, dys) = (upload(&x), upload(&w), upload(&dy));
    let mut outputs = Vec::new();
    for driver in drivers() {
        let (y, dx, dw, db) = (
            output(s.batch * s.outputs),
            output(s.batch * s.inputs),
            output(s.inputs * s.outputs),
            output(s.outputs),
        );
        let d = &g.ops.dense;
        let mut ds = d.forward(&g.ctx, s, Pass::new(&xs, &ws, &y), driver);
        ds.extend(d.backward_input(&g.ctx, s, Pass::new(&dys, &ws, &dx), driver));
        ds.extend(d.backward_weight(&g.ctx, s, WeightGrads::new(&xs, &dys, &dw).db(&db), driver));
        run(&ds);
        outputs.extend([read(&y), read(&dx), read(&dw), read(&db)]);
    }
    let bn_shape = BnShape {
        rows: s.batch,
        channels: s.outputs,
    };
    let c = s.outputs;
    let (gamma, _) = random(&mut r, c, 2.0);
    let (beta, _) = random(&mut r, c, 1.0);
    let (gs, bs) = (upload(&gamma), upload(&beta));
    let st = Stats::upload(&g.ctx, "stats", &vec![0.0; c], &vec![0.0; c]);
    let dgb = Stats::upload(&g.ctx, "dgb", &vec![0.0; c], &vec![0.0; c]);
    let (y, dx) = (output(dy.len()), output(dy.len()));
    let bn = &g.ops.batchnorm;
    let sums = output(bn.dx_sums_len(bn_shape));
    let (dz, metrics) = (output(s.batch), output(2));
    let mut ds = bn
        .forward_train(
            &g.ctx,
            bn_shape,
            BnLayer {
                gamma: &gs,
                beta: &bs,
                activation: None,
            },
            &dys,
            TrainStats {
                batch: &st,
                moving: None,
            },
            &y,
        )
        .to_vec();
    ds.extend(bn.backward(
        &g.ctx,
        bn_shape,
        &gs,
        BnSaved {
            x: &dys,
            stats: &st,
        },
        &y,
        BnGrads {
            dgamma: &dgb.mean,
            dbeta: &dgb.variance,
            dx: &dx,
            dx_sums: Some(&sums),
        },
    ));
    ds.extend(
        g.ops
            .loss
            .bce_with_logits(&g.ctx, 1.0, &y.range(0, s.batch), &dz, &metrics, 0),
    );
    run(&ds);
    for o in [
        &y,
        &dx,
        &sums,
        &st.mean,
        &st.variance,
        &dgb.mean,
        &dgb.variance,
        &dz,
        &metrics,
    ] {
        outputs.push(read(o));
    }
    println!("kernel digest: {:016x}", digest(&outputs));
}

/// Runs this test binary's tests matching `filter` in a child with `mutation`, workgroup memory
/// poisoned: (passed, output).
fn mutant(mutation: &str, filter: &str) -> (bool, String) {
    let o = std::process::Command::new(std::env::current_exe().unwrap())
        .args([filter, "--test-threads=1", "--nocapture"])
        .env("DCGAN_MUTATION", mutation)
        .env("DCGAN_CHECKS", "poison")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    (o.status.success(), text)
}

fn printed_digest(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("kernel digest: "))
        .unwrap_or_else(|| panic!("no digest printed:\n{text}"))
        .to_string()
}

/// Every `workgroupBarrier` in the shaders, removed in turn, fails the tests of the kernels
/// that use it (a barrier whose removal passes would be untested); every barrier doubled
/// keeps every bit. About a minute and a half of child processes: `.ci/run` runs it once
/// (`cargo test --release --test ops -- --ignored mutations`), not at every subgroup size.
#[test]
#[ignore = "children of this binary for a minute and a half; .ci/run runs it with --ignored"]
fn every_barrier_is_needed_and_doubling_them_keeps_the_bits() {
    if std::env::var_os("DCGAN_MUTATION").is_some() {
        return;
    }
    // (file, barriers in it, the tests that exercise them)
    let files = [
        ("common.wgsl", "batchnorm::batchnorm_odd_shapes"),
        ("gemm.wgsl", "dense::dense_odd_shapes_every_driver"),
        ("gemm_wide.wgsl", "dense::dense_odd_shapes_every_driver"),
    ];
    let mut removed = 0;
    for (file, filter) in files {
        let text = dcgan_wgpu::gpu::shaders::ALL
            .iter()
            .flat_map(|s| s.files.iter())
            .find(|(f, _)| *f == file)
            .unwrap()
            .1;
        let count = text.matches("workgroupBarrier();").count();
        assert!(count > 0, "{file} has no barrier");
        for n in 0..count {
            let (passed, out) = mutant(&format!("{file}:{n}"), filter);
            assert!(
                !passed,
                "removing barrier {n} of {file} passes {filter}: that barrier is untested\n{out}"
            );
            println!("barrier {n} of {file} removed: {filter} fails");
            removed += 1;
        }
    }
    let (passed, normal) = mutant("none", "kernel_digest");
    assert!(passed, "{normal}");
    let (passed, doubled) = mutant("double", "kernel_digest");
    assert!(passed, "{doubled}");
    assert_eq!(
        printed_digest(&doubled),
        printed_digest(&normal),
        "doubling the barriers changed the bits"
    );
    println!(
        "{removed} barriers each needed; doubled, digest {} unchanged",
        printed_digest(&normal)
    );
}
