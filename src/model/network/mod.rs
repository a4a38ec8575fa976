//! A network on the GPU: its parameters (flat buffers shared by every batch size), and one
//! batch size's activations, gradients and batch statistics, with the dispatch lists of its
//! forward and backward passes. Everything is allocated once, when the network is built.

mod backward;

pub use backward::{Gradients, InputGrad, Upstream};

use super::{Layer, LayerSpec, ParamLayout};
use crate::gpu::{Dispatch, GpuContext, GpuSlice, tag};
use crate::ops::Recorder;
use crate::ops::activation::Activation;
use crate::ops::adam::{self, AdamConfig, AdamTensors};
use crate::ops::batchnorm::{BnLayer, BnShape, Stats, TrainStats};
use crate::ops::gemm::{Epilogue, Pass};

/// How BatchNorm layers normalise in a forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BnMode {
    /// Batch statistics; also fold them into the moving statistics unless the network is
    /// frozen (D inside the generator's step, as in Keras 2).
    Train { update_moving: bool },
    /// Moving statistics (Keras' `predict`).
    Inference,
}

/// A network's parameters and optimizer state: flat buffers with one layout.
pub struct NetworkParams {
    pub layout: ParamLayout,
    /// BatchNorm moving statistics.
    pub stats_layout: ParamLayout,
    pub params: GpuSlice,
    pub grads: GpuSlice,
    pub adam_m: GpuSlice,
    pub adam_v: GpuSlice,
    /// `[t, beta1^t, beta2^t, alpha_t]`, see `ops::adam`.
    pub adam_state: GpuSlice,
    /// The step sizes of this iteration's steps (`ops::adam::MAX_STEPS`).
    pub adam_alphas: GpuSlice,
    pub moving: GpuSlice,
}

impl NetworkParams {
    /// Uploads initial values (laid out by `ParamLayout::trainable` / `moving_stats`).
    pub fn new(ctx: &GpuContext, layers: &[LayerSpec], params: &[f32], moving: &[f32]) -> Self {
        let layout = ParamLayout::trainable(layers);
        let stats_layout = ParamLayout::moving_stats(layers);
        assert_eq!(
            params.len(),
            layout.len,
            "parameter vector does not match the layout"
        );
        assert_eq!(moving.len(), stats_layout.len);
        NetworkParams {
            params: ctx.storage_init("params", params),
            grads: ctx.storage("grads", layout.len),
            adam_m: ctx.storage("adam m", layout.len),
            adam_v: ctx.storage("adam v", layout.len),
            adam_state: ctx.storage_init("adam state", &adam::initial_state()),
            adam_alphas: ctx.storage("adam alphas", adam::MAX_STEPS),
            moving: ctx.storage_init("moving statistics", moving),
            layout,
            stats_layout,
        }
    }

    /// The tensor `name` (e.g. `convt1.kernel`) inside the flat buffer `buf` (params, grads or
    /// a moment buffer).
    pub fn tensor(&self, buf: &GpuSlice, name: &str) -> GpuSlice {
        let e = self.layout.entry(name);
        buf.range(e.offset, e.len)
    }

    pub fn moving_stats(&self, layer: &str) -> Stats {
        let m = self.stats_layout.entry(&format!("{layer}.moving_mean"));
        let v = self.stats_layout.entry(&format!("{layer}.moving_variance"));
        Stats {
            mean: self.moving.range(m.offset, m.len),
            variance: self.moving.range(v.offset, v.len),
        }
    }

    /// What Adam updates: every parameter, from its gradient and moments.
    fn adam_tensors(&self) -> AdamTensors<'_> {
        AdamTensors {
            grad: &self.grads,
            param: &self.params,
            m: &self.adam_m,
            v: &self.adam_v,
        }
    }

    /// One whole Adam step over all parameters (schedule and update).
    pub fn adam_step(&self, r: &Recorder<'_>, config: &AdamConfig) -> [Dispatch; 2] {
        let (state, alphas) = (&self.adam_state, &self.adam_alphas);
        r.ops
            .adam
            .step(r.ctx, config, state, alphas, self.adam_tensors())
    }

    /// This network's part of an iteration's Adam schedule: `steps` steps.
    pub fn adam_schedule(&self, steps: u32) -> adam::Schedule<'_> {
        adam::Schedule {
            state: &self.adam_state,
            alphas: &self.adam_alphas,
            steps,
        }
    }

    /// The update of step `slot` of the iteration (after `adam_schedule`).
    pub fn adam_update(&self, r: &Recorder<'_>, config: &AdamConfig, slot: u32) -> Dispatch {
        let alphas = &self.adam_alphas;
        r.ops
            .adam
            .update(r.ctx, config, alphas, slot, self.adam_tensors())
    }
}

/// One batch size's buffers for a layer list.
pub struct Network {
    /// `G` or `D`: prefixes the scope of every dispatch.
    pub name: String,
    pub layers: Vec<LayerSpec>,
    pub batch: usize,
    /// Output of each layer.
    pub acts: Vec<GpuSlice>,
    /// d loss / d output of layer i, for every layer but the last (whose gradient the caller
    /// supplies to `backward`).
    pub act_grads: Vec<GpuSlice>,
    /// d loss / d network input.
    pub input_grad: GpuSlice,
    /// Batch statistics of each BatchNorm layer (None for other layers).
    pub batch_stats: Vec<Option<Stats>>,
    /// Each sample's class (u32) where the network is conditional (a label layer).
    pub labels: Option<GpuSlice>,
}

impl Network {
    pub fn new(ctx: &GpuContext, name: &str, layers: &[LayerSpec], batch: usize) -> Self {
        let acts = layers
            .iter()
            .map(|l| ctx.storage(&format!("{} out", l.name), batch * l.out_len))
            .collect();
        let act_grads = layers[..layers.len() - 1]
            .iter()
            .map(|l| ctx.storage(&format!("{} grad", l.name), batch * l.out_len))
            .collect();
        let batch_stats = layers
            .iter()
            .map(|l| match l.layer {
                Layer::BatchNorm { channels } => {
                    // Mean and variance in one buffer, the variance at an aligned offset.
                    let stride = channels.div_ceil(super::params::ALIGN) * super::params::ALIGN;
                    let buf = ctx.storage(&format!("{} batch stats", l.name), 2 * stride);
                    Some(Stats {
                        mean: buf.range(0, channels),
                        variance: buf.range(stride, channels),
                    })
                }
                _ => None,
            })
            .collect();
        let conditional = layers.iter().any(|l| l.layer.embedding(batch).is_some());
        Network {
            name: name.to_string(),
            layers: layers.to_vec(),
            batch,
            acts,
            act_grads,
            input_grad: ctx.storage("input grad", batch * layers[0].in_len),
            batch_stats,
            labels: conditional.then(|| ctx.storage(&format!("{name} labels"), batch)),
        }
    }

    /// The labels buffer of a conditional network.
    pub fn labels(&self) -> &GpuSlice {
        self.labels
            .as_ref()
            .expect("a conditional network has labels")
    }

    pub fn output(&self) -> &GpuSlice {
        self.acts.last().expect("a network has layers")
    }

    /// The dispatches of layer `i`'s forward pass from `x` into its activations; with
    /// `activation` (the next layer's) fused into its store (GEMM and BatchNorm layers), into
    /// the next layer's.
    pub fn layer_forward(
        &self,
        r: &Recorder<'_>,
        p: &NetworkParams,
        i: usize,
        x: &GpuSlice,
        mode: BnMode,
        activation: Option<Activation>,
    ) -> Vec<Dispatch> {
        let (ctx, ops) = (r.ctx, r.ops);
        let y = &self.acts[i + usize::from(activation.is_some())];
        let spec = &self.layers[i];
        let name = spec.name;
        let b = self.batch;
        // Kernel and bias of a GEMM layer.
        let weights = || {
            let w = p.tensor(&p.params, &format!("{name}.kernel"));
            let bias = p.tensor(&p.params, &format!("{name}.bias"));
            (w, bias)
        };
        match spec.layer {
            Layer::Dense { .. } | Layer::Conv(_) => {
                let (w, bias) = weights();
                let pass = Pass::new(x, &w, y).epilogue(Epilogue::bias(&bias).then(activation));
                spec.layer.gemm(b).expect("a GEMM layer").forward(*r, pass)
            }
            Layer::LabelProduct { .. } | Layer::LabelPlane { .. } => {
                assert!(activation.is_none(), "a label layer fuses nothing");
                let s = spec.layer.embedding(b).expect("a label layer");
                let table = p.tensor(&p.params, &format!("{name}.embeddings"));
                let e = &ops.embed;
                vec![match spec.layer {
                    Layer::LabelProduct { .. } => {
                        e.scale_forward(ctx, s, self.labels(), &table, x, y)
                    }
                    _ => e.concat_forward(ctx, s, self.labels(), &table, x, y),
                }]
            }
            Layer::BatchNorm { channels } => {
                let s = BnShape {
                    rows: b * spec.out_len / channels,
                    channels,
                };
                let gamma = p.tensor(&p.params, &format!("{name}.gamma"));
                let beta = p.tensor(&p.params, &format!("{name}.beta"));
                let bn = &ops.batchnorm;
                match mode {
                    BnMode::Inference => {
                        let moving = p.moving_stats(name);
                        vec![bn.apply(
                            ctx,
                            s,
                            BnLayer {
                                gamma: &gamma,
                                beta: &beta,
                                activation,
                            },
                            x,
                            &moving,
                            y,
                        )]
                    }
                    BnMode::Train { update_moving } => {
                        let stats = self.batch_stats[i].as_ref().expect("BN stats");
                        let moving = update_moving.then(|| p.moving_stats(name));
                        bn.forward_train(
                            ctx,
                            s,
                            BnLayer {
                                gamma: &gamma,
                                beta: &beta,
                                activation,
                            },
                            x,
                            TrainStats {
                                batch: stats,
                                moving: moving.as_ref(),
                            },
                            y,
                        )
                        .to_vec()
                    }
                }
            }
            Layer::LeakyRelu | Layer::Tanh => {
                assert!(activation.is_none(), "an activation layer fuses nothing");
                let a = layer_activation(&spec.layer).expect("an activation");
                vec![ops.activation.forward(ctx, a, x, y)]
            }
        }
    }

    /// The whole forward pass from `input` (batch x in_len). An activation layer that follows a
    /// GEMM or BatchNorm layer is fused into it: one kernel writes the activation's output, and
    /// the pre-activation buffer is not written (no backward pass reads it: the activation's
    /// gradient comes from its output, the layer's own from its input).
    pub fn forward(
        &self,
        r: &Recorder<'_>,
        p: &NetworkParams,
        input: &GpuSlice,
        mode: BnMode,
    ) -> Vec<Dispatch> {
        assert_eq!(
            input.len,
            self.batch * self.layers[0].in_len,
            "network input size"
        );
        let mut d = Vec::new();
        let mut i = 0;
        while i < self.layers.len() {
            let x = if i == 0 { input } else { &self.acts[i - 1] };
            let next = self
                .layers
                .get(i + 1)
                .and_then(|l| layer_activation(&l.layer));
            let fusable = matches!(
                self.layers[i].layer,
                Layer::Dense { .. } | Layer::Conv(_) | Layer::BatchNorm { .. }
            );
            let scope = format!("{}.{} forward", self.name, self.layers[i].name);
            if let (Some(act), true) = (next, fusable) {
                let fused = self.layer_forward(r, p, i, x, mode, Some(act));
                d.extend(tag(
                    fused,
                    &format!("{scope} + {}", self.layers[i + 1].name),
                ));
                i += 2;
            } else {
                let layer = self.layer_forward(r, p, i, x, mode, None);
                d.extend(tag(layer, &scope));
                i += 1;
            }
        }
        d
    }
}

/// The activation an activation layer applies.
fn layer_activation(layer: &Layer) -> Option<Activation> {
    match layer {
        Layer::LeakyRelu => Some(Activation::LeakyRelu),
        Layer::Tanh => Some(Activation::Tanh),
        _ => None,
    }
}
