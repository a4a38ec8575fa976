//! The tool around training: checkpoints and resume, Ctrl-C, generate, plots, adapters, and
//! the error cases of the command line that involve the GPU or a checkpoint.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn load(path: &Path) -> dcgan_wgpu::checkpoint::Checkpoint {
    let bytes = std::fs::read(path).unwrap();
    dcgan_wgpu::checkpoint::Checkpoint::from_bytes(&bytes, "checkpoint").unwrap()
}

fn dcgan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dcgan-wgpu"));
    // Keep the kernel tuning cache out of the user's home.
    c.env(
        "DCGAN_WGPU_CACHE_DIR",
        std::env::temp_dir().join("dcgan-wgpu-test-cache"),
    );
    c
}

fn run(args: &[&str]) -> Output {
    dcgan().args(args).output().expect("run dcgan-wgpu")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed:\n{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

fn fails(args: &[&str], needle: &str) -> String {
    let o = run(args);
    let err = text(&o.stderr);
    assert!(
        !o.status.success(),
        "{args:?} should fail:\n{}",
        text(&o.stdout)
    );
    assert!(
        err.contains(needle),
        "{args:?}: stderr lacks {needle:?}:\n{err}"
    );
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn train(out: &Path, iterations: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "--iterations",
        iterations,
        "--batch-size",
        "4",
        "--sample-interval",
        "2",
        "--seed",
        "3",
        "--out-dir",
        s(out),
    ];
    if !extra.contains(&"--eval-every") {
        args.extend(["--eval-every", "0"]);
    }
    args.extend_from_slice(extra);
    ok(&args)
}

fn csv(out: &Path) -> String {
    std::fs::read_to_string(out.join("losses.csv")).unwrap()
}

#[test]
fn resumed_run_is_bit_identical_to_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, split) = (dir.path().join("whole"), dir.path().join("split"));
    train(&whole, "8", &[]);
    train(&split, "4", &[]);
    let ckpt = split.join("checkpoint.safetensors");
    let out = train(&split, "8", &["--resume", s(&ckpt)]);
    assert!(out.contains("resuming at iteration 4"), "{out}");
    assert_eq!(csv(&split), csv(&whole), "losses of 4 + 4 iterations vs 8");
    // The checkpoints at the end hold the same state, bit for bit.
    let (a, b) = (load(&whole.join("checkpoint.safetensors")), load(&ckpt));
    assert!(a.iteration == 8 && a == b, "final checkpoints differ");
    for f in ["losses.png", "progress.png", "samples_000008.png"] {
        assert!(split.join(f).is_file(), "{f}");
    }
}

#[test]
fn checkpoint_is_safetensors_with_keras_names() {
    let dir = tempfile::tempdir().unwrap();
    train(dir.path(), "2", &["--arch", "seed-code"]);
    let bytes = std::fs::read(dir.path().join("checkpoint.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("G.convt1.kernel").unwrap();
    assert_eq!(
        t.shape(),
        &[3, 3, 128, 256],
        "Keras Conv2DTranspose layout (kh, kw, out, in)"
    );
    assert_eq!(st.tensor("D.bn3b.moving_variance").unwrap().shape(), &[128]);
    assert!(
        st.tensor("G.convt2.kernel").is_err(),
        "seed-code has no 64-channel block"
    );
    assert_eq!(st.tensor("sample_noise").unwrap().shape(), &[16, 100]);
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let info = meta.metadata().clone().unwrap();
    assert_eq!(info["iteration"], "2");
    assert!(
        info["config"].contains("\"arch\":\"seed-code\""),
        "{}",
        info["config"]
    );
}

#[test]
fn bad_checkpoints_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(&out, "2", &[]);
    let ckpt = out.join("checkpoint.safetensors");
    let bytes = std::fs::read(&ckpt).unwrap();
    let missing = dir.path().join("missing.safetensors");
    fails(&["--resume", s(&missing)], "cannot read checkpoint");
    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    fails(
        &["--resume", s(&truncated), "--iterations", "4"],
        "not a readable safetensors file",
    );
    let foreign = dir.path().join("foreign.safetensors");
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &[0u8; 8]).unwrap();
    std::fs::write(
        &foreign,
        safetensors::tensor::serialize([("weights", view)], None).unwrap(),
    )
    .unwrap();
    fails(
        &["--resume", s(&foreign), "--iterations", "4"],
        "is not a dcgan-wgpu checkpoint",
    );
    fails(
        &[
            "generate",
            "--checkpoint",
            s(&foreign),
            "--out",
            s(&dir.path().join("g.png")),
        ],
        "is not a dcgan-wgpu checkpoint",
    );
    // Another architecture: asked for explicitly, or the file's tensors contradict its config.
    fails(
        &[
            "--resume",
            s(&ckpt),
            "--arch",
            "seed-code",
            "--iterations",
            "4",
        ],
        "trained with --arch full",
    );
    fails(
        &[
            "--resume",
            s(&ckpt),
            "--batch-size",
            "8",
            "--iterations",
            "4",
        ],
        "trained with --batch-size 4",
    );
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut info = meta.metadata().clone().unwrap();
    let cfg = info["config"].replace("\"arch\":\"full\"", "\"arch\":\"seed-code\"");
    info.insert("config".into(), cfg);
    let relabelled = dir.path().join("relabelled.safetensors");
    std::fs::write(
        &relabelled,
        safetensors::tensor::serialize(st.tensors(), Some(info)).unwrap(),
    )
    .unwrap();
    fails(
        &["--resume", s(&relabelled), "--iterations", "4"],
        "does not match its configuration",
    );
    fails(
        &["--resume", s(&ckpt), "--iterations", "2"],
        "already at iteration 2",
    );
}

#[test]
fn ctrl_c_stops_with_a_checkpoint_and_says_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = dcgan()
        .args([
            "--iterations",
            "100000",
            "--batch-size",
            "4",
            "--sample-interval",
            "1000",
            "--out-dir",
            s(&out),
            "--eval-every",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let it train for a moment, then interrupt it.
    let grid = out.join("samples_000000.png");
    let start = std::time::Instant::now();
    while !grid.exists() && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "stderr:\n{err}");
    assert!(
        err.contains("interrupted at iteration") && err.contains("--resume"),
        "{err}"
    );
    let c = load(&out.join("checkpoint.safetensors"));
    assert!(
        c.iteration > 0 && err.contains(&format!("interrupted at iteration {}", c.iteration)),
        "{err}"
    );
    // The hint is a command that works as printed: this program's path, and `cargo run` too.
    let exe = env!("CARGO_BIN_EXE_dcgan-wgpu");
    assert!(err.contains(&format!("  {exe} --resume ")), "{err}");
    assert!(err.contains("cargo run --release -- --resume "), "{err}");
}

/// `dcgan-wgpu ... 2>&1 | tee log`, then the pipe closes (tee killed) and Ctrl-C: the run still
/// writes its checkpoint and exits 130, though every line it prints after that meets EPIPE.
#[test]
fn ctrl_c_under_a_closed_pipe_still_saves_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = dcgan()
        .args([
            "--iterations",
            "100000",
            "--batch-size",
            "4",
            "--sample-interval",
            "1",
            "--out-dir",
            s(&out),
            "--eval-every",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read until training reports, then close both pipes while it goes on printing.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("[D loss:") {
        line.clear();
        use std::io::BufRead;
        assert!(stdout.read_line(&mut line).unwrap() > 0, "no report line");
    }
    drop(stdout);
    drop(child.stderr.take());
    std::thread::sleep(std::time::Duration::from_secs(2));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = child.wait().unwrap().code();
    assert_eq!(
        code,
        Some(130),
        "a closed pipe must not stop the run another way"
    );
    let c = load(&out.join("checkpoint.safetensors"));
    assert!(c.iteration > 1, "checkpoint at iteration {}", c.iteration);
}

#[test]
fn device_loss_stops_the_run_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = dcgan()
        .args([
            "--iterations",
            "10",
            "--batch-size",
            "4",
            "--sample-interval",
            "2",
            "--out-dir",
            s(&out),
            "--eval-every",
            "0",
        ])
        .env("DCGAN_WGPU_SIMULATE_DEVICE_LOSS_AT", "5")
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("device was lost") && err.contains("last checkpoint (iteration 4)"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let c = load(&out.join("checkpoint.safetensors"));
    assert_eq!(c.iteration, 4);
}

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
        assert_eq!(fields.len(), 12, "{row}");
        assert!(fields[8].parse::<f64>().unwrap() > 0.0, "fid in {row}");
    }
}
