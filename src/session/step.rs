//! One training iteration as the seed's loop reads (BatchNorm modes as measured against
//! Keras 2, see the README), recorded once as a list of dispatches and replayed:
//!
//! 1. the optimizers' bookkeeping (D steps twice, G once);
//! 2. a real batch (indices and gather on the GPU) and two noise batches z1, z2 ~ N(0, 1);
//!    a conditional run (chapter 8) also takes the real batch's labels, for G and D;
//! 3. fakes = G(z1) (training-mode BatchNorm by default, `FakeBn::Inference` as the post reads);
//! 4. D: an Adam step on the real batch (label 1), one on the fakes (label 0);
//! 5. G: an Adam step on D(G(z2)) with label 1 through the frozen D (batch statistics, moving
//!    statistics untouched, weights unchanged); D's input gradient is taken through G's tanh in
//!    the same GEMM, so G's backward starts below its output activation; a conditional run
//!    first draws fresh random labels, for G and D, as the book's `np.random.randint`;
//! 6. the GPU iteration counter advances, which re-keys every random draw.

use crate::config::{FakeBn, TrainConfig};
use crate::gpu::{Dispatch, GpuSlice, tag};
use crate::model::{BnMode, Gradients, InputGrad, Network, NetworkParams, Recorder, Upstream};
use crate::ops::activation::Activation;

/// An iteration's draws: the batch and noise, and a conditional run's labels.
#[derive(Clone)]
pub(super) struct Draws {
    pub batch: Dispatch,
    pub labels: Option<LabelDraws>,
}

/// The labels of a conditional iteration, each written into G's and D's label buffers.
#[derive(Clone)]
pub(super) struct LabelDraws {
    /// The real batch's labels: G makes D's fakes of those digits, D sees both batches with them.
    pub real: Dispatch,
    /// Fresh uniform labels for G's step.
    pub fresh: Dispatch,
}

/// The buffers an iteration reads and writes.
pub(super) struct StepBuffers<'a> {
    pub g: &'a NetworkParams,
    pub d: &'a NetworkParams,
    pub g_net: &'a Network,
    pub d_net: &'a Network,
    pub real: &'a GpuSlice,
    pub z_fake: &'a GpuSlice,
    pub z_gen: &'a GpuSlice,
    pub dlogits: &'a GpuSlice,
    /// `[d_loss_real, d_acc_real, d_loss_fake, d_acc_fake, g_loss, g_acc]`.
    pub metrics: &'a GpuSlice,
    pub counter: &'a GpuSlice,
}

/// Records one iteration after the batch is drawn (`draws`, none when the caller writes the
/// inputs itself).
pub(super) fn record_iteration(
    r: &Recorder<'_>,
    config: &TrainConfig,
    draws: Option<Draws>,
    b: &StepBuffers<'_>,
) -> Vec<Dispatch> {
    let (g, d, adam) = (b.g, b.d, &config.adam);
    let train = BnMode::Train {
        update_moving: true,
    };
    let frozen = BnMode::Train {
        update_moving: false,
    };
    let fake_mode = match config.fake_bn {
        FakeBn::Train => train,
        FakeBn::Inference => BnMode::Inference,
    };
    let fakes = b.g_net.output();
    let loss = |label: f32, slot: usize| {
        let loss =
            r.ops
                .loss
                .bce_with_logits(r.ctx, label, b.d_net.output(), b.dlogits, b.metrics, slot);
        tag(loss, "loss")
    };
    let mut step = Vec::new();
    let (batch, labels) = match draws {
        Some(Draws { batch, labels }) => (Some(batch), labels),
        None => (None, None),
    };
    step.extend(tag(batch.into_iter().collect(), "data"));
    step.extend(tag(
        labels.iter().map(|l| l.real.clone()).collect(),
        "labels",
    ));
    let schedule = r
        .ops
        .adam
        .schedule(r.ctx, adam, d.adam_schedule(2), Some(g.adam_schedule(1)));
    step.extend(tag(vec![schedule], "adam schedule"));

    // Fakes for D.
    step.extend(b.g_net.forward(r, g, b.z_fake, fake_mode));
    // D on the real batch, label 1, then on the fakes, label 0: an Adam step each.
    for (adam_slot, (input, label, metrics_slot)) in
        [(b.real, 1.0, 0), (fakes, 0.0, 2)].into_iter().enumerate()
    {
        step.extend(b.d_net.forward(r, d, input, train));
        step.extend(loss(label, metrics_slot));
        step.extend(b.d_net.backward(
            r,
            d,
            input,
            Upstream::Output(b.dlogits),
            Gradients::Weights,
            InputGrad::None,
        ));
        step.extend(tag(
            vec![d.adam_update(r, adam, adam_slot as u32)],
            "D adam",
        ));
    }
    // G through the frozen D, label 1 (a conditional G drawing fresh digits).
    step.extend(tag(labels.map(|l| l.fresh).into_iter().collect(), "labels"));
    step.extend(b.g_net.forward(r, g, b.z_gen, train));
    step.extend(b.d_net.forward(r, d, fakes, frozen));
    step.extend(loss(1.0, 4));
    step.extend(b.d_net.backward(
        r,
        d,
        fakes,
        Upstream::Output(b.dlogits),
        Gradients::None,
        InputGrad::ThroughInputActivation(Activation::Tanh),
    ));
    step.extend(b.g_net.backward(
        r,
        g,
        b.z_gen,
        Upstream::BeforeOutputActivation(&b.d_net.input_grad),
        Gradients::Weights,
        InputGrad::None,
    ));
    step.extend(tag(vec![g.adam_update(r, adam, 0)], "G adam"));
    step.extend(tag(
        vec![r.ops.data.advance_iteration(r.ctx, b.counter)],
        "data",
    ));
    step
}
