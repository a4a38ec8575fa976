//! The wgpu runtime: adapter and device ([`context`]), buffers and readback ([`buffer`]),
//! embedded WGSL sources ([`shaders`]) and compiled kernels with their dispatches ([`kernel`]).

pub mod buffer;
pub mod context;
pub mod kernel;
pub mod params;
pub mod readback;
pub mod shaders;
pub mod timing;

pub use buffer::{GpuSlice, Uniform};
pub use context::{BackendChoice, GpuContext, GpuOptions, SubmissionDone};
pub use kernel::{Bind, Dispatch, Kernel, tag};
pub use params::Params;

/// Everything that can go wrong on the GPU side, each with a message a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found for backend '{backend}'{}. Adapters wgpu can see: {}. \
         On Linux without a GPU, install Mesa's software Vulkan driver (lavapipe): \
         `sudo apt-get install mesa-vulkan-drivers libvulkan1` (Debian/Ubuntu)",
        name.as_ref().map(|n| format!(" whose name contains {n:?}")).unwrap_or_default(),
        if available.is_empty() { "none".to_string() } else { available.join("; ") }
    )]
    NoAdapter {
        backend: BackendChoice,
        name: Option<String>,
        available: Vec<String>,
    },
    #[error("could not open a device on {0}: {1}")]
    RequestDevice(String, String),
    #[error("shader {name}: {message}")]
    Shader { name: String, message: String },
    #[error("GPU error: {0}")]
    Wgpu(String),
    #[error("the GPU device was lost ({0}); the driver reset or the GPU was removed")]
    DeviceLost(String),
    #[error("waiting for the GPU failed: {0}")]
    Poll(String),
    #[error("reading a buffer back from the GPU failed: {0}")]
    Map(String),
    #[error("{0}")]
    Config(String),
}
