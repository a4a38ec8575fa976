//! Deterministic column sums (`shaders/reduce.wgsl`): bias gradients.

use bytemuck::{Pod, Zeroable};

use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders};

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct ReduceParams {
    rows: u32,
    cols: u32,
    _pad: [u32; 2],
}

#[derive(Clone, Debug)]
pub struct ReduceOps {
    column_sum: Kernel,
}

impl ReduceOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(ReduceOps {
            column_sum: Kernel::new(ctx, &shaders::REDUCE, "column_sum", &[])?,
        })
    }

    /// dst[c] = sum_r src[r * cols + c].
    pub fn column_sum(
        &self,
        ctx: &GpuContext,
        rows: usize,
        cols: usize,
        src: &GpuSlice,
        dst: &GpuSlice,
    ) -> Dispatch {
        assert_eq!(src.len, rows * cols);
        assert_eq!(dst.len, cols);
        let u = ctx.uniform(
            "column_sum",
            &ReduceParams {
                rows: rows as u32,
                cols: cols as u32,
                _pad: [0; 2],
            },
        );
        self.column_sum.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("src", Bind::Storage(src)),
                ("dst", Bind::Storage(dst)),
            ],
            [(cols as u32).div_ceil(16), 1, 1],
        )
    }
}
