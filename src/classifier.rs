//! The project's own MNIST classifier, trained on the GPU with the same kernels as the GAN plus
//! softmax cross-entropy, and used to score generated digits (`quality.rs`).
//!
//! Shipped in `assets/classifier/mnist_classifier.safetensors`: the weights (Keras layouts,
//! named as `model::classifier`'s layers), the MNIST test set's feature statistics for FID
//! (`reference.mean`, `reference.cov`, float64) and, in the metadata, the command that made it
//! and its accuracies.

use std::collections::HashMap;

use anyhow::Result;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::config::{ConfigError, Problem, Setting};
use crate::data::Images;
use crate::gpu::{Dispatch, GpuContext, GpuSlice, tag};
use crate::model::{
    self, BnMode, CLASSIFIER_FEATURES, CLASSIFIER_FEATURES_LAYER, IMAGE_PIXELS, Network,
    NetworkParams, ParamLayout,
};
use crate::model::{Gradients, InputGrad, Upstream};
use crate::ops::Ops;
use crate::ops::adam::AdamConfig;
use crate::ops::data::{Draw, Iteration, stream};
use crate::quality::Gaussian;

/// The shipped classifier, relative to the repository (shells decide where to look).
pub const SHIPPED: &str = "assets/classifier/mnist_classifier.safetensors";
/// The test-set prefix whose accuracy is recorded for the shipped-weights test.
pub const SUBSET: usize = 2000;
const CLASSES: usize = 10;

#[derive(Clone, Debug)]
pub struct ClassifierConfig {
    pub epochs: u32,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

/// Weights, reference statistics and provenance.
#[derive(Clone, Debug)]
pub struct ClassifierFile {
    pub params: Vec<f32>,
    pub reference: Gaussian,
    pub metadata: HashMap<String, String>,
}

/// The images as the networks see them: [n, 28*28] in [-1, 1], like the GAN's real batches.
pub fn scaled(images: &Images) -> Vec<f32> {
    images
        .pixels
        .iter()
        .map(|&v| (f64::from(v) / 127.5 - 1.0) as f32)
        .collect()
}

/// Runs the classifier forward on batches of images, returning features and probabilities.
pub struct Scorer {
    pub batch: usize,
    params: NetworkParams,
    net: Network,
    input: GpuSlice,
    probs: GpuSlice,
    pass: Vec<Dispatch>,
}

impl Scorer {
    /// A scorer reading its own input buffer (filled by `score`).
    pub fn new(ctx: &GpuContext, ops: &Ops, params: &[f32], batch: usize) -> Scorer {
        let input = ctx.storage("classifier input", batch * IMAGE_PIXELS);
        Scorer::on(ctx, ops, params, input)
    }

    /// A scorer whose input is an existing GPU buffer of images (e.g. a generator's output).
    pub fn on(ctx: &GpuContext, ops: &Ops, params: &[f32], input: GpuSlice) -> Scorer {
        let layers = model::classifier();
        let batch = input.len / IMAGE_PIXELS;
        let params = NetworkParams::new(ctx, &layers, params, &[]);
        let net = Network::new(ctx, "C", &layers, batch);
        let probs = ctx.storage("classifier probabilities", batch * CLASSES);
        let mut pass = net.forward(&ops.recorder(ctx), &params, &input, BnMode::Inference);
        pass.extend(tag(
            vec![
                ops.softmax
                    .probabilities(ctx, CLASSES, net.output(), &probs),
            ],
            "C.softmax",
        ));
        Scorer {
            batch,
            params,
            net,
            input,
            probs,
            pass,
        }
    }

    /// The dispatches of one batch (input -> features, probabilities).
    pub fn pass(&self) -> &[Dispatch] {
        &self.pass
    }

    /// Reads the last batch's (features, probabilities).
    pub async fn read(&self, ctx: &GpuContext) -> Result<(Vec<f32>, Vec<f32>)> {
        let [f, p] = ctx
            .read_many::<f32>(&[&self.net.acts[CLASSIFIER_FEATURES_LAYER], &self.probs])
            .await?
            .try_into()
            .expect("two buffers");
        Ok((f, p))
    }

    /// Features (n x 128) and probabilities (n x 10) of images ([n, 784] in [-1, 1]).
    pub async fn score(&self, ctx: &GpuContext, images: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
        let n = images.len() / IMAGE_PIXELS;
        let (mut features, mut probs) = (
            Vec::with_capacity(n * CLASSIFIER_FEATURES),
            Vec::with_capacity(n * CLASSES),
        );
        for chunk in images.chunks(self.batch * IMAGE_PIXELS) {
            let rows = chunk.len() / IMAGE_PIXELS;
            let mut padded = chunk.to_vec();
            padded.resize(self.batch * IMAGE_PIXELS, 0.0);
            ctx.write(&self.input, &padded);
            ctx.run(&self.pass).await?;
            let (f, p) = self.read(ctx).await?;
            features.extend_from_slice(&f[..rows * CLASSIFIER_FEATURES]);
            probs.extend_from_slice(&p[..rows * CLASSES]);
        }
        Ok((features, probs))
    }

    pub fn params(&self) -> &NetworkParams {
        &self.params
    }
}

/// The index of the largest probability of each row (the first on ties).
pub fn predictions(probs: &[f32]) -> Vec<u8> {
    probs
        .chunks(CLASSES)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(0, |b, (c, &p)| if p > row[b] { c } else { b }) as u8
        })
        .collect()
}

pub fn accuracy(probs: &[f32], labels: &[u8]) -> f64 {
    let hits = predictions(probs)
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    hits as f64 / labels.len() as f64
}

/// Trains the classifier; `epoch_done(epoch, last batch loss, last batch accuracy, test
/// accuracy)` after each epoch. Returns the weights and the test accuracy.
pub async fn train(
    ctx: &GpuContext,
    ops: &Ops,
    (train_images, train_labels): (&Images, &[u8]),
    (test_images, test_labels): (&Images, &[u8]),
    config: &ClassifierConfig,
    mut epoch_done: impl FnMut(u32, f32, f32, f64),
) -> Result<(Vec<f32>, f64)> {
    let layers = model::classifier();
    let layout = ParamLayout::trainable(&layers);
    let b = config.batch_size;
    if b == 0 || b > train_images.count {
        return Err(ConfigError::new(
            Setting::BatchSize,
            b,
            if b == 0 {
                Problem::BelowMin(1)
            } else {
                Problem::MoreThanImages(train_images.count)
            },
        )
        .into());
    }
    // The cross-entropy kernel indexes a row by its label (and clamps it too).
    if let Some(bad) = train_labels.iter().find(|&&l| usize::from(l) >= CLASSES) {
        anyhow::bail!("label {bad} is not one of the {CLASSES} classes");
    }
    let params = NetworkParams::new(ctx, &layers, &layout.keras_init(config.seed), &[]);
    let net = Network::new(ctx, "C", &layers, b);
    let images = ctx.storage_init("classifier images", &train_images.packed_words());
    let labels: Vec<u32> = train_labels.iter().map(|&l| u32::from(l)).collect();
    let labels = ctx.storage_init("classifier labels", &labels);
    let (indices, x, y) = (
        ctx.storage("indices", b),
        ctx.storage("x", b * IMAGE_PIXELS),
        ctx.storage("y", b),
    );
    let (dlogits, metrics, counter) = (
        ctx.storage("dlogits", b * CLASSES),
        ctx.storage("metrics", 2),
        ctx.storage("counter", 1),
    );
    let it = Iteration::Counter(&counter);
    // The step, with the learning rate of the first epochs and the last tenth's (lr / 10).
    let step = |lr: f64| -> Vec<Dispatch> {
        let mut d = vec![
            ops.data.sample_indices(
                ctx,
                Draw::new(config.seed, stream::CLASSIFIER_INDICES, it),
                train_images.count,
                &indices,
            ),
            ops.data
                .gather_images(ctx, IMAGE_PIXELS, &images, &indices, &x),
            ops.data.gather_labels(ctx, &labels, &indices, &y),
        ];
        d.extend(net.forward(&ops.recorder(ctx), &params, &x, BnMode::Inference));
        d.extend(
            ops.softmax
                .cross_entropy(ctx, net.output(), &y, &dlogits, &metrics, 0),
        );
        d.extend(net.backward(
            &ops.recorder(ctx),
            &params,
            &x,
            Upstream::Output(&dlogits),
            Gradients::Weights,
            InputGrad::None,
        ));
        let adam = AdamConfig {
            learning_rate: lr,
            ..AdamConfig::default()
        };
        d.extend(params.adam_step(&ops.recorder(ctx), &adam));
        d.push(ops.data.advance_iteration(ctx, &counter));
        d
    };
    let (fast, slow) = ops
        .record_tuned(ctx, || {
            (
                step(config.learning_rate),
                step(config.learning_rate / 10.0),
            )
        })
        .await;
    let steps_per_epoch = train_images.count.div_ceil(b);
    let test = scaled(test_images);
    let scorer = Scorer::new(ctx, ops, &layout.keras_init(0), 500);
    let mut test_accuracy = 0.0;
    for epoch in 1..=config.epochs {
        let step = if epoch * 10 > config.epochs * 9 && config.epochs > 1 {
            &slow
        } else {
            &fast
        };
        let mut left = steps_per_epoch;
        while left > 0 {
            let n = left.min(16);
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                for _ in 0..n {
                    for d in step {
                        d.record(&mut pass);
                    }
                }
            }
            ctx.queue.submit([encoder.finish()]);
            ctx.finished().await?;
            left -= n;
        }
        let m: Vec<f32> = ctx.read(&metrics).await?;
        ctx.write(
            &scorer.params().params,
            &ctx.read::<f32>(&params.params).await?,
        );
        let (_, probs) = scorer.score(ctx, &test).await?;
        test_accuracy = accuracy(&probs, test_labels);
        epoch_done(epoch, m[0], m[1], test_accuracy);
    }
    Ok((ctx.read(&params.params).await?, test_accuracy))
}

impl ClassifierFile {
    /// The safetensors bytes of the file.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let layers = model::classifier();
        let layout = ParamLayout::trainable(&layers);
        let d = self.reference.dim();
        let mut tensors: Vec<(String, TensorView<'_>)> = Vec::new();
        for e in &layout.entries {
            let bytes: &[u8] = bytemuck::cast_slice(&self.params[e.offset..e.offset + e.len]);
            tensors.push((
                e.name.clone(),
                TensorView::new(Dtype::F32, e.shape.clone(), bytes)?,
            ));
        }
        tensors.push((
            "reference.mean".into(),
            TensorView::new(
                Dtype::F64,
                vec![d],
                bytemuck::cast_slice(&self.reference.mean),
            )?,
        ));
        tensors.push((
            "reference.cov".into(),
            TensorView::new(
                Dtype::F64,
                vec![d, d],
                bytemuck::cast_slice(&self.reference.cov),
            )?,
        ));
        Ok(safetensors::tensor::serialize(
            tensors,
            Some(self.metadata.clone()),
        )?)
    }

    /// Parses a classifier file; `name` (its path, for a shell) goes into the errors.
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<ClassifierFile> {
        let bad = |what: String| anyhow::anyhow!("{name} is not a dcgan-wgpu classifier: {what}");
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let layout = ParamLayout::trainable(&model::classifier());
        let mut params = vec![0.0f32; layout.len];
        for e in &layout.entries {
            let t = st
                .tensor(&e.name)
                .map_err(|_| bad(format!("no tensor {}", e.name)))?;
            if t.shape() != e.shape.as_slice() || t.dtype() != Dtype::F32 {
                return Err(bad(format!("{} has shape {:?}", e.name, t.shape())));
            }
            params[e.offset..e.offset + e.len]
                .copy_from_slice(&bytemuck::pod_collect_to_vec::<u8, f32>(t.data()));
        }
        let f64s = |name: &str, shape: &[usize]| -> Result<Vec<f64>> {
            let t = st
                .tensor(name)
                .map_err(|_| bad(format!("no tensor {name}")))?;
            if t.shape() != shape || t.dtype() != Dtype::F64 {
                return Err(bad(format!("{name} has shape {:?}", t.shape())));
            }
            Ok(bytemuck::pod_collect_to_vec(t.data()))
        };
        let d = CLASSIFIER_FEATURES;
        let reference = Gaussian {
            mean: f64s("reference.mean", &[d])?,
            cov: f64s("reference.cov", &[d, d])?,
        };
        if !(params.iter().all(|v| v.is_finite())
            && reference
                .mean
                .iter()
                .chain(&reference.cov)
                .all(|v| v.is_finite()))
        {
            return Err(bad("it holds values that are not finite numbers".into()));
        }
        Ok(ClassifierFile {
            params,
            reference,
            metadata: meta.metadata().clone().unwrap_or_default(),
        })
    }
}
