//! dcgan-wgpu: a DCGAN trained on MNIST entirely on the GPU with hand-written WGSL kernels.
//!
//! - [`gpu`]: the wgpu runtime (adapter, device, buffers, readback, kernels).
//! - [`ops`]: one host module per kernel family, owning its pipelines.
//! - [`reference`]: a plain CPU implementation of every op, the yardstick of the tests.

pub mod bench;
pub mod checkpoint;
pub mod classifier;
pub mod config;
pub mod data;
pub mod eval;
pub mod generate;
pub mod gpu;
pub mod model;
pub mod ops;
pub mod output;
pub mod plot;
pub mod quality;
pub mod random;
pub mod reference;
pub mod train;
