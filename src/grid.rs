//! Digits out of a picture: a single 28x28 image, this program's sample grids, or the grids
//! other tools write (torchvision's `save_image`: 2 pixels of padding around and between the
//! tiles; a plain mosaic of 28x28 tiles; tiles upscaled by a whole factor). Pixels are gray, 0 to
//! 255; the digits come back scaled to [-1, 1] as the networks see them.

/// How tiles sit in a grid: `rows` x `cols` tiles of `28 * scale` pixels, `pad` pixels around
/// and between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridLayout {
    pub rows: usize,
    pub cols: usize,
    pub pad: usize,
    pub scale: usize,
}

/// A picture no layout fits, with the message a user sees.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GridError(pub String);

impl GridLayout {
    /// The layout of a `width` x `height` grid of `rows` x `cols` tiles with `pad` pixels of
    /// padding (`--grid ROWSxCOLS --pad N`), if the sizes add up.
    pub fn given(
        width: usize,
        height: usize,
        rows: usize,
        cols: usize,
        pad: usize,
    ) -> Result<GridLayout, GridError> {
        let scale_along = |side: usize, n: usize| {
            let tile = side.checked_sub(pad)? / n;
            let ok =
                n > 0 && tile > pad && (tile - pad).is_multiple_of(28) && n * tile + pad == side;
            ok.then(|| (tile - pad) / 28)
        };
        match (scale_along(width, cols), scale_along(height, rows)) {
            (Some(a), Some(b)) if a == b && a > 0 => Ok(GridLayout {
                rows,
                cols,
                pad,
                scale: a,
            }),
            _ => Err(GridError(format!(
                "a {width}x{height} image is not {rows}x{cols} tiles of 28x28 (or a whole \
                 multiple) with {pad} pixels of padding"
            ))),
        }
    }

    fn tile(&self) -> usize {
        28 * self.scale
    }

    /// Whether every padding pixel has one value and every `scale` x `scale` block inside a
    /// tile is one value (an upscaled digit): what tells a layout from a coincidence of sizes.
    fn fits(&self, width: usize, gray: &[u8]) -> bool {
        let step = self.tile() + self.pad;
        let in_tile = |v: usize| v % step >= self.pad;
        let height = gray.len() / width;
        let mut pad_value = None;
        for y in 0..height {
            for x in 0..width {
                let v = gray[y * width + x];
                if in_tile(x) && in_tile(y) {
                    let (bx, by) = (x % step - self.pad, y % step - self.pad);
                    let (x0, y0) = (x - bx % self.scale, y - by % self.scale);
                    if gray[y0 * width + x0] != v {
                        return false;
                    }
                } else if *pad_value.get_or_insert(v) != v {
                    return false;
                }
            }
        }
        true
    }

    /// Finds the layout of a grid: this program's own first (3x tiles, 2 pixels of padding),
    /// then larger scales before smaller, more padding before less, among layouts whose padding
    /// is uniform and whose tiles are whole upscaled digits.
    pub fn detect(width: usize, height: usize, gray: &[u8]) -> Result<GridLayout, GridError> {
        let mut candidates = vec![(3, 2)];
        for scale in (1..=8).rev() {
            for pad in (0..=8).rev() {
                candidates.push((scale, pad));
            }
        }
        for (scale, pad) in candidates {
            let step = 28 * scale + pad;
            let count = |side: usize| {
                (side > pad && (side - pad).is_multiple_of(step)).then(|| (side - pad) / step)
            };
            if let (Some(cols), Some(rows)) = (count(width), count(height))
                && rows > 0
                && cols > 0
            {
                let layout = GridLayout {
                    rows,
                    cols,
                    pad,
                    scale,
                };
                if layout.fits(width, gray) {
                    return Ok(layout);
                }
            }
        }
        Err(GridError(format!(
            "a {width}x{height} image is neither a 28x28 digit nor a grid of 28x28 tiles (or \
             whole multiples) with uniform padding; give the layout with --grid ROWSxCOLS --pad N"
        )))
    }

    /// The tiles' digits, row by row, in [-1, 1] (the top-left pixel of each upscaled block).
    pub fn digits(&self, width: usize, gray: &[u8]) -> Vec<f32> {
        let step = self.tile() + self.pad;
        let mut out = Vec::with_capacity(self.rows * self.cols * 784);
        for r in 0..self.rows {
            for c in 0..self.cols {
                let (x0, y0) = (self.pad + c * step, self.pad + r * step);
                for y in 0..28 {
                    for x in 0..28 {
                        let v = gray[(y0 + y * self.scale) * width + x0 + x * self.scale];
                        out.push(f32::from(v) / 127.5 - 1.0);
                    }
                }
            }
        }
        out
    }
}

/// The digits of a `width` x `height` gray picture: one when it is 28x28, else the tiles of
/// `layout` (or of the detected layout), at most `max` of them (checked before any is taken
/// out: a small, well-compressed picture can hold a great many tiles).
pub fn digits(
    width: usize,
    height: usize,
    gray: &[u8],
    layout: Option<(usize, usize, usize)>,
    max: usize,
) -> Result<Vec<f32>, GridError> {
    if (width, height) == (28, 28) && layout.is_none() {
        return Ok(gray.iter().map(|&v| f32::from(v) / 127.5 - 1.0).collect());
    }
    let layout = match layout {
        Some((rows, cols, pad)) => GridLayout::given(width, height, rows, cols, pad)?,
        None => GridLayout::detect(width, height, gray)?,
    };
    let count = layout.rows.saturating_mul(layout.cols);
    if count > max {
        return Err(GridError(format!(
            "a {}x{} grid holds {count} digits, more than the {max} scored at once",
            layout.rows, layout.cols
        )));
    }
    Ok(layout.digits(width, gray))
}
