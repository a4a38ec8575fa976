//! MNIST-format (IDX) data: the four files of MNIST or Fashion-MNIST, gzipped or not, parsed
//! from their bytes (a shell finds and reads the files: the command line from a directory,
//! the web page from the server beside it).
//!
//! A small reader of our own rather than the `mnist` crate: that crate reads only uncompressed
//! files and panics on a missing or malformed one, while a user should get an error naming the
//! file and what is wrong with it.

use std::io::Read;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// A file that is not what it should be; `path` is the name the shell gave it.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {what}")]
pub struct DataError {
    pub path: String,
    pub what: String,
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

    /// The file names of the split's images and labels (each may also come gzipped, `.gz`).
    pub fn file_names(self) -> [String; 2] {
        [
            format!("{}-images-idx3-ubyte", self.prefix()),
            format!("{}-labels-idx1-ubyte", self.prefix()),
        ]
    }
}

/// The bytes, decompressed when they are gzipped (by their magic bytes, not their name).
fn maybe_gunzip<'a>(bytes: &'a [u8], path: &str) -> Result<std::borrow::Cow<'a, [u8]>, DataError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| DataError {
                path: path.to_string(),
                what: format!("gzip stream is damaged or truncated ({e})"),
            })?;
        Ok(out.into())
    } else {
        Ok(bytes.into())
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Checks the header (magic, then `dims` big-endian sizes) and the payload length; returns the
/// sizes and the payload.
fn parse_idx<'a>(
    path: &str,
    bytes: &'a [u8],
    magic: u32,
    dims: usize,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let corrupt = |what: String| DataError {
        path: path.to_string(),
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

/// Parses an IDX image file of 28x28 images (gzipped or not); `path` names it in errors.
pub fn parse_images(bytes: &[u8], path: &str) -> Result<Images, DataError> {
    let bytes = maybe_gunzip(bytes, path)?;
    let (sizes, payload) = parse_idx(path, &bytes, IMAGES_MAGIC, 3)?;
    let (count, rows, cols) = (sizes[0], sizes[1], sizes[2]);
    let corrupt = |what: String| DataError {
        path: path.to_string(),
        what,
    };
    if (rows, cols) != (28, 28) {
        return Err(corrupt(format!("images are {rows}x{cols}, expected 28x28")));
    }
    if count == 0 {
        return Err(corrupt("holds no images".into()));
    }
    Ok(Images {
        count,
        rows,
        cols,
        pixels: payload.to_vec(),
    })
}

/// Parses an IDX label file (values 0..=9).
pub fn parse_labels(bytes: &[u8], path: &str) -> Result<Vec<u8>, DataError> {
    let bytes = maybe_gunzip(bytes, path)?;
    let (_, payload) = parse_idx(path, &bytes, LABELS_MAGIC, 1)?;
    if let Some(bad) = payload.iter().find(|&&l| l > 9) {
        return Err(DataError {
            path: path.to_string(),
            what: format!("label {bad} is not a digit class 0-9"),
        });
    }
    Ok(payload.to_vec())
}

/// Images and labels of one split, checked to have the same count: (bytes, name) of each file.
pub fn parse_split(
    (images, images_path): (&[u8], &str),
    (labels, labels_path): (&[u8], &str),
) -> Result<(Images, Vec<u8>), DataError> {
    let images = parse_images(images, images_path)?;
    let labels = parse_labels(labels, labels_path)?;
    if labels.len() != images.count {
        return Err(DataError {
            path: labels_path.to_string(),
            what: format!("{} labels for {} images", labels.len(), images.count),
        });
    }
    Ok((images, labels))
}
