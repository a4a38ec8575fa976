//! 2-D convolution and transposed convolution with TensorFlow 'same' padding: forward, dX, dW,
//! db. Shader: `shaders/conv.wgsl` (operand mappings) + `shaders/gemm.wgsl` (driver).
//!
//! A transposed convolution is the adjoint (the input gradient) of the convolution that maps
//! its output size back to its input size, which is how Keras defines it. So both layer types
//! run on the same three mappings: conv forward / conv dX / conv dW.

use super::gemm::{Driver, Epilogue, Gemm, GemmKernels, GemmParams, Mapping};
use super::reduce::ReduceOps;
use crate::gpu::{Dispatch, GpuContext, GpuError, GpuSlice, shaders};

/// A convolution with 'same' padding: x [batch, in_h, in_w, in_c] -> y [batch, out_h, out_w,
/// out_c], kernel [kernel, kernel, in_c, out_c] (Keras layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_c: usize,
    pub kernel: usize,
    pub stride: usize,
}

/// TensorFlow 'same': out = ceil(in / s), total padding max((out - 1) s + k - in, 0), split
/// with the smaller half before. For stride 2 on even sizes this puts the padding after.
pub fn same_padding(input: usize, kernel: usize, stride: usize) -> (usize, usize, usize) {
    let out = input.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(input);
    (out, total / 2, total - total / 2)
}

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

impl ConvShape {
    pub fn out_h(&self) -> usize {
        same_padding(self.in_h, self.kernel, self.stride).0
    }
    pub fn out_w(&self) -> usize {
        same_padding(self.in_w, self.kernel, self.stride).0
    }
    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.in_c
    }
    pub fn output_len(&self) -> usize {
        self.batch * self.out_h() * self.out_w() * self.out_c
    }
    pub fn kernel_len(&self) -> usize {
        self.kernel * self.kernel * self.in_c * self.out_c
    }
    /// Multiply-adds of the forward pass (dX and dW cost the same).
    pub fn macs(&self) -> u64 {
        (self.batch * self.out_h() * self.out_w() * self.kernel_len()) as u64
    }

    fn gemm_params(&self, m: usize, n: usize, k: usize) -> GemmParams {
        let (out_h, pad_top, _) = same_padding(self.in_h, self.kernel, self.stride);
        let (out_w, pad_left, _) = same_padding(self.in_w, self.kernel, self.stride);
        GemmParams {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            batch: self.batch as u32,
            in_h: self.in_h as u32,
            in_w: self.in_w as u32,
            in_c: self.in_c as u32,
            out_h: out_h as u32,
            out_w: out_w as u32,
            out_c: self.out_c as u32,
            stride: self.stride as u32,
            pad_top: pad_top as u32,
            pad_left: pad_left as u32,
            kernel_h: self.kernel as u32,
            kernel_w: self.kernel as u32,
            ..Default::default()
        }
    }
}

/// A transposed convolution with 'same' padding: x [batch, in_h, in_w, in_c] -> y [batch,
/// in_h * s, in_w * s, out_c], kernel [kernel, kernel, out_c, in_c] (Keras layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTransposeShape {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_c: usize,
    pub kernel: usize,
    pub stride: usize,
}

impl ConvTransposeShape {
    pub fn out_h(&self) -> usize {
        self.in_h * self.stride
    }
    pub fn out_w(&self) -> usize {
        self.in_w * self.stride
    }
    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.in_c
    }
    pub fn output_len(&self) -> usize {
        self.batch * self.out_h() * self.out_w() * self.out_c
    }
    pub fn kernel_len(&self) -> usize {
        self.kernel * self.kernel * self.in_c * self.out_c
    }
    pub fn macs(&self) -> u64 {
        (self.batch * self.in_h * self.in_w * self.kernel_len()) as u64
    }

    /// The convolution this layer is the adjoint of: from our output size to our input size,
    /// kernel [k, k, out_c, in_c] read as [k, k, conv in, conv out].
    pub fn adjoint(&self) -> ConvShape {
        let conv = ConvShape {
            batch: self.batch,
            in_h: self.out_h(),
            in_w: self.out_w(),
            in_c: self.out_c,
            out_c: self.in_c,
            kernel: self.kernel,
            stride: self.stride,
        };
        debug_assert_eq!((conv.out_h(), conv.out_w()), (self.in_h, self.in_w));
        conv
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

    // ---- Conv2D ----

    /// y = act(conv(x, W) + b).
    pub fn conv2d_forward(
        &self,
        ctx: &GpuContext,
        s: ConvShape,
        x: &GpuSlice,
        w: &GpuSlice,
        epilogue: Epilogue<'_>,
        y: &GpuSlice,
        driver: Driver,
    ) -> Vec<Dispatch> {
        assert_eq!(
            (x.len, w.len, y.len),
            (s.input_len(), s.kernel_len(), s.output_len())
        );
        let m = s.batch * s.out_h() * s.out_w();
        let p = s.gemm_params(m, s.out_c, s.kernel * s.kernel * s.in_c);
        self.forward.record(
            ctx,
            Gemm {
                params: p,
                a: x,
                b: w,
                epilogue,
                out: y,
            },
            driver,
        )
    }

    /// dx from dy (the input gradient); with an epilogue, a transposed conv's forward.
    pub fn conv2d_backward_input(
        &self,
        ctx: &GpuContext,
        s: ConvShape,
        dy: &GpuSlice,
        w: &GpuSlice,
        epilogue: Epilogue<'_>,
        dx: &GpuSlice,
        driver: Driver,
    ) -> Vec<Dispatch> {
        assert_eq!(
            (dy.len, w.len, dx.len),
            (s.output_len(), s.kernel_len(), s.input_len())
        );
        // One GEMM over the parity classes of input pixels, each over only the taps that reach
        // it (conv.wgsl); stride 1 is a single class with every tap. A dispatch takes up to 4
        // classes (a stride of 2 has 4), each class's rows starting on a 128-row tile.
        let (_, pad_top, _) = same_padding(s.in_h, s.kernel, s.stride);
        let (_, pad_left, _) = same_padding(s.in_w, s.kernel, s.stride);
        let classes: Vec<(usize, usize)> = (0..s.stride.min(s.in_h))
            .flat_map(|cy| (0..s.stride.min(s.in_w)).map(move |cx| (cy, cx)))
            .collect();
        let mut dispatches = Vec::new();
        for group in classes.chunks(4) {
            let mut p = s.gemm_params(0, s.in_c, 0);
            p.classes = group.len() as u32;
            let mut rows = 0;
            for (i, &(cy, cx)) in group.iter().enumerate() {
                let (class_h, taps_h, tap_y0) =
                    parity_class(s.in_h, s.kernel, s.stride, pad_top, cy);
                let (class_w, taps_w, tap_x0) =
                    parity_class(s.in_w, s.kernel, s.stride, pad_left, cx);
                (p.class_y[i], p.class_x[i]) = (cy as u32, cx as u32);
                (p.class_h[i], p.class_w[i]) = (class_h as u32, class_w as u32);
                (p.taps_h[i], p.taps_w[i]) = (taps_h as u32, taps_w as u32);
                (p.tap_y0[i], p.tap_x0[i]) = (tap_y0 as u32, tap_x0 as u32);
                p.class_row0[i] = rows;
                p.k = p.k.max((taps_h * taps_w * s.out_c) as u32);
                let class_rows = (s.batch * class_h * class_w) as u32;
                p.m = rows + class_rows;
                // Classes start on 128-row tiles (the largest a driver has).
                rows += class_rows.div_ceil(128) * 128;
            }
            dispatches.extend(self.backward_input.record(
                ctx,
                Gemm {
                    params: p,
                    a: dy,
                    b: w,
                    epilogue,
                    out: dx,
                },
                driver,
            ));
        }
        dispatches
    }

    /// dW[k, k, in_c, out_c] from x and dy, and with `db` the bias gradient db[c] = sum of dy
    /// over batch and pixels, in the same GEMM (a row of ones in im2col(x)^T).
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d_backward_weight(
        &self,
        ctx: &GpuContext,
        s: ConvShape,
        x: &GpuSlice,
        dy: &GpuSlice,
        dw: &GpuSlice,
        db: Option<&GpuSlice>,
        driver: Driver,
    ) -> Vec<Dispatch> {
        assert_eq!(
            (x.len, dy.len, dw.len),
            (s.input_len(), s.output_len(), s.kernel_len())
        );
        let p = s.gemm_params(
            s.kernel * s.kernel * s.in_c,
            s.out_c,
            s.batch * s.out_h() * s.out_w(),
        );
        self.backward_weight.record(
            ctx,
            Gemm {
                params: p,
                a: x,
                b: dy,
                epilogue: Epilogue::with_bias_grad(db),
                out: dw,
            },
            driver,
        )
    }

    /// db[c] = sum of dy over batch and pixels, on its own (a transposed conv's bias: its dW
    /// GEMM sums over the other operand).
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

    // ---- Conv2DTranspose ----

    /// y = act(conv_transpose(x, W) + b).
    pub fn conv_transpose_forward(
        &self,
        ctx: &GpuContext,
        s: ConvTransposeShape,
        x: &GpuSlice,
        w: &GpuSlice,
        epilogue: Epilogue<'_>,
        y: &GpuSlice,
        driver: Driver,
    ) -> Vec<Dispatch> {
        self.conv2d_backward_input(ctx, s.adjoint(), x, w, epilogue, y, driver)
    }

    /// dx = conv(dy, W): the adjoint of the adjoint (the epilogue can take the gradient
    /// through the activation before this layer).
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose_backward_input(
        &self,
        ctx: &GpuContext,
        s: ConvTransposeShape,
        dy: &GpuSlice,
        w: &GpuSlice,
        epilogue: Epilogue<'_>,
        dx: &GpuSlice,
        driver: Driver,
    ) -> Vec<Dispatch> {
        self.conv2d_forward(ctx, s.adjoint(), dy, w, epilogue, dx, driver)
    }

    /// dW[k, k, out_c, in_c]: the adjoint conv's weight gradient with its input being our dy
    /// and its output gradient being our x.
    pub fn conv_transpose_backward_weight(
        &self,
        ctx: &GpuContext,
        s: ConvTransposeShape,
        x: &GpuSlice,
        dy: &GpuSlice,
        dw: &GpuSlice,
        driver: Driver,
    ) -> Vec<Dispatch> {
        self.conv2d_backward_weight(ctx, s.adjoint(), dy, x, dw, None, driver)
    }
}
