//! Scoring generated digits: during training on a fixed set of samples, from a checkpoint, or
//! from PNG files; and the calibration of the scores on known image sets.

use anyhow::{Result, bail};

use crate::classifier::{ClassifierFile, Scorer, scaled};
use crate::config::TrainConfig;
use crate::data::Images;
use crate::gpu::{Dispatch, GpuContext};
use crate::model::{self, BnMode, IMAGE_PIXELS, Network, NetworkParams};
use crate::ops::Ops;
use crate::ops::data::{Draw, Iteration, stream};
use crate::quality::{Gaussian, Scores, frechet_distance, label_scores, score};

/// Images per generator and classifier pass.
pub const CHUNK: usize = 250;

/// Scores a generator during training: a fixed set of latent vectors (so successive scores are
/// comparable), generated and classified on the GPU in chunks; only the classifier's features
/// and probabilities are read back. The latent vectors are drawn per chunk, so the chunk size
/// is part of the set's definition (the command line's is [`CHUNK`]).
pub struct Evaluator {
    chunks: Vec<Vec<Dispatch>>,
    /// A conditional G's label of each row of a chunk (the same every chunk).
    asked: Option<Vec<u32>>,
    scorer: Scorer,
    reference: Gaussian,
    samples: usize,
}

/// An evaluation under way, a chunk at a time ([`Evaluator::step`]), so a shell can stop
/// between chunks and go on later.
#[derive(Default)]
pub struct Scoring {
    next: usize,
    features: Vec<f32>,
    probs: Vec<f32>,
}

impl Scoring {
    /// Chunks done.
    pub fn done(&self) -> usize {
        self.next
    }
}

impl Evaluator {
    /// `g` is the training run's generator (its parameters are read at every evaluation),
    /// `config` its run's (the network and the seed the samples are drawn from).
    pub fn new(
        ctx: &GpuContext,
        ops: &Ops,
        g: &NetworkParams,
        config: &TrainConfig,
        classifier: &ClassifierFile,
        samples: usize,
        chunk: usize,
    ) -> Evaluator {
        let (arch, z_dim, seed) = (config.arch, config.z_dim, config.seed);
        let layers = model::generator(arch, z_dim);
        let batch = samples.min(chunk).max(1);
        let net = Network::new(ctx, "G", &layers, batch);
        // A conditional G is asked for every digit in turn.
        let asked = net.labels.as_ref().map(|l| {
            let asked: Vec<u32> = (0..batch).map(|r| (r % model::DIGITS) as u32).collect();
            ctx.write(l, &asked);
            asked
        });
        let z = ctx.storage("evaluation noise", batch * z_dim);
        let scorer = Scorer::on(ctx, ops, &classifier.params, net.output().clone());
        let forward = net.forward(&ops.recorder(ctx), g, &z, BnMode::Inference);
        let chunks = (0..samples.div_ceil(batch))
            .map(|k| {
                let mut d = vec![ops.data.normal_noise(
                    ctx,
                    Draw::new(seed, stream::EVAL_NOISE, Iteration::Fixed(k as u32)),
                    &z,
                )];
                d.extend(forward.iter().cloned());
                d.extend(scorer.pass().iter().cloned());
                d
            })
            .collect();
        Evaluator {
            chunks,
            asked,
            scorer,
            reference: classifier.reference.clone(),
            samples,
        }
    }

    /// Chunks of an evaluation.
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Scores G as it is now, all chunks at once.
    pub async fn evaluate(&self, ctx: &GpuContext) -> Result<Scores> {
        let mut scoring = Scoring::default();
        loop {
            if let Some(scores) = self.step(ctx, &mut scoring).await? {
                return Ok(scores);
            }
        }
    }

    /// Runs the next chunk of `scoring`; resolves to the scores after the last.
    pub async fn step(&self, ctx: &GpuContext, s: &mut Scoring) -> Result<Option<Scores>> {
        let k = s.next;
        if let Some(chunk) = self.chunks.get(k) {
            ctx.run(chunk).await?;
            let (f, p) = self.scorer.read(ctx).await?;
            let rows = (self.samples - k * self.scorer.batch).min(self.scorer.batch);
            s.features
                .extend_from_slice(&f[..rows * model::CLASSIFIER_FEATURES]);
            s.probs.extend_from_slice(&p[..rows * 10]);
            s.next += 1;
        }
        Ok((s.next == self.chunks.len()).then(|| {
            let mut scores = score(&s.features, &s.probs, &self.reference);
            scores.labels = self.asked.as_ref().map(|asked| {
                let asked: Vec<u32> = asked.iter().copied().cycle().take(self.samples).collect();
                label_scores(&s.probs, &asked)
            });
            scores
        }))
    }
}

/// Scores images ([n, 784] in [-1, 1]) against the classifier's MNIST test statistics.
pub async fn score_images(
    ctx: &GpuContext,
    ops: &Ops,
    classifier: &ClassifierFile,
    images: &[f32],
) -> Result<Scores> {
    if images.len() < 2 * IMAGE_PIXELS {
        bail!("need at least 2 images to score (FID needs a covariance)");
    }
    let scorer = Scorer::new(ctx, ops, &classifier.params, CHUNK);
    let (features, probs) = scorer.score(ctx, images).await?;
    Ok(score(&features, &probs, &classifier.reference))
}

/// Scores a conditional generator's images, each drawn for the digit in `asked`: the scores
/// of [`score_images`], the label accuracy, and FID per digit against the `test` digits of
/// that class.
pub async fn score_conditional(
    ctx: &GpuContext,
    ops: &Ops,
    classifier: &ClassifierFile,
    images: &[f32],
    asked: &[u32],
    (test, test_labels): (&Images, &[u8]),
) -> Result<Scores> {
    if images.len() < 2 * IMAGE_PIXELS {
        bail!("need at least 2 images to score (FID needs a covariance)");
    }
    let scorer = Scorer::new(ctx, ops, &classifier.params, CHUNK);
    let (features, probs) = scorer.score(ctx, images).await?;
    let mut scores = score(&features, &probs, &classifier.reference);
    let mut labels = label_scores(&probs, asked);
    let (test_features, _) = scorer.score(ctx, &scaled(test)).await?;
    let d = model::CLASSIFIER_FEATURES;
    // The feature rows whose class is `digit`.
    let rows_of = |features: &[f32], classes: &[u32], digit: u32| -> Vec<f32> {
        features
            .chunks(d)
            .zip(classes)
            .filter(|&(_, &c)| c == digit)
            .flat_map(|(row, _)| row.iter().copied())
            .collect()
    };
    let test_classes: Vec<u32> = test_labels.iter().map(|&l| u32::from(l)).collect();
    labels.fid_per_digit = Some(std::array::from_fn(|digit| {
        let digit = digit as u32;
        let (ours, real) = (
            rows_of(&features, asked, digit),
            rows_of(&test_features, &test_classes, digit),
        );
        // A covariance needs two rows.
        if ours.len() < 2 * d || real.len() < 2 * d {
            return f64::NAN;
        }
        frechet_distance(&Gaussian::fit(&ours, d), &Gaussian::fit(&real, d))
    }));
    scores.labels = Some(labels);
    Ok(scores)
}

/// One row of the calibration table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Calibration {
    pub set: String,
    pub scores: Scores,
}

/// A 3x3 box blur of 28x28 images in [-1, 1] (the border repeats).
pub fn blur(images: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; images.len()];
    for (img, dst) in images
        .chunks(IMAGE_PIXELS)
        .zip(out.chunks_mut(IMAGE_PIXELS))
    {
        for y in 0..28i32 {
            for x in 0..28i32 {
                let mut s = 0.0;
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        let (yy, xx) = ((y + dy).clamp(0, 27), (x + dx).clamp(0, 27));
                        s += img[(yy * 28 + xx) as usize];
                    }
                }
                dst[(y * 28 + x) as usize] = s / 9.0;
            }
        }
    }
    out
}

/// The scores of known image sets, so a reader knows what a number means: real MNIST test
/// digits (one half scored against the other half's statistics, and against the whole test
/// set), training digits, blurred digits, a two-class subset, and uniform noise.
pub async fn calibrate(
    ctx: &GpuContext,
    ops: &Ops,
    classifier: &ClassifierFile,
    (train, _): (&Images, &[u8]),
    (test, test_labels): (&Images, &[u8]),
    count: usize,
) -> Result<Vec<Calibration>> {
    let scorer = Scorer::new(ctx, ops, &classifier.params, CHUNK);
    let test_scaled = scaled(test);
    let half = test.count / 2;
    let (fa, pa) = scorer
        .score(ctx, &test_scaled[..half * IMAGE_PIXELS])
        .await?;
    let (fb, _) = scorer
        .score(ctx, &test_scaled[half * IMAGE_PIXELS..])
        .await?;
    let d = model::CLASSIFIER_FEATURES;
    let mut halves = score(&fa, &pa, &Gaussian::fit(&fb, d));
    halves.fid = frechet_distance(&Gaussian::fit(&fa, d), &Gaussian::fit(&fb, d));
    let mut rows = vec![Calibration {
        set: format!("MNIST test, first {half} vs last {half}"),
        scores: halves,
    }];
    let two: Vec<f32> = test_labels
        .iter()
        .enumerate()
        .filter(|&(_, &l)| l <= 1)
        .take(count)
        .flat_map(|(i, _)| test_scaled[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS].to_vec())
        .collect();
    let noise: Vec<f32> = crate::random::normals(7, 0, 9, count * IMAGE_PIXELS)
        .into_iter()
        .map(|v| ((v * 0.5).tanh()) as f32)
        .collect();
    let uniform: Vec<f32> = {
        let idx = crate::random::sample_indices(7, 0, 10, count * IMAGE_PIXELS, 256);
        idx.iter().map(|&v| v as f32 / 127.5 - 1.0).collect()
    };
    let sets: [(String, Vec<f32>); 6] = [
        (
            format!("MNIST test, first {count}"),
            test_scaled[..count * IMAGE_PIXELS].to_vec(),
        ),
        (
            format!("MNIST training, first {count}"),
            scaled(train)[..count * IMAGE_PIXELS].to_vec(),
        ),
        (
            format!("MNIST test, first {count}, 3x3 box blur"),
            blur(&test_scaled[..count * IMAGE_PIXELS]),
        ),
        (format!("MNIST test, {count} zeros and ones"), two),
        (format!("uniform noise, {count} images"), uniform),
        (
            format!("Gaussian noise through tanh, {count} images"),
            noise,
        ),
    ];
    for (set, images) in sets {
        let (f, p) = scorer.score(ctx, &images).await?;
        rows.push(Calibration {
            set,
            scores: score(&f, &p, &classifier.reference),
        });
    }
    Ok(rows)
}
