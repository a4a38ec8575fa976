//! The quality scores: their arithmetic (no GPU), and the shipped classifier on the GPU: its
//! recorded accuracy, real digits against noise, and `evaluate` on checkpoints and PNGs.

mod common;

use common::*;
use dcgan_wgpu::classifier::{self, ClassifierFile};
use dcgan_wgpu::data::Split;
use dcgan_wgpu::eval;
use dcgan_wgpu::quality::{Gaussian, frechet_distance, score};
use pollster::FutureExt as _;

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

/// A grid as a tool would draw it: `rows` x `cols` digits (u8) upscaled `scale` times, `pad`
/// pixels of `background` around and between them.
fn draw_grid(
    digits: &[Vec<u8>],
    rows: usize,
    cols: usize,
    scale: usize,
    pad: usize,
    background: u8,
) -> (usize, usize, Vec<u8>) {
    let step = 28 * scale + pad;
    let (w, h) = (cols * step + pad, rows * step + pad);
    let mut px = vec![background; w * h];
    for (n, d) in digits.iter().enumerate() {
        let (x0, y0) = (pad + (n % cols) * step, pad + (n / cols) * step);
        for y in 0..28 * scale {
            for x in 0..28 * scale {
                px[(y0 + y) * w + x0 + x] = d[(y / scale) * 28 + x / scale];
            }
        }
    }
    (w, h, px)
}

/// `evaluate --images` reads this program's grids, torchvision's `save_image` grids (8x8, 2 px
/// of padding: 242x242), plain mosaics (32x32 tiles: 896x896, which is also 16x16 at 2x: the
/// digits tell them apart), a given layout, and refuses what no layout fits.
#[test]
fn grids_from_any_tool_load_back() {
    use dcgan_wgpu::grid;
    let mut r = rng(1600);
    let digits: Vec<Vec<u8>> = (0..1024)
        .map(|_| {
            random(&mut r, 784, 1.0)
                .0
                .iter()
                .map(|v| ((v + 1.0) * 127.5).round() as u8)
                .collect()
        })
        .collect();
    let want = |n: usize| -> Vec<f32> {
        digits[..n]
            .iter()
            .flatten()
            .map(|&v| f32::from(v) / 127.5 - 1.0)
            .collect()
    };
    for (rows, cols, scale, pad, bg) in [
        (2, 3, 3, 2, 128),
        (8, 8, 1, 2, 0),
        (32, 32, 1, 0, 0),
        (4, 4, 2, 4, 255),
    ] {
        let (w, h, px) = draw_grid(&digits[..rows * cols], rows, cols, scale, pad, bg);
        let got = grid::digits(w, h, &px, None, 10_000).unwrap_or_else(|e| panic!("{w}x{h}: {e}"));
        assert_eq!(
            got,
            want(rows * cols),
            "{rows}x{cols} at {scale}x, pad {pad} ({w}x{h})"
        );
        let given = grid::digits(w, h, &px, Some((rows, cols, pad)), 10_000).unwrap();
        assert_eq!(given, got);
    }
    assert_eq!(
        grid::digits(28, 28, &digits[0], None, 10_000).unwrap(),
        want(1)
    );
    let e = grid::digits(30, 20, &[0; 600], None, 10_000)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--grid ROWSxCOLS --pad N"), "{e}");
    let (w, h, px) = draw_grid(&digits[..64], 8, 8, 1, 2, 0);
    let e = grid::digits(w, h, &px, Some((7, 8, 2)), 10_000)
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not 7x8 tiles"), "{e}");
}

fn shipped() -> ClassifierFile {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/classifier/mnist_classifier.safetensors"
    );
    let bytes = std::fs::read(path).expect("the shipped classifier (assets/classifier)");
    ClassifierFile::from_bytes(&bytes, path).unwrap()
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
    let (test, labels) = common::vendored_split(Split::Test);
    let images = classifier::scaled(&test);
    let scorer = classifier::Scorer::new(&g.ctx, &g.ops, &c.params, 500);
    let (_, probs) = scorer
        .score(&g.ctx, &images[..classifier::SUBSET * 784])
        .block_on()
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
    let (test, _) = common::vendored_split(Split::Test);
    let real = &classifier::scaled(&test)[..1000 * 784];
    let real_scores = eval::score_images(&g.ctx, &g.ops, &c, real)
        .block_on()
        .unwrap();
    let idx = dcgan_wgpu::random::sample_indices(1, 0, 0, 1000 * 784, 256);
    let noise: Vec<f32> = idx.iter().map(|&v| v as f32 / 127.5 - 1.0).collect();
    let noise_scores = eval::score_images(&g.ctx, &g.ops, &c, &noise)
        .block_on()
        .unwrap();
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
