//! Dense layer `y = x W + b` (Keras kernel layout [in, out]): forward, dX, dW and db (db in
//! dW's GEMM).
//! Shader: `shaders/dense.wgsl` (operand mappings) + `shaders/gemm.wgsl` (driver).

use super::gemm::{Driver, Gemm, GemmKernels, GemmParams, Mapping, Pass, WeightGrads};
use crate::gpu::{Dispatch, GpuContext, GpuError, shaders};

/// Batch and feature sizes of one dense layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseShape {
    pub batch: usize,
    pub inputs: usize,
    pub outputs: usize,
}

impl DenseShape {
    /// Multiply-adds of the forward pass (each backward GEMM costs the same).
    pub fn macs(&self) -> u64 {
        (self.batch * self.inputs * self.outputs) as u64
    }
}

pub struct DenseOps {
    pub forward: GemmKernels,
    pub backward_input: GemmKernels,
    /// Public for the tuning tests, which check candidates on it directly.
    pub backward_weight: GemmKernels,
}

impl DenseOps {
    /// The three mappings' drivers (for `Ops::tune`).
    pub fn gemms(&self) -> [&GemmKernels; 3] {
        [&self.forward, &self.backward_input, &self.backward_weight]
    }
}

fn params(m: usize, n: usize, k: usize) -> GemmParams {
    GemmParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        ..Default::default()
    }
}

impl DenseOps {
    pub fn new(
        ctx: &GpuContext,
        tuner: std::sync::Arc<super::tune::Tuner>,
    ) -> Result<Self, GpuError> {
        Ok(DenseOps {
            forward: GemmKernels::new(
                ctx,
                &shaders::DENSE,
                &shaders::DENSE_SUBGROUP,
                Mapping::Forward,
                tuner.clone(),
            )?,
            backward_input: GemmKernels::new(
                ctx,
                &shaders::DENSE,
                &shaders::DENSE_SUBGROUP,
                Mapping::BackwardInput,
                tuner.clone(),
            )?,
            backward_weight: GemmKernels::new(
                ctx,
                &shaders::DENSE,
                &shaders::DENSE_SUBGROUP,
                Mapping::BackwardWeight,
                tuner.clone(),
            )?,
        })
    }

    /// y[batch, out] = act(x[batch, in] W[in, out] + b[out]).
    pub fn forward(
        &self,
        ctx: &GpuContext,
        s: DenseShape,
        pass: Pass<'_>,
        driver: Driver,
    ) -> Vec<Dispatch> {
        assert_eq!(pass.input.len, s.batch * s.inputs);
        assert_eq!(pass.w.len, s.inputs * s.outputs);
        let p = params(s.batch, s.outputs, s.inputs);
        self.forward.record(ctx, Gemm::of_pass(p, pass), driver)
    }

    /// dx[batch, in] = dy[batch, out] W^T (the epilogue can take the gradient through the
    /// activation before this layer).
    pub fn backward_input(
        &self,
        ctx: &GpuContext,
        s: DenseShape,
        pass: Pass<'_>,
        driver: Driver,
    ) -> Vec<Dispatch> {
        let p = params(s.batch, s.inputs, s.outputs);
        self.backward_input
            .record(ctx, Gemm::of_pass(p, pass), driver)
    }

    /// dW[in, out] = x^T dy and, with `db`, db[out] = sum over the batch of dy in the same GEMM
    /// (a row of ones in x^T).
    pub fn backward_weight(
        &self,
        ctx: &GpuContext,
        s: DenseShape,
        grads: WeightGrads<'_>,
        driver: Driver,
    ) -> Vec<Dispatch> {
        let p = params(s.inputs, s.outputs, s.batch);
        self.backward_weight
            .record(ctx, Gemm::of_weight_grads(p, grads), driver)
    }
}
