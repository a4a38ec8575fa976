//! `serve` holds against what a client may send: every request of issue 16 is answered (or the
//! connection closed) while the server stays up and serves other clients.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::*;

struct Server {
    child: std::process::Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = dcgan()
            .args(["serve", "--port", "0", "--dir", s(dir)])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("serve printed {line:?}"));
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "not on localhost: {url}"
        );
        let port = url
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        Server { child, port }
    }

    fn connect(&self) -> TcpStream {
        let c = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c
    }

    /// Sends `raw` and reads the answer until the server closes the connection.
    fn exchange(&self, raw: &[u8]) -> String {
        let mut c = self.connect();
        c.write_all(raw).unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn get(&self, path: &str) -> String {
        self.exchange(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    }

    /// The server answers a plain request: it is up and not stalled by anyone.
    fn serves(&self) {
        let t = Instant::now();
        let r = self.get("/");
        assert!(
            r.starts_with("HTTP/1.1 200") && r.ends_with("the page"),
            "{r}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "served after {:?}",
            t.elapsed()
        );
        assert!(self.child_alive(), "the server died");
    }

    fn child_alive(&self) -> bool {
        // `kill -0`: the process exists.
        Command::new("kill")
            .args(["-0", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }
}

fn status(response: &str) -> &str {
    response.get(9..12).unwrap_or(response)
}

#[test]
fn serve_holds_against_hostile_requests() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("index.html"), "the page").unwrap();
    std::fs::write(site.join("pkg/a.wasm"), b"\0asm").unwrap();
    std::fs::write(site.join(".hidden"), "hidden").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "secret").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), site.join("out.txt")).unwrap();
        std::os::unix::fs::symlink(dir.path(), site.join("up")).unwrap();
        std::os::unix::fs::symlink(site.join("index.html"), site.join("in.html")).unwrap();
    }
    let server = Server::start(&site);
    server.serves();

    let wasm = server.get("/pkg/a.wasm");
    assert_eq!(status(&wasm), "200", "{wasm}");
    assert!(wasm.contains("content-type: application/wasm"), "{wasm}");
    let head = server.exchange(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(status(&head), "200");
    assert!(!head.contains("the page"), "HEAD sent a body: {head}");

    // Only GET and HEAD.
    for method in ["POST", "DELETE", "PUT", "PATCH", "OPTIONS", "BREW"] {
        let r = server.exchange(
            format!("{method} / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(status(&r), "405", "{method}: {r}");
        assert!(r.to_lowercase().contains("allow: get, head"), "{r}");
    }

    // Nothing outside the folder, whatever the path or the links say; no hidden files.
    let mut outside = vec![
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/pkg/..%2f..%2fsecret.txt",
        "/.hidden",
        "/%00",
    ];
    if cfg!(unix) {
        outside.extend(["/out.txt", "/up/secret.txt"]);
        assert_eq!(status(&server.get("/in.html")), "200", "a link inside");
    }
    for path in outside {
        let r = server.get(path);
        assert!(
            r.starts_with("HTTP/1.1 404") || r.starts_with("HTTP/1.1 400"),
            "{path}: {r}"
        );
        assert!(
            !r.contains("secret") && !r.contains("hidden"),
            "{path}: {r}"
        );
    }

    // A body announced far beyond memory: refused unread, the server lives.
    let r = server.exchange(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nabc");
    assert_eq!(status(&r), "413", "{r}");
    server.serves();
    let r = server.exchange(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    );
    assert_eq!(status(&r), "405", "{r}");
    server.serves();

    // A request head far beyond what a browser sends.
    let mut big = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..4000 {
        big.extend(format!("X-Filler-{i}: {}\r\n", "y".repeat(40)).as_bytes());
    }
    big.extend(b"\r\n");
    let r = server.exchange(&big);
    assert!(r.is_empty() || r.starts_with("HTTP/1.1 431"), "{r}");
    server.serves();

    // Clients that announce a body, or start a head, and then wait: everyone else is served
    // meanwhile, and the unfinished head is dropped after its timeout.
    let mut stalled_body = server.connect();
    stalled_body
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\nabc")
        .unwrap();
    let mut stalled_head = server.connect();
    stalled_head.write_all(b"GET / HTTP/1.1\r\nHost:").unwrap();
    let idle: Vec<TcpStream> = (0..20).map(|_| server.connect()).collect();
    for _ in 0..3 {
        server.serves();
    }
    let t = Instant::now();
    let mut rest = Vec::new();
    let _ = stalled_head.read_to_end(&mut rest);
    assert!(
        t.elapsed() < Duration::from_secs(25),
        "a stalled request head was held {:?}",
        t.elapsed()
    );
    drop((stalled_body, idle));
    server.serves();
}
