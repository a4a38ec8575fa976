//! Kernel-variant autotuning: where a GEMM has a real choice of driver (tiled, subgroup,
//! narrow), time each once at start-up on the real buffers and keep the fastest, cached on
//! disk per adapter and driver version so later runs start at once.
//!
//! The candidates differ only in how work is spread over threads: each output is still one
//! sequential sum over k (and split-K, chosen by a fixed rule, is the same for all). That is not
//! proof of equal bits (a GPU compiler may contract a*b+c into an FMA in one program and not in
//! another), so a candidate other than the fixed choice is used only after it has produced the
//! fixed choice's bits on random operands of the real shapes, on this adapter, in this process
//! (`verified`); a cached choice gets the same check. Same seed, same adapter: same bits,
//! whatever the cache holds (`tests/train.rs::tuning_state_never_changes_a_run`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::gpu::{Dispatch, GpuContext, GpuError};

/// The cache file: per adapter key, per GEMM key, the chosen driver.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    adapters: BTreeMap<String, BTreeMap<String, String>>,
}

const VERSION: u32 = 1;

pub struct Tuner {
    enabled: bool,
    path: Option<PathBuf>,
    adapter: String,
    choices: Mutex<BTreeMap<String, String>>,
    /// `key | candidate` -> whether it gave the fixed choice's bits (checked once a process).
    verified: Mutex<BTreeMap<String, bool>>,
    dirty: Mutex<bool>,
}

/// `$DCGAN_WGPU_CACHE_DIR`, else the platform's cache directory: `$XDG_CACHE_HOME` or
/// `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows (then
/// `dcgan-wgpu/tuning.json` inside).
pub fn default_cache_path() -> Option<PathBuf> {
    let dir = std::env::var_os("DCGAN_WGPU_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("dcgan-wgpu")))?;
    Some(dir.join("tuning.json"))
}

/// The adapter and driver version a tuning result belongs to.
pub fn adapter_key(ctx: &GpuContext) -> String {
    let i = &ctx.info;
    format!(
        "{} | {:?} | {:04x}:{:04x} | {} {}",
        i.name, i.backend, i.vendor, i.device, i.driver, i.driver_info
    )
}

impl Tuner {
    /// No tuning: the fixed choice (subgroup where available, narrow for N < 16).
    pub fn disabled() -> Self {
        Tuner {
            enabled: false,
            path: None,
            adapter: String::new(),
            choices: Mutex::new(BTreeMap::new()),
            verified: Mutex::new(BTreeMap::new()),
            dirty: Mutex::new(false),
        }
    }

    /// Tuning with the cache at `path` (read now if it exists; a damaged cache is ignored
    /// with a warning and rewritten).
    pub fn with_cache(ctx: &GpuContext, path: Option<PathBuf>) -> Self {
        let adapter = adapter_key(ctx);
        let mut choices = BTreeMap::new();
        if let Some(p) = &path
            && let Ok(text) = std::fs::read_to_string(p)
        {
            match serde_json::from_str::<CacheFile>(&text) {
                Ok(c) if c.version == VERSION => {
                    choices = c.adapters.get(&adapter).cloned().unwrap_or_default();
                }
                Ok(_) => log::warn!("{}: old tuning cache format, retuning", p.display()),
                Err(e) => log::warn!("{}: unreadable tuning cache ({e}), retuning", p.display()),
            }
        }
        log::info!(
            "kernel tuning cache: {} known choices for this adapter",
            choices.len()
        );
        Tuner {
            enabled: true,
            path,
            adapter,
            choices: Mutex::new(choices),
            verified: Mutex::new(BTreeMap::new()),
            dirty: Mutex::new(false),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn cached(&self, key: &str) -> Option<String> {
        self.choices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Whether `candidate` gives the fixed choice's bits for the GEMM `key`: `check` runs the
    /// first time a process asks; a failed check counts as a difference.
    pub fn verified(
        &self,
        key: &str,
        candidate: &str,
        check: impl FnOnce() -> Result<bool, GpuError>,
    ) -> bool {
        let id = format!("{key} | {candidate}");
        if let Some(&same) = self.lock_verified().get(&id) {
            return same;
        }
        let same = match check() {
            Ok(same) => same,
            Err(e) => {
                log::warn!("checking {id} failed ({e})");
                false
            }
        };
        if !same {
            log::info!("{id}: not bit-identical to the fixed choice on this adapter; not used");
        }
        self.lock_verified().insert(id, same);
        same
    }

    fn lock_verified(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, bool>> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Times each candidate (after one untimed run) and returns the index of the fastest,
    /// remembering its name under `key`.
    pub fn choose(
        &self,
        ctx: &GpuContext,
        key: &str,
        candidates: &[(String, Vec<Dispatch>)],
    ) -> Result<usize, GpuError> {
        let mut best = (0, f64::INFINITY);
        for (i, (name, dispatches)) in candidates.iter().enumerate() {
            ctx.run(dispatches)?;
            let mut fastest = f64::INFINITY;
            for _ in 0..2 {
                let t = time(ctx, dispatches)?;
                fastest = fastest.min(t);
            }
            log::debug!("tune {key}: {name} {:.3} ms", fastest * 1e3);
            if fastest < best.1 {
                best = (i, fastest);
            }
        }
        self.choices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), candidates[best.0].0.clone());
        *self.dirty.lock().unwrap_or_else(|p| p.into_inner()) = true;
        Ok(best.0)
    }

    /// Writes new choices to the cache file (atomically: a temporary file, then a rename).
    /// Failing to write only costs the next run its tuning time, so it is a warning.
    pub fn save(&self) {
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        let Some(path) = &self.path else { return };
        if !*dirty {
            return;
        }
        let mut file = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<CacheFile>(&t).ok())
            .filter(|c| c.version == VERSION)
            .unwrap_or(CacheFile {
                version: VERSION,
                adapters: BTreeMap::new(),
            });
        let choices = self
            .choices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        file.adapters.insert(self.adapter.clone(), choices);
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            std::fs::write(
                &tmp,
                serde_json::to_string_pretty(&file).unwrap_or_default(),
            )?;
            std::fs::rename(&tmp, path)
        };
        match write() {
            Ok(()) => *dirty = false,
            Err(e) => log::warn!(
                "could not save the kernel tuning cache {}: {e}",
                path.display()
            ),
        }
    }
}

/// GPU time of the dispatches: timestamp queries where available, else the host clock.
fn time(ctx: &GpuContext, dispatches: &[Dispatch]) -> Result<f64, GpuError> {
    use crate::gpu::timing::{TimingMethod, dispatch_times};
    match TimingMethod::for_adapter(ctx) {
        Some(m) => Ok(dispatch_times(ctx, m, dispatches)?.iter().sum()),
        None => {
            let t = std::time::Instant::now();
            ctx.run(dispatches)?;
            Ok(t.elapsed().as_secs_f64())
        }
    }
}
