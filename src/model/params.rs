//! The flat parameter layout of a network (llm.c style): every tensor at a fixed offset in one
//! buffer, so Adam is one dispatch and a checkpoint is one copy. Offsets are multiples of 64
//! elements (256 bytes, the largest storage-offset alignment WebGPU allows), so each tensor can
//! be bound on its own and the layout is the same on every adapter.

use rand::SeedableRng;

use super::init;
use super::{Layer, LayerSpec, layer_params};

pub const ALIGN: usize = 64;

/// One tensor of the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `<layer>.<param>`, e.g. `convt1.kernel`, `bn1.moving_mean`.
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
    pub len: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParamLayout {
    pub entries: Vec<Entry>,
    /// Total elements, padding included.
    pub len: usize,
}

impl ParamLayout {
    fn push(&mut self, name: String, shape: Vec<usize>) {
        let len = shape.iter().product();
        self.entries.push(Entry {
            name,
            shape,
            offset: self.len,
            len,
        });
        self.len += len.div_ceil(ALIGN) * ALIGN;
    }

    /// The trainable parameters of the layers, in layer order.
    pub fn trainable(layers: &[LayerSpec]) -> Self {
        let mut l = ParamLayout::default();
        for spec in layers {
            for (suffix, shape) in layer_params(&spec.layer) {
                l.push(format!("{}.{suffix}", spec.name), shape);
            }
        }
        l
    }

    /// The BatchNorm moving statistics.
    pub fn moving_stats(layers: &[LayerSpec]) -> Self {
        let mut l = ParamLayout::default();
        for spec in layers {
            if let Layer::BatchNorm { channels } = spec.layer {
                l.push(format!("{}.moving_mean", spec.name), vec![channels]);
                l.push(format!("{}.moving_variance", spec.name), vec![channels]);
            }
        }
        l
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn entry(&self, name: &str) -> &Entry {
        self.get(name)
            .unwrap_or_else(|| panic!("no tensor {name} in the layout"))
    }

    /// Keras' initial values: glorot-uniform kernels (from `rand`, seeded), embeddings
    /// uniform in [-0.05, 0.05] (Keras' `Embedding` default), zero biases and betas, unit
    /// gammas; moving means 0 and moving variances 1.
    pub fn keras_init(&self, seed: u64) -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut v = vec![0.0; self.len];
        for e in &self.entries {
            let dst = &mut v[e.offset..e.offset + e.len];
            if e.name.ends_with(".kernel") {
                dst.copy_from_slice(&init::glorot_uniform(&e.shape, &mut rng));
            } else if e.name.ends_with(".embeddings") {
                dst.copy_from_slice(&init::embedding_uniform(&e.shape, &mut rng));
            } else if e.name.ends_with(".gamma") || e.name.ends_with(".moving_variance") {
                dst.fill(1.0);
            }
        }
        v
    }

    /// The tensor `name` out of a flat vector.
    pub fn slice<'a>(&self, flat: &'a [f32], name: &str) -> &'a [f32] {
        let e = self.entry(name);
        &flat[e.offset..e.offset + e.len]
    }

    pub fn slice_mut<'a>(&self, flat: &'a mut [f32], name: &str) -> &'a mut [f32] {
        let e = self.entry(name);
        &mut flat[e.offset..e.offset + e.len]
    }
}
