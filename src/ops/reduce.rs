//! Deterministic column sums in two stages (`shaders/reduce.wgsl`, `shaders/column_sum.wgsl`):
//! bias gradients. [`Blocks`] is the shape rule the BatchNorm reductions share.

use crate::gpu::shaders::FINISH_COLS;
use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders};

crate::params! {
    /// `ReduceParams` in reduce.wgsl (layout checked at pipeline creation).
    pub struct ReduceParams {
        pub rows: u32,
        pub cols: u32,
        pub col_lanes: u32,
        pub block_rows: u32,
        pub blocks: u32,
        pub epsilon: f32,
        pub momentum: f32,
        pub one_minus_momentum: f32,
        pub activation: u32,
        pub alpha: f32,
        pub update_moving: u32,
        pub stats_stride: u32,
        pub grad_stride: u32,
        pub group_rows: u32,
        pub store_dx_sums: u32,
        pub _pad: u32,
    }
}

/// Elements a stage-1 lane reads: with 256 lanes, a workgroup reads 60 x 256 = 15360 of the
/// matrix, under 16384 with room for the per-channel vectors (mean, variance) it also reads.
const ELEMENTS_PER_LANE: u32 = 60;

/// How stage 1 splits a [rows, cols] matrix: blocks of rows by groups of columns. Depends only
/// on the shape, so the summation order (and the bits) does too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocks {
    pub rows: u32,
    pub cols: u32,
    /// Columns per workgroup: the smallest power of two covering `cols`, at most 64.
    pub col_lanes: u32,
    pub block_rows: u32,
    pub blocks: u32,
}

impl Blocks {
    /// For a reduction reading `inputs` matrices of this shape (each lane walks 60 / inputs
    /// rows).
    pub fn new(rows: usize, cols: usize, inputs: u32) -> Self {
        let (rows, cols) = (rows as u32, cols as u32);
        let col_lanes = cols.next_power_of_two().min(64);
        let block_rows = (256 / col_lanes) * (ELEMENTS_PER_LANE / inputs).max(1);
        Blocks {
            rows,
            cols,
            col_lanes,
            block_rows,
            blocks: rows.div_ceil(block_rows).max(1),
        }
    }

    /// The stage-1 grid: column groups by blocks.
    pub fn grid(&self) -> [u32; 3] {
        [self.cols.div_ceil(self.col_lanes), self.blocks, 1]
    }

    /// The stage-2 grid ([`FINISH_COLS`] columns per workgroup).
    pub fn finish_grid(&self) -> [u32; 3] {
        [self.cols.div_ceil(FINISH_COLS), 1, 1]
    }

    /// Elements of a partials buffer holding one value per (block, column).
    pub fn partials_len(&self) -> usize {
        (self.blocks * self.cols) as usize
    }

    pub fn params(&self) -> ReduceParams {
        ReduceParams {
            rows: self.rows,
            cols: self.cols,
            col_lanes: self.col_lanes,
            block_rows: self.block_rows,
            blocks: self.blocks,
            ..Default::default()
        }
    }
}

#[derive(Clone, Debug)]
pub struct ReduceOps {
    partials: Kernel,
    finish: Kernel,
}

impl ReduceOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(ReduceOps {
            partials: Kernel::new::<ReduceParams>(
                ctx,
                &shaders::COLUMN_SUM,
                "column_sum_partials",
                &[],
            )?,
            finish: Kernel::new::<ReduceParams>(
                ctx,
                &shaders::COLUMN_SUM,
                "column_sum_finish",
                &[],
            )?,
        })
    }

    /// dst[c] = the sum over blocks of `partials` [blocks][cols]: the finish alone, for column
    /// sums whose first stage another kernel wrote (BatchNorm's backward writes dx's).
    pub fn finish(
        &self,
        ctx: &GpuContext,
        partials: &GpuSlice,
        blocks: usize,
        cols: usize,
        dst: &GpuSlice,
    ) -> Dispatch {
        assert_eq!((partials.len, dst.len), (blocks * cols, cols));
        let b = Blocks {
            blocks: blocks as u32,
            ..Blocks::new(blocks, cols, 1)
        };
        let u = ctx.uniform("column_sum_finish", &b.params());
        self.finish.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("partials_in", Bind::Storage(partials)),
                ("dst", Bind::Storage(dst)),
            ],
            b.finish_grid(),
        )
    }

    /// dst[c] = sum_r src[r * cols + c]: two dispatches (and their scratch, allocated now).
    pub fn column_sum(
        &self,
        ctx: &GpuContext,
        rows: usize,
        cols: usize,
        src: &GpuSlice,
        dst: &GpuSlice,
    ) -> [Dispatch; 2] {
        assert_eq!(src.len, rows * cols);
        assert_eq!(dst.len, cols);
        let blocks = Blocks::new(rows, cols, 1);
        let partials = ctx.scratch("column sum partials", blocks.partials_len());
        let u = ctx.uniform("column_sum", &blocks.params());
        [
            self.partials.dispatch(
                ctx,
                &[
                    ("p", Bind::Uniform(&u)),
                    ("src", Bind::Storage(src)),
                    ("partials", Bind::Storage(&partials)),
                ],
                blocks.grid(),
            ),
            self.finish.dispatch(
                ctx,
                &[
                    ("p", Bind::Uniform(&u)),
                    ("partials_in", Bind::Storage(&partials)),
                    ("dst", Bind::Storage(dst)),
                ],
                blocks.finish_grid(),
            ),
        ]
    }
}
