//! Element-wise activations (`shaders/activation.wgsl`): LeakyReLU, tanh, sigmoid, forward and
//! backward.

use crate::gpu::kernel::grid_1d;
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

/// The `ACT_*` constant of epilogue.wgsl.
pub fn activation_code(a: Option<Activation>) -> u32 {
    match a {
        None => 0,
        Some(Activation::LeakyRelu) => 1,
        Some(Activation::Tanh) => 2,
        Some(Activation::Sigmoid) => 3,
    }
}

pub struct ActivationOps {
    kernels: Vec<(Activation, Kernel, Kernel)>,
}

impl ActivationOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let mut kernels = Vec::new();
        for (a, name) in [
            (Activation::LeakyRelu, "leaky_relu"),
            (Activation::Tanh, "tanh"),
            (Activation::Sigmoid, "sigmoid"),
        ] {
            let fwd = Kernel::new::<ActParams>(
                ctx,
                &shaders::ACTIVATION,
                &format!("{name}_forward"),
                &[],
            )?;
            let bwd = Kernel::new::<ActParams>(
                ctx,
                &shaders::ACTIVATION,
                &format!("{name}_backward"),
                &[],
            )?;
            kernels.push((a, fwd, bwd));
        }
        Ok(ActivationOps { kernels })
    }

    fn kernels(&self, a: Activation) -> (&Kernel, &Kernel) {
        let (_, f, b) = self
            .kernels
            .iter()
            .find(|(k, _, _)| *k == a)
            .expect("kernel");
        (f, b)
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
            grid_1d((x.len as u32).div_ceil(256)),
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
            grid_1d((dx.len as u32).div_ceil(256)),
        )
    }
}
