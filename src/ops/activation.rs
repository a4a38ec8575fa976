//! Element-wise activations (`shaders/activation.wgsl`): LeakyReLU, tanh, sigmoid, forward and
//! backward.

use crate::gpu::kernel::grid_for;
use crate::gpu::shaders::{ACT_LEAKY_RELU, ACT_NONE, ACT_SIGMOID, ACT_TANH};
use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders};

/// The seed's LeakyReLU slope.
pub const LEAKY_ALPHA: f32 = 0.01;

crate::params! {
    struct ActParams {
        n: u32,
        alpha: f32,
        _pad: [u32; 2],
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    LeakyRelu,
    Tanh,
    Sigmoid,
}

impl Activation {
    pub const ALL: [Activation; 3] = [Activation::LeakyRelu, Activation::Tanh, Activation::Sigmoid];

    /// Its `ACT_*` code (shared.wgsl).
    pub const fn code(self) -> u32 {
        match self {
            Activation::LeakyRelu => ACT_LEAKY_RELU,
            Activation::Tanh => ACT_TANH,
            Activation::Sigmoid => ACT_SIGMOID,
        }
    }
}

/// The epilogues' `ACT_*` code: none, or the activation's.
pub fn activation_code(a: Option<Activation>) -> u32 {
    a.map_or(ACT_NONE, Activation::code)
}

/// One forward and one backward pipeline per activation, from the same two entry points
/// compiled with its `ACT` constant.
pub struct ActivationOps {
    kernels: [(Kernel, Kernel); 3],
}

impl ActivationOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let pair = |a: Activation| -> Result<(Kernel, Kernel), GpuError> {
            let act = [("ACT", f64::from(a.code()))];
            Ok((
                Kernel::new::<ActParams>(ctx, &shaders::ACTIVATION, "forward", &act)?,
                Kernel::new::<ActParams>(ctx, &shaders::ACTIVATION, "backward", &act)?,
            ))
        };
        let [l, t, s] = Activation::ALL;
        Ok(ActivationOps {
            kernels: [pair(l)?, pair(t)?, pair(s)?],
        })
    }

    fn kernels(&self, a: Activation) -> &(Kernel, Kernel) {
        &self.kernels[Activation::ALL
            .iter()
            .position(|&k| k == a)
            .expect("listed")]
    }

    fn params(ctx: &GpuContext, n: usize) -> crate::gpu::Uniform {
        ctx.uniform(
            "activation",
            &ActParams {
                n: n as u32,
                alpha: LEAKY_ALPHA,
                _pad: [0; 2],
            },
        )
    }

    /// y = f(x).
    pub fn forward(&self, ctx: &GpuContext, a: Activation, x: &GpuSlice, y: &GpuSlice) -> Dispatch {
        assert_eq!(x.len, y.len);
        let u = Self::params(ctx, x.len);
        self.kernels(a).0.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("x", Bind::Storage(x)),
                ("out", Bind::Storage(y)),
            ],
            grid_for(x.len as u32),
        )
    }

    /// dx = f'(x) * dy from the saved output y = f(x) (for LeakyReLU, y > 0 exactly when x > 0).
    pub fn backward(
        &self,
        ctx: &GpuContext,
        a: Activation,
        y: &GpuSlice,
        dy: &GpuSlice,
        dx: &GpuSlice,
    ) -> Dispatch {
        assert_eq!((y.len, dy.len), (dx.len, dx.len));
        let u = Self::params(ctx, dx.len);
        self.kernels(a).1.dispatch(
            ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("x", Bind::Storage(y)),
                ("dy", Bind::Storage(dy)),
                ("out", Bind::Storage(dx)),
            ],
            grid_for(dx.len as u32),
        )
    }
}
