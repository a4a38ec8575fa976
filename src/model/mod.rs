//! The seed's generator and discriminator (and chapter 8's conditional ones) as layer lists,
//! their flat parameter layout, and the GPU networks that own the buffers and record the
//! dispatches.
//!
//! Keras' `Reshape((7, 7, 256))` and `Flatten` are row-major over (h, w, c), which is exactly
//! how the NHWC activation buffers are laid out, so they are no-ops here and not listed.
//! The discriminator's output is the logit: the sigmoid is fused into the loss.

pub mod init;
pub mod network;
pub mod params;

pub use crate::config::{Arch, DIGITS, IMAGE_PIXELS};
pub use crate::geometry::Conv2d;
pub use crate::ops::Recorder;
pub use network::{BnMode, Gradients, InputGrad, Network, NetworkParams, Upstream};
pub use params::ParamLayout;

/// One layer of a network. Spatial shapes are per sample, NHWC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Dense {
        inputs: usize,
        outputs: usize,
    },
    /// A 3x3 'same' convolution or transposed convolution of one sample.
    Conv(Conv2d),
    /// The label's embedding [classes, width] multiplied element by element into the input
    /// of `width` elements (the conditional G: z * E[label]).
    LabelProduct {
        classes: usize,
        width: usize,
    },
    /// The label's embedding [classes, pixels] set beside an input of `pixels` x `channels`
    /// as its last channel (the conditional D: the label plane after the image's channels).
    LabelPlane {
        classes: usize,
        pixels: usize,
        channels: usize,
    },
    BatchNorm {
        channels: usize,
    },
    LeakyRelu,
    Tanh,
}

impl Layer {
    /// How a dense or convolution layer runs for `batch` samples; None for the others.
    pub fn gemm(&self, batch: usize) -> Option<crate::ops::GemmLayer> {
        use crate::ops::{GemmLayer, dense::DenseShape};
        match *self {
            Layer::Dense { inputs, outputs } => Some(GemmLayer::Dense(DenseShape {
                batch,
                inputs,
                outputs,
            })),
            Layer::Conv(g) => Some(GemmLayer::Conv(g.with_batch(batch))),
            _ => None,
        }
    }

    /// The embedding shape of a label layer for `batch` samples; None for the others.
    pub fn embedding(&self, batch: usize) -> Option<crate::ops::embed::EmbedShape> {
        use crate::ops::embed::EmbedShape;
        match *self {
            Layer::LabelProduct { classes, width } => Some(EmbedShape {
                batch,
                classes,
                width,
                channels: 1,
            }),
            Layer::LabelPlane {
                classes,
                pixels,
                channels,
            } => Some(EmbedShape {
                batch,
                classes,
                width: pixels,
                channels,
            }),
            _ => None,
        }
    }
}

/// A named layer with its per-sample input and output sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    /// Keras' layer name in the golden fixtures (`dense`, `convt1`, `bn1`, ...).
    pub name: &'static str,
    pub layer: Layer,
    /// Elements per sample in and out.
    pub in_len: usize,
    pub out_len: usize,
    /// Channels of the output (the innermost NHWC dimension).
    pub out_channels: usize,
}

/// The parameters of a layer: (suffix, shape) in Keras order and layout.
pub fn layer_params(layer: &Layer) -> Vec<(&'static str, Vec<usize>)> {
    match *layer {
        Layer::Dense { inputs, outputs } => {
            vec![("kernel", vec![inputs, outputs]), ("bias", vec![outputs])]
        }
        Layer::Conv(g) => {
            vec![
                ("kernel", g.kernel_shape().to_vec()),
                ("bias", vec![g.out_c]),
            ]
        }
        Layer::LabelProduct { classes, width } => vec![("embeddings", vec![classes, width])],
        Layer::LabelPlane {
            classes, pixels, ..
        } => vec![("embeddings", vec![classes, pixels])],
        Layer::BatchNorm { channels } => {
            vec![("gamma", vec![channels]), ("beta", vec![channels])]
        }
        Layer::LeakyRelu | Layer::Tanh => vec![],
    }
}

/// Builds a layer list, threading the per-sample shape (h, w, c) through the layers.
struct Builder {
    shape: (usize, usize, usize),
    layers: Vec<LayerSpec>,
}

impl Builder {
    fn new(shape: (usize, usize, usize)) -> Self {
        Builder {
            shape,
            layers: Vec::new(),
        }
    }
    fn push(&mut self, name: &'static str, layer: Layer, out: (usize, usize, usize)) {
        let (h, w, c) = self.shape;
        self.layers.push(LayerSpec {
            name,
            layer,
            in_len: h * w * c,
            out_len: out.0 * out.1 * out.2,
            out_channels: out.2,
        });
        self.shape = out;
    }
    fn dense(&mut self, name: &'static str, outputs: usize, reshape: (usize, usize, usize)) {
        let (h, w, c) = self.shape;
        assert_eq!(reshape.0 * reshape.1 * reshape.2, outputs);
        self.push(
            name,
            Layer::Dense {
                inputs: h * w * c,
                outputs,
            },
            reshape,
        );
    }
    fn conv(&mut self, name: &'static str, out_c: usize, stride: usize) {
        let g = Conv2d::conv(self.shape, out_c, 3, stride);
        self.push(name, Layer::Conv(g), g.output());
    }
    fn conv_t(&mut self, name: &'static str, out_c: usize, stride: usize) {
        let g = Conv2d::transpose(self.shape, out_c, 3, stride);
        self.push(name, Layer::Conv(g), g.output());
    }
    fn label_product(&mut self, name: &'static str, classes: usize) {
        let (h, w, c) = self.shape;
        let width = h * w * c;
        self.push(name, Layer::LabelProduct { classes, width }, self.shape);
    }
    fn label_plane(&mut self, name: &'static str, classes: usize) {
        let (h, w, channels) = self.shape;
        let layer = Layer::LabelPlane {
            classes,
            pixels: h * w,
            channels,
        };
        self.push(name, layer, (h, w, channels + 1));
    }
    fn batchnorm(&mut self, name: &'static str) {
        let s = self.shape;
        self.push(name, Layer::BatchNorm { channels: s.2 }, s);
    }
    fn act(&mut self, name: &'static str, layer: Layer) {
        let s = self.shape;
        self.push(name, layer, s);
    }
}

/// z (z_dim) -> Dense 7*7*256 -> reshape -> ConvT 128 s2 -> BN -> LReLU -> [ConvT 64 s1 -> BN
/// -> LReLU] -> ConvT 1 s2 -> tanh: a 28x28x1 image in [-1, 1].
/// (`Arch::Cgan`: [`conditional_generator`].)
pub fn generator(arch: Arch, z_dim: usize) -> Vec<LayerSpec> {
    if arch.conditional() {
        return conditional_generator(z_dim);
    }
    let mut b = Builder::new((1, 1, z_dim));
    b.dense("dense", 7 * 7 * 256, (7, 7, 256));
    b.conv_t("convt1", 128, 2);
    b.batchnorm("bn1");
    b.act("lrelu1", Layer::LeakyRelu);
    if arch == Arch::Full {
        b.conv_t("convt2", 64, 1);
        b.batchnorm("bn2");
        b.act("lrelu2", Layer::LeakyRelu);
    }
    b.conv_t("convt3", 1, 2);
    b.act("tanh", Layer::Tanh);
    b.layers
}

/// 28x28x1 -> Conv 32 s2 -> LReLU -> Conv 64 s2 -> BN -> LReLU -> Conv 128 s2 -> BN [-> BN]
/// -> LReLU -> flatten -> Dense 1: the logit.
/// (`Arch::Cgan`: [`conditional_discriminator`].)
pub fn discriminator(arch: Arch) -> Vec<LayerSpec> {
    if arch.conditional() {
        return conditional_discriminator();
    }
    let mut b = Builder::new((28, 28, 1));
    discriminator_layers(&mut b, 32, arch == Arch::SeedCode);
    b.layers
}

/// D after its input: Conv `first` s2 -> LReLU -> Conv 64 s2 -> BN -> LReLU -> Conv 128 s2 ->
/// BN [-> BN with `second_bn`] -> LReLU -> flatten -> Dense 1.
fn discriminator_layers(b: &mut Builder, first: usize, second_bn: bool) {
    b.conv("conv1", first, 2);
    b.act("lrelu1", Layer::LeakyRelu);
    b.conv("conv2", 64, 2);
    b.batchnorm("bn2");
    b.act("lrelu2", Layer::LeakyRelu);
    b.conv("conv3", 128, 2);
    b.batchnorm("bn3");
    if second_bn {
        b.batchnorm("bn3b");
    }
    b.act("lrelu3", Layer::LeakyRelu);
    b.dense("dense", 1, (1, 1, 1));
}

/// The conditional G of GANs in Action, chapter 8: z * Embedding(10, z_dim)(label), then
/// the generator of `Arch::Full` unchanged.
pub fn conditional_generator(z_dim: usize) -> Vec<LayerSpec> {
    let mut b = Builder::new((1, 1, z_dim));
    b.label_product("embedding", DIGITS);
    let mut layers = b.layers;
    layers.extend(generator(Arch::Full, z_dim));
    layers
}

/// The conditional D of chapter 8: the image and Embedding(10, 784)(label) reshaped to
/// 28x28x1, concatenated on the channel axis (image first), then Conv **64** s2 -> LReLU ->
/// Conv 64 s2 -> BN -> LReLU -> Conv 128 s2 -> BN -> LReLU -> flatten (4x4x128) -> Dense 1.
pub fn conditional_discriminator() -> Vec<LayerSpec> {
    let mut b = Builder::new((28, 28, 1));
    b.label_plane("embedding", DIGITS);
    discriminator_layers(&mut b, 64, false);
    b.layers
}

/// The quality-score classifier (issue: know how good the digits are): D's convolution stack
/// without BatchNorm, narrowed to keep the shipped weights small, then two dense layers:
/// 28x28x1 -> Conv 32 s2 -> LReLU -> Conv 64 s2 -> LReLU -> Conv 64 s2 -> LReLU -> Dense 128
/// -> LReLU (the 128-d features FID uses) -> Dense 10 (logits).
pub fn classifier() -> Vec<LayerSpec> {
    let mut b = Builder::new((28, 28, 1));
    b.conv("conv1", 32, 2);
    b.act("lrelu1", Layer::LeakyRelu);
    b.conv("conv2", 64, 2);
    b.act("lrelu2", Layer::LeakyRelu);
    b.conv("conv3", 64, 2);
    b.act("lrelu3", Layer::LeakyRelu);
    b.dense("dense1", 128, (1, 1, 128));
    b.act("lrelu4", Layer::LeakyRelu);
    b.dense("dense2", 10, (1, 1, 10));
    b.layers
}

/// Index of the classifier layer whose output is the feature vector.
pub const CLASSIFIER_FEATURES_LAYER: usize = 7;
/// Width of those features.
pub const CLASSIFIER_FEATURES: usize = 128;

impl LayerSpec {
    /// Multiply-adds of the forward pass for `batch` samples (dense and convolution layers;
    /// the element-wise layers are not counted). Each gradient (dX, dW) costs the same.
    pub fn macs(&self, batch: usize) -> u64 {
        let b = batch as u64;
        match self.layer {
            Layer::Dense { inputs, outputs } => b * (inputs * outputs) as u64,
            Layer::Conv(g) => g.with_batch(batch).macs(),
            Layer::LabelProduct { .. }
            | Layer::LabelPlane { .. }
            | Layer::BatchNorm { .. }
            | Layer::LeakyRelu
            | Layer::Tanh => 0,
        }
    }
}

/// Multiply-adds of a forward pass, and of a backward pass with weight gradients and/or the
/// input gradient (the first layer's input gradient is only needed when the input is trained
/// through, as G's fakes are through D).
pub fn pass_macs(layers: &[LayerSpec], batch: usize) -> (u64, u64, u64) {
    let forward: u64 = layers.iter().map(|l| l.macs(batch)).sum();
    let first = layers.first().map_or(0, |l| l.macs(batch));
    // (forward, weights + input gradients except the first layer's, input gradients only)
    (forward, 2 * forward - first, forward)
}
