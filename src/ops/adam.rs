//! Adam with Keras' update rule (`shaders/adam.wgsl`), one dispatch per network.

use crate::gpu::kernel::grid_for;
use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders};

pub use crate::config::AdamConfig;

crate::params! {
    struct AdamParams {
        n: u32,
        lr: f32,
        beta1: f32,
        beta2: f32,
        one_minus_beta1: f32,
        one_minus_beta2: f32,
        epsilon: f32,
        slot: u32,
        steps: u32,
        steps_b: u32,
        _pad: [u32; 2],
    }
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
            ..Default::default()
        }
    }
}

/// The optimizer state on the GPU: `[t, beta1^t, beta2^t, alpha_t]` (t as u32 bits).
pub const STATE_LEN: usize = 4;

/// Steps a network can take in one iteration (`ADAM_MAX_STEPS`, shared with adam.wgsl): the
/// length of its alphas buffer.
pub const MAX_STEPS: usize = crate::gpu::shaders::ADAM_MAX_STEPS as usize;

/// The state before the first step: t = 0, beta powers 1.
pub fn initial_state() -> [u32; STATE_LEN] {
    [0, 1f32.to_bits(), 1f32.to_bits(), 0]
}

/// What one Adam update reads and writes, all of one length: the gradient, and the parameters
/// and both moments it updates in place.
#[derive(Clone, Copy, Debug)]
pub struct AdamTensors<'a> {
    pub grad: &'a GpuSlice,
    pub param: &'a GpuSlice,
    pub m: &'a GpuSlice,
    pub v: &'a GpuSlice,
}

pub struct AdamOps {
    schedule: Kernel,
    update: Kernel,
}

/// One network's optimizer bookkeeping: its state and the step sizes of its steps this
/// iteration.
#[derive(Clone, Copy, Debug)]
pub struct Schedule<'a> {
    pub state: &'a GpuSlice,
    pub alphas: &'a GpuSlice,
    pub steps: u32,
}

impl AdamOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(AdamOps {
            schedule: Kernel::new::<AdamParams>(ctx, &shaders::ADAM, "adam_schedule", &[])?,
            update: Kernel::new::<AdamParams>(ctx, &shaders::ADAM, "adam_update", &[])?,
        })
    }

    /// Advances one or two networks' states by their steps of an iteration, storing each
    /// step's alpha: one dispatch, before their updates.
    pub fn schedule(
        &self,
        ctx: &GpuContext,
        config: &AdamConfig,
        first: Schedule<'_>,
        second: Option<Schedule<'_>>,
    ) -> Dispatch {
        for s in std::iter::once(&first).chain(second.as_ref()) {
            assert_eq!((s.state.len, s.alphas.len), (STATE_LEN, MAX_STEPS));
            assert!(s.steps as usize <= MAX_STEPS);
        }
        let mut params = config.params(0);
        params.steps = first.steps;
        params.steps_b = second.map_or(0, |s| s.steps);
        let u = ctx.uniform("adam schedule", &params);
        self.schedule.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("state", Bind::Storage(first.state)),
                ("alphas", Bind::Storage(first.alphas)),
                (
                    "state_b",
                    second.map_or(Bind::Dummy, |s| Bind::Storage(s.state)),
                ),
                (
                    "alphas_b",
                    second.map_or(Bind::Dummy, |s| Bind::Storage(s.alphas)),
                ),
            ],
            [1, 1, 1],
        )
    }

    /// Step `slot` of the iteration over `param` (all of a network's parameters), with the
    /// alpha `schedule` stored for it.
    pub fn update(
        &self,
        ctx: &GpuContext,
        config: &AdamConfig,
        alphas: &GpuSlice,
        slot: u32,
        tensors: AdamTensors<'_>,
    ) -> Dispatch {
        let AdamTensors { grad, param, m, v } = tensors;
        assert!(grad.len == param.len && m.len == param.len && v.len == param.len);
        assert!((slot as usize) < MAX_STEPS);
        let mut params = config.params(param.len);
        params.slot = slot;
        let u = ctx.uniform("adam", &params);
        self.update.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("alphas_in", Bind::Storage(alphas)),
                ("grad", Bind::Storage(grad)),
                ("param", Bind::Storage(param)),
                ("m", Bind::Storage(m)),
                ("v", Bind::Storage(v)),
            ],
            grid_for(param.len as u32),
        )
    }

    /// One whole step of one network: its schedule and its update (a network stepped once a
    /// batch, like the classifier).
    pub fn step(
        &self,
        ctx: &GpuContext,
        config: &AdamConfig,
        state: &GpuSlice,
        alphas: &GpuSlice,
        tensors: AdamTensors<'_>,
    ) -> [Dispatch; 2] {
        let s = Schedule {
            state,
            alphas,
            steps: 1,
        };
        [
            self.schedule(ctx, config, s, None),
            self.update(ctx, config, alphas, 0, tensors),
        ]
    }
}
