//! The IDX loader on the vendored MNIST and on damaged files. Needs no GPU.

use std::io::Write;
use std::path::Path;

use dcgan_wgpu::data::{self, DataError, Split};

const VENDORED_MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/mnist");

/// A split's two files from `dir` (plain or gzipped), as a shell reads them.
fn load_split(dir: &Path, split: Split) -> Result<(data::Images, Vec<u8>), DataError> {
    let read = |name: &str| {
        let plain = dir.join(name);
        let path = if plain.is_file() {
            plain
        } else {
            dir.join(format!("{name}.gz"))
        };
        (std::fs::read(&path).unwrap(), path.display().to_string())
    };
    let [images, labels] = split.file_names().map(|n| read(&n));
    data::parse_split((&images.0, &images.1), (&labels.0, &labels.1))
}

fn load_images(path: &Path) -> Result<data::Images, DataError> {
    data::parse_images(&std::fs::read(path).unwrap(), &path.display().to_string())
}

fn load_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    data::parse_labels(&std::fs::read(path).unwrap(), &path.display().to_string())
}

fn idx_images(count: u32, rows: u32, cols: u32, payload_len: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [0x0000_0803u32, count, rows, cols] {
        v.extend_from_slice(&w.to_be_bytes());
    }
    v.extend((0..payload_len).map(|i| (i % 251) as u8));
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn vendored_mnist_loads() {
    let dir = Path::new(VENDORED_MNIST);
    let (train, labels) = load_split(dir, Split::Train).unwrap();
    assert_eq!((train.count, train.rows, train.cols), (60000, 28, 28));
    assert_eq!(
        &labels[..10],
        &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
        "MNIST's first training labels"
    );
    let (test, test_labels) = load_split(dir, Split::Test).unwrap();
    assert_eq!((test.count, test_labels.len()), (10000, 10000));
    // The first training image is a 5: its centre row has ink.
    assert!(train.image(0)[14 * 28..15 * 28].iter().any(|&p| p > 128));
    let words = train.packed_words();
    assert_eq!(words[0] & 0xff, u32::from(train.pixels[0]));
    assert_eq!(words.len(), 60000 * 784 / 4);
}

#[test]
fn gzipped_and_plain_files_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let raw = idx_images(3, 28, 28, 3 * 784);
    let plain = load_images(&write(dir.path(), "a", &raw)).unwrap();
    let gz = load_images(&write(dir.path(), "b.gz", &gzip(&raw))).unwrap();
    assert_eq!(plain.pixels, gz.pixels);
    assert_eq!(plain.count, 3);
}

fn corrupt_message(result: Result<impl std::fmt::Debug, DataError>) -> String {
    match result {
        Err(e) => e.to_string(),
        other => panic!("expected a corrupt-file error, got {other:?}"),
    }
}

#[test]
fn damaged_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = idx_images(3, 28, 28, 3 * 784);

    let truncated = write(dir.path(), "truncated", &good[..good.len() - 100]);
    let msg = corrupt_message(load_images(&truncated));
    assert!(
        msg.contains("truncated") && msg.contains("truncated"),
        "{msg}"
    );

    let mut wrong_magic = good.clone();
    wrong_magic[3] = 0x01;
    let msg = corrupt_message(load_images(&write(dir.path(), "magic", &wrong_magic)));
    assert!(msg.contains("magic number 0x00000801"), "{msg}");

    let msg = corrupt_message(load_images(&write(
        dir.path(),
        "size",
        &idx_images(3, 27, 28, 3 * 27 * 28),
    )));
    assert!(msg.contains("27x28"), "{msg}");

    let msg = corrupt_message(load_images(&write(dir.path(), "short", &good[..10])));
    assert!(msg.contains("too short"), "{msg}");

    let gz = gzip(&good);
    let msg = corrupt_message(load_images(&write(
        dir.path(),
        "cut.gz",
        &gz[..gz.len() / 2],
    )));
    assert!(msg.contains("gzip"), "{msg}");

    let mut labels = vec![0, 0, 8, 1, 0, 0, 0, 2];
    labels.extend([3u8, 11]);
    let msg = corrupt_message(load_labels(&write(dir.path(), "labels", &labels)));
    assert!(msg.contains("label 11"), "{msg}");
    // Every message names the file.
    assert!(msg.contains("labels"));
}

/// Finding the files is the command line's part: a missing file or directory is a one-line
/// error naming it.
#[test]
fn missing_files_and_directories_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = |data_dir: &Path| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_dcgan-wgpu"))
            .args([
                "--iterations",
                "1",
                "--data-dir",
                data_dir.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = run(dir.path());
    assert!(e.contains("train-images-idx3-ubyte: not found"), "{e}");
    let e = run(&dir.path().join("nope"));
    assert!(
        e.contains("does not exist") && e.contains("--data-dir"),
        "{e}"
    );
    // The plain name or the gzipped one.
    write(
        dir.path(),
        "train-images-idx3-ubyte.gz",
        &gzip(&idx_images(3, 28, 28, 100)),
    );
    let e = run(dir.path());
    assert!(e.contains("train-images-idx3-ubyte.gz"), "{e}");
}

#[test]
fn label_count_must_match_images() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "t10k-images-idx3-ubyte",
        &idx_images(3, 28, 28, 3 * 784),
    );
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte",
        &[0, 0, 8, 1, 0, 0, 0, 2, 1, 2],
    );
    let msg = corrupt_message(load_split(dir.path(), Split::Test));
    assert!(msg.contains("2 labels for 3 images"), "{msg}");
}

#[test]
fn fashion_mnist_reads() {
    // Debian's dataset-fashion-mnist (.ci/install-lavapipe.sh installs it).
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    let (images, labels) = load_split(dir, Split::Train)
        .unwrap_or_else(|e| panic!("{e}: install it with `apt-get install dataset-fashion-mnist`"));
    assert_eq!((images.count, labels.len()), (60000, 60000));
}

/// A file's header is checked before its payload is read, and a gzipped payload is inflated
/// only as far as the header announces: a small file cannot claim gigabytes.
#[test]
fn headers_bound_what_is_inflated() {
    // 3,000,000 images announced by a 30-byte file.
    let msg = corrupt_message(data::parse_images(
        &gzip(&idx_images(3_000_000, 28, 28, 0)),
        "bomb.gz",
    ));
    assert!(
        msg.contains("header announces 3000000 images, more than the 1000000"),
        "{msg}"
    );
    let mut labels = Vec::new();
    for w in [0x0000_0801u32, 4_000_000_000] {
        labels.extend_from_slice(&w.to_be_bytes());
    }
    let msg = corrupt_message(data::parse_labels(&labels, "labels"));
    assert!(msg.contains("4000000000 labels, more than"), "{msg}");

    // 10 images announced, 1 MB more behind them, and the gzip stream damaged after that:
    // reading stops one byte past the announced payload (trailing data), before the damage.
    let mut raw = idx_images(10, 28, 28, 10 * 784);
    raw.extend(std::iter::repeat_n(7u8, 1 << 20));
    let gz = gzip(&raw);
    let cut = &gz[..gz.len() - 64];
    let msg = corrupt_message(data::parse_images(cut, "long.gz"));
    assert!(msg.contains("trailing data"), "{msg}");
    // The same damage inside the announced payload is reported as such.
    let short = gzip(&idx_images(1000, 28, 28, 1000 * 784));
    let msg = corrupt_message(data::parse_images(&short[..short.len() / 2], "cut.gz"));
    assert!(msg.contains("gzip stream is damaged or truncated"), "{msg}");
}
