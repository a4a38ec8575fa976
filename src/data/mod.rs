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

/// What a training run draws its batches from: the images and, for a conditional run, their
/// labels (one per image, each a digit: what `parse_split` checks).
#[derive(Clone, Copy, Debug)]
pub struct TrainingSet<'a> {
    pub images: &'a Images,
    pub labels: Option<&'a [u8]>,
}

impl<'a> From<&'a Images> for TrainingSet<'a> {
    /// The images alone (an unconditional run).
    fn from(images: &'a Images) -> Self {
        TrainingSet {
            images,
            labels: None,
        }
    }
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

/// The most images (or labels) a file may announce: MNIST and Fashion-MNIST hold 70,000 in
/// all, EMNIST's largest set 814,255. A header is checked against it before anything is
/// inflated or allocated.
pub const MAX_IMAGES: usize = 1_000_000;
/// The largest IDX file (or gzip of one) a shell needs to read: MAX_IMAGES 28x28 images and
/// their header, and gzip's worst-case overhead on incompressible data.
pub const MAX_FILE_BYTES: u64 = (16 + MAX_IMAGES * 28 * 28) as u64 * 101 / 100 + 4096;

/// Reads an IDX file's header (magic, then `dims` big-endian sizes) and exactly the payload it
/// announces, inflating a gzipped file (told by its magic bytes, not its name) only that far.
/// `check` sees the sizes before any of the payload is read. Returns the sizes and the payload.
fn read_idx(
    path: &str,
    bytes: &[u8],
    magic: u32,
    dims: usize,
    check: impl Fn(&[usize]) -> Result<(), String>,
) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let corrupt = |what: String| DataError {
        path: path.to_string(),
        what,
    };
    let gzipped = bytes.starts_with(&[0x1f, 0x8b]);
    let damaged = |e: std::io::Error| {
        corrupt(if gzipped {
            format!("gzip stream is damaged or truncated ({e})")
        } else {
            format!("cannot read ({e})")
        })
    };
    let mut reader: Box<dyn Read + '_> = if gzipped {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let header_len = 4 + 4 * dims;
    let mut header = Vec::with_capacity(header_len);
    (&mut reader)
        .take(header_len as u64)
        .read_to_end(&mut header)
        .map_err(damaged)?;
    if header.len() < header_len {
        return Err(corrupt(format!(
            "{} bytes is too short for an IDX header",
            header.len()
        )));
    }
    let found = be_u32(&header, 0);
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
        .map(|d| be_u32(&header, 4 + 4 * d) as usize)
        .collect();
    check(&sizes).map_err(corrupt)?;
    let expected = sizes
        .iter()
        .try_fold(1usize, |a, &s| a.checked_mul(s))
        .filter(|&n| n <= MAX_IMAGES * 28 * 28)
        .ok_or_else(|| corrupt(format!("header announces {sizes:?}: too large")))?;
    // One byte more than announced tells trailing data from the end of the file.
    let mut payload = Vec::new();
    reader
        .take(expected as u64 + 1)
        .read_to_end(&mut payload)
        .map_err(damaged)?;
    if payload.len() != expected {
        return Err(corrupt(format!(
            "header announces {} ({expected} bytes of data) but the file holds {}: {}",
            sizes
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(" x "),
            if payload.len() < expected {
                format!("{} bytes", payload.len())
            } else {
                "more".to_string()
            },
            if payload.len() < expected {
                "truncated"
            } else {
                "trailing data"
            }
        )));
    }
    Ok((sizes, payload))
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// A count of images or labels within [`MAX_IMAGES`].
fn check_count(count: usize, what: &str) -> Result<(), String> {
    if count > MAX_IMAGES {
        return Err(format!(
            "header announces {count} {what}, more than the {MAX_IMAGES} this program reads"
        ));
    }
    Ok(())
}

/// Parses an IDX image file of 28x28 images (gzipped or not); `path` names it in errors.
pub fn parse_images(bytes: &[u8], path: &str) -> Result<Images, DataError> {
    let (sizes, pixels) = read_idx(path, bytes, IMAGES_MAGIC, 3, |sizes| {
        let (count, rows, cols) = (sizes[0], sizes[1], sizes[2]);
        if (rows, cols) != (28, 28) {
            return Err(format!("images are {rows}x{cols}, expected 28x28"));
        }
        if count == 0 {
            return Err("holds no images".into());
        }
        check_count(count, "images")
    })?;
    Ok(Images {
        count: sizes[0],
        rows: 28,
        cols: 28,
        pixels,
    })
}

/// Parses an IDX label file (values 0..=9).
pub fn parse_labels(bytes: &[u8], path: &str) -> Result<Vec<u8>, DataError> {
    let (_, payload) = read_idx(path, bytes, LABELS_MAGIC, 1, |sizes| {
        check_count(sizes[0], "labels")
    })?;
    if let Some(bad) = payload.iter().find(|&&l| l > 9) {
        return Err(DataError {
            path: path.to_string(),
            what: format!("label {bad} is not a digit class 0-9"),
        });
    }
    Ok(payload)
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
