//! The quality scores: their arithmetic (no GPU), and the shipped classifier on the GPU: its
//! recorded accuracy, real digits against noise, and `evaluate` on checkpoints and PNGs.

mod common;

use common::*;
use dcgan_wgpu::classifier::{self, ClassifierFile};
use dcgan_wgpu::data::{self, Split};
use dcgan_wgpu::eval;
use dcgan_wgpu::quality::{Gaussian, frechet_distance, score};

fn diagonal(mean: &[f64], var: &[f64]) -> Gaussian {
    let d = mean.len();
    let mut cov = vec![0.0; d * d];
    for i in 0..d {
        cov[i * d + i] = var[i];
    }
    Gaussian {
        mean: mean.to_vec(),
        cov,
    }
}

#[test]
fn frechet_distance_matches_closed_forms() {
    // Diagonal covariances: |mu1 - mu2|^2 + sum (sigma1 - sigma2)^2.
    let a = diagonal(&[0.0, 1.0, 2.0], &[1.0, 4.0, 9.0]);
    let b = diagonal(&[1.0, 1.0, 0.0], &[4.0, 4.0, 1.0]);
    let expected = (1.0 + 0.0 + 4.0) + ((1.0f64 - 2.0).powi(2) + 0.0 + (3.0f64 - 1.0).powi(2));
    assert!((frechet_distance(&a, &b) - expected).abs() < 1e-9);
    assert!(frechet_distance(&a, &a).abs() < 1e-9);
    // A rotated (non-diagonal) covariance against itself, and symmetry.
    let c = Gaussian {
        mean: vec![0.5, -0.5],
        cov: vec![2.0, 1.2, 1.2, 1.5],
    };
    assert!(frechet_distance(&c, &c).abs() < 1e-9);
    let d = Gaussian {
        mean: vec![0.0, 0.0],
        cov: vec![1.0, 0.0, 0.0, 1.0],
    };
    assert!((frechet_distance(&c, &d) - frechet_distance(&d, &c)).abs() < 1e-9);
}

#[test]
fn gaussian_fit_is_the_unbiased_estimate() {
    let features = [1.0f32, 2.0, 3.0, 4.0, 5.0, 9.0];
    let g = Gaussian::fit(&features, 2);
    assert_eq!(g.mean, vec![3.0, 5.0]);
    assert_eq!(g.cov, vec![4.0, 7.0, 7.0, 13.0]);
}

#[test]
fn inception_score_histogram_and_confidence() {
    let reference = diagonal(&[0.0; 2], &[1.0; 2]);
    let features: Vec<f32> = (0..40).map(|i| (i % 7) as f32).collect();
    // Every class equally often, each predicted with certainty: IS 10, entropy log2 10.
    let mut one_hot = vec![0.0f32; 20 * 10];
    for i in 0..20 {
        one_hot[i * 10 + i % 10] = 1.0;
    }
    let s = score(&features, &one_hot, &reference);
    assert!((s.inception_score - 10.0).abs() < 1e-9, "{s:?}");
    assert!((s.class_entropy_bits - 10f64.log2()).abs() < 1e-12);
    assert_eq!(s.class_histogram, [2; 10]);
    assert_eq!(s.confident, 1.0);
    // One class only, and unsure: IS 1, entropy 0, nobody confident.
    let flat: Vec<f32> = (0..20 * 10)
        .map(|i| if i % 10 == 3 { 0.5 } else { 0.5 / 9.0 })
        .collect();
    let s = score(&features, &flat, &reference);
    assert!((s.inception_score - 1.0).abs() < 1e-6);
    assert_eq!(s.class_entropy_bits, 0.0);
    assert_eq!(s.class_histogram[3], 20);
    assert_eq!(s.confident, 0.0);
}

#[test]
fn sample_grids_and_single_digits_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(1600);
    let images: Vec<f32> = random(&mut r, 6 * 784, 1.0).0;
    dcgan_wgpu::output::write_grid(&dir.path().join("grid.png"), &images, 2, 3).unwrap();
    let loaded = eval::load_pngs(&dir.path().join("grid.png")).unwrap();
    assert_eq!(loaded.len(), images.len());
    for (a, b) in loaded.iter().zip(&images) {
        assert!(
            (a - b).abs() <= 1.0 / 127.5 + 1e-6,
            "8-bit quantisation only: {a} vs {b}"
        );
    }
    let single = dir.path().join("one");
    dcgan_wgpu::generate::write_separate(&single, &images[..2 * 784]).unwrap();
    assert_eq!(eval::load_pngs(&single).unwrap().len(), 2 * 784);
    let odd = dir.path().join("odd.png");
    dcgan_wgpu::output::write_gray_png(&odd, 30, 20, &[0; 600]).unwrap();
    let e = eval::load_pngs(&odd).unwrap_err().to_string();
    assert!(
        e.contains("neither a 28x28 digit nor a dcgan-wgpu sample grid"),
        "{e}"
    );
}

fn shipped() -> ClassifierFile {
    ClassifierFile::find(None).expect("the shipped classifier (assets/classifier)")
}

#[test]
fn shipped_classifier_keeps_its_recorded_accuracy() {
    let g = gpu();
    let c = shipped();
    let recorded: f64 = c.metadata[&format!("test_accuracy_first_{}", classifier::SUBSET)]
        .parse()
        .unwrap();
    let stated: f64 = c.metadata["test_accuracy"].parse().unwrap();
    assert!(
        stated >= 0.99,
        "the shipped classifier is stated at {stated}"
    );
    let (test, labels) =
        data::load_split(std::path::Path::new(data::VENDORED_MNIST), Split::Test).unwrap();
    let images = classifier::scaled(&test);
    let scorer = classifier::Scorer::new(&g.ctx, &g.ops, &c.params, 500);
    let (_, probs) = scorer
        .score(&g.ctx, &images[..classifier::SUBSET * 784])
        .unwrap();
    let accuracy = classifier::accuracy(&probs, &labels[..classifier::SUBSET]);
    println!(
        "first {} test digits: {:.2}% (recorded {:.2}%)",
        classifier::SUBSET,
        100.0 * accuracy,
        100.0 * recorded
    );
    // Another adapter may round a borderline digit the other way: allow 2 of 2000.
    assert!((accuracy - recorded).abs() <= 2.0 / classifier::SUBSET as f64 + 1e-9);
}

#[test]
fn real_digits_score_far_better_than_noise() {
    let g = gpu();
    let c = shipped();
    let (test, _) =
        data::load_split(std::path::Path::new(data::VENDORED_MNIST), Split::Test).unwrap();
    let real = &classifier::scaled(&test)[..1000 * 784];
    let real_scores = eval::score_images(&g.ctx, &g.ops, &c, real).unwrap();
    let idx = dcgan_wgpu::random::sample_indices(1, 0, 0, 1000 * 784, 256);
    let noise: Vec<f32> = idx.iter().map(|&v| v as f32 / 127.5 - 1.0).collect();
    let noise_scores = eval::score_images(&g.ctx, &g.ops, &c, &noise).unwrap();
    println!("real: {real_scores:?}\nnoise: {noise_scores:?}");
    assert!(
        real_scores.fid * 20.0 < noise_scores.fid,
        "FID real {} vs noise {}",
        real_scores.fid,
        noise_scores.fid
    );
    assert!(real_scores.inception_score > 8.0 && noise_scores.inception_score < 3.0);
    assert!(real_scores.class_entropy_bits > 3.2);
    assert!(real_scores.confident > 0.9 && noise_scores.confident < real_scores.confident);
}
