//! Every size from outside is bounded before it is allocated (flags, checkpoint headers, PNGs,
//! grids), and a run whose numbers stop being finite stops with an error.

use super::*;

/// `bytes` (a checkpoint) with its metadata edited: `config` as JSON, the rest as text.
fn with_metadata(bytes: &[u8], edit: impl Fn(&mut serde_json::Value, &mut String)) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let mut info = meta.metadata().clone().unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&info["config"]).unwrap();
    let mut iteration = info["iteration"].clone();
    edit(&mut config, &mut iteration);
    info.insert("config".into(), config.to_string());
    info.insert("iteration".into(), iteration);
    safetensors::tensor::serialize(st.tensors(), Some(info)).unwrap()
}

/// One line on stderr, not a panic or an abort.
fn one_line(err: &str) {
    assert_eq!(err.trim_end().lines().count(), 1, "not one line:\n{err}");
}

#[test]
fn checkpoint_headers_are_checked_before_anything_is_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(&out, "2", &[]);
    let good = std::fs::read(out.join("checkpoint.safetensors")).unwrap();
    let grid = dir.path().join("g.png");
    let craft = |name: &str, bytes: Vec<u8>| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "zdim_1e12",
            with_metadata(&good, |c, _| c["z_dim"] = 1_000_000_000_000u64.into()),
            "its configuration's z_dim 1000000000000 is more than 4096",
        ),
        (
            "zdim_max",
            with_metadata(&good, |c, _| c["z_dim"] = u64::MAX.into()),
            "z_dim 18446744073709551615 is more than 4096",
        ),
        (
            "batch_0",
            with_metadata(&good, |c, _| c["batch_size"] = 0.into()),
            "batch_size must be at least 1",
        ),
        (
            "beta2",
            with_metadata(&good, |c, _| c["adam"]["beta2"] = 5.0.into()),
            "adam.beta2 must be in [0, 1), got 5",
        ),
        (
            "iteration",
            with_metadata(&good, |_, it| *it = "99999999999".into()),
            "no iteration count of at most 2^32 - 1",
        ),
    ];
    for (name, bytes, needle) in cases {
        let path = craft(name, bytes);
        for args in [
            vec!["generate", "--checkpoint", s(&path), "--out", s(&grid)],
            vec![
                "--resume",
                s(&path),
                "--iterations",
                "9",
                "--out-dir",
                s(&out),
            ],
        ] {
            one_line(&fails(&args, needle));
        }
    }
    // A device (or a link to one) that never ends is not read to the end.
    #[cfg(unix)]
    one_line(&fails(
        &["generate", "--checkpoint", "/dev/zero", "--out", s(&grid)],
        "/dev/zero is larger than",
    ));
}

#[test]
fn a_checkpoint_holding_a_non_finite_value_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(&out, "2", &[]);
    let mut c = load(&out.join("checkpoint.safetensors"));
    c.g.params[1234] = f32::NAN;
    let bad = dir.path().join("nan.safetensors");
    std::fs::write(&bad, c.to_bytes()).unwrap();
    let needle = "G.dense.kernel holds a value that is not a finite number";
    let grid = dir.path().join("gray.png");
    one_line(&fails(
        &["generate", "--checkpoint", s(&bad), "--out", s(&grid)],
        needle,
    ));
    assert!(!grid.exists(), "a grid was written from NaN weights");
    let other = dir.path().join("other");
    one_line(&fails(
        &[
            "--resume",
            s(&bad),
            "--iterations",
            "4",
            "--out-dir",
            s(&other),
        ],
        needle,
    ));
}

#[test]
fn flags_beyond_their_limits_are_one_line_errors() {
    for (args, needle) in [
        (
            vec!["--z-dim", "100000"],
            "--z-dim 100000 is more than 4096, the largest noise vector this program builds",
        ),
        (
            vec!["--z-dim", "4611686018427387904"],
            "--z-dim 4611686018427387904 is more than 4096",
        ),
        (
            vec!["--z-dim", "1000000000000"],
            "--z-dim 1000000000000 is more than 4096",
        ),
        (
            vec!["--iterations", "4294967296"],
            "--iterations 4294967296 is more than 4294967295",
        ),
        (
            vec![
                "generate",
                "--checkpoint",
                "x",
                "--out",
                "g.png",
                "--count",
                "20000",
            ],
            "a grid of 20000 images is more than 10000",
        ),
        (
            vec![
                "generate",
                "--checkpoint",
                "x",
                "--out",
                "g.png",
                "--count",
                "2000",
                "--interpolate",
                "--steps",
                "10",
            ],
            "a grid of 20000 images is more than 10000",
        ),
    ] {
        one_line(&fails(&args, needle));
    }
}

#[test]
fn a_z_size_the_adapter_cannot_hold_names_its_limit() {
    // G's dense kernel at z 4096 takes 206 MB: beyond WebGPU's default 128 MiB binding (and
    // lavapipe's); an adapter with more room trains it.
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "--z-dim",
        "4096",
        "--iterations",
        "1",
        "--batch-size",
        "2",
        "--eval-every",
        "0",
        "--out-dir",
        s(dir.path()),
    ]);
    let err = text(&o.stderr);
    if !o.status.success() {
        assert!(
            err.contains("--z-dim 4096 is more than ")
                && err.contains("the largest that fits this adapter")
                && err.contains("max_storage_buffer_binding_size"),
            "{err}"
        );
        one_line(&err);
    }
}

/// A PNG of `width` x `height` whose header is nearly all there is: its size is announced,
/// never decoded.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xEDB8_8320 & (!(crc & 1)).wrapping_add(1));
            }
        }
        !crc
    }
    let mut chunk = b"IHDR".to_vec();
    chunk.extend(width.to_be_bytes());
    chunk.extend(height.to_be_bytes());
    chunk.extend([8, 0, 0, 0, 0]); // 8-bit gray
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&chunk);
    png.extend(crc32(&chunk).to_be_bytes());
    // The start of the image data (an empty zlib stream): where a decoder stops reading the
    // header and would start allocating.
    let idat = b"IDAT\x78\x9c\x03\x00\x00\x00\x00\x01";
    png.extend(8u32.to_be_bytes());
    png.extend(idat);
    png.extend(crc32(idat).to_be_bytes());
    png.extend(0u32.to_be_bytes());
    png.extend(b"IEND");
    png.extend(crc32(b"IEND").to_be_bytes());
    png
}

#[test]
fn small_pictures_cannot_ask_for_large_memory() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.png");
    std::fs::write(&huge, png_header_only(100_000, 100_000)).unwrap();
    one_line(&fails(
        &["evaluate", "--images", s(&huge)],
        "is 100000x100000 pixels (10000000000 bytes decoded), more than the 67108864 bytes",
    ));
    // A blank 8176 x 8176 picture compresses to a few tens of KB and holds 292 x 292 tiles.
    let blank = dir.path().join("blank.png");
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&blank).unwrap());
        let mut enc = png::Encoder::new(file, 8176, 8176);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_compression(png::Compression::Fast);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&vec![0u8; 8176 * 8176]).unwrap();
    }
    assert!(std::fs::metadata(&blank).unwrap().len() < 1 << 20);
    one_line(&fails(
        &["evaluate", "--images", s(&blank), "--grid", "292x292"],
        "a 292x292 grid holds 85264 digits, more than the 50000 scored at once",
    ));
}

#[test]
fn divergence_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    // From the start: no checkpoint yet.
    let first = dir.path().join("first");
    let o = run(&[
        "--iterations",
        "6",
        "--batch-size",
        "4",
        "--sample-interval",
        "2",
        "--learning-rate",
        "1e30",
        "--eval-every",
        "0",
        "--out-dir",
        s(&first),
    ]);
    let err = text(&o.stderr);
    assert!(!o.status.success(), "a diverged run exited 0:\n{err}");
    assert!(
        err.contains("training diverged at iteration 2: ")
            && err.contains("is NaN")
            && err.contains("before any checkpoint"),
        "{err}"
    );
    one_line(&err);
    assert!(!first.join("checkpoint.safetensors").exists());

    // Later: a good run at iteration 2, continued with a learning rate that diverges (edited
    // into its checkpoint, as a resumed run keeps the checkpoint's): that checkpoint stays.
    let out = dir.path().join("run");
    train(&out, "2", &[]);
    let ckpt = out.join("checkpoint.safetensors");
    let good = std::fs::read(&ckpt).unwrap();
    let hot = with_metadata(&good, |c, _| c["adam"]["learning_rate"] = 1e30.into());
    std::fs::write(&ckpt, &hot).unwrap();
    let o = run(&[
        "--resume",
        s(&ckpt),
        "--iterations",
        "8",
        "--sample-interval",
        "2",
        "--eval-every",
        "0",
        "--out-dir",
        s(&out),
    ]);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("training diverged at iteration 4: ")
            && err.contains("the last good checkpoint (iteration 2) is kept"),
        "{err}"
    );
    one_line(&err);
    assert_eq!(
        std::fs::read(&ckpt).unwrap(),
        hot,
        "the last good checkpoint changed"
    );
}
