//! Checkpoints: everything a run needs to continue bit-identically, in a safetensors file
//! (a documented format that PyTorch, JAX and numpy read: `safetensors.torch.load_file`).
//!
//! Tensors, with Keras' names and layouts (`G.convt1.kernel` is [3, 3, 128, 256]):
//! - `<net>.<layer>.<param>`: the weights of `G` and `D`;
//! - `<net>.<bn layer>.moving_mean` / `.moving_variance`;
//! - `<net>.adam.m.<layer>.<param>`, `<net>.adam.v.<layer>.<param>`: Adam's moments;
//! - `<net>.adam.state` (u32 x 4): step count and the float32 bits of beta1^t, beta2^t, alpha_t;
//! - `sample_noise` [16, z_dim]: the fixed noise of the sample grids.
//!
//! Metadata: `format` = `dcgan-wgpu-checkpoint`, `version`, `iteration` (completed iterations:
//! the random streams continue from there) and `config` (the run's configuration as JSON).
//! Bytes in, bytes out: where the file goes (and that it is replaced atomically) is the shell's.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::config::{Arch, Choice, ConfigError, MAX_ITERATIONS, MAX_Z_DIM, TrainConfig};
use crate::model::{self, ParamLayout};

pub const FORMAT: &str = "dcgan-wgpu-checkpoint";
pub const VERSION: &str = "1";
/// The file name inside the output directory.
pub const FILE_NAME: &str = "checkpoint.safetensors";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path} is not a readable safetensors file (truncated or damaged?): {what}")]
    Unreadable { path: String, what: String },
    #[error("{path} is not a dcgan-wgpu checkpoint: {what}")]
    Foreign { path: String, what: String },
    #[error(
        "checkpoint {path} does not match its configuration ({what}): damaged, or made by another version"
    )]
    Mismatch { path: String, what: String },
    /// A configuration that cannot run, worded with the file's own keys (`z_dim`).
    #[error("checkpoint {path}: its configuration's {}", error.worded(error.setting.key()))]
    Config { path: String, error: ConfigError },
    #[error(
        "checkpoint {path}: {tensor} holds a value that is not a finite number (the run it saved had diverged)"
    )]
    NonFinite { path: String, tensor: String },
}

/// One network's persistent state, in its flat layouts.
#[derive(Clone, Debug, PartialEq)]
pub struct NetState {
    pub params: Vec<f32>,
    pub adam_m: Vec<f32>,
    pub adam_v: Vec<f32>,
    pub adam_state: [u32; 4],
    pub moving: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub config: TrainConfig,
    /// Completed iterations.
    pub iteration: u64,
    pub g: NetState,
    pub d: NetState,
    pub sample_noise: Vec<f32>,
}

fn bytes_of(v: &[f32]) -> &[u8] {
    bytemuck::cast_slice(v)
}

impl Checkpoint {
    /// The layouts of G and D for this checkpoint's configuration.
    fn layouts(config: &TrainConfig) -> [(&'static str, ParamLayout, ParamLayout); 2] {
        let gl = model::generator(config.arch, config.z_dim);
        let dl = model::discriminator(config.arch);
        [
            (
                "G",
                ParamLayout::trainable(&gl),
                ParamLayout::moving_stats(&gl),
            ),
            (
                "D",
                ParamLayout::trainable(&dl),
                ParamLayout::moving_stats(&dl),
            ),
        ]
    }

    /// The largest file a valid checkpoint can be (at the largest z size): what a shell reads at
    /// most before parsing.
    pub fn max_file_bytes() -> u64 {
        let floats = Arch::ALL
            .iter()
            .map(|&arch| {
                let config = TrainConfig {
                    arch,
                    z_dim: MAX_Z_DIM,
                    ..TrainConfig::default()
                };
                Self::layouts(&config)
                    .iter()
                    .map(|(_, params, stats)| 3 * params.len + stats.len + 4)
                    .sum::<usize>()
                    + arch.grid_samples() * MAX_Z_DIM
            })
            .max()
            .unwrap_or(0);
        // The JSON header: names, shapes, offsets and the configuration.
        floats as u64 * 4 + (1 << 20)
    }

    /// The safetensors file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut tensors: Vec<(String, TensorView<'_>)> = Vec::new();
        fn put<'a>(
            tensors: &mut Vec<(String, TensorView<'a>)>,
            name: String,
            shape: Vec<usize>,
            data: &'a [u8],
            dtype: Dtype,
        ) {
            tensors.push((
                name,
                TensorView::new(dtype, shape, data).expect("tensor view"),
            ));
        }
        let layouts = Self::layouts(&self.config);
        let states = [&self.g, &self.d];
        for ((net, layout, stats), state) in layouts.iter().zip(states) {
            for e in &layout.entries {
                let range = e.offset..e.offset + e.len;
                put(
                    &mut tensors,
                    format!("{net}.{}", e.name),
                    e.shape.clone(),
                    bytes_of(&state.params[range.clone()]),
                    Dtype::F32,
                );
                put(
                    &mut tensors,
                    format!("{net}.adam.m.{}", e.name),
                    e.shape.clone(),
                    bytes_of(&state.adam_m[range.clone()]),
                    Dtype::F32,
                );
                put(
                    &mut tensors,
                    format!("{net}.adam.v.{}", e.name),
                    e.shape.clone(),
                    bytes_of(&state.adam_v[range]),
                    Dtype::F32,
                );
            }
            for e in &stats.entries {
                put(
                    &mut tensors,
                    format!("{net}.{}", e.name),
                    e.shape.clone(),
                    bytes_of(&state.moving[e.offset..e.offset + e.len]),
                    Dtype::F32,
                );
            }
            put(
                &mut tensors,
                format!("{net}.adam.state"),
                vec![4],
                bytemuck::cast_slice(&state.adam_state),
                Dtype::U32,
            );
        }
        put(
            &mut tensors,
            "sample_noise".into(),
            vec![self.config.arch.grid_samples(), self.config.z_dim],
            bytes_of(&self.sample_noise),
            Dtype::F32,
        );
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("version".to_string(), VERSION.to_string()),
            ("iteration".to_string(), self.iteration.to_string()),
            (
                "config".to_string(),
                serde_json::to_string(&self.config).expect("config json"),
            ),
        ]);
        // Only tensor views the layouts made (shapes match their data) go in.
        safetensors::tensor::serialize(tensors, Some(metadata)).expect("serialize a checkpoint")
    }

    /// Parses and validates a checkpoint; `name` (a path, a file name) goes into the errors.
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Checkpoint, CheckpointError> {
        let p = || name.to_string();
        let (_, meta) =
            SafeTensors::read_metadata(bytes).map_err(|e| CheckpointError::Unreadable {
                path: p(),
                what: e.to_string(),
            })?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| CheckpointError::Unreadable {
            path: p(),
            what: e.to_string(),
        })?;
        let foreign = |what: &str| CheckpointError::Foreign {
            path: p(),
            what: what.to_string(),
        };
        let info = meta
            .metadata()
            .clone()
            .ok_or_else(|| foreign("no metadata"))?;
        if info.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(foreign(
                "its metadata has no `format: dcgan-wgpu-checkpoint`",
            ));
        }
        if info.get("version").map(String::as_str) != Some(VERSION) {
            return Err(foreign(&format!(
                "unsupported version {:?}",
                info.get("version")
            )));
        }
        let mismatch = |what: String| CheckpointError::Mismatch { path: p(), what };
        let config: TrainConfig =
            serde_json::from_str(info.get("config").ok_or_else(|| foreign("no config"))?)
                .map_err(|e| mismatch(format!("config: {e}")))?;
        // Every size below comes from this configuration: bounded before anything is allocated.
        config
            .validate(None)
            .map_err(|error| CheckpointError::Config { path: p(), error })?;
        let iteration: u64 = info
            .get("iteration")
            .and_then(|s| s.parse().ok())
            .filter(|&i| i <= MAX_ITERATIONS)
            .ok_or_else(|| mismatch("no iteration count of at most 2^32 - 1".into()))?;
        let read =
            |name: &str, shape: &[usize], dtype: Dtype| -> Result<Vec<u8>, CheckpointError> {
                let t = st
                    .tensor(name)
                    .map_err(|_| mismatch(format!("no tensor {name}")))?;
                if t.shape() != shape || t.dtype() != dtype {
                    return Err(mismatch(format!(
                        "{name} is {:?} {:?}, expected {dtype:?} {shape:?}",
                        t.dtype(),
                        t.shape()
                    )));
                }
                // A diverged run's state is refused: resuming or sampling it gives NaN.
                if dtype == Dtype::F32
                    && t.data()
                        .chunks_exact(4)
                        .any(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
                {
                    return Err(CheckpointError::NonFinite {
                        path: p(),
                        tensor: name.to_string(),
                    });
                }
                Ok(t.data().to_vec())
            };
        let f32s = |b: Vec<u8>| -> Vec<f32> { bytemuck::pod_collect_to_vec(&b) };
        let mut states = Vec::new();
        for (net, layout, stats) in Self::layouts(&config) {
            let mut s = NetState {
                params: vec![0.0; layout.len],
                adam_m: vec![0.0; layout.len],
                adam_v: vec![0.0; layout.len],
                adam_state: [0; 4],
                moving: vec![0.0; stats.len],
            };
            for e in &layout.entries {
                let r = e.offset..e.offset + e.len;
                s.params[r.clone()].copy_from_slice(&f32s(read(
                    &format!("{net}.{}", e.name),
                    &e.shape,
                    Dtype::F32,
                )?));
                s.adam_m[r.clone()].copy_from_slice(&f32s(read(
                    &format!("{net}.adam.m.{}", e.name),
                    &e.shape,
                    Dtype::F32,
                )?));
                s.adam_v[r].copy_from_slice(&f32s(read(
                    &format!("{net}.adam.v.{}", e.name),
                    &e.shape,
                    Dtype::F32,
                )?));
            }
            for e in &stats.entries {
                let v = f32s(read(&format!("{net}.{}", e.name), &e.shape, Dtype::F32)?);
                s.moving[e.offset..e.offset + e.len].copy_from_slice(&v);
            }
            let state: Vec<u32> = bytemuck::pod_collect_to_vec(&read(
                &format!("{net}.adam.state"),
                &[4],
                Dtype::U32,
            )?);
            s.adam_state.copy_from_slice(&state);
            states.push(s);
        }
        let sample_noise = f32s(read(
            "sample_noise",
            &[config.arch.grid_samples(), config.z_dim],
            Dtype::F32,
        )?);
        let d = states.pop().expect("D");
        let g = states.pop().expect("G");
        Ok(Checkpoint {
            config,
            iteration,
            g,
            d,
            sample_noise,
        })
    }
}
