//! One host module per kernel family: each owns its compiled pipelines (created once) and
//! turns shapes and buffers into [`Dispatch`](crate::gpu::Dispatch)es.

pub mod activation;
pub mod adam;
pub mod batchnorm;
pub mod ceiling;
pub mod conv;
pub mod data;
pub mod dense;
pub mod embed;
pub mod finite;
pub mod gemm;
pub mod loss;
pub mod reduce;
pub mod softmax;
pub mod tune;

use crate::gpu::{Dispatch, GpuContext, GpuError};
use gemm::{Driver, Pass, WeightGrads};

/// What records dispatches: the device and the compiled kernels, passed as one.
#[derive(Clone, Copy)]
pub struct Recorder<'a> {
    pub ctx: &'a GpuContext,
    pub ops: &'a Ops,
}

/// A layer that runs as GEMMs, and which op family runs each of its passes: the one table
/// the networks' forward and backward passes go through (with the auto-chosen driver).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmLayer {
    Dense(dense::DenseShape),
    Conv(conv::Conv2d),
}

impl GemmLayer {
    /// y = act(layer(x, W) + b).
    pub fn forward(&self, r: Recorder<'_>, pass: Pass<'_>) -> Vec<Dispatch> {
        match *self {
            GemmLayer::Dense(s) => r.ops.dense.forward(r.ctx, s, pass, Driver::Auto),
            GemmLayer::Conv(g) => r.ops.conv.forward(r.ctx, g, pass, Driver::Auto),
        }
    }

    /// dx from dy, the epilogue taking it through the activation before the layer if any.
    pub fn backward_input(&self, r: Recorder<'_>, pass: Pass<'_>) -> Vec<Dispatch> {
        match *self {
            GemmLayer::Dense(s) => r.ops.dense.backward_input(r.ctx, s, pass, Driver::Auto),
            GemmLayer::Conv(g) => r.ops.conv.backward_input(r.ctx, g, pass, Driver::Auto),
        }
    }

    /// Whether `backward_weight` writes the bias gradient in the same GEMM (else it is dy's
    /// column sums, recorded apart).
    pub fn fuses_bias_grad(&self) -> bool {
        match self {
            GemmLayer::Dense(_) => true,
            GemmLayer::Conv(g) => conv::ConvOps::fuses_bias_grad(g),
        }
    }

    /// dW, and db with it where `fuses_bias_grad`.
    pub fn backward_weight(&self, r: Recorder<'_>, grads: WeightGrads<'_>) -> Vec<Dispatch> {
        match *self {
            GemmLayer::Dense(s) => r.ops.dense.backward_weight(r.ctx, s, grads, Driver::Auto),
            GemmLayer::Conv(g) => r.ops.conv.backward_weight(r.ctx, g, grads, Driver::Auto),
        }
    }
}

/// Every kernel the program uses, compiled once.
pub struct Ops {
    pub tuner: std::sync::Arc<tune::Tuner>,
    pub dense: dense::DenseOps,
    pub conv: conv::ConvOps,
    pub batchnorm: batchnorm::BatchNormOps,
    pub activation: activation::ActivationOps,
    pub loss: loss::LossOps,
    pub softmax: softmax::SoftmaxOps,
    pub adam: adam::AdamOps,
    pub data: data::DataOps,
    pub embed: embed::EmbedOps,
    pub finite: finite::FiniteOps,
}

impl Ops {
    pub fn recorder<'a>(&'a self, ctx: &'a GpuContext) -> Recorder<'a> {
        Recorder { ctx, ops: self }
    }

    /// The kernels with the fixed GEMM driver choice (tests, and `--no-tune`).
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Self::with_tuner(ctx, tune::Tuner::disabled())
    }

    /// Settles the GEMM driver choices that recording queued (see `tune`); true when it
    /// settled any, so that what was recorded should be recorded again to use them.
    pub async fn tune(&self, ctx: &GpuContext) -> bool {
        if !self.tuner.enabled() {
            return false;
        }
        let mut settled = 0;
        for gemms in [self.dense.gemms(), self.conv.gemms()] {
            for kernels in gemms {
                settled += kernels.tune(ctx).await;
            }
        }
        settled > 0
    }

    /// What `record` records, with the tuned GEMM drivers: recorded once, the queued choices
    /// settled, and recorded again if any was (its first dispatches are dropped unused).
    pub async fn record_tuned<T>(&self, ctx: &GpuContext, record: impl Fn() -> T) -> T {
        let first = record();
        if self.tune(ctx).await {
            record()
        } else {
            first
        }
    }

    /// The kernels, choosing GEMM drivers by timed trials (see `tune`).
    pub fn with_tuner(ctx: &GpuContext, tuner: tune::Tuner) -> Result<Self, GpuError> {
        let tuner = std::sync::Arc::new(tuner);
        Ok(Ops {
            dense: dense::DenseOps::new(ctx, tuner.clone())?,
            conv: conv::ConvOps::new(ctx, tuner.clone())?,
            tuner,
            batchnorm: batchnorm::BatchNormOps::new(ctx)?,
            activation: activation::ActivationOps::new(ctx)?,
            loss: loss::LossOps::new(ctx)?,
            softmax: softmax::SoftmaxOps::new(ctx)?,
            adam: adam::AdamOps::new(ctx)?,
            data: data::DataOps::new(ctx)?,
            embed: embed::EmbedOps::new(ctx)?,
            finite: finite::FiniteOps::new(ctx)?,
        })
    }
}
