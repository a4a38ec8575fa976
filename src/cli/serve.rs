//! `dcgan-wgpu serve`: serves the web page (`web/dist`, built by `web/build.sh`) so a browser
//! can load the WebAssembly and the data beside it.
//!
//! Built on hyper with tower-http's file service rather than a small server of our own: hyper
//! bounds what it buffers of a request head, never reads a body the service does not ask for,
//! and runs each connection as its own task, so a slow or hostile client holds up only itself;
//! tower-http serves files as browsers expect (HEAD, ranges, conditional requests, MIME types).
//! What it accepts: GET and HEAD (405 otherwise), no request body (413), a request head within
//! 10 s and 64 KiB, a connection for at most 5 minutes, 64 connections at once, and only files
//! inside the served folder once every link is resolved (404 otherwise, and for hidden files).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONNECTION, CONTENT_LENGTH, HeaderValue, TRANSFER_ENCODING};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::say;

/// A client must send its whole request head within this.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection is closed after this, whatever it is doing (the page's largest file, 13 MB of
/// WebAssembly, takes well under a second on a local network).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);
/// Bytes of a request head hyper buffers at most.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Connections served at once; more are closed as they arrive.
const MAX_CONNECTIONS: usize = 64;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The page's folder [default: web/dist of this repository].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Port (0: any free one; the first line printed says which).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Address to listen on: 127.0.0.1 (this machine only) unless another is given, e.g.
    /// 0.0.0.0 for every network the machine is on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
}

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

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
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .enable_time()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(serve(Arc::new(root), SocketAddr::new(args.host, args.port)))
}

async fn serve(root: Arc<PathBuf>, addr: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr().context("the listening address")?;
    say!("serving {} at http://{bound}/", root.display());
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors, a connection reset before it was accepted: go on.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let root = root.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| respond(root.clone(), request));
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            drop(permit);
        });
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
}

async fn respond(
    root: Arc<PathBuf>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(r);
    }
    // A GET has no body; one announced is refused unread, and the connection closed (what is
    // left of the body would otherwise be read as the next request).
    let headers = request.headers();
    let announces_body = headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if announces_body {
        let mut r = plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "no request body is accepted\n",
        );
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return Ok(r);
    }
    let Some(file) = resolve(&root, request.uri().path()) else {
        return Ok(plain(StatusCode::NOT_FOUND, "not found\n"));
    };
    let (parts, _) = request.into_parts();
    let request = Request::from_parts(parts, Empty::<Bytes>::new());
    let response = match ServeFile::new(&file).oneshot(request).await {
        Ok(r) => r.map(|b| b.boxed_unsync()),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file\n"),
    };
    Ok(response)
}

/// The file a URL path names inside `root` (a canonical folder): `/` and folders are their
/// index.html; nothing whose resolved path (every link followed) leaves `root`, no hidden
/// file, no `..`.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(url_path)
        .decode_utf8()
        .ok()?;
    if decoded.contains(['\0', '\\']) {
        return None;
    }
    let relative = Path::new(decoded.trim_start_matches('/'));
    let plain = relative.components().all(|c| match c {
        Component::Normal(name) => !name.to_string_lossy().starts_with('.'),
        _ => false,
    });
    if !plain {
        return None;
    }
    let mut path = root.join(relative);
    if path.is_dir() {
        path.push("index.html");
    }
    let resolved = path.canonicalize().ok()?;
    (resolved.starts_with(root) && resolved.is_file()).then_some(resolved)
}
