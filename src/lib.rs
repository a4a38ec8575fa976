//! dcgan-wgpu's engine: a DCGAN trained on MNIST entirely on the GPU with hand-written WGSL
//! kernels. It holds no platform: it never touches a file, the environment, a signal or a
//! clock, and every wait on the GPU is a future, so the same code runs under the command line
//! (`src/main.rs`, `src/cli/`) and in a browser tab.
//!
//! From the bottom up:
//! - [`config`]: plain descriptions of a run, and [`geometry`]: a convolution layer's shape
//!   (both import nothing of the crate's);
//! - [`gpu`]: the wgpu runtime (adapter, device, buffers, readback ring, kernels);
//! - [`ops`]: one host module per kernel family, owning its pipelines;
//! - [`model`]: the networks as layer lists, their flat parameters, GPU networks;
//! - [`session`]: a training run, advanced by chunks; [`checkpoint`]: its file format;
//! - [`data`] (IDX parsing), [`random`] (Philox on the CPU), [`generate`] (sampling),
//!   [`classifier`], [`quality`] and [`eval`] (scores);
//! - [`reference`]: a plain CPU implementation of every op, used only by the tests.

pub mod checkpoint;
pub mod classifier;
pub mod config;
pub mod data;
pub mod eval;
pub mod generate;
pub mod geometry;
pub mod gpu;
pub mod grid;
pub mod model;
pub mod ops;
pub mod quality;
pub mod random;
pub mod reference;
pub mod session;
