//! MNIST-format (IDX) data: the four files of MNIST or Fashion-MNIST, gzipped or not.
//!
//! A small reader of our own rather than the `mnist` crate: that crate reads only uncompressed
//! files and panics on a missing or malformed one, while a user should get an error naming the
//! file and what is wrong with it.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The vendored MNIST copy, found relative to the crate so `cargo run` works from anywhere.
pub const VENDORED_MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/mnist");

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(
        "data directory {0} does not exist (pass --data-dir with the four MNIST-format IDX files)"
    )]
    MissingDir(PathBuf),
    #[error("{file}: not found in {dir} (looked for {file} and {file}.gz)")]
    MissingFile { dir: PathBuf, file: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Corrupt { path: PathBuf, what: String },
}

/// A set of 8-bit grayscale images, row-major, one after another.
#[derive(Clone, Debug)]
pub struct Images {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

impl Images {
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.pixels_per_image();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The pixels packed four to a little-endian u32, as the GPU gather kernel reads them.
    pub fn packed_words(&self) -> Vec<u32> {
        let mut words = vec![0u32; self.pixels.len().div_ceil(4)];
        for (i, &p) in self.pixels.iter().enumerate() {
            words[i / 4] |= u32::from(p) << (8 * (i % 4));
        }
        words
    }
}

/// Which half of the data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// Finds `name` or `name.gz` in `dir`.
pub fn find(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingDir(dir.to_path_buf()));
    }
    for candidate in [dir.join(name), dir.join(format!("{name}.gz"))] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(DataError::MissingFile {
        dir: dir.to_path_buf(),
        file: name.to_string(),
    })
}

/// The whole file, decompressed when it is gzipped (by its magic bytes, not its name).
fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::Corrupt {
                path: path.to_path_buf(),
                what: format!("gzip stream is damaged or truncated ({e})"),
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Checks the header (magic, then `dims` big-endian sizes) and the payload length; returns the
/// sizes and the payload.
fn parse_idx<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    dims: usize,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let corrupt = |what: String| DataError::Corrupt {
        path: path.to_path_buf(),
        what,
    };
    let header = 4 + 4 * dims;
    if bytes.len() < header {
        return Err(corrupt(format!(
            "{} bytes is too short for an IDX header",
            bytes.len()
        )));
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(corrupt(format!(
            "magic number {found:#010x}, expected {magic:#010x}: not an IDX {} file",
            if magic == IMAGES_MAGIC {
                "image"
            } else {
                "label"
            }
        )));
    }
    let sizes: Vec<usize> = (0..dims)
        .map(|d| be_u32(bytes, 4 + 4 * d) as usize)
        .collect();
    let expected: usize = sizes.iter().product();
    let payload = &bytes[header..];
    if payload.len() != expected {
        return Err(corrupt(format!(
            "header announces {} ({expected} bytes of data) but the file holds {} bytes: {}",
            sizes
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(" x "),
            payload.len(),
            if payload.len() < expected {
                "truncated"
            } else {
                "trailing data"
            }
        )));
    }
    Ok((sizes, payload))
}

/// Reads an IDX image file of 28x28 images.
pub fn load_images(path: &Path) -> Result<Images, DataError> {
    let bytes = read_maybe_gzip(path)?;
    let (sizes, payload) = parse_idx(path, &bytes, IMAGES_MAGIC, 3)?;
    let (count, rows, cols) = (sizes[0], sizes[1], sizes[2]);
    if (rows, cols) != (28, 28) {
        return Err(DataError::Corrupt {
            path: path.to_path_buf(),
            what: format!("images are {rows}x{cols}, expected 28x28"),
        });
    }
    if count == 0 {
        return Err(DataError::Corrupt {
            path: path.to_path_buf(),
            what: "holds no images".into(),
        });
    }
    Ok(Images {
        count,
        rows,
        cols,
        pixels: payload.to_vec(),
    })
}

/// Reads an IDX label file (values 0..=9).
pub fn load_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_maybe_gzip(path)?;
    let (_, payload) = parse_idx(path, &bytes, LABELS_MAGIC, 1)?;
    if let Some(bad) = payload.iter().find(|&&l| l > 9) {
        return Err(DataError::Corrupt {
            path: path.to_path_buf(),
            what: format!("label {bad} is not a digit class 0-9"),
        });
    }
    Ok(payload.to_vec())
}

/// Images and labels of one split, checked to have the same count.
pub fn load_split(dir: &Path, split: Split) -> Result<(Images, Vec<u8>), DataError> {
    let images = load_images(&find(
        dir,
        &format!("{}-images-idx3-ubyte", split.prefix()),
    )?)?;
    let labels_path = find(dir, &format!("{}-labels-idx1-ubyte", split.prefix()))?;
    let labels = load_labels(&labels_path)?;
    if labels.len() != images.count {
        return Err(DataError::Corrupt {
            path: labels_path,
            what: format!("{} labels for {} images", labels.len(), images.count),
        });
    }
    Ok((images, labels))
}

/// The training images (what the GAN trains on).
pub fn load_training_images(dir: &Path) -> Result<Images, DataError> {
    load_images(&find(dir, "train-images-idx3-ubyte")?)
}
