//! Shared test harness: one GPU context and one set of compiled kernels per test binary,
//! random inputs, and error reports against the CPU reference.
#![allow(dead_code)]

pub mod fixture;

use pollster::FutureExt as _;
use std::sync::OnceLock;

use dcgan_wgpu::gpu::{GpuContext, GpuOptions, GpuSlice};
use dcgan_wgpu::ops::Ops;
use rand::{RngExt, SeedableRng, rngs::StdRng};

pub struct Gpu {
    pub ctx: GpuContext,
    pub ops: Ops,
}

/// The shared GPU, held by one test at a time on backends that need it (see [`gpu`]).
pub struct GpuGuard {
    gpu: &'static Gpu,
    _exclusive: Option<parking_lot::ReentrantMutexGuard<'static, ()>>,
}

impl std::ops::Deref for GpuGuard {
    type Target = Gpu;
    fn deref(&self) -> &Gpu {
        self.gpu
    }
}

/// The GPU all tests of this binary share. A missing adapter FAILS the test (with the install
/// instructions in the message); it never skips.
///
/// wgpu's GL backend guards its one EGL context with a lock that panics after 6 s of waiting,
/// which parallel tests on a busy llvmpipe exceed; there the guard serialises the tests that
/// hold it (re-entrant, so a test may call `gpu()` again while holding it).
pub fn gpu() -> GpuGuard {
    static EXCLUSIVE: parking_lot::ReentrantMutex<()> = parking_lot::ReentrantMutex::new(());
    let gpu = shared_gpu();
    let gl = gpu.ctx.info.backend == wgpu::Backend::Gl;
    GpuGuard {
        gpu,
        _exclusive: gl.then(|| EXCLUSIVE.lock()),
    }
}

fn shared_gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let options = options_from_env();
        let ctx = pollster::block_on(GpuContext::new(&options)).unwrap_or_else(|e| {
            panic!("the GPU tests need an adapter: {e}");
        });
        eprintln!("testing on {}", ctx.describe());
        let ops = Ops::new(&ctx).unwrap_or_else(|e| panic!("compiling the kernels failed: {e}"));
        Gpu { ctx, ops }
    })
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Uniform values in [-scale, scale], as f32 (what the GPU gets) and f64 (the same values, for
/// the reference).
pub fn random(rng: &mut StdRng, n: usize, scale: f32) -> (Vec<f32>, Vec<f64>) {
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-scale..=scale)).collect();
    let d = v.iter().map(|&x| f64::from(x)).collect();
    (v, d)
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

pub fn abs(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.abs()).collect()
}

pub fn upload(v: &[f32]) -> GpuSlice {
    gpu().ctx.storage_init("test input", v)
}

pub fn output(n: usize) -> GpuSlice {
    gpu().ctx.storage("test output", n)
}

pub fn read(s: &GpuSlice) -> Vec<f32> {
    gpu().ctx.read(s).block_on().expect("readback")
}

/// Unit roundoff of f32.
pub const U32: f64 = 1.0 / 16_777_216.0;

/// Checks a sum-of-products result. A float32 sum of K products, in any order, is within
/// gamma_K * sum |terms| of the exact value (Higham, Accuracy and Stability of Numerical
/// Algorithms, 3.1), gamma_K ~ K u; `magnitude` is that sum of |terms| (the reference run on
/// absolute values). `k` is the number of terms per output (+ 2 for the bias and the final
/// rounding).
pub fn check_sum_of_products(name: &str, got: &[f32], exact: &[f64], magnitude: &[f64], k: usize) {
    let gamma = (k as f64 + 2.0) * U32;
    let bounds: Vec<f64> = magnitude.iter().map(|m| gamma * m).collect();
    check_within(name, got, exact, magnitude, &bounds);
}

/// Checks |got[i] - exact[i]| <= bound[i]; reports the largest error and the largest error
/// relative to `magnitude` (the scale of the terms that produced each value).
pub fn check_within(name: &str, got: &[f32], exact: &[f64], magnitude: &[f64], bound: &[f64]) {
    assert_eq!(got.len(), exact.len(), "{name}: length");
    let mut max_abs = 0.0f64;
    let mut max_rel = 0.0f64;
    let mut max_ratio = 0.0f64;
    for i in 0..got.len() {
        let err = (f64::from(got[i]) - exact[i]).abs();
        max_abs = max_abs.max(err);
        if magnitude[i] > 0.0 {
            max_rel = max_rel.max(err / magnitude[i]);
        }
        if bound[i] > 0.0 {
            max_ratio = max_ratio.max(err / (bound[i] + 1e-30));
        }
        assert!(
            err <= bound[i] + 1e-30,
            "{name}: element {i}: got {}, exact {}, error {err:.3e} > bound {:.3e}",
            got[i],
            exact[i],
            bound[i]
        );
    }
    println!(
        "{name}: {} values, max abs err {max_abs:.3e}, max err / scale {max_rel:.3e}, worst {:.0}% of bound",
        got.len(),
        100.0 * max_ratio
    );
}

/// Checks |got - exact| <= rel * |exact| + abs for every element and reports the worst errors.
pub fn check_close(name: &str, got: &[f32], exact: &[f64], rel: f64, abs_tol: f64) {
    assert_eq!(got.len(), exact.len(), "{name}: length");
    let mut max_abs = 0.0f64;
    let mut max_rel = 0.0f64;
    for i in 0..got.len() {
        let g = f64::from(got[i]);
        let err = (g - exact[i]).abs();
        max_abs = max_abs.max(err);
        if exact[i] != 0.0 {
            max_rel = max_rel.max(err / exact[i].abs());
        }
        assert!(
            err <= rel * exact[i].abs() + abs_tol,
            "{name}: element {i}: got {g}, exact {}, error {err:.3e} > {rel:.1e} * |exact| + {abs_tol:.1e}",
            exact[i]
        );
    }
    println!(
        "{name}: {} values, max abs err {max_abs:.3e}, max rel err {max_rel:.3e}",
        got.len()
    );
}

/// Bit-for-bit equality (f32 or u32 data).
pub fn check_bits(name: &str, got: &[f32], expected: &[f32]) {
    assert_eq!(got.len(), expected.len(), "{name}: length");
    for i in 0..got.len() {
        assert_eq!(
            got[i].to_bits(),
            expected[i].to_bits(),
            "{name}: element {i}: got {}, expected {}",
            got[i],
            expected[i]
        );
    }
    println!("{name}: {} values bit-identical", got.len());
}

/// A split of the vendored MNIST (gzipped IDX files), as a shell reads it.
pub fn vendored_split(split: dcgan_wgpu::data::Split) -> (dcgan_wgpu::data::Images, Vec<u8>) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/mnist");
    let [images, labels] = split
        .file_names()
        .map(|n| std::fs::read(format!("{root}/{n}.gz")).expect("vendored MNIST"));
    dcgan_wgpu::data::parse_split((&images, "images"), (&labels, "labels")).expect("MNIST")
}

/// The adapter the tests run on: backend from `DCGAN_BACKEND` (so CI runs the same tests on
/// lavapipe and on GL), name from `DCGAN_ADAPTER`.
pub fn options_from_env() -> GpuOptions {
    use clap::ValueEnum;
    let backend = match std::env::var("DCGAN_BACKEND") {
        Err(_) => dcgan_wgpu::gpu::BackendChoice::Auto,
        Ok(s) => dcgan_wgpu::gpu::BackendChoice::from_str(&s, true).unwrap_or_else(|_| {
            panic!("DCGAN_BACKEND={s:?} is not one of auto, vulkan, metal, dx12, gl")
        }),
    };
    GpuOptions {
        backend,
        adapter_name: std::env::var("DCGAN_ADAPTER").ok(),
    }
}

/// The host a native shell lends the tuner (the command line's is the same).
struct TestHost(std::time::Instant);

impl dcgan_wgpu::config::Host for TestHost {
    fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
    fn block_on(&self, f: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>) {
        pollster::block_on(f)
    }
}

/// A tuner starting from the cache file at `path` (if any), as the command line makes one.
pub fn tuner_with_file(ctx: &GpuContext, path: &std::path::Path) -> dcgan_wgpu::ops::tune::Tuner {
    let text = std::fs::read_to_string(path).ok();
    let host = std::sync::Arc::new(TestHost(std::time::Instant::now()));
    dcgan_wgpu::ops::tune::Tuner::new(ctx, host, text.as_deref())
}

/// Stores the tuner's new choices at `path`, as the command line does.
pub fn save_tuner(ops: &Ops, path: &std::path::Path) {
    let previous = std::fs::read_to_string(path).ok();
    if let Some(text) = ops.tuner.cache_text(previous.as_deref()) {
        std::fs::write(path, text).unwrap();
    }
}
