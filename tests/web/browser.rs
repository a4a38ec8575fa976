//! Headless Chromium driven through the DevTools protocol: start it on a page, evaluate
//! JavaScript there, wait for the page's title, take a screenshot. (Used by tests/web/ and by
//! `examples/web_page.rs`.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

/// A headless Chromium with one page.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    socket: Socket,
    next_id: u64,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's Chromium, or `$CHROMIUM`.
pub fn chromium() -> Result<String, String> {
    let exe = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if std::path::Path::new(&exe).is_file() {
        Ok(exe)
    } else {
        Err(format!(
            "no Chromium at {exe}: install it (`apt-get install chromium`) or set CHROMIUM"
        ))
    }
}

/// A GET on the DevTools HTTP endpoint; the JSON body. (It keeps the connection open and
/// ignores HTTP/1.0, so the body is read by its Content-Length.)
fn http_json(port: u16, path: &str) -> Result<Value, String> {
    let err = |e: std::io::Error| e.to_string();
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(err)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(err)?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").map_err(err)?;
    let mut reader = BufReader::new(s);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(err)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().map_err(|_| "a bad Content-Length")?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(err)?;
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

impl Browser {
    /// Starts Chromium headless on `url`, with WebGPU (on SwiftShader where there is no GPU)
    /// unless `webgpu` is false.
    pub fn launch(url: &str, webgpu: bool) -> Result<Browser, String> {
        let exe = chromium()?;
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--no-first-run".into(),
            "--remote-debugging-port=0".into(),
            format!("--user-data-dir={}", profile.path().display()),
            "--window-size=1180,1180".into(),
        ];
        if webgpu {
            args.push("--enable-unsafe-webgpu".into());
        }
        args.push(url.into());
        let mut child = Command::new(&exe)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {exe}: {e}"))?;
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/..."
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let port = loop {
            let line = lines
                .next()
                .ok_or("Chromium exited before its DevTools endpoint was up")?
                .map_err(|e| e.to_string())?;
            if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                break port.parse::<u16>().map_err(|e| e.to_string())?;
            }
        };
        // Keep draining stderr so Chromium never blocks on it.
        std::thread::spawn(move || lines.for_each(drop));
        let deadline = Instant::now() + Duration::from_secs(30);
        // The endpoint may answer before the page target exists: ask again until it does.
        let ws_url = loop {
            let listed = http_json(port, "/json/list");
            let page = listed.as_ref().ok().and_then(|targets| {
                targets
                    .as_array()?
                    .iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(String::from))
            });
            match page {
                Some(u) => break u,
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
                None => return Err(format!("Chromium shows no page ({listed:?})")),
            }
        };
        // A page's answer can be large (a checkpoint, base64): allow 256 MiB.
        let config = tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(256 << 20))
            .max_frame_size(Some(256 << 20));
        let (mut socket, _) =
            tungstenite::client::connect_with_config(ws_url.as_str(), Some(config), 3)
                .map_err(|e| e.to_string())?;
        // A page busy on the GPU answers late, never this late.
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_mut() {
            s.set_read_timeout(Some(Duration::from_secs(300)))
                .map_err(|e| e.to_string())?;
        }
        Ok(Browser {
            child,
            _profile: profile,
            socket,
            next_id: 1,
        })
    }

    /// Sends a DevTools command and returns its result.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket
            .send(tungstenite::Message::text(msg))
            .map_err(|e| e.to_string())?;
        loop {
            let m = self.socket.read().map_err(|e| e.to_string())?;
            let Ok(text) = m.to_text() else { continue };
            let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    return Err(format!("{method}: {e}"));
                }
                return Ok(v["result"].clone());
            }
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub fn eval(&mut self, expression: &str) -> Result<Value, String> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(format!("{expression}: {e}"));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Waits until `expression` is truthy; returns its value.
    pub fn wait_for(&mut self, expression: &str, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            // The page may be navigating or starting: an exception now is not the answer.
            if let Ok(v) = self.eval(expression)
                && !(v.is_null() || v == false || v == "" || v == 0)
            {
                return Ok(v);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {expression}"
                ));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// A PNG of the whole page.
    pub fn screenshot(&mut self) -> Result<Vec<u8>, String> {
        use base64::Engine;
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        )?;
        base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap_or(""))
            .map_err(|e| e.to_string())
    }
}
