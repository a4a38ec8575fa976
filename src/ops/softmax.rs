//! Softmax and softmax cross-entropy with integer labels (`shaders/softmax.wgsl`): the
//! classifier's loss and its probabilities.

use crate::gpu::kernel::grid_for;
use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders};

crate::params! {
    struct SoftmaxParams {
        rows: u32,
        classes: u32,
        slot: u32,
        _pad: u32,
    }
}

pub struct SoftmaxOps {
    probabilities: Kernel,
    cross_entropy: Kernel,
    finish: Kernel,
}

impl SoftmaxOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(SoftmaxOps {
            probabilities: Kernel::new::<SoftmaxParams>(
                ctx,
                &shaders::SOFTMAX,
                "softmax_probabilities",
                &[],
            )?,
            cross_entropy: Kernel::new::<SoftmaxParams>(
                ctx,
                &shaders::SOFTMAX,
                "softmax_cross_entropy",
                &[],
            )?,
            finish: Kernel::new::<SoftmaxParams>(ctx, &shaders::SOFTMAX, "metrics_finish", &[])?,
        })
    }

    fn params(ctx: &GpuContext, rows: usize, classes: usize, slot: usize) -> crate::gpu::Uniform {
        ctx.uniform(
            "softmax",
            &SoftmaxParams {
                rows: rows as u32,
                classes: classes as u32,
                slot: slot as u32,
                _pad: 0,
            },
        )
    }

    /// probs[r, :] = softmax(logits[r, :]).
    pub fn probabilities(
        &self,
        ctx: &GpuContext,
        classes: usize,
        logits: &GpuSlice,
        probs: &GpuSlice,
    ) -> Dispatch {
        assert_eq!(logits.len, probs.len);
        let rows = logits.len / classes;
        let u = Self::params(ctx, rows, classes, 0);
        self.probabilities.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("logits", Bind::Storage(logits)),
                ("out", Bind::Storage(probs)),
            ],
            grid_for(rows as u32),
        )
    }

    /// d loss / d logits into `dlogits`; metrics[slot] = mean loss, metrics[slot + 1] = accuracy.
    /// A row of `logits` per label.
    pub fn cross_entropy(
        &self,
        ctx: &GpuContext,
        logits: &GpuSlice,
        labels: &GpuSlice,
        dlogits: &GpuSlice,
        metrics: &GpuSlice,
        slot: usize,
    ) -> Vec<Dispatch> {
        let rows = labels.len;
        assert!(
            rows > 0 && logits.len.is_multiple_of(rows),
            "a row of logits per label"
        );
        let classes = logits.len / rows;
        assert_eq!(dlogits.len, logits.len);
        let u = Self::params(ctx, rows, classes, slot);
        super::loss::with_metrics_finish(
            ctx,
            &self.cross_entropy,
            &self.finish,
            rows,
            &[
                ("p", Bind::Uniform(&u)),
                ("logits", Bind::Storage(logits)),
                ("labels", Bind::Storage(labels)),
                ("out", Bind::Storage(dlogits)),
                ("metrics", Bind::Storage(metrics)),
            ],
        )
    }
}
