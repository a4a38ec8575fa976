//! The Keras golden fixture (`tests/fixtures/keras_step.safetensors`): loading, the
//! re-derivation of the start-of-step states it leaves out, and the README's error measure.
#![allow(dead_code)]

use std::sync::OnceLock;

use dcgan_wgpu::model::{Arch, Layer, LayerSpec, ParamLayout};
use dcgan_wgpu::ops::batchnorm::MOMENTUM;
use dcgan_wgpu::reference;

pub const BATCH: usize = 8;
pub const Z_DIM: usize = 100;

pub struct Fixture {
    bytes: Vec<u8>,
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/keras_step.safetensors"
        );
        Fixture {
            bytes: std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}")),
        }
    })
}

impl Fixture {
    /// `name` for this variant: stored under `<variant>/` or, when both variants share it,
    /// under `shared/`.
    pub fn get(&self, variant: &str, name: &str) -> Option<Vec<f32>> {
        let st = safetensors::SafeTensors::deserialize(&self.bytes).expect("fixture file");
        let view = st
            .tensor(&format!("{variant}/{name}"))
            .or_else(|_| st.tensor(&format!("shared/{name}")))
            .ok()?;
        assert_eq!(view.dtype(), safetensors::Dtype::F32);
        Some(bytemuck::pod_collect_to_vec(view.data()))
    }
    pub fn tensor(&self, variant: &str, name: &str) -> Vec<f32> {
        self.get(variant, name)
            .unwrap_or_else(|| panic!("fixture has no {variant}/{name}"))
    }
    pub fn scalar(&self, variant: &str, name: &str) -> f32 {
        self.tensor(variant, name)[0]
    }
}

#[derive(Clone, Copy)]
pub struct Variant {
    pub arch: Arch,
    pub key: &'static str,
}

pub const VARIANTS: [Variant; 2] = [
    Variant {
        arch: Arch::Full,
        key: "full",
    },
    Variant {
        arch: Arch::SeedCode,
        key: "seedcode",
    },
];

/// A network's flat vector from fixture tensors `<prefix>.<name>`.
pub fn flat_from_fixture(v: Variant, layout: &ParamLayout, prefix: &str) -> Vec<f32> {
    let fx = fixture();
    let mut flat = vec![0.0; layout.len];
    for e in &layout.entries {
        let t = fx.tensor(v.key, &format!("{prefix}.{}", e.name));
        assert_eq!(t.len(), e.len, "{prefix}.{}", e.name);
        flat[e.offset..e.offset + e.len].copy_from_slice(&t);
    }
    flat
}

/// e = max|ours - keras| / max|keras| over the first `ours.len().min(keras.len())` values.
pub fn check_e(name: &str, ours: &[f32], keras: &[f32], tol: f64, abs_floor: f64) {
    let n = ours.len().min(keras.len());
    assert!(n > 0, "{name}: nothing to compare");
    let max_ref = keras[..n]
        .iter()
        .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    let max_diff = (0..n).fold(0.0f64, |m, i| m.max(f64::from((ours[i] - keras[i]).abs())));
    let e = if max_ref > 0.0 {
        max_diff / max_ref
    } else {
        0.0
    };
    println!("{name}: {n} values, max |diff| {max_diff:.3e}, e {e:.3e}");
    assert!(
        max_diff <= (tol * max_ref).max(abs_floor),
        "{name}: max |diff| {max_diff:.3e} exceeds {tol:.0e} x max |keras| {max_ref:.3e} (floor {abs_floor:.0e})"
    );
}

/// The start-of-step states that the fixture leaves out, re-derived from init.* and the
/// gradients with Keras' float32 Adam and moving averages (tests/fixtures/trim_golden.py
/// checked that this derivation reproduces Keras' tensors bit for bit).
pub struct DerivedD {
    pub after2_params: Vec<f32>,
    pub after2_moving: Vec<f32>,
    pub after3_params: Vec<f32>,
    pub after3_moving: Vec<f32>,
}

pub fn derive_d(v: Variant, layers: &[LayerSpec]) -> DerivedD {
    let layout = ParamLayout::trainable(layers);
    let stats = ParamLayout::moving_stats(layers);
    let mut params = flat_from_fixture(v, &layout, "init.D");
    let mut moving = flat_from_fixture(v, &stats, "init.D");
    let mut adam = reference::adam::Adam::new(layout.len);
    let mut out = Vec::new();
    for step in ["step2", "step3"] {
        let grads = flat_from_fixture(v, &layout, &format!("{step}.grad.D"));
        adam.step(&mut params, &grads);
        update_moving(v, &stats, &mut moving, step, "D", layers);
        out.push((params.clone(), moving.clone()));
    }
    let (after3_params, after3_moving) = out.pop().unwrap();
    let (after2_params, after2_moving) = out.pop().unwrap();
    DerivedD {
        after2_params,
        after2_moving,
        after3_params,
        after3_moving,
    }
}

pub fn update_moving(
    v: Variant,
    stats: &ParamLayout,
    moving: &mut [f32],
    step: &str,
    net: &str,
    layers: &[LayerSpec],
) {
    let fx = fixture();
    for l in layers
        .iter()
        .filter(|l| matches!(l.layer, Layer::BatchNorm { .. }))
    {
        for (stat, slot) in [
            ("batch_mean", "moving_mean"),
            ("batch_variance", "moving_variance"),
        ] {
            let batch = fx.tensor(v.key, &format!("{step}.{net}.{}.{stat}", l.name));
            reference::batchnorm::moving_update(
                stats.slice_mut(moving, &format!("{}.{slot}", l.name)),
                &batch,
                MOMENTUM,
            );
        }
    }
}
