//! Finiteness checks (`shaders/finite.wgsl`): whether a buffer holds a NaN or an infinity, as a
//! flag the host reads with a report, so a diverged run stops without its parameters being read
//! back.

use crate::gpu::kernel::grid_stride;
use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders};

crate::params! {
    /// `FiniteParams` in finite.wgsl (layout checked at pipeline creation).
    struct FiniteParams {
        n: u32,
        stride: u32,
        _pad: [u32; 2],
    }
}

/// At most this many workgroups: enough to fill a GPU, few enough that each lane reads a run of
/// words (a parameter buffer of 1.3M floats: 20 per lane).
const MAX_WORKGROUPS: u32 = 256;

pub struct FiniteOps {
    kernel: Kernel,
}

impl FiniteOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(FiniteOps {
            kernel: Kernel::new::<FiniteParams>(ctx, &shaders::FINITE, "flag_nonfinite", &[])?,
        })
    }

    /// Sets bit 0 of `flag[0]` (a u32) when any element of `values` is NaN or infinite; leaves
    /// it as it is otherwise.
    pub fn flag_nonfinite(&self, ctx: &GpuContext, values: &GpuSlice, flag: &GpuSlice) -> Dispatch {
        assert!(flag.len >= 1);
        let n = u32::try_from(values.len).expect("a buffer of at most 2^32 elements");
        let (workgroups, stride) = grid_stride(n, MAX_WORKGROUPS);
        let u = ctx.uniform(
            "finite",
            &FiniteParams {
                n,
                stride,
                _pad: [0; 2],
            },
        );
        self.kernel.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("values", Bind::Storage(values)),
                ("flag", Bind::Storage(flag)),
            ],
            [workgroups, 1, 1],
        )
    }
}
