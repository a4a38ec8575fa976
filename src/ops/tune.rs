//! Kernel-variant autotuning: where a GEMM has a real choice of driver (tiled, subgroup,
//! narrow, wide), time each once at start-up on the real buffers and keep the fastest, cached
//! per adapter and driver version so later runs start at once. The engine reads no clock of its
//! own: tuning happens only where a shell lends it a [`Clock`] (the command line `Instant`, the
//! page `performance.now()`), and the cache goes in and out as JSON text the shell stores where
//! it likes.
//!
//! Recording never waits: a GEMM with no settled choice is recorded with the fixed driver and
//! queued; [`Ops::tune`](super::Ops::tune) then checks and times the queue (futures, so a
//! browser tab can tune too) and whoever recorded records again with the choices made.
//!
//! The candidates differ only in how work is spread over threads: each output is still one
//! sequential sum over k (and split-K, chosen by a fixed rule, is the same for all). That is not
//! proof of equal bits (a GPU compiler may contract a*b+c into an FMA in one program and not in
//! another), so a candidate other than the fixed choice is used only after it has produced the
//! fixed choice's bits on random operands of the real shapes, on this adapter, in this process
//! (`verdict`); a cached choice gets the same check. The candidates are timed first and only
//! the fastest is checked (then the next, if it differs), since a check costs two runs. Same seed, same adapter: same bits,
//! whatever the cache holds (`tests/train.rs::tuning_state_never_changes_a_run`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::config::Clock;
use crate::gpu::{Dispatch, GpuContext, GpuError};

/// The cache file: per adapter key, per GEMM key, the chosen driver.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    adapters: BTreeMap<String, BTreeMap<String, String>>,
}

/// Raised whenever the candidates change (2: `subgroup128`), so that choices made without a
/// candidate are made again with it.
const VERSION: u32 = 2;

pub struct Tuner {
    /// The shell's clock; None: no tuning (the fixed choice).
    clock: Option<Arc<dyn Clock>>,
    adapter: String,
    choices: Mutex<BTreeMap<String, String>>,
    /// `key | candidate` -> whether it gave the fixed choice's bits (checked once a process).
    verified: Mutex<BTreeMap<String, bool>>,
    dirty: Mutex<bool>,
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
            clock: None,
            adapter: String::new(),
            choices: Mutex::new(BTreeMap::new()),
            verified: Mutex::new(BTreeMap::new()),
            dirty: Mutex::new(false),
        }
    }

    /// Tuning with `clock`, starting from a cache's text (None: no cache yet; a damaged or old
    /// cache is ignored with a warning and replaced by `cache_text`).
    pub fn new(ctx: &GpuContext, clock: Arc<dyn Clock>, cache: Option<&str>) -> Self {
        let adapter = adapter_key(ctx);
        let mut choices = BTreeMap::new();
        if let Some(text) = cache {
            match serde_json::from_str::<CacheFile>(text) {
                Ok(c) if c.version == VERSION => {
                    choices = c.adapters.get(&adapter).cloned().unwrap_or_default();
                }
                // Expected after an upgrade: not worth a warning.
                Ok(_) => log::info!("tuning cache from an older version, retuning"),
                Err(e) => log::warn!("unreadable tuning cache ({e}), retuning"),
            }
        }
        log::info!(
            "kernel tuning cache: {} known choices for this adapter",
            choices.len()
        );
        Tuner {
            clock: Some(clock),
            adapter,
            choices: Mutex::new(choices),
            verified: Mutex::new(BTreeMap::new()),
            dirty: Mutex::new(false),
        }
    }

    pub fn enabled(&self) -> bool {
        self.clock.is_some()
    }

    pub fn cached(&self, key: &str) -> Option<String> {
        self.choices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Whether `candidate` gave the fixed choice's bits for the GEMM `key` in this process;
    /// None: not checked yet.
    pub fn verdict(&self, key: &str, candidate: &str) -> Option<bool> {
        self.lock_verified()
            .get(&format!("{key} | {candidate}"))
            .copied()
    }

    /// Records the outcome of `candidate`'s bit check (a failed check counts as a difference).
    pub fn remember(&self, key: &str, candidate: &str, check: Result<bool, GpuError>) -> bool {
        let id = format!("{key} | {candidate}");
        let same = match check {
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

    /// The candidates' indices, fastest first. Each is timed after one untimed run, twice
    /// unless its first time is already 1.5x the best so far (a clear loser costs one timed
    /// run, which matters where a run takes seconds: software adapters).
    pub async fn rank(
        &self,
        ctx: &GpuContext,
        key: &str,
        candidates: &[(String, Vec<Dispatch>)],
    ) -> Result<Vec<usize>, GpuError> {
        let mut times = Vec::with_capacity(candidates.len());
        let mut best = f64::INFINITY;
        for (i, (name, dispatches)) in candidates.iter().enumerate() {
            ctx.run(dispatches).await?;
            let mut fastest = self.time(ctx, dispatches).await?;
            if fastest < 1.5 * best {
                fastest = fastest.min(self.time(ctx, dispatches).await?);
            }
            log::debug!("tune {key}: {name} {:.3} ms", fastest * 1e3);
            best = best.min(fastest);
            times.push((fastest, i));
        }
        times.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(times.into_iter().map(|(_, i)| i).collect())
    }

    /// Remembers `candidate` as the choice for `key` (the cache keeps it).
    pub fn settle(&self, key: &str, candidate: &str) {
        self.choices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), candidate.to_string());
        *self.dirty.lock().unwrap_or_else(|p| p.into_inner()) = true;
    }

    /// The cache to store, merged into `previous` (the stored text, which may hold other
    /// adapters), when this tuner chose anything new; None when nothing changed.
    pub fn cache_text(&self, previous: Option<&str>) -> Option<String> {
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        if !*dirty {
            return None;
        }
        let mut file = previous
            .and_then(|t| serde_json::from_str::<CacheFile>(t).ok())
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
        *dirty = false;
        serde_json::to_string_pretty(&file).ok()
    }

    /// GPU time of the dispatches: timestamp queries where available, else the host's clock.
    async fn time(&self, ctx: &GpuContext, dispatches: &[Dispatch]) -> Result<f64, GpuError> {
        use crate::gpu::timing::{TimingMethod, dispatch_times};
        match TimingMethod::for_adapter(ctx) {
            Some(m) => Ok(dispatch_times(ctx, m, dispatches).await?.iter().sum()),
            None => {
                let clock = self.clock.as_ref().expect("tuning without a clock");
                let t = clock.seconds();
                ctx.run(dispatches).await?;
                Ok(clock.seconds() - t)
            }
        }
    }
}
