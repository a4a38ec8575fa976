//! Finiteness of a buffer, as `shaders/finite.wgsl` flags it.

/// Whether any value is NaN or infinite.
pub fn any_nonfinite(values: &[f32]) -> bool {
    values.iter().any(|v| !v.is_finite())
}
