//! The life of a run: checkpoints, resume, Ctrl-C (also under a closed pipe), device loss.

use super::*;

#[test]
fn resumed_run_is_bit_identical_to_an_uninterrupted_one() {
    // The seed's networks, and chapter 8's conditional ones (whose labels are drawn on the GPU
    // from the same counter-keyed streams, so a checkpoint needs no label state).
    for arch in [&[][..], &["--arch", "cgan"]] {
        let dir = tempfile::tempdir().unwrap();
        let (whole, split) = (dir.path().join("whole"), dir.path().join("split"));
        train(&whole, "8", arch);
        train(&split, "4", arch);
        let ckpt = split.join("checkpoint.safetensors");
        let resume = [arch, &["--resume", s(&ckpt)][..]].concat();
        let out = train(&split, "8", &resume);
        assert!(out.contains("resuming at iteration 4"), "{arch:?}: {out}");
        assert_eq!(
            csv(&split),
            csv(&whole),
            "{arch:?}: losses of 4 + 4 iterations vs 8"
        );
        // The checkpoints at the end hold the same state, bit for bit.
        let (a, b) = (load(&whole.join("checkpoint.safetensors")), load(&ckpt));
        assert!(
            a.iteration == 8 && a == b,
            "{arch:?}: final checkpoints differ"
        );
        assert_eq!(a.config.arch.conditional(), !arch.is_empty());
        for f in ["losses.png", "progress.png", "samples_000008.png"] {
            assert!(split.join(f).is_file(), "{arch:?}: {f}");
        }
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

/// A run far longer than any test, its output in pipes.
fn long_run(out: &Path, sample_interval: &str) -> std::process::Child {
    dcgan()
        .args(["--iterations", "100000", "--batch-size", "4"])
        .args(["--sample-interval", sample_interval, "--eval-every", "0"])
        .args(["--out-dir", s(out)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Ctrl-C, as a terminal sends it.
fn interrupt(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn ctrl_c_stops_with_a_checkpoint_and_says_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = long_run(&out, "1000");
    // Let it train for a moment, then interrupt it.
    let grid = out.join("samples_000000.png");
    let start = std::time::Instant::now();
    while !grid.exists() && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    interrupt(&child);
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
    let mut child = long_run(&out, "1");
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
    interrupt(&child);
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
