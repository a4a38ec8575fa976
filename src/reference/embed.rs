//! Class conditioning: an embedding table [classes, width] looked up by label, multiplied into
//! a sample (Keras: `multiply([z, Flatten()(Embedding(classes, width)(label))])`) or set beside
//! it as its last channel (`Concatenate(axis=-1)([image, Reshape(..)(Embedding(..)(label))])`).
//! Gradients written as the adjoints of these loops (scatters into the table).

/// y[b, j] = x[b, j] * table[labels[b], j]; x is [batch, width].
pub fn scale_forward(x: &[f64], table: &[f64], labels: &[u32], width: usize) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for (b, &label) in labels.iter().enumerate() {
        for j in 0..width {
            y[b * width + j] = x[b * width + j] * table[label as usize * width + j];
        }
    }
    y
}

/// (dx, dtable) of `scale_forward` given dy.
pub fn scale_backward(
    x: &[f64],
    table: &[f64],
    labels: &[u32],
    width: usize,
    dy: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let mut dx = vec![0.0; x.len()];
    let mut dtable = vec![0.0; table.len()];
    for (b, &label) in labels.iter().enumerate() {
        for j in 0..width {
            let (i, t) = (b * width + j, label as usize * width + j);
            dx[i] = dy[i] * table[t];
            dtable[t] += dy[i] * x[i];
        }
    }
    (dx, dtable)
}

/// y[b, pixel] = (x[b, pixel, 0..channels], table[labels[b], pixel]); x is [batch, width,
/// channels], y [batch, width, channels + 1].
pub fn concat_forward(
    x: &[f64],
    table: &[f64],
    labels: &[u32],
    width: usize,
    channels: usize,
) -> Vec<f64> {
    let mut y = Vec::with_capacity(labels.len() * width * (channels + 1));
    for (b, &label) in labels.iter().enumerate() {
        for pixel in 0..width {
            let at = (b * width + pixel) * channels;
            y.extend_from_slice(&x[at..at + channels]);
            y.push(table[label as usize * width + pixel]);
        }
    }
    y
}

/// (dx, dtable) of `concat_forward` given dy; `classes`: the table's rows.
pub fn concat_backward(
    labels: &[u32],
    classes: usize,
    width: usize,
    channels: usize,
    dy: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let mut dx = Vec::with_capacity(labels.len() * width * channels);
    let mut dtable = vec![0.0; classes * width];
    for (b, &label) in labels.iter().enumerate() {
        for pixel in 0..width {
            let at = (b * width + pixel) * (channels + 1);
            dx.extend_from_slice(&dy[at..at + channels]);
            dtable[label as usize * width + pixel] += dy[at + channels];
        }
    }
    (dx, dtable)
}
