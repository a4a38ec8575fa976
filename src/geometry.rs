//! One description of a convolution layer's geometry, which the model's layer lists, the GPU
//! ops and the CPU reference all take (imports nothing of the crate's).
//!
//! Keras' Conv2DTranspose is the adjoint (the input gradient) of the convolution that maps its
//! output size back to its input size; [`Conv2d::as_conv`] names that convolution, so both
//! layer types run on the same three GEMM mappings.

/// A 2-D convolution or transposed convolution with TensorFlow 'same' padding, NHWC:
/// x [batch, in_h, in_w, in_c] -> y [batch, out_h, out_w, out_c]. Kernel in Keras' layout:
/// [kernel, kernel, in_c, out_c] for a convolution, [kernel, kernel, out_c, in_c] transposed.
/// A layer list describes one sample (`batch` 1); [`Conv2d::with_batch`] sizes it for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    pub transposed: bool,
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_c: usize,
    pub kernel: usize,
    pub stride: usize,
}

/// TensorFlow 'same' along one axis: (output size, padding before, padding after). out =
/// ceil(in / s), total padding max((out - 1) s + k - in, 0), the smaller half before (so for
/// stride 2 on even sizes the padding is after).
pub fn same_padding(input: usize, kernel: usize, stride: usize) -> (usize, usize, usize) {
    let out = input.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(input);
    (out, total / 2, total - total / 2)
}

impl Conv2d {
    /// A convolution of one sample of `input` (h, w, c).
    pub fn conv(input: (usize, usize, usize), out_c: usize, kernel: usize, stride: usize) -> Self {
        let (in_h, in_w, in_c) = input;
        Conv2d {
            transposed: false,
            batch: 1,
            in_h,
            in_w,
            in_c,
            out_c,
            kernel,
            stride,
        }
    }

    /// A transposed convolution of one sample of `input` (h, w, c).
    pub fn transpose(
        input: (usize, usize, usize),
        out_c: usize,
        kernel: usize,
        stride: usize,
    ) -> Self {
        Conv2d {
            transposed: true,
            ..Self::conv(input, out_c, kernel, stride)
        }
    }

    pub fn with_batch(self, batch: usize) -> Self {
        Conv2d { batch, ..self }
    }

    pub fn out_h(&self) -> usize {
        match self.transposed {
            false => same_padding(self.in_h, self.kernel, self.stride).0,
            true => self.in_h * self.stride,
        }
    }
    pub fn out_w(&self) -> usize {
        match self.transposed {
            false => same_padding(self.in_w, self.kernel, self.stride).0,
            true => self.in_w * self.stride,
        }
    }
    /// (h, w, c) of one output sample.
    pub fn output(&self) -> (usize, usize, usize) {
        (self.out_h(), self.out_w(), self.out_c)
    }
    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.in_c
    }
    pub fn output_len(&self) -> usize {
        self.batch * self.out_h() * self.out_w() * self.out_c
    }
    /// The kernel's shape in Keras' layout.
    pub fn kernel_shape(&self) -> [usize; 4] {
        let k = self.kernel;
        match self.transposed {
            false => [k, k, self.in_c, self.out_c],
            true => [k, k, self.out_c, self.in_c],
        }
    }
    pub fn kernel_len(&self) -> usize {
        self.kernel_shape().iter().product()
    }
    /// Multiply-adds of the forward pass (dX and dW cost the same): every tap of every pixel
    /// of the convolution's output, which for a transposed one is our input.
    pub fn macs(&self) -> u64 {
        let c = self.as_conv();
        (c.batch * c.out_h() * c.out_w() * c.kernel_len()) as u64
    }

    /// The convolution this layer runs as: itself, or for a transposed convolution the one it
    /// is the adjoint of (from our output size to our input size; our kernel [k, k, out_c,
    /// in_c] read as [k, k, its in, its out]).
    pub fn as_conv(&self) -> Conv2d {
        if !self.transposed {
            return *self;
        }
        let conv = Conv2d {
            transposed: false,
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

    /// Padding before (top, left) of the convolution this layer runs as.
    pub fn padding(&self) -> (usize, usize) {
        let c = self.as_conv();
        let top = same_padding(c.in_h, c.kernel, c.stride).1;
        let left = same_padding(c.in_w, c.kernel, c.stride).1;
        (top, left)
    }
}
