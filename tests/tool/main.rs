//! The tool around training: checkpoints and resume, Ctrl-C, generate, plots, adapters, and
//! the error cases of the command line that involve the GPU or a checkpoint. This file holds
//! the shared helpers (running the program); `run.rs` the life of a run (checkpoints, resume,
//! interruptions, device loss), `files.rs` what a run does to its folder (earlier runs,
//! planted links, leftovers), `limits.rs` sizes from outside and divergence, `serve.rs` the
//! page's server under hostile requests, `commands.rs` the other commands.

mod commands;
mod files;
mod limits;
mod run;
mod serve;

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
