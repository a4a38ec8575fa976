//! `dcgan-wgpu serve`: serves the web page (`web/dist`, built by `web/build.sh`) on localhost,
//! so a browser can load the WebAssembly and the data beside it.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::say;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The page's folder [default: web/dist of this repository].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Port on 127.0.0.1 (0: any free one; the first line printed says which).
    #[arg(long, default_value_t = 8000)]
    port: u16,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let dir = args
        .dir
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("web/dist"));
    if !dir.join("index.html").is_file() {
        bail!(
            "{} holds no built page (index.html); build it with `bash web/build.sh`",
            dir.display()
        );
    }
    let server = tiny_http::Server::http(("127.0.0.1", args.port))
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
    let port = server
        .server_addr()
        .to_ip()
        .context("a TCP address")?
        .port();
    say!("serving {} at http://127.0.0.1:{port}/", dir.display());
    for request in server.incoming_requests() {
        let path = request
            .url()
            .split(['?', '#'])
            .next()
            .unwrap_or("/")
            .to_string();
        let response = match file_for(&dir, &path) {
            Some(file) => match std::fs::read(&file) {
                Ok(bytes) => tiny_http::Response::from_data(bytes).with_header(
                    tiny_http::Header::from_bytes("Content-Type", content_type(&file))
                        .expect("a valid header"),
                ),
                Err(_) => not_found(),
            },
            None => not_found(),
        };
        let _ = request.respond(response);
    }
    Ok(())
}

fn not_found() -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    tiny_http::Response::from_string("not found").with_status_code(404)
}

/// The file a URL path names inside `dir` (`/` is index.html); nothing outside it.
fn file_for(dir: &Path, url_path: &str) -> Option<PathBuf> {
    let relative = Path::new(url_path.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let file = dir.join(relative);
    let file = if file.is_dir() {
        file.join("index.html")
    } else {
        file
    };
    file.is_file().then_some(file)
}

/// What the browser needs to know: WebAssembly must be `application/wasm` to be compiled while
/// it streams; the gzipped data are plain bytes (the engine inflates them), not an encoding.
fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css",
        "png" => "image/png",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}
