//! The other commands: generate, quiet runs and plots, adapters, limits, the classifier,
//! evaluate, scores during training.

use super::*;

fn png_size(path: &Path) -> (u32, u32) {
    let d = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let r = d.read_info().unwrap();
    (r.info().width, r.info().height)
}

#[test]
fn generate_writes_grids_separate_images_and_walks() {
    let dir = tempfile::tempdir().unwrap();
    train(dir.path(), "2", &[]);
    let ckpt = dir.path().join("checkpoint.safetensors");
    let grid = dir.path().join("grid.png");
    ok(&[
        "generate",
        "--checkpoint",
        s(&ckpt),
        "--out",
        s(&grid),
        "--count",
        "6",
        "--seed",
        "1",
    ]);
    // 6 images: 2 rows of 3, each 84 px with 2 px gaps.
    assert_eq!(png_size(&grid), (3 * 84 + 4 * 2, 2 * 84 + 3 * 2));
    let sep = dir.path().join("separate");
    ok(&[
        "generate",
        "--checkpoint",
        s(&ckpt),
        "--out",
        s(&sep),
        "--count",
        "3",
        "--separate",
    ]);
    let files: Vec<PathBuf> = std::fs::read_dir(&sep)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 3);
    assert_eq!(png_size(&sep.join("sample_00000.png")), (28, 28));
    let walk = dir.path().join("walk.png");
    ok(&[
        "generate",
        "--checkpoint",
        s(&ckpt),
        "--out",
        s(&walk),
        "--count",
        "2",
        "--interpolate",
        "--steps",
        "5",
    ]);
    assert_eq!(png_size(&walk), (5 * 84 + 6 * 2, 2 * 84 + 3 * 2));
    // Same seed, same images.
    let again = dir.path().join("again.png");
    ok(&[
        "generate",
        "--checkpoint",
        s(&ckpt),
        "--out",
        s(&again),
        "--count",
        "6",
        "--seed",
        "1",
    ]);
    assert_eq!(
        std::fs::read(&grid).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

#[test]
fn interpolation_walks_the_sphere_between_its_ends() {
    let (a, b) = (
        dcgan_wgpu::generate::latents(1, 1, 100),
        dcgan_wgpu::generate::latents(2, 1, 100),
    );
    let path = dcgan_wgpu::generate::slerp_path(&a, &b, 5);
    assert_eq!(&path[..100], &a[..]);
    for (x, y) in path[400..].iter().zip(&b) {
        assert!((x - y).abs() < 1e-5);
    }
}

#[test]
fn quiet_prints_nothing_and_plots_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "--iterations",
        "3",
        "--batch-size",
        "4",
        "--sample-interval",
        "2",
        "--quiet",
        "--eval-samples",
        "16",
        "--out-dir",
        s(dir.path()),
    ]);
    assert!(o.status.success());
    assert!(o.stdout.is_empty(), "{}", text(&o.stdout));
    assert!(png_size(&dir.path().join("losses.png")).0 > 0);
    assert!(png_size(&dir.path().join("progress.png")).0 > 0);
}

#[test]
fn adapters_are_listed_and_missing_backends_are_errors() {
    let out = ok(&["adapters"]);
    assert!(out.lines().any(|l| l.starts_with("* ")), "{out}");
    // No Metal or DX12 on this Linux machine: a clear error, not a panic.
    fails(
        &["adapters", "--backend", "metal"],
        "no adapter for backend 'metal'",
    );
    fails(
        &["--iterations", "1", "--backend", "dx12"],
        "no GPU adapter found for backend 'dx12'",
    );
    fails(
        &["--iterations", "1", "--adapter", "no-such-gpu"],
        "whose name contains \"no-such-gpu\"",
    );
}

#[test]
fn a_batch_beyond_the_buffer_limits_names_the_limit() {
    fails(
        &["--iterations", "1", "--batch-size", "60000"],
        "max_storage_buffer_binding_size",
    );
}

/// A small MNIST-format data set (the first images of the vendored one) for quick commands.
fn small_mnist(dir: &Path, train: usize, test: usize) {
    use std::io::Write;

    for (split, n) in [
        (dcgan_wgpu::data::Split::Train, train),
        (dcgan_wgpu::data::Split::Test, test),
    ] {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/mnist");
        let [i, l] = split
            .file_names()
            .map(|n| std::fs::read(format!("{root}/{n}.gz")).unwrap());
        let (images, labels) = dcgan_wgpu::data::parse_split((&i, "i"), (&l, "l")).unwrap();
        let prefix = if split == dcgan_wgpu::data::Split::Train {
            "train"
        } else {
            "t10k"
        };
        let mut f = std::fs::File::create(dir.join(format!("{prefix}-images-idx3-ubyte"))).unwrap();
        for w in [0x803u32, n as u32, 28, 28] {
            f.write_all(&w.to_be_bytes()).unwrap();
        }
        f.write_all(&images.pixels[..n * 784]).unwrap();
        let mut f = std::fs::File::create(dir.join(format!("{prefix}-labels-idx1-ubyte"))).unwrap();
        for w in [0x801u32, n as u32] {
            f.write_all(&w.to_be_bytes()).unwrap();
        }
        f.write_all(&labels[..n]).unwrap();
    }
}

#[test]
fn classifier_command_trains_and_writes_weights_and_statistics() {
    let dir = tempfile::tempdir().unwrap();
    small_mnist(dir.path(), 2048, 2048);
    let out = dir.path().join("c.safetensors");
    let printed = ok(&[
        "classifier",
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--data-dir",
        s(dir.path()),
        "--out",
        s(&out),
    ]);
    assert!(
        printed.contains("epoch 1/1") && printed.contains("test accuracy"),
        "{printed}"
    );
    let c = dcgan_wgpu::classifier::ClassifierFile::from_bytes(&std::fs::read(&out).unwrap(), "c")
        .unwrap();
    assert_eq!(c.reference.dim(), 128);
    assert!(c.metadata["command"].starts_with("dcgan-wgpu classifier --epochs 1"));
    let accuracy: f64 = c.metadata["test_accuracy"].parse().unwrap();
    assert!(
        accuracy > 0.5,
        "one epoch of 2048 digits should already beat chance: {accuracy}"
    );
    fails(
        &["evaluate", "--images", s(&out), "--classifier", s(&out)],
        "is not a PNG",
    );
}

#[test]
fn evaluate_scores_checkpoints_and_pngs() {
    let dir = tempfile::tempdir().unwrap();
    train(dir.path(), "2", &[]);
    let ckpt = dir.path().join("checkpoint.safetensors");
    let table = ok(&["evaluate", "--checkpoint", s(&ckpt), "--count", "64"]);
    for line in [
        "samples             64",
        "FID",
        "Inception Score",
        "class entropy",
        "confident",
        "class histogram",
    ] {
        assert!(table.contains(line), "{table}");
    }
    let json = ok(&[
        "evaluate",
        "--images",
        s(&dir.path().join("samples_000002.png")),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["samples"], 16);
    assert!(v["fid"].as_f64().unwrap() > 0.0);
    assert_eq!(
        v["class_histogram"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum::<u64>(),
        16
    );
    fails(
        &["evaluate", "--count", "10"],
        "the following required arguments were not provided",
    );
    fails(
        &["evaluate", "--images", s(&dir.path().join("nothing.png"))],
        "cannot read",
    );
    fails(
        &[
            "evaluate",
            "--checkpoint",
            s(&ckpt),
            "--classifier",
            s(&ckpt),
        ],
        "not a dcgan-wgpu classifier",
    );
}

#[test]
fn training_logs_scores_when_evaluating() {
    let dir = tempfile::tempdir().unwrap();
    let out = train(
        dir.path(),
        "4",
        &["--eval-every", "2", "--eval-samples", "32"],
    );
    assert!(
        out.contains("2 [FID: ") && out.contains("4 [FID: "),
        "{out}"
    );
    let csv = csv(dir.path());
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields.len(), 13, "{row}");
        assert!(fields[8].parse::<f64>().unwrap() > 0.0, "fid in {row}");
        assert_eq!(fields[12], "", "no label accuracy unconditionally: {row}");
    }
}

/// Chapter 8's conditional GAN through every command: the book's batch by default, label
/// accuracy in the report and the log, a row per digit in the training grids, `generate` by
/// digit (rows, folders, walks within a digit) and `evaluate`'s per-digit table.
#[test]
fn conditional_runs_draw_and_score_every_digit() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("book");
    let out = ok(&[
        "--arch",
        "cgan",
        "--iterations",
        "1",
        "--eval-every",
        "0",
        "--out-dir",
        s(&book),
    ]);
    assert!(
        out.contains("training 1 iterations at batch 32 (cgan arch"),
        "{out}"
    );
    let out = train(
        dir.path(),
        "2",
        &[
            "--arch",
            "cgan",
            "--eval-every",
            "2",
            "--eval-samples",
            "20",
        ],
    );
    assert!(
        out.contains("2 [FID: ") && out.contains("label acc.: "),
        "{out}"
    );
    let csv = csv(dir.path());
    let row = csv.lines().nth(1).expect("the evaluated row");
    let accuracy: f64 = row.split(',').nth(12).unwrap().parse().unwrap();
    assert!((0.0..=1.0).contains(&accuracy), "{row}");
    // A row per digit, five samples each.
    let tiles = |rows: u32, cols: u32| (cols * 84 + (cols + 1) * 2, rows * 84 + (rows + 1) * 2);
    assert_eq!(
        png_size(&dir.path().join("samples_000002.png")),
        tiles(10, 5)
    );
    let ckpt = dir.path().join("checkpoint.safetensors");
    let draw = |out: &Path, extra: &[&str]| {
        let args = [
            &["generate", "--checkpoint", s(&ckpt), "--out", s(out)][..],
            extra,
        ]
        .concat();
        ok(&args)
    };
    let every = dir.path().join("every.png");
    draw(&every, &["--count", "3"]);
    assert_eq!(png_size(&every), tiles(10, 3), "every digit by default");
    let sevens = dir.path().join("sevens.png");
    draw(&sevens, &["--digit", "7", "--count", "4"]);
    assert_eq!(png_size(&sevens), tiles(1, 4));
    let walks = dir.path().join("walks.png");
    draw(
        &walks,
        &[
            "--digits",
            "0-1",
            "--count",
            "2",
            "--interpolate",
            "--steps",
            "3",
        ],
    );
    assert_eq!(
        png_size(&walks),
        tiles(4, 3),
        "two walks within each of two digits"
    );
    let folders = dir.path().join("folders");
    let said = draw(&folders, &["--digits", "2,5", "--count", "2", "--separate"]);
    assert!(said.contains("wrote 4 images"), "{said}");
    for digit in ["2", "5"] {
        let files = std::fs::read_dir(folders.join(digit)).unwrap().count();
        assert_eq!(files, 2, "folder {digit}");
    }
    fails(
        &[
            "generate",
            "--checkpoint",
            s(&ckpt),
            "--out",
            s(&every),
            "--digits",
            "3,3",
        ],
        "digit 3 is given twice",
    );
    // Every digit by default: ten times --count, bounded before anything is drawn.
    fails(
        &[
            "generate",
            "--checkpoint",
            s(&ckpt),
            "--out",
            s(&folders),
            "--separate",
            "--count",
            "20000",
        ],
        "200000 images (20000 of each of 10 digits) are more than 100000",
    );
    let table = ok(&["evaluate", "--checkpoint", s(&ckpt), "--count", "40"]);
    for line in ["label accuracy", "| 7 | 4 |", "most common confusions"] {
        assert!(table.contains(line), "{table}");
    }
    let json = ok(&[
        "evaluate",
        "--checkpoint",
        s(&ckpt),
        "--count",
        "40",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["labels"]["asked"][3], 4, "{json}");
    assert_eq!(v["labels"]["fid_per_digit"].as_array().unwrap().len(), 10);
    // The seed's generator is told no digit.
    let plain = dir.path().join("plain");
    train(&plain, "1", &[]);
    fails(
        &[
            "generate",
            "--checkpoint",
            s(&plain.join("checkpoint.safetensors")),
            "--out",
            s(&every),
            "--digit",
            "3",
        ],
        "need a conditional checkpoint",
    );
}

/// Writes an RGB PNG (what torchvision's `save_image` writes).
fn write_rgb_png(path: &Path, w: usize, h: usize, gray: &[u8]) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut enc = png::Encoder::new(file, w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let rgb: Vec<u8> = gray.iter().flat_map(|&v| [v, v, v]).collect();
    enc.write_header().unwrap().write_image_data(&rgb).unwrap();
}

/// `evaluate --images` reads a grid as torchvision's `save_image` writes it (8x8 tiles, 2 px of
/// black padding: 242x242, RGB), detected or given with `--grid 8x8 --pad 2`, with the same
/// scores; a layout that does not fit is a one-line error.
#[test]
fn evaluate_reads_other_tools_grids() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (8 * 30 + 2, 8 * 30 + 2);
    let mut gray = vec![0u8; w * h];
    let mut state = 12345u32;
    for tile in 0..64 {
        let (x0, y0) = (2 + (tile % 8) * 30, 2 + (tile / 8) * 30);
        for y in 0..28 {
            for x in 0..28 {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                gray[(y0 + y) * w + x0 + x] = (state >> 24) as u8;
            }
        }
    }
    let grid = dir.path().join("torchvision_grid.png");
    write_rgb_png(&grid, w, h, &gray);
    let detected = ok(&["evaluate", "--images", s(&grid), "--json"]);
    let given = ok(&[
        "evaluate",
        "--images",
        s(&grid),
        "--grid",
        "8x8",
        "--pad",
        "2",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&detected).unwrap();
    assert_eq!(v["samples"], 64, "{detected}");
    assert_eq!(detected, given);
    fails(
        &[
            "evaluate",
            "--images",
            s(&grid),
            "--grid",
            "7x8",
            "--pad",
            "2",
        ],
        "is not 7x8 tiles",
    );
    let odd = dir.path().join("odd.png");
    write_rgb_png(&odd, 100, 50, &vec![7u8; 100 * 50]);
    let e = fails(
        &["evaluate", "--images", s(&odd)],
        "--grid ROWSxCOLS --pad N",
    );
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
}

/// A first run looks clean: with `RUST_LOG` unset, training, `generate` and `evaluate` print no
/// warning (a warning is for what the user caused).
#[test]
fn default_runs_print_no_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let ckpt = out.join("checkpoint.safetensors");
    let grid = dir.path().join("grid.png");
    let runs: [Vec<&str>; 3] = [
        vec![
            "--iterations",
            "2",
            "--batch-size",
            "4",
            "--sample-interval",
            "1",
            "--eval-samples",
            "10",
            "--out-dir",
            s(&out),
        ],
        vec!["generate", "--checkpoint", s(&ckpt), "--out", s(&grid)],
        vec!["evaluate", "--checkpoint", s(&ckpt), "--count", "20"],
    ];
    for args in runs {
        let o = dcgan().args(&args).env_remove("RUST_LOG").output().unwrap();
        let err = text(&o.stderr);
        assert!(o.status.success(), "{args:?}:\n{err}");
        assert!(!err.contains("WARN"), "{args:?} warned:\n{err}");
    }
}
