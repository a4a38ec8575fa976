//! The backward pass of a network: activation gradients fused into the input-gradient GEMMs,
//! bias gradients as GEMM bias rows or BatchNorm column sums.

use super::{Layer, Network, NetworkParams, layer_activation};
use crate::gpu::{Dispatch, GpuSlice, tag};
use crate::ops::Recorder;
use crate::ops::activation::Activation;
use crate::ops::batchnorm::{BnGrads, BnSaved, BnShape};
use crate::ops::gemm::{Epilogue, Pass, WeightGrads};

impl Network {
    /// The backward pass after a training-mode forward from `input`, given the gradient
    /// `upstream`. `grads`: whether to write the weight and bias gradients into `p.grads`
    /// (BatchNorm's dgamma and dbeta are always written: its input gradient needs them).
    /// `input_grad`: whether (and how) to write d loss / d input into `self.input_grad`.
    ///
    /// An activation layer's backward is fused into the input-gradient GEMM of the layer after
    /// it (its epilogue multiplies by the activation's slope at the saved output), so that
    /// GEMM writes the gradient of the layer before the activation directly.
    pub fn backward(
        &self,
        r: &Recorder<'_>,
        p: &NetworkParams,
        input: &GpuSlice,
        upstream: Upstream<'_>,
        grads: Gradients,
        input_grad: InputGrad,
    ) -> Vec<Dispatch> {
        let (ctx, ops) = (r.ctx, r.ops);
        let weights = grads == Gradients::Weights;
        let n = self.layers.len();
        let is_gemm =
            |i: usize| matches!(self.layers[i].layer, Layer::Dense { .. } | Layer::Conv(_));
        // Layer i's activation backward runs inside layer i + 1's input-gradient GEMM.
        let fused = |i: usize| {
            layer_activation(&self.layers[i].layer).is_some() && i + 1 < n && is_gemm(i + 1)
        };
        let (last, dout) = match upstream {
            Upstream::Output(g) => (n - 1, g),
            Upstream::BeforeOutputActivation(g) => {
                assert!(
                    layer_activation(&self.layers[n - 1].layer).is_some(),
                    "the last layer is no activation"
                );
                (n - 2, g)
            }
        };
        assert_eq!(dout.len, self.batch * self.layers[last].out_len);
        let mut all = Vec::new();
        // dy's column sums that a BatchNorm backward wrote for the transposed conv before it.
        let mut pending_bias_sums: Option<(GpuSlice, usize)> = None;
        for i in (0..=last).rev() {
            if i < last && fused(i) {
                continue;
            }
            let mut d = Vec::new();
            let spec = &self.layers[i];
            let name = spec.name;
            let b = self.batch;
            let x = if i == 0 { input } else { &self.acts[i - 1] };
            let y = &self.acts[i];
            let dy = if i == last { dout } else { &self.act_grads[i] };
            // Where the input gradient goes, and the activation it is taken through: the layer
            // before, when that is an activation fused here; at the network's input, the
            // activation that produced the input (G's tanh, for D in G's step).
            let (dx, through): (Option<&GpuSlice>, Option<(Activation, &GpuSlice)>) =
                if i >= 1 && fused(i - 1) {
                    let act = layer_activation(&self.layers[i - 1].layer).expect("activation");
                    let dx = if i >= 2 {
                        Some(&self.act_grads[i - 2])
                    } else {
                        input_grad.wanted().then_some(&self.input_grad)
                    };
                    (dx, Some((act, &self.acts[i - 1])))
                } else if i >= 1 {
                    (Some(&self.act_grads[i - 1]), None)
                } else {
                    match input_grad {
                        InputGrad::None => (None, None),
                        InputGrad::Plain => (Some(&self.input_grad), None),
                        InputGrad::ThroughInputActivation(act) => {
                            (Some(&self.input_grad), Some((act, input)))
                        }
                    }
                };
            let through_epilogue = Epilogue {
                through,
                ..Epilogue::NONE
            };
            let param = |buf: &GpuSlice, suffix: &str| p.tensor(buf, &format!("{name}.{suffix}"));
            match spec.layer {
                Layer::Dense { .. } | Layer::Conv(_) => {
                    let gemm = spec.layer.gemm(b).expect("a GEMM layer");
                    if weights {
                        let (dw, db) = (param(&p.grads, "kernel"), param(&p.grads, "bias"));
                        let fused = gemm.fuses_bias_grad();
                        let grads = WeightGrads {
                            x,
                            dy,
                            dw: &dw,
                            db: fused.then_some(&db),
                        };
                        d.extend(gemm.backward_weight(*r, grads));
                        if !fused {
                            let c = spec.out_channels;
                            match pending_bias_sums.take() {
                                Some((sums, blocks)) => d.push(
                                    ops.conv.backward_bias_from_sums(ctx, &sums, blocks, c, &db),
                                ),
                                None => d.extend(ops.conv.backward_bias(ctx, dy, c, &db)),
                            }
                        }
                    }
                    if let Some(dx) = dx {
                        let w = param(&p.params, "kernel");
                        let pass = Pass::new(dy, &w, dx).epilogue(through_epilogue);
                        d.extend(gemm.backward_input(*r, pass));
                    }
                }
                Layer::LabelProduct { .. } => {
                    assert!(dx.is_none(), "no gradient flows into the noise");
                    if weights {
                        let s = spec.layer.embedding(b).expect("a label layer");
                        let dtable = param(&p.grads, "embeddings");
                        d.push(
                            ops.embed
                                .scale_table_grad(ctx, s, self.labels(), x, dy, &dtable),
                        );
                    }
                }
                Layer::LabelPlane { .. } => {
                    let s = spec.layer.embedding(b).expect("a label layer");
                    if weights {
                        let dtable = param(&p.grads, "embeddings");
                        d.push(
                            ops.embed
                                .concat_table_grad(ctx, s, self.labels(), dy, &dtable),
                        );
                    }
                    // The image's channels' gradient, taken through the activation that made
                    // the image (G's tanh, in G's step) where asked.
                    if let Some(dx) = dx {
                        d.push(ops.embed.concat_input_grad(ctx, s, dy, through, dx));
                    }
                }
                Layer::BatchNorm { channels } => {
                    assert!(
                        through.is_none(),
                        "BatchNorm after an activation fuses nothing"
                    );
                    let s = BnShape {
                        rows: b * spec.out_len / channels,
                        channels,
                    };
                    let stats = self.batch_stats[i].as_ref().expect("BN stats");
                    let (dgamma, dbeta) = (param(&p.grads, "gamma"), param(&p.grads, "beta"));
                    let gamma = param(&p.params, "gamma");
                    let dx = dx.expect("a BatchNorm layer is never a network's first");
                    // A GEMM layer before this one whose bias gradient is not in its dW GEMM (a
                    // transposed conv) takes it from dx's column sums, which this pass writes on
                    // the way.
                    let conv_t_before = self.layers[i - 1]
                        .layer
                        .gemm(b)
                        .is_some_and(|g| !g.fuses_bias_grad());
                    let bias_sums = (weights && conv_t_before).then(|| {
                        ctx.scratch("bias gradient partials", ops.batchnorm.dx_sums_len(s))
                    });
                    d.extend(ops.batchnorm.backward(
                        ctx,
                        s,
                        &gamma,
                        BnSaved { x, stats },
                        dy,
                        BnGrads {
                            dgamma: &dgamma,
                            dbeta: &dbeta,
                            dx,
                            dx_sums: bias_sums.as_ref(),
                        },
                    ));
                    if let Some(sums) = bias_sums {
                        pending_bias_sums = Some((sums, ops.batchnorm.dx_sum_blocks(s)));
                    }
                }
                Layer::LeakyRelu | Layer::Tanh => {
                    // Not fused: the layer after it is no GEMM, or it is the last one.
                    assert!(through.is_none(), "an activation after an activation");
                    let act = layer_activation(&spec.layer).expect("activation");
                    if let Some(dx) = dx {
                        d.push(ops.activation.backward(ctx, act, y, dy, dx));
                    }
                }
            }
            let scope = match through {
                Some(_) if i >= 1 => format!(
                    "{}.{} backward + {}",
                    self.name,
                    name,
                    self.layers[i - 1].name
                ),
                _ => format!("{}.{} backward", self.name, name),
            };
            all.extend(tag(d, &scope));
        }
        all
    }
}

/// The gradient a backward pass starts from.
#[derive(Clone, Copy, Debug)]
pub enum Upstream<'a> {
    /// d loss / d (the network's output).
    Output(&'a GpuSlice),
    /// d loss / d (the input of the last layer, an activation): already through it (G's tanh
    /// is taken by D's input gradient, whose epilogue knows its saved output).
    BeforeOutputActivation(&'a GpuSlice),
}

/// Which parameter gradients a backward pass writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gradients {
    /// Weights and biases, into the network's gradient buffer (a training step).
    Weights,
    /// None: the network is frozen (D inside G's step), only gradients flow through it.
    None,
}

/// Which gradient with respect to the network's input a backward pass writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputGrad {
    /// None (the input is data).
    None,
    /// d loss / d input.
    Plain,
    /// d loss / d (what the activation that produced the input got): the slope of that
    /// activation at the input (its output) is taken in the same GEMM.
    ThroughInputActivation(Activation),
}

impl InputGrad {
    fn wanted(self) -> bool {
        self != InputGrad::None
    }
}
