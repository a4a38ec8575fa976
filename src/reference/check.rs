//! The tolerances the GPU is held to, shared by the native tests (`tests/`) and the kernel
//! checks that run in a browser: each returns a line describing the worst error, or the first
//! element beyond its bound.

/// Unit roundoff of f32.
pub const U32: f64 = 1.0 / 16_777_216.0;

/// A sum-of-products result. A float32 sum of K products, in any order, is within
/// gamma_K * sum |terms| of the exact value (Higham, Accuracy and Stability of Numerical
/// Algorithms, 3.1), gamma_K ~ K u; `magnitude` is that sum of |terms| (the reference run on
/// absolute values). `k` is the number of terms per output (+ 2 for the bias and the final
/// rounding).
pub fn sum_of_products(
    name: &str,
    got: &[f32],
    exact: &[f64],
    magnitude: &[f64],
    k: usize,
) -> Result<String, String> {
    let gamma = (k as f64 + 2.0) * U32;
    let bounds: Vec<f64> = magnitude.iter().map(|m| gamma * m).collect();
    within(name, got, exact, magnitude, &bounds)
}

/// |got[i] - exact[i]| <= bound[i]; reports the largest error and the largest error relative
/// to `magnitude` (the scale of the terms that produced each value).
pub fn within(
    name: &str,
    got: &[f32],
    exact: &[f64],
    magnitude: &[f64],
    bound: &[f64],
) -> Result<String, String> {
    if got.len() != exact.len() {
        return Err(format!(
            "{name}: {} values, expected {}",
            got.len(),
            exact.len()
        ));
    }
    let (mut max_abs, mut max_rel, mut max_ratio) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..got.len() {
        let err = (f64::from(got[i]) - exact[i]).abs();
        max_abs = max_abs.max(err);
        if magnitude[i] > 0.0 {
            max_rel = max_rel.max(err / magnitude[i]);
        }
        if bound[i] > 0.0 {
            max_ratio = max_ratio.max(err / (bound[i] + 1e-30));
        }
        if err.is_nan() || err > bound[i] + 1e-30 {
            return Err(format!(
                "{name}: element {i}: got {}, exact {}, error {err:.3e} > bound {:.3e}",
                got[i], exact[i], bound[i]
            ));
        }
    }
    Ok(format!(
        "{name}: {} values, max abs err {max_abs:.3e}, max err / scale {max_rel:.3e}, worst {:.0}% of bound",
        got.len(),
        100.0 * max_ratio
    ))
}

/// |got - exact| <= rel * |exact| + abs for every element.
pub fn close(
    name: &str,
    got: &[f32],
    exact: &[f64],
    rel: f64,
    abs_tol: f64,
) -> Result<String, String> {
    if got.len() != exact.len() {
        return Err(format!(
            "{name}: {} values, expected {}",
            got.len(),
            exact.len()
        ));
    }
    let (mut max_abs, mut max_rel) = (0.0f64, 0.0f64);
    for i in 0..got.len() {
        let g = f64::from(got[i]);
        let err = (g - exact[i]).abs();
        max_abs = max_abs.max(err);
        if exact[i] != 0.0 {
            max_rel = max_rel.max(err / exact[i].abs());
        }
        if err.is_nan() || err > rel * exact[i].abs() + abs_tol {
            return Err(format!(
                "{name}: element {i}: got {g}, exact {}, error {err:.3e} > {rel:.1e} * |exact| + {abs_tol:.1e}",
                exact[i]
            ));
        }
    }
    Ok(format!(
        "{name}: {} values, max abs err {max_abs:.3e}, max rel err {max_rel:.3e}",
        got.len()
    ))
}

/// The longest chain of roundings in a two-stage column sum (`ops::reduce`): the rows one lane
/// walks and the tree over the row lanes, then the blocks one finishing lane walks and its tree.
pub fn reduction_depth(rows: usize, cols: usize) -> usize {
    // One input walks 60 rows a lane in fewer blocks, two walk 30 in more: bound both.
    [1, 2]
        .map(|inputs| {
            let b = crate::ops::reduce::Blocks::new(rows, cols, inputs);
            let row_lanes = 256 / b.col_lanes;
            (b.block_rows / row_lanes) as usize
                + row_lanes.ilog2() as usize
                + b.blocks.div_ceil(16) as usize
                + 4
        })
        .into_iter()
        .max()
        .unwrap_or(0)
}

/// The scales of BatchNorm's statistics from sums shifted by each column's first value K
/// (mean = K + S1/n, var = S2/n - (S1/n)^2 with S1 = sum(x - K), S2 = sum((x - K)^2)): their
/// errors scale with sum |x - K| and S2. `mean` is the exact mean. (mean scales, variance scales)
pub fn bn_stats_scales(
    x: &[f64],
    rows: usize,
    channels: usize,
    mean: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let (mut mean_mag, mut var_mag) = (vec![0.0; channels], vec![0.0; channels]);
    for c in 0..channels {
        let k = x[c];
        let (mut s1, mut s2) = (0.0, 0.0);
        for r in 0..rows {
            let d = x[r * channels + c] - k;
            s1 += d.abs();
            s2 += d * d;
        }
        let n = rows as f64;
        mean_mag[c] = k.abs() + s1 / n;
        var_mag[c] = s2 / n + 2.0 * (mean[c] - k).abs() * s1 / n;
    }
    (mean_mag, var_mag)
}

/// The scale of each term of BatchNorm's apply, x * inv + (beta - mean * inv) with
/// inv = gamma / sqrt(var + eps).
pub fn bn_apply_scales(
    x: &[f64],
    channels: usize,
    gamma: &[f64],
    beta: &[f64],
    norm: super::batchnorm::Norm<'_>,
) -> Vec<f64> {
    let inv: Vec<f64> = (0..channels)
        .map(|c| gamma[c] / (norm.var[c] + norm.eps).sqrt())
        .collect();
    (0..x.len())
        .map(|i| {
            let c = i % channels;
            (x[i] * inv[c]).abs() + beta[c].abs() + (norm.mean[c] * inv[c]).abs()
        })
        .collect()
}

/// The bound of the BCE gradient (sigmoid(z) - y) / B: it cancels when sigmoid(z) ~ y, so
/// errors are relative to (p + y) / B: a few roundings, plus exp(), which Vulkan allows
/// 3 + 2|z| ulp. (scales, bounds)
pub fn bce_gradient_bounds(z: &[f64], label: f64) -> (Vec<f64>, Vec<f64>) {
    let b = z.len() as f64;
    let mag: Vec<f64> = z
        .iter()
        .map(|&v| (1.0 / (1.0 + (-v).exp()) + label) / b)
        .collect();
    let bound = z
        .iter()
        .zip(&mag)
        .map(|(v, m)| (8.0 + 2.0 * v.abs()) * U32 * m)
        .collect();
    (mag, bound)
}

/// Bit-for-bit equality (two GPU results that must agree exactly).
pub fn bits(name: &str, got: &[f32], expected: &[f32]) -> Result<String, String> {
    if got.len() != expected.len() {
        return Err(format!(
            "{name}: {} values, expected {}",
            got.len(),
            expected.len()
        ));
    }
    match (0..got.len()).find(|&i| got[i].to_bits() != expected[i].to_bits()) {
        Some(i) => Err(format!(
            "{name}: element {i}: got {}, expected {}",
            got[i], expected[i]
        )),
        None => Ok(format!("{name}: {} values bit-identical", got.len())),
    }
}
