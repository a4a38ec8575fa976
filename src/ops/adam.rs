//! Adam with Keras' update rule (`shaders/adam.wgsl`), one dispatch per network.

use bytemuck::{Pod, Zeroable};

use crate::gpu::kernel::grid_1d;
use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders};

/// Adam's hyper-parameters; the defaults are Keras'. Kept in double precision like Keras'
/// Python floats: `1 - beta` must be evaluated in double and rounded once (0.1f), not as
/// 1f - 0.9f = 0.100000024.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    pub learning_rate: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct AdamParams {
    n: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    epsilon: f32,
    _pad: u32,
}

impl AdamConfig {
    fn params(&self, n: usize) -> AdamParams {
        AdamParams {
            n: n as u32,
            lr: self.learning_rate as f32,
            beta1: self.beta1 as f32,
            beta2: self.beta2 as f32,
            one_minus_beta1: (1.0 - self.beta1) as f32,
            one_minus_beta2: (1.0 - self.beta2) as f32,
            epsilon: self.epsilon as f32,
            _pad: 0,
        }
    }
}

/// The optimizer state on the GPU: `[t, beta1^t, beta2^t, alpha_t]` (t as u32 bits).
pub const STATE_LEN: usize = 4;

/// The state before the first step: t = 0, beta powers 1.
pub fn initial_state() -> [u32; STATE_LEN] {
    [0, 1f32.to_bits(), 1f32.to_bits(), 0]
}

pub struct AdamOps {
    begin_step: Kernel,
    update: Kernel,
}

impl AdamOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(AdamOps {
            begin_step: Kernel::new(ctx, &shaders::ADAM, "adam_begin_step", &[])?,
            update: Kernel::new(ctx, &shaders::ADAM, "adam_update", &[])?,
        })
    }

    /// The two dispatches of one Adam step over `param` (all of a network's parameters).
    pub fn step(
        &self,
        ctx: &GpuContext,
        config: &AdamConfig,
        state: &GpuSlice,
        grad: &GpuSlice,
        param: &GpuSlice,
        m: &GpuSlice,
        v: &GpuSlice,
    ) -> [Dispatch; 2] {
        assert_eq!(state.len, STATE_LEN);
        assert!(grad.len == param.len && m.len == param.len && v.len == param.len);
        let u = ctx.uniform("adam", &config.params(param.len));
        [
            self.begin_step.dispatch(
                ctx,
                &[("p", Bind::Uniform(&u)), ("state", Bind::Storage(state))],
                [1, 1, 1],
            ),
            self.update.dispatch(
                ctx,
                &[
                    ("p", Bind::Uniform(&u)),
                    ("state_in", Bind::Storage(state)),
                    ("grad", Bind::Storage(grad)),
                    ("param", Bind::Storage(param)),
                    ("m", Bind::Storage(m)),
                    ("v", Bind::Storage(v)),
                ],
                grid_1d((param.len as u32).div_ceil(256)),
            ),
        ]
    }
}
