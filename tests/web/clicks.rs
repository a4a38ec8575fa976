//! The page as a person clicks it: Train and Pause, what it says of what was typed, a diverged
//! run, and a Pause while a report is scored.

use std::path::Path;
use std::time::Duration;

use super::browser::Browser;
use super::{launch, serve};

/// An element's text.
fn text(b: &mut Browser, id: &str) -> String {
    b.eval(&format!("document.getElementById('{id}').textContent"))
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The page as a person uses it: Train starts, reports arrive with grids and the plot, Pause
/// stops within a chunk. The screenshot goes to target/web-page.png.
#[test]
fn page_trains_on_click_and_pauses() {
    let server = serve();
    let mut b = launch(&server.url, true);
    b.wait_for(
        "!document.getElementById('train').disabled",
        Duration::from_secs(600),
    )
    .unwrap();
    b.eval(
        "document.getElementById('batch').value = 16; \
         document.getElementById('interval').value = 2; \
         document.getElementById('scoring').checked = false; \
         document.getElementById('train').click(); true",
    )
    .unwrap();
    b.wait_for(
        "document.getElementById('log').textContent.split('[D loss').length > 3",
        Duration::from_secs(600),
    )
    .unwrap();
    assert_eq!(
        b.eval("document.getElementById('train').textContent")
            .unwrap(),
        "Pause"
    );
    b.eval("document.getElementById('train').click(); true")
        .unwrap();
    b.wait_for(
        "document.getElementById('train').textContent === 'Train'",
        Duration::from_secs(120),
    )
    .unwrap();
    let paused_at = b
        .eval("document.getElementById('progress').textContent")
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        b.eval("document.getElementById('progress').textContent")
            .unwrap(),
        paused_at,
        "training went on after Pause"
    );
    let strip = b
        .eval("document.getElementById('strip').children.length")
        .unwrap();
    assert!(strip.as_u64().unwrap() >= 3, "grids in the strip: {strip}");
    let progress = paused_at.as_str().unwrap().to_string();
    assert!(progress.contains("iterations/s"), "{progress}");
    let png = b.screenshot().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-page.png");
    std::fs::write(&path, png).unwrap();
    println!("{progress}; screenshot {}", path.display());
}

/// What the user typed, worded by the page (no flags, no JSON), beside its field and cleared by
/// the next action that works; a diverged run stops with the engine's line; the settings wait
/// while the GPU is busy; and a Pause while a report is scored takes effect within a scoring
/// chunk, the score finishing at the next Train.
#[test]
fn page_words_errors_and_pauses_while_scoring() {
    let server = serve();
    let mut b = launch(&server.url, true);
    b.wait_for(
        "!document.getElementById('train').disabled",
        Duration::from_secs(600),
    )
    .unwrap();
    let js = |b: &mut Browser, code: &str| b.eval(code).unwrap();
    let set = |b: &mut Browser, fields: &[(&str, &str)]| {
        for (id, v) in fields {
            b.eval(&format!(
                "document.getElementById('{id}').value = '{v}'; true"
            ))
            .unwrap();
        }
    };
    let click_train = |b: &mut Browser| {
        b.eval("document.getElementById('train').click(); true")
            .unwrap();
    };
    let idle = |b: &mut Browser, secs: u64| {
        b.wait_for(
            "document.getElementById('train').textContent === 'Train' && \
             !document.getElementById('train').disabled && !document.getElementById('batch').disabled",
            Duration::from_secs(secs),
        )
        .unwrap();
    };
    js(
        &mut b,
        "document.getElementById('scoring').checked = false; true",
    );

    for (batch, want) in [
        ("0", "Batch size must be at least 1, got 0"),
        ("-3", "Batch size must be at least 1, got -3"),
    ] {
        set(&mut b, &[("batch", batch)]);
        click_train(&mut b);
        b.wait_for(
            "document.getElementById('batch-error').textContent !== ''",
            Duration::from_secs(60),
        )
        .unwrap();
        idle(&mut b, 60);
        assert_eq!(text(&mut b, "batch-error"), want);
        assert_eq!(text(&mut b, "message"), "", "shown beside the field only");
    }
    set(&mut b, &[("batch", "4"), ("lr", "fast")]);
    click_train(&mut b);
    b.wait_for(
        "document.getElementById('lr-error').textContent !== ''",
        Duration::from_secs(60),
    )
    .unwrap();
    idle(&mut b, 60);
    assert_eq!(
        text(&mut b, "lr-error"),
        "Learning rate must be a positive number, got fast"
    );
    assert_eq!(text(&mut b, "batch-error"), "", "the earlier error stayed");

    // Divergence: the run stops with the engine's line.
    set(
        &mut b,
        &[("lr", "1e30"), ("iterations", "6"), ("interval", "2")],
    );
    click_train(&mut b);
    b.wait_for(
        "document.getElementById('message').textContent !== ''",
        Duration::from_secs(600),
    )
    .unwrap();
    idle(&mut b, 60);
    let m = text(&mut b, "message");
    assert!(
        m.starts_with("training stopped: training diverged at iteration 2: ") && m.contains("NaN"),
        "{m}"
    );
    assert_eq!(text(&mut b, "lr-error"), "");

    // A run that works clears the message; while it trains the settings wait.
    set(
        &mut b,
        &[("lr", "0.001"), ("iterations", "1"), ("interval", "1")],
    );
    js(
        &mut b,
        "document.getElementById('scoring').checked = true; true",
    );
    click_train(&mut b);
    b.wait_for(
        "document.getElementById('train').textContent === 'Pause'",
        Duration::from_secs(600),
    )
    .unwrap();
    assert_eq!(text(&mut b, "message"), "", "the old message stayed");
    for id in ["batch", "lr", "scoring", "download", "sample", "open"] {
        assert_eq!(
            js(&mut b, &format!("document.getElementById('{id}').disabled")),
            true,
            "{id} is clickable while training"
        );
    }
    // Pause as soon as the report's score is under way.
    b.wait_for(
        "document.getElementById('progress').textContent.includes('scoring (1 /')",
        Duration::from_secs(600),
    )
    .unwrap();
    let t = std::time::Instant::now();
    click_train(&mut b);
    idle(&mut b, 120);
    let took = t.elapsed();
    let progress = text(&mut b, "progress");
    assert!(progress.contains("paused"), "{progress}");
    assert!(
        !text(&mut b, "log").contains("[FID:"),
        "the score finished before the Pause"
    );
    println!("Pause while scoring took effect in {took:?}: {progress}");
    // Train finishes the score, then the run (already at its end).
    let t = std::time::Instant::now();
    click_train(&mut b);
    b.wait_for(
        "document.getElementById('log').textContent.includes('1 [FID:')",
        Duration::from_secs(900),
    )
    .unwrap();
    println!(
        "the other 19 chunks of the score in {:?}: {}",
        t.elapsed(),
        text(&mut b, "scores")
    );
    idle(&mut b, 120);
}

/// Chapter 8 in the page: the network picked puts the book's batch and length in the fields; a
/// conditional run's grids have a row per digit; the digit picker draws the digit asked for;
/// the session is kept in the browser's storage at every report, and after a reload the page
/// offers it back and continues it.
#[test]
fn conditional_page_draws_a_digit_and_survives_a_reload() {
    let server = serve();
    // The fixed GEMM drivers: tuning is the other tests' subject, and costs minutes here.
    let mut b = launch(&format!("{}?tune=0", server.url), true);
    let ready = "!document.getElementById('train').disabled";
    b.wait_for(ready, Duration::from_secs(600)).unwrap();
    let book = b
        .eval(
            "globalThis.$ = (id) => document.getElementById(id); \
             $('arch').value = 'cgan'; $('arch').dispatchEvent(new Event('change')); \
             [$('batch').value, $('iterations').value]",
        )
        .unwrap();
    assert_eq!(
        book,
        serde_json::json!(["32", "12000"]),
        "the book's batch and length"
    );
    b.eval(
        "$('batch').value = 8; $('iterations').value = 4; $('interval').value = 2; \
         $('scoring').checked = false; $('train').click(); true",
    )
    .unwrap();
    b.wait_for(
        "$('progress').textContent.startsWith('iteration 4 / 4') && \
         $('train').textContent === 'Train' && !$('train').disabled",
        Duration::from_secs(900),
    )
    .unwrap();
    let log = text(&mut b, "log");
    assert!(
        log.contains("cgan arch") && log.contains("4 [D loss"),
        "{log}"
    );
    // Ten rows of five at scale 2 (56-pixel tiles, 2-pixel gaps).
    let size = b.eval("[$('grid').width, $('grid').height]").unwrap();
    assert_eq!(size, serde_json::json!([5 * 56 + 6 * 2, 10 * 56 + 11 * 2]));
    assert!(text(&mut b, "caption").contains("a row per digit"));
    b.eval("$('digit').value = '7'; $('sample').click(); true")
        .unwrap();
    b.wait_for(
        "$('caption').textContent === '16 samples of the digit 7' && !$('sample').disabled",
        Duration::from_secs(300),
    )
    .unwrap();
    assert_eq!(
        text(&mut b, "message"),
        "",
        "drawing a digit said something"
    );
    let kept = b
        .eval(
            "(async () => { const d = await navigator.storage.getDirectory(); \
             const f = await (await d.getFileHandle('session.json')).getFile(); \
             return JSON.parse(await f.text()).iteration; })()",
        )
        .unwrap();
    assert_eq!(kept, 4, "the session kept at the last report");
    // A reload (or a closed tab) finds the session and continues it.
    b.call("Page.reload", serde_json::json!({})).unwrap();
    let offer = b
        .wait_for(
            "document.getElementById('saved').style.display === 'block' && \
             document.getElementById('saved-text').textContent",
            Duration::from_secs(600),
        )
        .unwrap();
    let offer = offer.as_str().unwrap().to_string();
    assert!(
        offer.contains("conditional GAN") && offer.contains("iteration 4 of 4"),
        "{offer}"
    );
    b.wait_for(ready, Duration::from_secs(600)).unwrap();
    b.eval(
        "globalThis.$ = (id) => document.getElementById(id); \
         $('resume').click(); true",
    )
    .unwrap();
    let resumed = b.wait_for(
        "$('log').textContent.includes('opened the kept session: iteration 4') && \
         !$('digit').disabled",
        Duration::from_secs(300),
    );
    assert!(
        resumed.is_ok(),
        "{resumed:?}; message: {}; log: {}",
        text(&mut b, "message"),
        text(&mut b, "log")
    );
    let log = text(&mut b, "log");
    assert!(
        log.contains("4 [D loss"),
        "the kept log is shown again: {log}"
    );
    // Continued where it was kept (an opened run that had finished may go on by one).
    let progress = text(&mut b, "progress");
    assert!(progress.starts_with("iteration 4 / "), "{progress}");
    println!("{offer}");
}
