//! Class conditioning (`shaders/embed.wgsl`): an embedding table [classes, width] looked up by
//! each sample's label (u32), multiplied into the sample (the conditional G's z * E[label]) or
//! set beside it as one more channel per pixel (the conditional D's label plane), and the
//! table's gradients as per-class sums in batch order (deterministic, no atomics).

use crate::gpu::kernel::grid_for;
use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders};
use crate::ops::activation::{Activation, LEAKY_ALPHA, activation_code};

crate::params! {
    /// `EmbedParams` in embed.wgsl (layout checked at pipeline creation).
    struct EmbedParams {
        batch: u32,
        width: u32,
        classes: u32,
        channels: u32,
        act: u32,
        alpha: f32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// A table of `classes` rows of `width`, looked up for `batch` samples. For a label plane,
/// `width` is the pixels of a sample and `channels` the sample's own channels per pixel (the
/// output has one more); for a product, `width` is a sample's length and `channels` unused (1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbedShape {
    pub batch: usize,
    pub classes: usize,
    pub width: usize,
    pub channels: usize,
}

impl EmbedShape {
    pub fn table_len(&self) -> usize {
        self.classes * self.width
    }
    /// Elements of x (and, for a product, of its output).
    pub fn input_len(&self) -> usize {
        self.batch * self.width * self.channels
    }
    /// Elements of a label plane's output: x's channels and the label's.
    pub fn concat_len(&self) -> usize {
        self.batch * self.width * (self.channels + 1)
    }

    fn params(&self) -> EmbedParams {
        assert!(self.classes >= 1 && self.channels >= 1, "{self:?}");
        let u = |v: usize| u32::try_from(v).expect("embedding sizes fit u32");
        assert!(
            u32::try_from(self.concat_len().max(self.table_len())).is_ok(),
            "every index a kernel forms stays below 2^32: {self:?}"
        );
        EmbedParams {
            batch: u(self.batch),
            width: u(self.width),
            classes: u(self.classes),
            channels: u(self.channels),
            ..Default::default()
        }
    }
}

pub struct EmbedOps {
    scale_forward: Kernel,
    scale_table_grad: Kernel,
    concat_forward: Kernel,
    concat_table_grad: Kernel,
    concat_input_grad: Kernel,
}

impl EmbedOps {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let k = |entry| Kernel::new::<EmbedParams>(ctx, &shaders::EMBED, entry, &[]);
        Ok(EmbedOps {
            scale_forward: k("scale_forward")?,
            scale_table_grad: k("scale_table_grad")?,
            concat_forward: k("concat_forward")?,
            concat_table_grad: k("concat_table_grad")?,
            concat_input_grad: k("concat_input_grad")?,
        })
    }

    fn dispatch(
        ctx: &GpuContext,
        kernel: &Kernel,
        s: EmbedShape,
        binds: &[(&str, &GpuSlice)],
        elements: usize,
    ) -> Dispatch {
        let binds: Vec<_> = binds.iter().map(|&(n, b)| (n, Bind::Storage(b))).collect();
        Self::dispatch_with(ctx, kernel, s.params(), &binds, elements)
    }

    fn dispatch_with(
        ctx: &GpuContext,
        kernel: &Kernel,
        p: EmbedParams,
        binds: &[(&str, Bind<'_>)],
        elements: usize,
    ) -> Dispatch {
        let u = ctx.uniform("embed", &p);
        let mut all = vec![("p", Bind::Uniform(&u))];
        all.extend_from_slice(binds);
        kernel.dispatch(ctx, &all, grid_for(elements as u32))
    }

    /// y[b, j] = x[b, j] * table[labels[b], j] (`s.channels` 1).
    pub fn scale_forward(
        &self,
        ctx: &GpuContext,
        s: EmbedShape,
        labels: &GpuSlice,
        table: &GpuSlice,
        x: &GpuSlice,
        y: &GpuSlice,
    ) -> Dispatch {
        assert_eq!(s.channels, 1);
        assert_eq!(
            (labels.len, table.len, x.len, y.len),
            (s.batch, s.table_len(), s.input_len(), s.input_len())
        );
        let binds = [("labels", labels), ("table", table), ("x", x), ("out", y)];
        Self::dispatch(ctx, &self.scale_forward, s, &binds, s.input_len())
    }

    /// d table[c, j] = sum over the samples labelled c of dy[b, j] * x[b, j] (x's gradient, the
    /// noise's, is never needed).
    pub fn scale_table_grad(
        &self,
        ctx: &GpuContext,
        s: EmbedShape,
        labels: &GpuSlice,
        x: &GpuSlice,
        dy: &GpuSlice,
        dtable: &GpuSlice,
    ) -> Dispatch {
        assert_eq!(s.channels, 1);
        assert_eq!(
            (labels.len, x.len, dy.len, dtable.len),
            (s.batch, s.input_len(), s.input_len(), s.table_len())
        );
        let binds = [("labels", labels), ("x", x), ("dy", dy), ("out", dtable)];
        Self::dispatch(ctx, &self.scale_table_grad, s, &binds, s.table_len())
    }

    /// y[b, pixel] = (x[b, pixel, ..], table[labels[b], pixel]): the label plane as the last
    /// channel.
    pub fn concat_forward(
        &self,
        ctx: &GpuContext,
        s: EmbedShape,
        labels: &GpuSlice,
        table: &GpuSlice,
        x: &GpuSlice,
        y: &GpuSlice,
    ) -> Dispatch {
        assert_eq!(
            (labels.len, table.len, x.len, y.len),
            (s.batch, s.table_len(), s.input_len(), s.concat_len())
        );
        let binds = [("labels", labels), ("table", table), ("x", x), ("out", y)];
        Self::dispatch(ctx, &self.concat_forward, s, &binds, s.concat_len())
    }

    /// d table[c, pixel] = sum over the samples labelled c of the label channel's dy.
    pub fn concat_table_grad(
        &self,
        ctx: &GpuContext,
        s: EmbedShape,
        labels: &GpuSlice,
        dy: &GpuSlice,
        dtable: &GpuSlice,
    ) -> Dispatch {
        assert_eq!(
            (labels.len, dy.len, dtable.len),
            (s.batch, s.concat_len(), s.table_len())
        );
        let binds = [("labels", labels), ("dy", dy), ("out", dtable)];
        Self::dispatch(ctx, &self.concat_table_grad, s, &binds, s.table_len())
    }

    /// dx[b, pixel, ch] = dy[b, pixel, ch]: the gradient of x's channels, the label's dropped;
    /// with `through`, taken through the activation whose output x is (G's tanh, in G's step:
    /// `activation_backward` at the saved output, as the activation kernels take it).
    pub fn concat_input_grad(
        &self,
        ctx: &GpuContext,
        s: EmbedShape,
        dy: &GpuSlice,
        through: Option<(Activation, &GpuSlice)>,
        dx: &GpuSlice,
    ) -> Dispatch {
        assert_eq!((dy.len, dx.len), (s.concat_len(), s.input_len()));
        let mut p = s.params();
        p.act = activation_code(through.map(|(a, _)| a));
        p.alpha = LEAKY_ALPHA;
        let saved = match through {
            Some((_, saved)) => {
                assert_eq!(saved.len, s.input_len());
                Bind::Storage(saved)
            }
            None => Bind::Dummy,
        };
        let binds = [
            ("dy", Bind::Storage(dy)),
            ("x", saved),
            ("out", Bind::Storage(dx)),
        ];
        Self::dispatch_with(ctx, &self.concat_input_grad, p, &binds, s.input_len())
    }
}
