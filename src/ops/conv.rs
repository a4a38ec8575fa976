//! 2-D convolution and transposed convolution with TensorFlow 'same' padding: forward, dX, dW,
//! db. Shader: `shaders/conv.wgsl` (operand mappings) + `shaders/gemm.wgsl` (driver).
//!
//! A transposed convolution is the adjoint (the input gradient) of the convolution that maps
//! its output size back to its input size, which is how Keras defines it. So both layer types
//! run on the same three mappings: conv forward / conv dX / conv dW. The public calls take the
//! layer's [`Conv2d`] and pick the mapping; the private ones take the convolution it runs as.

pub use crate::geometry::{Conv2d, same_padding};

use super::gemm::{Driver, Gemm, GemmKernels, GemmParams, Mapping, Pass, WeightGrads};
use super::reduce::ReduceOps;
use crate::gpu::shaders::GEMM_TALL_TILE;
use crate::gpu::{Dispatch, GpuContext, GpuError, GpuSlice, shaders};

/// The parity class `c` of one axis of a strided conv's input: (pixels in the class, taps that
/// reach them, first such tap). Input index i = c + s*j receives tap t when (i + pad - t) is a
/// multiple of s, i.e. t = (c + pad) mod s + s*u.
fn parity_class(
    input: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    c: usize,
) -> (usize, usize, usize) {
    let pixels = (input - c).div_ceil(stride);
    let first = (c + pad) % stride;
    let taps = kernel.saturating_sub(first).div_ceil(stride);
    (pixels, taps, first)
}

/// The GEMM parameters of convolution `c` (never a transposed one: see `Conv2d::as_conv`).
fn gemm_params(c: &Conv2d, m: usize, n: usize, k: usize) -> GemmParams {
    debug_assert!(!c.transposed);
    let (pad_top, pad_left) = c.padding();
    GemmParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        batch: c.batch as u32,
        in_h: c.in_h as u32,
        in_w: c.in_w as u32,
        in_c: c.in_c as u32,
        out_h: c.out_h() as u32,
        out_w: c.out_w() as u32,
        out_c: c.out_c as u32,
        stride: c.stride as u32,
        pad_top: pad_top as u32,
        pad_left: pad_left as u32,
        kernel_h: c.kernel as u32,
        kernel_w: c.kernel as u32,
        ..Default::default()
    }
}

pub struct ConvOps {
    forward: GemmKernels,
    backward_input: GemmKernels,
    backward_weight: GemmKernels,
    reduce: ReduceOps,
}

impl ConvOps {
    /// The three mappings' drivers (for `Ops::tune`).
    pub fn gemms(&self) -> [&GemmKernels; 3] {
        [&self.forward, &self.backward_input, &self.backward_weight]
    }
}

impl ConvOps {
    pub fn new(
        ctx: &GpuContext,
        tuner: std::sync::Arc<super::tune::Tuner>,
    ) -> Result<Self, GpuError> {
        Ok(ConvOps {
            forward: GemmKernels::new(
                ctx,
                &shaders::CONV,
                &shaders::CONV_SUBGROUP,
                Mapping::Forward,
                tuner.clone(),
            )?,
            backward_input: GemmKernels::new(
                ctx,
                &shaders::CONV,
                &shaders::CONV_SUBGROUP,
                Mapping::BackwardInput,
                tuner.clone(),
            )?,
            backward_weight: GemmKernels::new(
                ctx,
                &shaders::CONV,
                &shaders::CONV_SUBGROUP,
                Mapping::BackwardWeight,
                tuner.clone(),
            )?,
            reduce: ReduceOps::new(ctx)?,
        })
    }

    // ---- a layer: convolution or transposed convolution ----

    /// y = act(layer(x, W) + b).
    pub fn forward(
        &self,
        ctx: &GpuContext,
        g: Conv2d,
        pass: Pass<'_>,
        driver: Driver,
    ) -> Vec<Dispatch> {
        assert_eq!(
            (pass.input.len, pass.w.len, pass.output.len),
            (g.input_len(), g.kernel_len(), g.output_len())
        );
        match g.transposed {
            false => self.conv_forward(ctx, g, pass, driver),
            true => self.conv_backward_input(ctx, g.as_conv(), pass, driver),
        }
    }

    /// dx from dy (the epilogue can take the gradient through the activation before this
    /// layer).
    pub fn backward_input(
        &self,
        ctx: &GpuContext,
        g: Conv2d,
        pass: Pass<'_>,
        driver: Driver,
    ) -> Vec<Dispatch> {
        assert_eq!(
            (pass.input.len, pass.w.len, pass.output.len),
            (g.output_len(), g.kernel_len(), g.input_len())
        );
        match g.transposed {
            // The adjoint of the adjoint: the convolution's forward.
            true => self.conv_forward(ctx, g.as_conv(), pass, driver),
            false => self.conv_backward_input(ctx, g, pass, driver),
        }
    }

    /// Whether `backward_weight` can write the bias gradient in its GEMM: a convolution's dW
    /// sums over dy's rows (a row of ones gives db), a transposed one's over x's.
    pub fn fuses_bias_grad(g: &Conv2d) -> bool {
        !g.transposed
    }

    /// dW in the layer's kernel layout, and with `db` (only where `fuses_bias_grad`) the bias
    /// gradient db[c] = sum of dy over batch and pixels in the same GEMM.
    pub fn backward_weight(
        &self,
        ctx: &GpuContext,
        g: Conv2d,
        grads: WeightGrads<'_>,
        driver: Driver,
    ) -> Vec<Dispatch> {
        let WeightGrads { x, dy, dw, db } = grads;
        assert_eq!(
            (x.len, dy.len, dw.len),
            (g.input_len(), g.output_len(), g.kernel_len())
        );
        assert!(
            db.is_none() || Self::fuses_bias_grad(&g),
            "{g:?} fuses no db"
        );
        match g.transposed {
            // The adjoint convolution's dW, its input being our dy and its output gradient x.
            true => {
                let adjoint = WeightGrads {
                    x: dy,
                    dy: x,
                    dw,
                    db: None,
                };
                self.conv_backward_weight(ctx, g.as_conv(), adjoint, driver)
            }
            false => self.conv_backward_weight(ctx, g, grads, driver),
        }
    }

    /// db[c] = sum of dy over batch and pixels, on its own (a transposed conv's bias).
    pub fn backward_bias(
        &self,
        ctx: &GpuContext,
        dy: &GpuSlice,
        channels: usize,
        db: &GpuSlice,
    ) -> [Dispatch; 2] {
        self.reduce
            .column_sum(ctx, dy.len / channels, channels, dy, db)
    }

    /// db[c] from column sums of dy per row group that another kernel wrote (`sums`:
    /// [blocks][channels]): the finish of `backward_bias` alone.
    pub fn backward_bias_from_sums(
        &self,
        ctx: &GpuContext,
        sums: &GpuSlice,
        blocks: usize,
        channels: usize,
        db: &GpuSlice,
    ) -> Dispatch {
        self.reduce.finish(ctx, sums, blocks, channels, db)
    }

    // ---- the three mappings of a convolution `c` ----

    fn conv_forward(
        &self,
        ctx: &GpuContext,
        c: Conv2d,
        pass: Pass<'_>,
        driver: Driver,
    ) -> Vec<Dispatch> {
        let m = c.batch * c.out_h() * c.out_w();
        let p = gemm_params(&c, m, c.out_c, c.kernel * c.kernel * c.in_c);
        self.forward.record(ctx, Gemm::of_pass(p, pass), driver)
    }

    fn conv_backward_input(
        &self,
        ctx: &GpuContext,
        c: Conv2d,
        pass: Pass<'_>,
        driver: Driver,
    ) -> Vec<Dispatch> {
        // One GEMM over the parity classes of input pixels, each over only the taps that reach
        // it (conv.wgsl); stride 1 is a single class with every tap. A dispatch takes up to 4
        // classes (a stride of 2 has 4), each class's rows starting on a 128-row tile.
        let (pad_top, pad_left) = c.padding();
        let classes: Vec<(usize, usize)> = (0..c.stride.min(c.in_h))
            .flat_map(|cy| (0..c.stride.min(c.in_w)).map(move |cx| (cy, cx)))
            .collect();
        let mut dispatches = Vec::new();
        for group in classes.chunks(4) {
            let mut p = gemm_params(&c, 0, c.in_c, 0);
            p.classes = group.len() as u32;
            let mut rows = 0;
            for (i, &(cy, cx)) in group.iter().enumerate() {
                let (class_h, taps_h, tap_y0) =
                    parity_class(c.in_h, c.kernel, c.stride, pad_top, cy);
                let (class_w, taps_w, tap_x0) =
                    parity_class(c.in_w, c.kernel, c.stride, pad_left, cx);
                (p.class_y[i], p.class_x[i]) = (cy as u32, cx as u32);
                (p.class_h[i], p.class_w[i]) = (class_h as u32, class_w as u32);
                (p.taps_h[i], p.taps_w[i]) = (taps_h as u32, taps_w as u32);
                (p.tap_y0[i], p.tap_x0[i]) = (tap_y0 as u32, tap_x0 as u32);
                p.class_row0[i] = rows;
                p.k = p.k.max((taps_h * taps_w * c.out_c) as u32);
                let class_rows = (c.batch * class_h * class_w) as u32;
                p.m = rows + class_rows;
                // Classes start on tall tiles (the largest a driver has).
                rows += class_rows.div_ceil(GEMM_TALL_TILE) * GEMM_TALL_TILE;
            }
            dispatches.extend(
                self.backward_input
                    .record(ctx, Gemm::of_pass(p, pass), driver),
            );
        }
        dispatches
    }

    /// dW[k, k, in_c, out_c] from x and dy, with `db` in the same GEMM (a row of ones in
    /// im2col(x)^T).
    fn conv_backward_weight(
        &self,
        ctx: &GpuContext,
        c: Conv2d,
        grads: WeightGrads<'_>,
        driver: Driver,
    ) -> Vec<Dispatch> {
        let p = gemm_params(
            &c,
            c.kernel * c.kernel * c.in_c,
            c.out_c,
            c.batch * c.out_h() * c.out_w(),
        );
        self.backward_weight
            .record(ctx, Gemm::of_weight_grads(p, grads), driver)
    }
}
