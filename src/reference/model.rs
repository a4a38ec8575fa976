//! A whole network and a whole training iteration on the CPU, composed from the reference ops:
//! the yardstick of the GPU training step. Activations and gradients in f64; parameters,
//! moving statistics and Adam in float32 as Keras keeps them.

use super::{activation as act, adam::Adam, batchnorm as bn, conv, conv_transpose, dense, embed};
use crate::model::{BnMode, Layer, LayerSpec, ParamLayout};

/// A network's parameters, moving statistics and optimizer.
#[derive(Clone, Debug)]
pub struct RefNet {
    pub layers: Vec<LayerSpec>,
    pub layout: ParamLayout,
    pub stats_layout: ParamLayout,
    pub params: Vec<f32>,
    pub moving: Vec<f32>,
    pub adam: Adam,
    /// Each sample's class, for a conditional network's label layers (set before a pass).
    pub labels: Vec<u32>,
}

/// The activations of one forward pass, kept for the backward pass.
pub struct Pass {
    pub input: Vec<f64>,
    pub acts: Vec<Vec<f64>>,
    /// Batch mean and variance of each training-mode BatchNorm layer.
    pub batch_stats: Vec<Option<(Vec<f64>, Vec<f64>)>>,
}

impl Pass {
    pub fn output(&self) -> &[f64] {
        self.acts.last().expect("layers")
    }
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

const EPS: f64 = crate::ops::batchnorm::EPSILON;

impl RefNet {
    pub fn new(layers: &[LayerSpec], params: Vec<f32>, moving: Vec<f32>) -> Self {
        let layout = ParamLayout::trainable(layers);
        let adam = Adam::new(layout.len);
        RefNet {
            layers: layers.to_vec(),
            stats_layout: ParamLayout::moving_stats(layers),
            layout,
            params,
            moving,
            adam,
            labels: Vec::new(),
        }
    }

    fn labels_for(&self, batch: usize) -> &[u32] {
        assert_eq!(
            self.labels.len(),
            batch,
            "a conditional network's labels, one a sample"
        );
        &self.labels
    }

    fn param(&self, layer: &str, name: &str) -> Vec<f64> {
        f64s(self.layout.slice(&self.params, &format!("{layer}.{name}")))
    }

    pub fn forward(&self, x: &[f64], batch: usize, mode: BnMode) -> Pass {
        let mut acts: Vec<Vec<f64>> = Vec::new();
        let mut batch_stats = Vec::new();
        for (i, spec) in self.layers.iter().enumerate() {
            let input = if i == 0 { x } else { &acts[i - 1] };
            let mut stats = None;
            let y = match spec.layer {
                Layer::Dense { inputs, outputs } => dense::forward(
                    input,
                    &self.param(spec.name, "kernel"),
                    &self.param(spec.name, "bias"),
                    batch,
                    inputs,
                    outputs,
                ),
                Layer::Conv(g) => {
                    let g = g.with_batch(batch);
                    let (w, bias) = (
                        self.param(spec.name, "kernel"),
                        self.param(spec.name, "bias"),
                    );
                    match g.transposed {
                        false => conv::forward(&g, input, &w, &bias),
                        true => conv_transpose::forward(&g, input, &w, &bias),
                    }
                }
                Layer::LabelProduct { width, .. } => {
                    let table = self.param(spec.name, "embeddings");
                    embed::scale_forward(input, &table, self.labels_for(batch), width)
                }
                Layer::LabelPlane {
                    pixels, channels, ..
                } => {
                    let table = self.param(spec.name, "embeddings");
                    embed::concat_forward(input, &table, self.labels_for(batch), pixels, channels)
                }
                Layer::BatchNorm { channels } => {
                    let rows = input.len() / channels;
                    let (gamma, beta) = (
                        self.param(spec.name, "gamma"),
                        self.param(spec.name, "beta"),
                    );
                    match mode {
                        BnMode::Inference => {
                            let mean = f64s(
                                self.stats_layout
                                    .slice(&self.moving, &format!("{}.moving_mean", spec.name)),
                            );
                            let var = f64s(
                                self.stats_layout
                                    .slice(&self.moving, &format!("{}.moving_variance", spec.name)),
                            );
                            let norm = bn::Norm {
                                mean: &mean,
                                var: &var,
                                eps: EPS,
                            };
                            bn::apply(input, channels, &gamma, &beta, norm)
                        }
                        BnMode::Train { .. } => {
                            let (y, mean, var) =
                                bn::forward_train(input, rows, channels, &gamma, &beta, EPS);
                            stats = Some((mean, var));
                            y
                        }
                    }
                }
                Layer::LeakyRelu => act::leaky_relu(input, 0.01),
                Layer::Tanh => act::tanh(input),
            };
            acts.push(y);
            batch_stats.push(stats);
        }
        Pass {
            input: x.to_vec(),
            acts,
            batch_stats,
        }
    }

    /// Folds a training pass's batch statistics into the moving statistics (float32).
    pub fn update_moving(&mut self, pass: &Pass) {
        for (spec, stats) in self.layers.iter().zip(&pass.batch_stats) {
            if let Some((mean, var)) = stats {
                for (name, batch) in [("moving_mean", mean), ("moving_variance", var)] {
                    let b32: Vec<f32> = batch.iter().map(|&v| v as f32).collect();
                    let slot = self
                        .stats_layout
                        .slice_mut(&mut self.moving, &format!("{}.{name}", spec.name));
                    bn::moving_update(slot, &b32, crate::ops::batchnorm::MOMENTUM);
                }
            }
        }
    }

    /// Gradients of a training pass: (flat parameter gradients in the layout, d input).
    pub fn backward(&self, pass: &Pass, dout: &[f64], batch: usize) -> (Vec<f32>, Vec<f64>) {
        let mut grads = vec![0.0f32; self.layout.len];
        let mut put = |name: String, g: &[f64]| {
            let dst = self.layout.slice_mut(&mut grads, &name);
            for (d, &v) in dst.iter_mut().zip(g) {
                *d = v as f32;
            }
        };
        let mut dy = dout.to_vec();
        for i in (0..self.layers.len()).rev() {
            let spec = &self.layers[i];
            let x = if i == 0 {
                &pass.input
            } else {
                &pass.acts[i - 1]
            };
            let name = spec.name;
            dy = match spec.layer {
                Layer::Dense { inputs, outputs } => {
                    put(
                        format!("{name}.kernel"),
                        &dense::backward_weight(x, &dy, batch, inputs, outputs),
                    );
                    put(
                        format!("{name}.bias"),
                        &dense::column_sum(&dy, batch, outputs),
                    );
                    dense::backward_input(&dy, &self.param(name, "kernel"), batch, inputs, outputs)
                }
                Layer::Conv(g) => {
                    let g = g.with_batch(batch);
                    let w = self.param(name, "kernel");
                    let (dw, dx) = match g.transposed {
                        false => (
                            conv::backward_weight(&g, x, &dy),
                            conv::backward_input(&g, &dy, &w),
                        ),
                        true => (
                            conv_transpose::backward_weight(&g, x, &dy),
                            conv_transpose::backward_input(&g, &dy, &w),
                        ),
                    };
                    put(format!("{name}.kernel"), &dw);
                    let out_c = g.out_c;
                    put(
                        format!("{name}.bias"),
                        &dense::column_sum(&dy, dy.len() / out_c, out_c),
                    );
                    dx
                }
                Layer::LabelProduct { width, .. } => {
                    let table = self.param(name, "embeddings");
                    let labels = self.labels_for(batch);
                    let (dx, dtable) = embed::scale_backward(x, &table, labels, width, &dy);
                    put(format!("{name}.embeddings"), &dtable);
                    dx
                }
                Layer::LabelPlane {
                    classes,
                    pixels,
                    channels,
                } => {
                    let labels = self.labels_for(batch);
                    let (dx, dtable) =
                        embed::concat_backward(labels, classes, pixels, channels, &dy);
                    put(format!("{name}.embeddings"), &dtable);
                    dx
                }
                Layer::BatchNorm { channels } => {
                    let rows = x.len() / channels;
                    let (dx, dgamma, dbeta) =
                        bn::backward(x, &dy, rows, channels, &self.param(name, "gamma"), EPS);
                    put(format!("{name}.gamma"), &dgamma);
                    put(format!("{name}.beta"), &dbeta);
                    dx
                }
                Layer::LeakyRelu => act::leaky_relu_backward(x, &dy, 0.01),
                Layer::Tanh => act::tanh_backward(&pass.acts[i], &dy),
            };
        }
        (grads, dy)
    }

    pub fn adam_step(&mut self, grads: &[f32]) {
        self.adam.step(&mut self.params, grads);
    }
}

/// The figures of one reference iteration.
#[derive(Clone, Copy, Debug)]
pub struct RefMetrics {
    pub d_loss_real: f64,
    pub d_acc_real: f64,
    pub d_loss_fake: f64,
    pub d_acc_fake: f64,
    pub g_loss: f64,
}

/// One iteration's draws, as the GPU made them.
#[derive(Clone, Copy, Debug)]
pub struct Draws<'a> {
    pub real: &'a [f64],
    pub z_fake: &'a [f64],
    pub z_gen: &'a [f64],
    /// A conditional run's labels: the real batch's, then fresh ones for G's step.
    pub labels: Option<(&'a [u32], &'a [u32])>,
}

/// One training iteration with the seed's semantics (see `crate::session::step`), from the given
/// draws. `fake_mode` is G's BatchNorm mode when it makes D's fakes.
pub fn train_iteration(
    g: &mut RefNet,
    d: &mut RefNet,
    draws: &Draws<'_>,
    batch: usize,
    fake_mode: BnMode,
) -> RefMetrics {
    let Draws {
        real,
        z_fake,
        z_gen,
        labels,
    } = *draws;
    let train = BnMode::Train {
        update_moving: true,
    };
    // Both networks are told the digits of each pass.
    let tell = |g: &mut RefNet, d: &mut RefNet, labels: &[u32]| {
        g.labels = labels.to_vec();
        d.labels = labels.to_vec();
    };
    if let Some((real_labels, _)) = labels {
        tell(g, d, real_labels);
    }
    let fakes_pass = g.forward(z_fake, batch, fake_mode);
    if fake_mode != BnMode::Inference {
        g.update_moving(&fakes_pass);
    }
    let fakes = fakes_pass.output().to_vec();
    let d_step = |d: &mut RefNet, x: &[f64], label: f64| {
        let pass = d.forward(x, batch, train);
        d.update_moving(&pass);
        let (loss, dlogits, acc) = super::loss::bce_with_logits(pass.output(), label);
        let (grads, _) = d.backward(&pass, &dlogits, batch);
        d.adam_step(&grads);
        (loss, acc)
    };
    let (d_loss_real, d_acc_real) = d_step(d, real, 1.0);
    let (d_loss_fake, d_acc_fake) = d_step(d, &fakes, 0.0);
    // G through the frozen D: batch statistics, no moving update, no weight update.
    if let Some((_, fresh)) = labels {
        tell(g, d, fresh);
    }
    let gp = g.forward(z_gen, batch, train);
    g.update_moving(&gp);
    let dp = d.forward(
        gp.output(),
        batch,
        BnMode::Train {
            update_moving: false,
        },
    );
    let (g_loss, dlogits, _) = super::loss::bce_with_logits(dp.output(), 1.0);
    let (_, dfakes) = d.backward(&dp, &dlogits, batch);
    let (ggrads, _) = g.backward(&gp, &dfakes, batch);
    g.adam_step(&ggrads);
    RefMetrics {
        d_loss_real,
        d_acc_real,
        d_loss_fake,
        d_acc_fake,
        g_loss,
    }
}
