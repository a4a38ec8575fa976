//! The adapter's ceilings (`shaders/ceiling.wgsl`): register-only multiply-adds and a memory
//! copy, which `bench` times to say what fraction of the machine the training kernels use.
//! Not part of [`Ops`](super::Ops): training never compiles them.

use crate::gpu::kernel::grid_stride;
use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders};

crate::params! {
    struct CeilingParams {
        rounds: u32,
        n4: u32,
        stride4: u32,
        _pad: u32,
    }
}

/// Invocations per `fma_peak` workgroup.
pub const FMA_LANES: usize = 64;
/// Multiply-adds of one `fma_peak` invocation per round: 4 chains x 8 steps x 4 components.
pub const FMAS_PER_ROUND: u64 = 4 * 8 * 4;
/// At most this many `stream_copy` workgroups: each lane then copies a run of vec4s.
const MAX_COPY_WORKGROUPS: u32 = 1024;

pub struct CeilingOps {
    fma: Kernel,
    copy: Kernel,
}

impl CeilingOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(CeilingOps {
            fma: Kernel::new::<CeilingParams>(ctx, &shaders::CEILING, "fma_peak", &[])?,
            copy: Kernel::new::<CeilingParams>(ctx, &shaders::CEILING, "stream_copy", &[])?,
        })
    }

    /// One invocation per vec4 of `out` (whose length is a multiple of 4 x [`FMA_LANES`], at
    /// most 65535 workgroups), each `rounds` x [`FMAS_PER_ROUND`] multiply-adds; it stores
    /// the sum of its chains.
    pub fn fma_peak(&self, ctx: &GpuContext, rounds: u32, out: &GpuSlice) -> Dispatch {
        assert_eq!(out.len % (4 * FMA_LANES), 0);
        let workgroups = u32::try_from(out.len / (4 * FMA_LANES)).expect("a 1-D grid");
        let u = ctx.uniform(
            "ceiling",
            &CeilingParams {
                rounds,
                n4: 0,
                stride4: 0,
                _pad: 0,
            },
        );
        self.fma.dispatch(
            ctx,
            &[("p", Bind::Uniform(&u)), ("out", Bind::Storage(out))],
            [workgroups, 1, 1],
        )
    }

    /// The multiply-adds of [`fma_peak`](Self::fma_peak) times 2: its FLOPs.
    pub fn fma_flops(out_len: usize, rounds: u32) -> f64 {
        (out_len / 4) as f64 * rounds as f64 * FMAS_PER_ROUND as f64 * 2.0
    }

    /// dst = src (lengths equal, a multiple of 4).
    pub fn stream_copy(&self, ctx: &GpuContext, src: &GpuSlice, dst: &GpuSlice) -> Dispatch {
        assert_eq!(src.len, dst.len);
        assert_eq!(src.len % 4, 0);
        let n4 = u32::try_from(src.len / 4).expect("at most 2^32 vec4s");
        let (workgroups, stride4) = grid_stride(n4, MAX_COPY_WORKGROUPS);
        let u = ctx.uniform(
            "ceiling",
            &CeilingParams {
                rounds: 0,
                n4,
                stride4,
                _pad: 0,
            },
        );
        self.copy.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("src", Bind::Storage(src)),
                ("out", Bind::Storage(dst)),
            ],
            [workgroups, 1, 1],
        )
    }
}
