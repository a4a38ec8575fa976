//! Which driver a GEMM runs with: the fixed choice, the tuning candidates, and the check that
//! a candidate gives the fixed choice's bits before it may be used.

use super::{
    Driver, Epilogue, Gemm, GemmKernels, GemmParams, Mapping, NARROW_CANDIDATE_N, NARROW_N,
};
use crate::gpu::{Dispatch, GpuContext, GpuError, GpuSlice};
use crate::ops::activation::Activation;

impl GemmKernels {
    /// The fixed choice without tuning: narrow for N < 16, else subgroup where available.
    fn default_driver(&self, n: u32, splits: u32) -> Driver {
        if n < NARROW_N {
            Driver::Narrow
        } else if self.subgroup_preferred {
            Driver::Subgroup { splits, rows: 64 }
        } else {
            Driver::Tiled { splits }
        }
    }

    /// Whether `gemm_wide`'s 16-byte loads line up for this GEMM: every dimension a vec4
    /// walks is a multiple of 4 (then every vec4 starts at a multiple of 4 elements).
    pub(super) fn wide_aligned(&self, p: &GemmParams) -> bool {
        let four = |x: u32| x.is_multiple_of(4);
        use Mapping::*;
        match (self.family, self.mapping) {
            ("dense", Forward) => four(p.k) && four(p.n),
            ("dense", BackwardInput) => four(p.k),
            ("dense", BackwardWeight) => four(p.m - p.bias_row) && four(p.n),
            ("conv", Forward) => four(p.in_c) && four(p.out_c),
            ("conv", BackwardInput) => four(p.out_c),
            ("conv", BackwardWeight) => four(p.in_c) && four(p.out_c),
            _ => false,
        }
    }

    fn candidates(&self, params: &GemmParams, splits: u32) -> Vec<(&'static str, Driver)> {
        let n = params.n;
        let mut c = vec![("tiled", Driver::Tiled { splits })];
        if self.wide_aligned(params) {
            c.push(("wide", Driver::Wide { splits, rows: 64 }));
            if self.wide_tall.is_some() {
                c.push(("wide128", Driver::Wide { splits, rows: 128 }));
            }
        }
        if self.subgroup_preferred {
            c.push(("subgroup", Driver::Subgroup { splits, rows: 64 }));
            c.push(("subgroup128", Driver::Subgroup { splits, rows: 128 }));
        }
        // Narrow does not split K: with a split it sums in another order.
        if n <= NARROW_CANDIDATE_N && splits == 1 {
            c.push(("narrow", Driver::Narrow));
        }
        c
    }

    /// The driver `record_auto` may use for `key` now: the cached choice once it has given
    /// the fixed choice's bits on this adapter, in this process, at these shapes (a GPU compiler
    /// may contract a*b+c into an FMA in one program and not in another, and a cache can hold
    /// anything, stale or hand-edited, so neither timings nor the cache are trusted for that);
    /// None while that is open (no choice, a stale one, or an unchecked one).
    fn settled(&self, key: &str, candidates: &[(&str, Driver)], fixed: Driver) -> Option<Driver> {
        let name = self.tuner.cached(key)?;
        let &(_, d) = candidates.iter().find(|c| c.0 == name)?;
        if d == fixed {
            return Some(d);
        }
        self.tuner
            .verdict(key, &name)
            .map(|same| if same { d } else { fixed })
    }

    /// Records `gemm` with its settled driver, or with the fixed one and queues it for `tune`.
    pub(super) fn record_auto(
        &self,
        ctx: &GpuContext,
        gemm: Gemm<'_>,
        splits: u32,
    ) -> Vec<Dispatch> {
        let params = gemm.params;
        let fixed = self.default_driver(params.n, splits);
        let candidates = self.candidates(&params, splits);
        // Without the fixed driver among the candidates (narrow where K is split) none of
        // them can give its bits: nothing to choose.
        if !self.tuner.enabled()
            || candidates.len() == 1
            || !candidates.iter().any(|c| c.1 == fixed)
        {
            return self.record(ctx, gemm, fixed);
        }
        let key = format!("{} {:?}", self.name, GemmKey::from(&params));
        if let Some(d) = self.settled(&key, &candidates, fixed) {
            return self.record(ctx, gemm, d);
        }
        self.lock_pending().push(Pending::of(key, gemm, splits));
        self.record(ctx, gemm, fixed)
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Settles the GEMMs queued since the last call: a cached choice gets its bit check; an
    /// open one has its candidates timed on the real buffers and the fastest with the fixed
    /// choice's bits kept. Returns how many it settled (the recorder records again to use
    /// them).
    pub async fn tune(&self, ctx: &GpuContext) -> usize {
        let jobs = std::mem::take(&mut *self.lock_pending());
        let mut settled = 0;
        for job in &jobs {
            let (key, gemm) = (&job.key, job.gemm());
            let fixed = self.default_driver(job.params.n, job.splits);
            let candidates = self.candidates(&job.params, job.splits);
            // The same GEMM recorded twice (a shape both networks have) is settled once.
            if self.settled(key, &candidates, fixed).is_some() {
                continue;
            }
            settled += 1;
            if let Some(name) = self.tuner.cached(key)
                && let Some(&(name, d)) = candidates.iter().find(|c| c.0 == name)
            {
                let check = self.identical(ctx, gemm, fixed, d).await;
                self.tuner.remember(key, name, check);
                continue;
            }
            // Timing first, then checking only the fastest (and the next if its bits differ):
            // a check costs two runs, and all but one candidate lose anyway. Timing an
            // unchecked candidate on the real buffers is harmless: the step rewrites them.
            let built: Vec<(String, Vec<Dispatch>)> = candidates
                .iter()
                .map(|&(name, d)| (name.to_string(), self.record(ctx, gemm, d)))
                .collect();
            let ranked = match self.tuner.rank(ctx, key, &built).await {
                Ok(ranked) => ranked,
                Err(e) => {
                    log::warn!("tuning {key} failed ({e}); using the fixed driver");
                    continue;
                }
            };
            for i in ranked {
                let (name, d) = candidates[i];
                let same = d == fixed
                    || match self.tuner.verdict(key, name) {
                        Some(same) => same,
                        None => {
                            let check = self.identical(ctx, gemm, fixed, d).await;
                            self.tuner.remember(key, name, check)
                        }
                    };
                if same {
                    self.tuner.settle(key, name);
                    break;
                }
            }
        }
        settled
    }

    /// Whether `candidate` stores the same bits as `fixed` for this GEMM: both run on one set
    /// of random operands (and bias) with the real buffers' lengths and the same epilogue.
    pub async fn identical(
        &self,
        ctx: &GpuContext,
        gemm: Gemm<'_>,
        fixed: Driver,
        candidate: Driver,
    ) -> Result<bool, GpuError> {
        let Gemm {
            params,
            a,
            b,
            epilogue,
            out,
        } = gemm;
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x7475_6e65);
        let mut random = |len: usize| {
            let v: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            ctx.storage_init("tuning check operand", &v)
        };
        let (ra, rb) = (random(a.len), random(b.len));
        let rbias = epilogue.bias.map(|bias| random(bias.len));
        let rsaved = epilogue.through.map(|(_, saved)| random(saved.len));
        let outs = [0, 1].map(|_| ctx.storage("tuning check out", out.len));
        let bias_grads = [0, 1].map(|_| epilogue.bias_grad.map(|g| ctx.storage("check", g.len)));
        let e = |i: usize| Epilogue {
            bias: rbias.as_ref(),
            activation: epilogue.activation,
            through: epilogue
                .through
                .map(|(act, _)| (act, rsaved.as_ref().expect("saved"))),
            bias_grad: bias_grads[i].as_ref(),
        };
        let random_gemm = |i: usize| Gemm {
            params,
            a: &ra,
            b: &rb,
            epilogue: e(i),
            out: &outs[i],
        };
        let mut d = self.record(ctx, random_gemm(0), fixed);
        d.extend(self.record(ctx, random_gemm(1), candidate));
        ctx.run(&d).await?;
        let mut results: Vec<&GpuSlice> = outs.iter().collect();
        results.extend(bias_grads.iter().flatten());
        // Out 0, out 1, then bias gradient 0, bias gradient 1 where there is one.
        let r = ctx.read_many::<u32>(&results).await?;
        let same = r[0] == r[1] && (r.len() == 2 || r[2] == r[3]);
        Ok(same)
    }
}

/// A GEMM recorded with the fixed driver while its choice is open: its shapes and (shared
/// handles to) its buffers, until `tune` settles it.
pub(super) struct Pending {
    key: String,
    params: GemmParams,
    splits: u32,
    a: GpuSlice,
    b: GpuSlice,
    out: GpuSlice,
    bias: Option<GpuSlice>,
    activation: Option<Activation>,
    through: Option<(Activation, GpuSlice)>,
    bias_grad: Option<GpuSlice>,
}

impl Pending {
    fn of(key: String, g: Gemm<'_>, splits: u32) -> Self {
        let e = g.epilogue;
        Pending {
            key,
            params: g.params,
            splits,
            a: g.a.clone(),
            b: g.b.clone(),
            out: g.out.clone(),
            bias: e.bias.cloned(),
            activation: e.activation,
            through: e.through.map(|(act, saved)| (act, saved.clone())),
            bias_grad: e.bias_grad.cloned(),
        }
    }

    fn gemm(&self) -> Gemm<'_> {
        Gemm {
            params: self.params,
            a: &self.a,
            b: &self.b,
            epilogue: Epilogue {
                bias: self.bias.as_ref(),
                activation: self.activation,
                through: self.through.as_ref().map(|(act, saved)| (*act, saved)),
                bias_grad: self.bias_grad.as_ref(),
            },
            out: &self.out,
        }
    }
}

/// What identifies a GEMM for tuning: its sizes and geometry (not its buffers).
#[derive(Debug)]
#[allow(dead_code)] // read through Debug
struct GemmKey {
    mnk: [u32; 3],
    input: [u32; 4],
    output: [u32; 3],
    conv: [u32; 5],
    classes: u32,
    class_rows: [u32; 4],
}

impl From<&GemmParams> for GemmKey {
    fn from(p: &GemmParams) -> Self {
        GemmKey {
            mnk: [p.m, p.n, p.k],
            input: [p.batch, p.in_h, p.in_w, p.in_c],
            output: [p.out_h, p.out_w, p.out_c],
            conv: [p.stride, p.pad_top, p.pad_left, p.kernel_h, p.kernel_w],
            classes: p.classes,
            class_rows: p.class_row0,
        }
    }
}
