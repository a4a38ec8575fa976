//! Dense layer y = x W + b, W in Keras layout [in, out].

pub fn forward(
    x: &[f64],
    w: &[f64],
    b: &[f64],
    batch: usize,
    n_in: usize,
    n_out: usize,
) -> Vec<f64> {
    let mut y = vec![0.0; batch * n_out];
    for i in 0..batch {
        for o in 0..n_out {
            let mut s = b[o];
            for k in 0..n_in {
                s += x[i * n_in + k] * w[k * n_out + o];
            }
            y[i * n_out + o] = s;
        }
    }
    y
}

pub fn backward_input(dy: &[f64], w: &[f64], batch: usize, n_in: usize, n_out: usize) -> Vec<f64> {
    let mut dx = vec![0.0; batch * n_in];
    for i in 0..batch {
        for k in 0..n_in {
            let mut s = 0.0;
            for o in 0..n_out {
                s += dy[i * n_out + o] * w[k * n_out + o];
            }
            dx[i * n_in + k] = s;
        }
    }
    dx
}

pub fn backward_weight(x: &[f64], dy: &[f64], batch: usize, n_in: usize, n_out: usize) -> Vec<f64> {
    let mut dw = vec![0.0; n_in * n_out];
    for k in 0..n_in {
        for o in 0..n_out {
            let mut s = 0.0;
            for i in 0..batch {
                s += x[i * n_in + k] * dy[i * n_out + o];
            }
            dw[k * n_out + o] = s;
        }
    }
    dw
}

/// Column sums of a row-major [rows, cols] matrix (bias gradient of dense and conv layers).
pub fn column_sum(dy: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut db = vec![0.0; cols];
    for r in 0..rows {
        for c in 0..cols {
            db[c] += dy[r * cols + c];
        }
    }
    db
}
