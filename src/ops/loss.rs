//! Sigmoid + binary cross-entropy on logits, its gradient and the accuracy
//! (`shaders/loss.wgsl`).

use bytemuck::{Pod, Zeroable};

use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders};

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct LossParams {
    batch: u32,
    label: f32,
    slot: u32,
    _pad: u32,
}

pub struct LossOps {
    bce: Kernel,
}

impl LossOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(LossOps {
            bce: Kernel::new(ctx, &shaders::LOSS, "bce_with_logits", &[])?,
        })
    }

    /// Loss and gradient for logits all labelled `label`; writes metrics[slot] = mean loss and
    /// metrics[slot + 1] = accuracy.
    pub fn bce_with_logits(
        &self,
        ctx: &GpuContext,
        label: f32,
        logits: &GpuSlice,
        dlogits: &GpuSlice,
        metrics: &GpuSlice,
        slot: usize,
    ) -> Dispatch {
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
        self.bce.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("logits", Bind::Storage(logits)),
                ("dlogits", Bind::Storage(dlogits)),
                ("metrics", Bind::Storage(metrics)),
            ],
            [1, 1, 1],
        )
    }
}
