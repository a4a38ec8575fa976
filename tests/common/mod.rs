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

#[allow(unused_imports)] // used by some of the test binaries that include this module
pub use dcgan_wgpu::reference::check::U32;

/// Prints the check's line, or fails with it (the bounds: `dcgan_wgpu::reference::check`).
fn expect(result: Result<String, String>) {
    match result {
        Ok(line) => println!("{line}"),
        Err(e) => panic!("{e}"),
    }
}

/// A sum of `k` products within gamma_k * sum |terms| (see `reference::check`).
pub fn check_sum_of_products(name: &str, got: &[f32], exact: &[f64], magnitude: &[f64], k: usize) {
    expect(dcgan_wgpu::reference::check::sum_of_products(
        name, got, exact, magnitude, k,
    ));
}

/// |got[i] - exact[i]| <= bound[i].
pub fn check_within(name: &str, got: &[f32], exact: &[f64], magnitude: &[f64], bound: &[f64]) {
    expect(dcgan_wgpu::reference::check::within(
        name, got, exact, magnitude, bound,
    ));
}

/// |got - exact| <= rel * |exact| + abs.
pub fn check_close(name: &str, got: &[f32], exact: &[f64], rel: f64, abs_tol: f64) {
    expect(dcgan_wgpu::reference::check::close(
        name, got, exact, rel, abs_tol,
    ));
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
    use dcgan_wgpu::config::Choice;
    let backend = match std::env::var("DCGAN_BACKEND") {
        Err(_) => dcgan_wgpu::gpu::BackendChoice::Auto,
        Ok(s) => dcgan_wgpu::gpu::BackendChoice::parse(&s).unwrap_or_else(|| {
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
