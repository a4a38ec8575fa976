//! Every GPU kernel, forward and backward, against the CPU reference (`src/reference`), on
//! random data, with the DCGAN's real shapes (batch 128) and with odd shapes that divide no
//! tile size. Each check prints its worst errors; the tolerances are derived in
//! `common::check_sum_of_products` (sums of products) or stated beside the check.
//!
//! Backend: `DCGAN_BACKEND=vulkan|gl|...` (default: the best adapter).
//!
//! One file per op family; this one holds what they share: the driver list, the reduction
//! depth that bounds two-stage sums, and running a dispatch list.

#[path = "../common/mod.rs"]
mod common;

mod activation;
mod adam;
mod batchnorm;
mod ceiling;
mod conv;
mod data;
mod dense;
mod embed;
mod epilogue;
mod finite;
mod gemm;
mod loss;
mod mutations;
mod reduce;
mod softmax;

use common::*;
use dcgan_wgpu::gpu::{Dispatch, GpuSlice};
use dcgan_wgpu::ops::activation::{Activation, LEAKY_ALPHA};
use dcgan_wgpu::ops::batchnorm::{BnGrads, BnLayer, BnSaved, BnShape, MOMENTUM, Stats, TrainStats};
use dcgan_wgpu::ops::conv::Conv2d;
use dcgan_wgpu::ops::data::{Draw, Iteration, PackedImages, stream};
use dcgan_wgpu::ops::dense::DenseShape;
use dcgan_wgpu::ops::gemm::{Driver, Epilogue, Gemm, Pass, WeightGrads};
use dcgan_wgpu::reference;
use pollster::FutureExt as _;

/// Every GEMM driver the adapter can run, for the odd shapes.
fn drivers() -> Vec<Driver> {
    // Wide falls back to tiled where a shape is not 16-byte aligned; the aligned shapes below
    // (and the DCGAN's) run it.
    let mut d = vec![
        Driver::Auto,
        Driver::Narrow,
        Driver::Tiled { splits: 1 },
        Driver::Tiled { splits: 3 },
        Driver::Wide {
            splits: 1,
            rows: 64,
        },
        Driver::Wide {
            splits: 3,
            rows: 64,
        },
        Driver::Wide {
            splits: 1,
            rows: 128,
        },
        Driver::Wide {
            splits: 3,
            rows: 128,
        },
    ];
    // Wherever subgroups exist, at any size: sizes 8 to 64 take the shuffle path, others the
    // tiled fallback inside the same kernel (lavapipe: LP_NATIVE_VECTOR_WIDTH=128 gives 4 lanes,
    // 256 gives 8, 512 gives 16).
    if gpu().ctx.has_subgroups() {
        println!(
            "subgroups of {}..{} lanes",
            gpu().ctx.info.subgroup_min_size,
            gpu().ctx.info.subgroup_max_size
        );
        d.extend(
            [64, 128]
                .into_iter()
                .flat_map(|rows| [1, 3].map(|splits| Driver::Subgroup { splits, rows })),
        );
    } else {
        println!("no subgroup kernels on this adapter: the subgroup driver is not tested here");
    }
    d
}

use dcgan_wgpu::reference::check::reduction_depth;

/// Runs the dispatches; with guard bands (`DCGAN_CHECKS`), then checks that none wrote past a
/// buffer's end or into a placeholder.
fn run(dispatches: &[Dispatch]) {
    let g = gpu();
    g.ctx.run(dispatches).block_on().expect("GPU run");
    if let Err(e) = g.ctx.check_guards().block_on() {
        panic!("{e}");
    }
}
