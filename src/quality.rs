//! How good generated digits are, measured with the project's own MNIST classifier
//! (`classifier.rs`): FID on its 128-d penultimate features against the MNIST test set, the
//! classifier-based Inception Score, the class histogram and its entropy (mode collapse shows
//! there), and the share of samples the classifier is at least 90% sure of.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::Serialize;

/// Mean and covariance of a set of feature vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct Gaussian {
    pub mean: Vec<f64>,
    /// Row-major d x d, the unbiased (n - 1) estimate.
    pub cov: Vec<f64>,
}

impl Gaussian {
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Fits `features` (n rows of d).
    pub fn fit(features: &[f32], d: usize) -> Gaussian {
        let n = features.len() / d;
        assert!(n >= 2, "need at least two feature vectors");
        let mut mean = vec![0.0; d];
        for row in features.chunks(d) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        for m in &mut mean {
            *m /= n as f64;
        }
        let mut cov = vec![0.0; d * d];
        let mut centred = vec![0.0; d];
        for row in features.chunks(d) {
            for (c, (&v, m)) in centred.iter_mut().zip(row.iter().zip(&mean)) {
                *c = f64::from(v) - m;
            }
            for i in 0..d {
                let ci = centred[i];
                for j in i..d {
                    cov[i * d + j] += ci * centred[j];
                }
            }
        }
        for i in 0..d {
            for j in i..d {
                let v = cov[i * d + j] / (n - 1) as f64;
                cov[i * d + j] = v;
                cov[j * d + i] = v;
            }
        }
        Gaussian { mean, cov }
    }
}

fn eigenvalues(m: DMatrix<f64>) -> DVector<f64> {
    SymmetricEigen::new(m).eigenvalues
}

/// The symmetric PSD square root through the eigendecomposition (negative rounding-noise
/// eigenvalues clamped to 0).
fn sqrt_psd(m: DMatrix<f64>) -> DMatrix<f64> {
    let e = SymmetricEigen::new(m);
    let roots = e.eigenvalues.map(|v| v.max(0.0).sqrt());
    &e.eigenvectors * DMatrix::from_diagonal(&roots) * e.eigenvectors.transpose()
}

/// Fréchet distance between two Gaussians:
/// |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), with tr (S1 S2)^(1/2) computed as the sum of
/// square roots of the eigenvalues of the symmetric S1^(1/2) S2 S1^(1/2).
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> f64 {
    let d = a.dim();
    assert_eq!(d, b.dim());
    let s1 = DMatrix::from_row_slice(d, d, &a.cov);
    let s2 = DMatrix::from_row_slice(d, d, &b.cov);
    let r1 = sqrt_psd(s1.clone());
    let mut m = &r1 * &s2 * &r1;
    // Symmetrise away the products' rounding before the symmetric eigensolver.
    m = (&m + m.transpose()) * 0.5;
    let tr_sqrt: f64 = eigenvalues(m).iter().map(|v| v.max(0.0).sqrt()).sum();
    let diff: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    (diff + s1.trace() + s2.trace() - 2.0 * tr_sqrt).max(0.0)
}

/// The quality figures of a set of samples.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scores {
    pub samples: usize,
    /// Fréchet distance of the classifier features to the MNIST test set's (lower is better).
    pub fid: f64,
    /// exp(E KL(p(y|x) || p(y))), between 1 and 10 (higher is better).
    pub inception_score: f64,
    /// How many samples the classifier assigns to each digit.
    pub class_histogram: [usize; 10],
    /// Entropy of that histogram in bits (log2 10 = 3.32 when every digit is equally common).
    pub class_entropy_bits: f64,
    /// Share of samples whose top class has probability >= 0.9.
    pub confident: f64,
    /// A conditional generator's: how often the classifier sees the digit asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<LabelScores>,
}

/// How well a conditional generator draws the digit it is asked for, as the classifier sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelScores {
    /// Share of samples whose top class is the digit asked for.
    pub accuracy: f64,
    /// The same per digit asked for (NaN where none was asked).
    pub per_digit: [f64; 10],
    /// Samples asked for each digit.
    pub asked: [usize; 10],
    /// The most common disagreements, most common first (at most [`CONFUSIONS`]).
    pub confusions: Vec<Confusion>,
    /// FID of each digit's samples against the MNIST test digits of that class (where the
    /// test set was at hand: `evaluate`, not the scores during training; NaN below 2 samples).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fid_per_digit: Option<[f64; 10]>,
}

/// Samples asked to be `asked` that the classifier took for `seen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Confusion {
    pub asked: usize,
    pub seen: usize,
    pub count: usize,
}

/// Confusions a [`LabelScores`] lists.
pub const CONFUSIONS: usize = 5;

/// The classifier's top class of each row of `probs` (n x 10).
fn top_classes(probs: &[f32]) -> impl Iterator<Item = (usize, f32)> + '_ {
    probs.chunks(10).map(|row| {
        row.iter()
            .enumerate()
            .fold((0, f32::MIN), |b, (c, &p)| if p > b.1 { (c, p) } else { b })
    })
}

/// Label accuracy of samples drawn for `asked` (one digit per row of `probs`).
pub fn label_scores(probs: &[f32], asked: &[u32]) -> LabelScores {
    assert_eq!(probs.len(), asked.len() * 10);
    let mut matrix = [[0usize; 10]; 10];
    for ((seen, _), &a) in top_classes(probs).zip(asked) {
        matrix[a as usize][seen] += 1;
    }
    let asked_count: [usize; 10] = std::array::from_fn(|a| matrix[a].iter().sum());
    let right: usize = (0..10).map(|a| matrix[a][a]).sum();
    let per_digit = std::array::from_fn(|a| match asked_count[a] {
        0 => f64::NAN,
        n => matrix[a][a] as f64 / n as f64,
    });
    let mut confusions: Vec<Confusion> = (0..10)
        .flat_map(|a| (0..10).map(move |s| (a, s)))
        .filter(|&(a, s)| a != s && matrix[a][s] > 0)
        .map(|(asked, seen)| Confusion {
            asked,
            seen,
            count: matrix[asked][seen],
        })
        .collect();
    // Most common first; ties in (asked, seen) order, so the list is deterministic.
    confusions.sort_by_key(|c| std::cmp::Reverse(c.count));
    confusions.truncate(CONFUSIONS);
    LabelScores {
        accuracy: right as f64 / asked.len().max(1) as f64,
        per_digit,
        asked: asked_count,
        confusions,
        fid_per_digit: None,
    }
}

/// Scores samples from their classifier features (n x 128) and class probabilities (n x 10).
pub fn score(features: &[f32], probs: &[f32], reference: &Gaussian) -> Scores {
    let n = probs.len() / 10;
    let fid = frechet_distance(&Gaussian::fit(features, reference.dim()), reference);
    let mut marginal = [0.0f64; 10];
    for row in probs.chunks(10) {
        for (m, &p) in marginal.iter_mut().zip(row) {
            *m += f64::from(p) / n as f64;
        }
    }
    let mut kl = 0.0;
    let mut histogram = [0usize; 10];
    let mut confident = 0;
    for (row, (best, top)) in probs.chunks(10).zip(top_classes(probs)) {
        for (c, &p) in row.iter().enumerate() {
            let p = f64::from(p);
            if p > 0.0 {
                kl += p * (p.ln() - marginal[c].max(1e-300).ln());
            }
        }
        histogram[best] += 1;
        if top >= 0.9 {
            confident += 1;
        }
    }
    let entropy: f64 = histogram
        .iter()
        .filter(|&&h| h > 0)
        .map(|&h| {
            let q = h as f64 / n as f64;
            q * (1.0 / q).log2()
        })
        .sum();
    Scores {
        samples: n,
        fid,
        inception_score: (kl / n as f64).exp(),
        class_histogram: histogram,
        class_entropy_bits: entropy,
        confident: confident as f64 / n as f64,
        labels: None,
    }
}
