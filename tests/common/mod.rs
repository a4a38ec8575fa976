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

/// Every line of a shared case (`reference::cases`): printed, or the test fails with the
/// first failure (or the GPU's error).
pub fn expect_lines(lines: Result<dcgan_wgpu::reference::cases::Lines, dcgan_wgpu::gpu::GpuError>) {
    for line in lines.unwrap_or_else(|e| panic!("the case did not run: {e}")) {
        expect(line);
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

/// `DCGAN_CHECKS=poison,guards` (or `all`): the kernel tests with workgroup memory poisoned
/// and NaN guard bands (`dcgan_wgpu::gpu::context::Checks`); CI runs them so.
pub fn checks_from_env() -> dcgan_wgpu::gpu::context::Checks {
    let v = std::env::var("DCGAN_CHECKS").unwrap_or_default();
    let on = |what: &str| v.split(',').any(|w| w == what || w == "all");
    for w in v.split(',').filter(|w| !w.is_empty()) {
        assert!(
            ["poison", "guards", "all"].contains(&w),
            "DCGAN_CHECKS={v:?}: {w} is not one of poison, guards, all"
        );
    }
    dcgan_wgpu::gpu::context::Checks {
        poison_workgroup_memory: on("poison"),
        guard_bands: on("guards"),
        edit: mutation_from_env(),
    }
}

/// `DCGAN_MUTATION`: `FILE:N` removes the N-th `workgroupBarrier();` of shaders/FILE in every
/// module that includes it; `double` doubles every barrier; `none` changes nothing (see
/// tests/ops/mutations.rs).
fn mutation_from_env() -> Option<dcgan_wgpu::gpu::context::ShaderEdit> {
    const BARRIER: &str = "workgroupBarrier();";
    let m = std::env::var("DCGAN_MUTATION").ok()?;
    if m == "none" {
        return None;
    }
    if m == "double" {
        return Some(std::sync::Arc::new(|_: &str, s: String| {
            s.replace(BARRIER, "workgroupBarrier(); workgroupBarrier();")
        }));
    }
    let (file, n) = m
        .split_once(':')
        .and_then(|(f, n)| Some((f.to_string(), n.parse::<usize>().ok()?)))
        .unwrap_or_else(|| panic!("DCGAN_MUTATION={m:?} is not FILE:N, double or none"));
    Some(std::sync::Arc::new(move |_: &str, s: String| {
        let marker = format!("// ---- shaders/{file} ----\n");
        let Some(start) = s.find(&marker) else {
            return s;
        };
        let end = s[start + marker.len()..]
            .find("// ---- shaders/")
            .map_or(s.len(), |e| start + marker.len() + e);
        let Some((at, _)) = s[start..end].match_indices(BARRIER).nth(n) else {
            return s;
        };
        let at = start + at;
        format!(
            "{}/* barrier removed */{}",
            &s[..at],
            &s[at + BARRIER.len()..]
        )
    }))
}

/// The adapter the tests run on: backend from `DCGAN_BACKEND` (so CI runs the same tests on
/// lavapipe and on GL), name from `DCGAN_ADAPTER`, checks from `DCGAN_CHECKS`.
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
        checks: checks_from_env(),
    }
}

/// The clock a native shell lends the tuner (the command line's is the same).
struct TestClock(std::time::Instant);

impl dcgan_wgpu::config::Clock for TestClock {
    fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// A tuner starting from the cache file at `path` (if any), as the command line makes one.
pub fn tuner_with_file(ctx: &GpuContext, path: &std::path::Path) -> dcgan_wgpu::ops::tune::Tuner {
    let text = std::fs::read_to_string(path).ok();
    let clock = std::sync::Arc::new(TestClock(std::time::Instant::now()));
    dcgan_wgpu::ops::tune::Tuner::new(ctx, clock, text.as_deref())
}

/// Stores the tuner's new choices at `path`, as the command line does.
pub fn save_tuner(ops: &Ops, path: &std::path::Path) {
    let previous = std::fs::read_to_string(path).ok();
    if let Some(text) = ops.tuner.cache_text(previous.as_deref()) {
        std::fs::write(path, text).unwrap();
    }
}
