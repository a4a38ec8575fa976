//! The finiteness flag a report reads: against the reference on buffers of every kind of value.

use super::*;

/// Runs the flag over `values` on a flag that holds `start`; returns the flag after.
fn flag_after(values: &[f32], start: u32) -> u32 {
    let g = gpu();
    let v = upload(values);
    let flag = g.ctx.storage_init("flag", &[start]);
    run(&[g.ops.finite.flag_nonfinite(&g.ctx, &v, &flag)]);
    let out: Vec<u32> = g.ctx.read(&flag).block_on().expect("readback");
    out[0]
}

#[test]
fn nonfinite_values_are_flagged_wherever_they_are() {
    // 70001 elements: more than 256 workgroups of 256 lanes, so lanes walk the grid stride, and
    // a length that divides no workgroup.
    let n = 70_001;
    let mut r = rng(1700);
    let (clean, _) = random(&mut r, n, 1e3);
    // Finite extremes are not flagged: the largest finite, the smallest subnormal, zeros.
    let mut extremes = clean.clone();
    for (i, v) in [
        f32::MAX,
        -f32::MAX,
        f32::from_bits(1),
        -0.0,
        f32::MIN_POSITIVE,
    ]
    .into_iter()
    .enumerate()
    {
        extremes[i * 9_973] = v;
    }
    let quiet_nan = f32::NAN;
    let signalling_nan = f32::from_bits(0x7f80_0001);
    let negative_nan = f32::from_bits(0xffc0_0000);
    let mut cases: Vec<(String, Vec<f32>)> = vec![
        ("random".into(), clean.clone()),
        ("finite extremes".into(), extremes),
    ];
    // Each kind of non-finite value at the first element, one past the first grid stride, and
    // the last (the tail a workgroup covers partly).
    for (kind, bad) in [
        ("NaN", quiet_nan),
        ("signalling NaN", signalling_nan),
        ("negative NaN", negative_nan),
        ("+inf", f32::INFINITY),
        ("-inf", f32::NEG_INFINITY),
    ] {
        for at in [0, 65_536 + 7, n - 1] {
            let mut v = clean.clone();
            v[at] = bad;
            cases.push((format!("{kind} at {at}"), v));
        }
    }
    for (name, values) in &cases {
        let want = u32::from(reference::finite::any_nonfinite(values));
        assert_eq!(flag_after(values, 0), want, "{name}");
        // The flag only gains its bit.
        assert_eq!(flag_after(values, 1), 1, "{name}: a set flag stays set");
    }
    // A buffer shorter than one workgroup.
    assert_eq!(flag_after(&[1.0, f32::NAN, 2.0], 0), 1);
    assert_eq!(flag_after(&[1.0, 2.0, 3.0], 0), 0);
    println!(
        "finite flag: {} cases agree with the reference",
        cases.len() + 2
    );
}
