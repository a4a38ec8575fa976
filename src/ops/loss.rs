//! Sigmoid + binary cross-entropy on logits, its gradient and the accuracy
//! (`shaders/loss.wgsl`).

use crate::gpu::shaders::SAMPLES_PER_WORKGROUP;
use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders};

crate::params! {
    struct LossParams {
        batch: u32,
        label: f32,
        slot: u32,
        _pad: u32,
    }
}

pub struct LossOps {
    bce: Kernel,
    finish: Kernel,
}

/// A loss kernel over `samples` samples and, when it takes more than one workgroup, the finish
/// that adds the workgroups' sums (`shaders/metrics.wgsl`). `binds` are the loss kernel's own;
/// the partials scratch is allocated here, once.
pub(crate) fn with_metrics_finish(
    ctx: &GpuContext,
    loss: &Kernel,
    finish: &Kernel,
    samples: usize,
    binds: &[(&str, Bind<'_>)],
) -> Vec<Dispatch> {
    let workgroups = samples.div_ceil(SAMPLES_PER_WORKGROUP as usize).max(1);
    // Bound even for one workgroup: the kernel names it in the branch it does not take.
    let partials = ctx.scratch("loss partials", 2 * workgroups);
    let mut all = binds.to_vec();
    all.push(("loss_partials", Bind::Storage(&partials)));
    all.push(("loss_partials_in", Bind::Storage(&partials)));
    let mut d = vec![loss.dispatch(ctx, &all, [workgroups as u32, 1, 1])];
    if workgroups > 1 {
        d.push(finish.dispatch(ctx, &all, [1, 1, 1]));
    }
    d
}

impl LossOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(LossOps {
            bce: Kernel::new::<LossParams>(ctx, &shaders::LOSS, "bce_with_logits", &[])?,
            finish: Kernel::new::<LossParams>(ctx, &shaders::LOSS, "metrics_finish", &[])?,
        })
    }

    /// Loss and gradient for logits all labelled `label`; writes metrics[slot] = mean loss and
    /// metrics[slot + 1] = accuracy. One dispatch up to 1024 logits, two beyond.
    pub fn bce_with_logits(
        &self,
        ctx: &GpuContext,
        label: f32,
        logits: &GpuSlice,
        dlogits: &GpuSlice,
        metrics: &GpuSlice,
        slot: usize,
    ) -> Vec<Dispatch> {
        assert_eq!(logits.len, dlogits.len);
        assert!(slot + 1 < metrics.len);
        let u = ctx.uniform(
            "bce",
            &LossParams {
                batch: logits.len as u32,
                label,
                slot: slot as u32,
                _pad: 0,
            },
        );
        with_metrics_finish(
            ctx,
            &self.bce,
            &self.finish,
            logits.len,
            &[
                ("p", Bind::Uniform(&u)),
                ("logits", Bind::Storage(logits)),
                ("dlogits", Bind::Storage(dlogits)),
                ("metrics", Bind::Storage(metrics)),
            ],
        )
    }
}
