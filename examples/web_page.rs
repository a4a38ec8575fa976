//! Drives the web page in headless Chromium (as `tests/web/` does) for what is measured or
//! shown rather than tested. With the page served (`cargo run --release -- serve`):
//!
//! - `cargo run --release --example web_page -- bench [URL [QUERY]]`: the page's iterations per
//!   second at batch 32 and 128 (BENCHMARKS.md); QUERY comes first in the page's query, so
//!   `tune=0` (the fixed drivers) or `batch=32` take precedence;
//! - `cargo run --release --example web_page -- screenshot FILE [URL]`: trains at batch 16 with
//!   a report (and scores) every 4 iterations and saves a screenshot after three (the README's).

#[path = "../tests/web/browser.rs"]
mod browser;

use std::time::Duration;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = |i: usize| {
        args.get(i)
            .cloned()
            .unwrap_or_else(|| "http://127.0.0.1:8000/".into())
    };
    match args.first().map(String::as_str) {
        Some("bench") => {
            let mut b = browser::Browser::launch(
                &format!(
                    "{}?{}&bench=1&batch=32,128&iterations=10",
                    url(1),
                    args.get(2).map_or("", String::as_str)
                ),
                true,
            )?;
            b.wait_for(
                "['done', 'failed', 'no-webgpu'].includes(document.title) && document.title",
                Duration::from_secs(3600),
            )?;
            let r = b.eval("window.testResult")?;
            println!(
                "{}",
                serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
            );
        }
        Some("screenshot") => {
            let file = args.get(1).ok_or("screenshot FILE [URL]")?;
            let mut b = browser::Browser::launch(&url(2), true)?;
            b.wait_for(
                "!document.getElementById('train').disabled",
                Duration::from_secs(600),
            )?;
            b.eval(
                "document.getElementById('batch').value = 16; \
                 document.getElementById('interval').value = 4; \
                 document.getElementById('train').click(); true",
            )?;
            b.wait_for(
                "document.getElementById('log').textContent.split('[FID').length > 3",
                Duration::from_secs(3600),
            )?;
            std::fs::write(file, b.screenshot()?).map_err(|e| e.to_string())?;
            println!(
                "{}",
                b.eval("document.getElementById('progress').textContent")?
            );
        }
        _ => {
            return Err(
                "usage: web_page bench [URL [QUERY]] | web_page screenshot FILE [URL]".into(),
            );
        }
    }
    Ok(())
}
