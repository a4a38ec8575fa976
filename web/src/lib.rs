//! dcgan-wgpu in a browser tab: the browser shell around the engine. The page (`web/www/`)
//! fetches the data, calls these exports and draws what they hand back; every GPU wait is a
//! promise the browser's event loop resolves, so the tab stays responsive. Nothing is sent
//! anywhere.

mod checks;
mod settings;

use std::cell::RefCell;
use std::rc::Rc;

use dcgan_wgpu::checkpoint::Checkpoint;
use dcgan_wgpu::classifier::ClassifierFile;
use dcgan_wgpu::config::{Arch, Clock};
use dcgan_wgpu::data::{self, Images, TrainingSet};
use dcgan_wgpu::eval::{Evaluator, Scoring};
use dcgan_wgpu::gpu::{BackendChoice, GpuContext, GpuOptions, shaders};
use dcgan_wgpu::ops::Ops;
use dcgan_wgpu::ops::tune::Tuner;
use dcgan_wgpu::session::{Report, Session};
use dcgan_wgpu::{generate, gpu};
use js_sys::{Array, Float32Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use settings::{PageConfig, fail_run};

pub(crate) fn set(o: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(o, &JsValue::from_str(key), &value.into());
}

/// An error as the page shows it: one line.
pub(crate) fn fail(e: impl std::fmt::Display) -> JsValue {
    JsValue::from_str(&e.to_string())
}

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: milliseconds, in a window or a worker.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// The clock the page lends the engine's tuner.
struct PageClock;

impl Clock for PageClock {
    fn seconds(&self) -> f64 {
        performance_now() / 1e3
    }
}

struct State {
    images: Images,
    /// Their labels (what a conditional run is told), where the page sent them.
    labels: Option<Vec<u8>>,
    classifier: Option<ClassifierFile>,
    session: Option<Session<'static>>,
    evaluator: Option<Evaluator>,
    /// A score under way, a chunk at a time (`score_step`).
    scoring: Option<Scoring>,
}

/// Samples per scoring chunk: a chunk is the longest a Pause waits for while the page scores
/// (a few seconds on a software adapter at most). The command line's chunks are larger
/// (`eval::CHUNK`), so the page's scores are on another fixed set of latent vectors.
const PAGE_SCORE_CHUNK: usize = 50;
/// The most images one `generate` call draws.
const MAX_DRAWN: usize = 10_000;

/// The GPU, the data and, once started, a training session.
#[wasm_bindgen]
pub struct Lab {
    ctx: &'static GpuContext,
    ops: &'static Ops,
    state: Rc<RefCell<State>>,
}

/// Runs `f` on the state as a promise; a call while another is in flight is refused (the page
/// waits for each before the next). The borrow lives across the GPU waits on purpose: it is
/// what makes a second call find the state busy instead of interleaving with the first.
#[allow(clippy::await_holding_refcell_ref)]
fn with_state<F, T>(state: &Rc<RefCell<State>>, f: F) -> Promise
where
    F: AsyncFnOnce(&mut State) -> Result<T, JsValue> + 'static,
    T: Into<JsValue>,
{
    let state = state.clone();
    future_to_promise(async move {
        let mut guard = state
            .try_borrow_mut()
            .map_err(|_| fail("busy: another GPU call is still running"))?;
        f(&mut guard).await.map(Into::into)
    })
}

impl State {
    fn training_set(&self) -> TrainingSet<'_> {
        TrainingSet {
            images: &self.images,
            labels: self.labels.as_deref(),
        }
    }
}

fn report_object(r: &Report, arch: Arch) -> Object {
    let o = Object::new();
    let m = &r.metrics;
    let (rows, cols) = arch.grid();
    set(&o, "rows", rows as u32);
    set(&o, "cols", cols as u32);
    set(&o, "iteration", r.iteration as f64);
    set(&o, "line", m.line(r.iteration));
    set(&o, "d_loss", m.d_loss());
    set(&o, "d_acc", m.d_acc());
    set(&o, "g_loss", m.g_loss);
    set(&o, "d_loss_real", m.d_loss_real);
    set(&o, "d_loss_fake", m.d_loss_fake);
    set(&o, "d_acc_real", m.d_acc_real);
    set(&o, "d_acc_fake", m.d_acc_fake);
    set(&o, "samples", Float32Array::from(r.samples.as_slice()));
    o
}

fn reports_array(reports: &[Report], arch: Arch) -> Array {
    reports.iter().map(|r| report_object(r, arch)).collect()
}

fn session(state: &mut State) -> Result<&mut Session<'static>, JsValue> {
    state
        .session
        .as_mut()
        .ok_or_else(|| fail("no training session: start one or open a checkpoint"))
}

#[wasm_bindgen]
impl Lab {
    /// Opens the browser's WebGPU adapter and compiles the kernels. `train_images` and
    /// `train_labels`: MNIST's `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`
    /// (gzipped or not; labels empty: no conditional runs); `classifier`: the scoring
    /// classifier's file, or empty for no scores. With `tune`, each session times the GEMM drivers where they
    /// are a real choice (as the command line does) and keeps the one that is fastest on this
    /// adapter and gives the fixed choice's bits; `tuning_cache` is what `tuning_cache()`
    /// handed back earlier (the page keeps it in the browser's storage), so later starts
    /// only check the choices.
    pub async fn open(
        train_images: Vec<u8>,
        train_labels: Vec<u8>,
        classifier: Vec<u8>,
        tune: bool,
        tuning_cache: Option<String>,
    ) -> Result<Lab, JsValue> {
        let (images, labels) = if train_labels.is_empty() {
            let images = data::parse_images(&train_images, "train-images-idx3-ubyte.gz");
            (images.map_err(fail)?, None)
        } else {
            let (images, labels) = data::parse_split(
                (&train_images, "train-images-idx3-ubyte.gz"),
                (&train_labels, "train-labels-idx1-ubyte.gz"),
            )
            .map_err(fail)?;
            (images, Some(labels))
        };
        let classifier = match classifier.is_empty() {
            true => None,
            false => Some(
                ClassifierFile::from_bytes(&classifier, "mnist_classifier.safetensors")
                    .map_err(fail)?,
            ),
        };
        let options = GpuOptions {
            backend: BackendChoice::Auto,
            adapter_name: None,
            ..Default::default()
        };
        let ctx = GpuContext::new(&options).await.map_err(fail)?;
        let ctx: &'static GpuContext = Box::leak(Box::new(ctx));
        let ops = if tune {
            let tuner = Tuner::new(ctx, std::sync::Arc::new(PageClock), tuning_cache.as_deref());
            Ops::with_tuner(ctx, tuner)
        } else {
            Ops::new(ctx)
        }
        .map_err(fail)?;
        // In a browser a kernel that does not compile is reported through the device's
        // uncaptured-error handler: wait for it before saying the kernels are ready.
        ctx.finished().await.map_err(fail)?;
        Ok(Lab {
            ctx,
            ops: Box::leak(Box::new(ops)),
            state: Rc::new(RefCell::new(State {
                images,
                labels,
                classifier,
                session: None,
                evaluator: None,
                scoring: None,
            })),
        })
    }

    /// The tuning cache to keep, merged into `previous` (what the page holds), when a session
    /// made new choices; undefined when nothing changed or nothing is tuned.
    pub fn tuning_cache(&self, previous: Option<String>) -> Option<String> {
        self.ops.tuner.cache_text(previous.as_deref())
    }

    /// The adapter and the limits that matter here, as JSON.
    pub fn adapter(&self) -> String {
        let (info, l) = (&self.ctx.info, &self.ctx.limits);
        serde_json::json!({
            "description": gpu::context::describe_adapter(info),
            "name": info.name,
            "backend": format!("{:?}", info.backend),
            "device_type": format!("{:?}", info.device_type),
            "subgroup_kernels": self.ctx.has_subgroups(),
            "timestamps": self.ctx.has_timestamps(),
            "max_storage_buffer_binding_size": l.max_storage_buffer_binding_size,
            "max_buffer_size": l.max_buffer_size,
            "max_storage_buffers_per_shader_stage": l.max_storage_buffers_per_shader_stage,
            "max_compute_workgroup_storage_size": l.max_compute_workgroup_storage_size,
            "max_compute_invocations_per_workgroup": l.max_compute_invocations_per_workgroup,
        })
        .to_string()
    }

    /// Starts a new session from `config` (JSON of the fields' text: batch_size, iterations,
    /// sample_interval, seed, learning_rate, arch, fake_bn; and eval_samples; what is left out
    /// is the seed's). Resolves to the configuration as run; rejects with `{setting, message}`
    /// for a value that cannot run, or a line.
    pub fn start(&self, config: String) -> Promise {
        let (ctx, ops) = (self.ctx, self.ops);
        with_state(&self.state, async move |s: &mut State| {
            let page: PageConfig = serde_json::from_str(&config)
                .map_err(|_| fail("the page sent a malformed configuration"))?;
            let config = page.config()?;
            s.session = None;
            s.evaluator = None;
            s.scoring = None;
            let session = Session::new(ctx, ops, config, Some(s.training_set()))
                .await
                .map_err(fail_run)?;
            install(s, ctx, ops, session, page.eval_samples);
            serde_json::to_string(&s.session.as_ref().map(|x| &x.config)).map_err(fail)
        })
    }

    /// Trains `n` iterations (a report after them when `report`); resolves to the reports that
    /// have arrived: objects with the seed's figures, `line`, and `samples` (`rows` x `cols`
    /// images of 784 in [-1, 1]: a conditional run's grid has a row per digit).
    /// Rejects with the engine's line when the run diverged.
    pub fn advance(&self, n: u32, report: bool) -> Promise {
        with_state(&self.state, async move |s: &mut State| {
            if n > 0 {
                // G changes: a score under way would mix two generators.
                s.scoring = None;
            }
            let session = session(s)?;
            let reports = session
                .advance(u64::from(n), report)
                .await
                .map_err(fail_run)?;
            Ok(reports_array(&reports, session.config.arch))
        })
    }

    /// Waits for every submitted iteration; resolves to the reports still in flight.
    pub fn finish(&self) -> Promise {
        with_state(&self.state, async move |s: &mut State| {
            let session = session(s)?;
            let reports = session.finish().await.map_err(fail_run)?;
            Ok(reports_array(&reports, session.config.arch))
        })
    }

    /// Iterations done (submitted) and the run's total.
    pub fn iteration(&self) -> f64 {
        let s = self.state.borrow();
        s.session.as_ref().map_or(0.0, |x| x.iteration as f64)
    }

    pub fn total(&self) -> f64 {
        let s = self.state.borrow();
        s.session
            .as_ref()
            .map_or(0.0, |x| x.config.iterations as f64)
    }

    /// Lengthens (or shortens) the run.
    pub fn set_total(&self, iterations: f64) {
        if let Some(x) = self.state.borrow_mut().session.as_mut() {
            // `as` saturates (NaN: 0); the GPU counts iterations in 32 bits.
            x.config.iterations = (iterations as u64).min(dcgan_wgpu::config::MAX_ITERATIONS);
        }
    }

    /// Whether scores can be computed (a classifier was given and the session scores).
    pub fn scoring(&self) -> bool {
        self.state.borrow().evaluator.is_some()
    }

    /// Scores G as it is now, a chunk at a time: each call runs one chunk of the score under
    /// way (starting one if none is) and resolves to `null`, or, after the last chunk, to FID,
    /// Inception Score, classes and the confident share as JSON. The page stops between
    /// chunks when paused and goes on later; training in between starts the score afresh.
    pub fn score_step(&self) -> Promise {
        let ctx = self.ctx;
        with_state(&self.state, async move |s: &mut State| {
            session(s)?.finish().await.map_err(fail_run)?;
            let e = s.evaluator.as_ref().ok_or_else(|| fail("no classifier"))?;
            let scoring = s.scoring.get_or_insert_with(Scoring::default);
            match e.step(ctx, scoring).await.map_err(fail)? {
                Some(scores) => {
                    s.scoring = None;
                    Ok(JsValue::from_str(
                        &serde_json::to_string(&scores).map_err(fail)?,
                    ))
                }
                None => Ok(JsValue::NULL),
            }
        })
    }

    /// Chunks of a score, and how many of the one under way are done (0 when none is).
    pub fn score_progress(&self) -> Array {
        let s = self.state.borrow();
        let total = s.evaluator.as_ref().map_or(0, Evaluator::chunks);
        let done = s.scoring.as_ref().map_or(0, Scoring::done);
        [done as f64, total as f64]
            .into_iter()
            .map(JsValue::from_f64)
            .collect()
    }

    /// The checkpoint file (the same safetensors the command line writes and reads).
    pub fn checkpoint(&self) -> Promise {
        with_state(&self.state, async move |s: &mut State| {
            let c = session(s)?.snapshot().await.map_err(fail)?;
            Ok(Uint8Array::from(c.to_bytes().as_slice()))
        })
    }

    /// Continues from a checkpoint (this page's or the command line's): a new session with its
    /// configuration, restored. Resolves to `{iteration, config}` as JSON.
    pub fn open_checkpoint(&self, bytes: Vec<u8>, eval_samples: u32) -> Promise {
        let (ctx, ops) = (self.ctx, self.ops);
        with_state(&self.state, async move |s: &mut State| {
            let c = Checkpoint::from_bytes(&bytes, "the checkpoint").map_err(fail)?;
            let mut config = c.config.clone();
            config.iterations = config.iterations.max(c.iteration + 1);
            s.session = None;
            s.evaluator = None;
            s.scoring = None;
            let mut session = Session::new(ctx, ops, config, Some(s.training_set()))
                .await
                .map_err(fail_run)?;
            session.restore(&c).await.map_err(fail)?;
            install(s, ctx, ops, session, eval_samples as usize);
            let x = s.session.as_ref().expect("installed");
            Ok(serde_json::json!({"iteration": x.iteration, "config": x.config}).to_string())
        })
    }

    /// G's images (inference-mode BatchNorm, as `generate` draws them) for `count` latent
    /// vectors of `seed`, or with `steps` > 1, `count` spherical walks of `steps` images. A
    /// conditional generator draws them once for each of `digits` (the same latent vectors
    /// each time), digit after digit; an unconditional one takes no digits.
    pub fn generate(&self, seed: u32, count: u32, steps: u32, digits: Vec<u32>) -> Promise {
        let (ctx, ops) = (self.ctx, self.ops);
        with_state(&self.state, async move |s: &mut State| {
            let (count, steps) = (count as usize, steps.max(1) as usize);
            let drawn = count * steps * digits.len().max(1);
            if drawn > MAX_DRAWN {
                return Err(fail(format!(
                    "{drawn} images are more than {MAX_DRAWN} at once"
                )));
            }
            let c = session(s)?.snapshot().await.map_err(fail_run)?;
            let digits = (!digits.is_empty()).then_some(digits.as_slice());
            let (z, labels) =
                generate::inputs(u64::from(seed), (count, steps), c.config.z_dim, digits);
            let images = generate::generate(ctx, ops, &c, &z, labels.as_deref())
                .await
                .map_err(fail)?;
            Ok(Float32Array::from(images.as_slice()))
        })
    }

    /// Trains the first iteration of the session just started and checks it against the CPU
    /// reference's (JSON `{ok, gpu, reference, lines}`).
    pub fn check_first_iteration(&self) -> Promise {
        with_state(&self.state, async move |s: &mut State| {
            checks::first_iteration(session(s)?)
                .await
                .map_err(|e| fail(format!("{e:#}")))
        })
    }

    /// The kernel checks against the CPU reference (a GEMM mapping each way, BatchNorm, the
    /// loss, Adam), as JSON `[{name, ok, line}]`.
    pub fn kernel_checks(&self) -> Promise {
        let (ctx, ops) = (self.ctx, self.ops);
        future_to_promise(async move {
            let results = checks::kernels(ctx, ops).await;
            Ok(JsValue::from_str(
                &serde_json::to_string(&results).map_err(fail)?,
            ))
        })
    }
}

/// A session and, where there is a classifier and scores are asked for, its evaluator.
fn install(
    s: &mut State,
    ctx: &'static GpuContext,
    ops: &'static Ops,
    session: Session<'static>,
    eval_samples: usize,
) {
    s.evaluator = match (&s.classifier, eval_samples) {
        (Some(file), n) if n >= 2 => Some(Evaluator::new(
            ctx,
            ops,
            &session.g,
            &session.config,
            file,
            n,
            PAGE_SCORE_CHUNK,
        )),
        _ => None,
    };
    s.session = Some(session);
}

/// Every WGSL module the engine compiles, for the browser's own compiler (Tint) to check:
/// JSON `[{name, subgroups, source, entries, constants}]`, `constants` the sets of pipeline
/// constants it is compiled with.
#[wasm_bindgen]
pub fn shader_modules() -> Result<String, JsValue> {
    let mut out = Vec::new();
    for m in shaders::ALL {
        let (module, _) = m.parse().map_err(fail)?;
        let entries: Vec<&str> = module
            .entry_points
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        let constants: Vec<serde_json::Map<String, serde_json::Value>> = m
            .variants
            .iter()
            .map(|v| {
                v.iter()
                    .map(|(k, x)| (k.to_string(), (*x).into()))
                    .collect()
            })
            .collect();
        out.push(serde_json::json!({
            "name": m.name,
            "subgroups": m.subgroups,
            "source": m.browser_source(),
            "entries": entries,
            "constants": constants,
        }));
    }
    serde_json::to_string(&out).map_err(fail)
}
