//! The web page in a real browser: Debian's Chromium, headless, with WebGPU on SwiftShader
//! where there is no GPU, driven through the DevTools protocol. Builds the page when it is
//! missing or stale (`bash web/build.sh --if-stale`: the wasm32 target and wasm-bindgen-cli,
//! README's set-up) and needs Chromium (`apt-get install chromium`). A missing tool or browser
//! fails the test with the command that provides it.

mod browser;
mod clicks;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use browser::Browser;
use serde_json::Value;

/// `dcgan-wgpu serve` on a free port, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The built page, built here first when it is missing or older than its sources (once per
/// test run: `web/build.sh --if-stale`), so `cargo test` alone is the whole test.
fn page_dir() -> PathBuf {
    static BUILT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = BUILT.get_or_init(|| {
        let o = Command::new("bash")
            .arg(root.join("web/build.sh"))
            .arg("--if-stale")
            .output()
            .map_err(|e| format!("cannot run bash web/build.sh: {e}"))?;
        if o.status.success() {
            Ok(())
        } else {
            Err(format!(
                "building the web page (bash web/build.sh) failed; see README, 'In a browser':\n{}",
                String::from_utf8_lossy(&o.stderr)
            ))
        }
    });
    if let Err(e) = built {
        panic!("{e}");
    }
    let dir = root.join("web/dist");
    assert!(dir.join("index.html").is_file() && dir.join("pkg/dcgan_web_bg.wasm").is_file());
    dir
}

fn serve() -> Server {
    serve_dir(&page_dir())
}

fn serve_dir(dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcgan-wgpu"))
        .args(["serve", "--port", "0", "--dir", dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start dcgan-wgpu serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("serve printed {line:?}"))
        .to_string();
    Server { child, url }
}

fn launch(url: &str, webgpu: bool) -> Browser {
    Browser::launch(url, webgpu).unwrap_or_else(|e| panic!("{e}"))
}

/// The page's own checks and a 20-iteration run at batch 16: every WGSL module compiled by
/// the browser's compiler (Tint), the kernel checks against the CPU reference, the first
/// iteration against the reference's, finite losses, grids drawn, and a checkpoint that the
/// native `generate` reads.
#[test]
fn page_trains_and_passes_its_checks() {
    let server = serve();
    let url = format!("{}?test=1&batch=16&iterations=20&interval=5", server.url);
    let mut b = launch(&url, true);
    let title = b
        .wait_for(
            "['done', 'failed', 'no-webgpu'].includes(document.title) && document.title",
            Duration::from_secs(1500),
        )
        .unwrap();
    let r: Value = b.eval("window.testResult").unwrap();
    if title != "done" {
        // Tint's errors first: they explain an engine that cannot start.
        for m in r["shaders"]["modules"].as_array().into_iter().flatten() {
            for e in m["errors"].as_array().into_iter().flatten() {
                eprintln!("Tint, {}: {}", m["name"], e.as_str().unwrap_or_default());
            }
        }
    }
    assert_eq!(title, "done", "the page's test failed: {:#}", strip(&r));
    println!("adapter: {}", r["adapter"]["browser_adapter"]);

    // Tint compiled every module and every pipeline, the subgroup ones where the browser has
    // subgroups.
    let shaders = &r["shaders"];
    let modules = shaders["modules"].as_array().unwrap();
    assert!(modules.len() >= 11, "{shaders}");
    for m in modules {
        if m.get("skipped").is_some() {
            assert!(!shaders["subgroups"].as_bool().unwrap(), "{m}");
            println!("{}: skipped ({})", m["name"], m["skipped"]);
            continue;
        }
        let errors = m["errors"].as_array().unwrap();
        assert!(errors.is_empty(), "Tint rejects {}: {errors:#?}", m["name"]);
        assert!(m["pipelines"].as_u64().unwrap() > 0, "{m}");
        println!(
            "{}: {} pipelines compiled by the browser",
            m["name"], m["pipelines"]
        );
    }

    // The page tuned its GEMM drivers when the session started (performance.now as the
    // tuner's clock, the same bit check as the command line's) and kept the choices in the
    // browser's storage.
    let tuning: Value = serde_json::from_str(
        r["tuning"]
            .as_str()
            .expect("the page stored no tuning cache"),
    )
    .unwrap();
    let choices = tuning["adapters"]
        .as_object()
        .and_then(|a| a.values().next())
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("no adapter in the page's tuning cache: {tuning}"));
    assert!(!choices.is_empty(), "the page tuned nothing: {tuning}");
    for (gemm, driver) in choices {
        println!("the page's tuner: {gemm} -> {driver}");
    }

    for k in r["kernels"].as_array().unwrap() {
        println!("{}: {}", k["name"], k["line"]);
        assert!(
            k["ok"].as_bool().unwrap(),
            "kernel check failed in the browser: {k}"
        );
    }
    let kernels = r["kernels"].as_array().unwrap();
    for family in ["dense", "batchnorm", "loss", "adam", "embed"] {
        let lines = kernels
            .iter()
            .filter(|k| k["name"].as_str().unwrap().starts_with(family))
            .count();
        assert!(lines >= 3, "{family}: {lines} checks in {kernels:?}");
    }

    let first = &r["first_iteration"];
    for line in first["lines"].as_array().unwrap() {
        println!("first iteration: {}", line.as_str().unwrap());
    }
    assert!(
        first["ok"].as_bool().unwrap(),
        "first iteration vs CPU: {first}"
    );

    assert_eq!(r["iteration"], 20);
    let history = r["history"].as_array().unwrap();
    let iterations: Vec<u64> = history
        .iter()
        .map(|h| h["iteration"].as_u64().unwrap())
        .collect();
    assert_eq!(iterations, [5, 10, 15, 20]);
    for h in history {
        for k in ["d_loss", "g_loss", "d_acc"] {
            assert!(h[k].as_f64().is_some_and(f64::is_finite), "{h}");
        }
    }
    for line in r["lines"].as_array().unwrap() {
        println!("{}", line.as_str().unwrap());
    }
    assert!(r["grid_pixels"].as_u64().unwrap() > 5000, "no grid drawn");
    assert_eq!(r["strip"], 5, "grids at 0, 5, 10, 15, 20");
    println!(
        "20 iterations at batch 16 in {:.1} s",
        r["seconds"].as_f64().unwrap()
    );

    // The downloaded checkpoint is the command line's format.
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(r["checkpoint"].as_str().unwrap())
        .unwrap();
    let c =
        dcgan_wgpu::checkpoint::Checkpoint::from_bytes(&bytes, "the page's checkpoint").unwrap();
    assert_eq!((c.iteration, c.config.batch_size), (20, 16));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("from_the_page.safetensors");
    std::fs::write(&file, &bytes).unwrap();
    let out = dir.path().join("grid.png");
    let o = Command::new(env!("CARGO_BIN_EXE_dcgan-wgpu"))
        .args([
            "generate",
            "--checkpoint",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.is_file());
}

/// A checkpoint the command line trained opens in the page, which continues the run by an
/// iteration and draws from it (a grid and a latent walk): chapter 4's network and chapter 8's
/// conditional one (which draws sevens).
#[test]
fn page_opens_a_native_checkpoint() {
    for arch in ["full", "cgan"] {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let o = Command::new(env!("CARGO_BIN_EXE_dcgan-wgpu"))
            .args(["--arch", arch, "--iterations", "2", "--batch-size", "16"])
            .args(["--sample-interval", "1", "--eval-every", "0", "--quiet"])
            .args(["--out-dir", run.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // The built page plus the checkpoint, served together.
        let site = dir.path().join("site");
        copy_dir(&page_dir(), &site);
        std::fs::copy(
            run.join("checkpoint.safetensors"),
            site.join("data/native.safetensors"),
        )
        .unwrap();
        let server = serve_dir(&site);
        let url = format!(
            "{}?test=open&checkpoint=data/native.safetensors",
            server.url
        );
        let mut b = launch(&url, true);
        let title = b
            .wait_for(
                "['done', 'failed', 'no-webgpu'].includes(document.title) && document.title",
                Duration::from_secs(900),
            )
            .unwrap();
        let r: Value = b.eval("window.testResult").unwrap();
        assert_eq!(title, "done", "{arch}: {r:#}");
        assert_eq!(r["opened"]["iteration"], 2, "{r:#}");
        assert_eq!(r["opened"]["config"]["batch_size"], 16);
        assert_eq!(r["opened"]["config"]["arch"], arch);
        assert_eq!(
            r["iteration"], 3,
            "one more iteration from the checkpoint: {r:#}"
        );
        let last = r["lines"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap();
        assert!(last.starts_with("3 [D loss: "), "{r:#}");
        assert_eq!(r["generated"], 16 * 784);
        assert_eq!(r["generated_finite"], true);
        assert_eq!(r["walk"], 2 * 5 * 784);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(e.file_name()));
        } else {
            std::fs::copy(&path, to.join(e.file_name())).unwrap();
        }
    }
}

/// Without WebGPU (Chromium on Linux without --enable-unsafe-webgpu) the page says so.
#[test]
fn page_without_webgpu_says_so() {
    let server = serve();
    let mut b = launch(&server.url, false);
    let title = b
        .wait_for(
            "['no-webgpu', 'failed', 'done'].includes(document.title) && document.title",
            Duration::from_secs(120),
        )
        .unwrap();
    assert_eq!(title, "no-webgpu");
    let text = b
        .eval("document.getElementById('message').textContent")
        .unwrap();
    let text = text.as_str().unwrap();
    assert!(
        text.contains("WebGPU") && text.contains("--enable-unsafe-webgpu"),
        "{text}"
    );
    assert_eq!(
        b.eval("document.getElementById('train').disabled").unwrap(),
        true
    );
}

/// The result without the (long) checkpoint, for messages.
fn strip(r: &Value) -> Value {
    let mut r = r.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("checkpoint");
    }
    r
}
