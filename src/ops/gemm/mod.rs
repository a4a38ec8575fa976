//! The implicit-GEMM driver (`shaders/gemm.wgsl`) shared by the dense and conv families: the
//! parameter block and epilogues, the drivers (tiled, subgroup, narrow, wide), the fixed choice
//! and the tuning candidates with their bit-identity check, and split-K.

use super::activation::{Activation, LEAKY_ALPHA, activation_code};
use super::tune::Tuner;

mod choice;
use crate::gpu::kernel::grid_for;
pub use crate::gpu::shaders::Mapping;
use crate::gpu::shaders::{GEMM_TALL_TILE as TALL_TILE, GEMM_TILE as TILE, GEMM_TILE_K as TILE_K};
use crate::gpu::{Bind, Dispatch, GpuContext, GpuError, GpuSlice, Kernel, shaders::ShaderSource};

crate::params! {
    /// `GemmParams` in gemm.wgsl (layout checked at pipeline creation).
    pub struct GemmParams {
        pub m: u32,
        pub n: u32,
        pub k: u32,
        pub k_chunk: u32,
        pub splits: u32,
        pub has_bias: u32,
        pub batch: u32,
        pub in_h: u32,
        pub in_w: u32,
        pub in_c: u32,
        pub out_h: u32,
        pub out_w: u32,
        pub out_c: u32,
        pub stride: u32,
        pub pad_top: u32,
        pub pad_left: u32,
        pub kernel_h: u32,
        pub kernel_w: u32,
        pub activation: u32,
        pub alpha: f32,
        pub grad_activation: u32,
        pub bias_row: u32,
        pub classes: u32,
        pub _pad: u32,
        pub class_y: [u32; 4],
        pub class_x: [u32; 4],
        pub class_h: [u32; 4],
        pub class_w: [u32; 4],
        pub taps_h: [u32; 4],
        pub taps_w: [u32; 4],
        pub tap_y0: [u32; 4],
        pub tap_x0: [u32; 4],
        pub class_row0: [u32; 4],
    }
}

/// What a GEMM does to its result before storing it: add a bias and apply an activation
/// (forward); multiply by an activation's slope at its saved output (input gradients); and,
/// for weight gradients, also produce the bias gradient (a row of ones in A).
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a> {
    pub bias: Option<&'a GpuSlice>,
    pub activation: Option<Activation>,
    /// d loss / d input of this activation, whose output is saved here (laid out like `out`).
    pub through: Option<(Activation, &'a GpuSlice)>,
    /// Column sums of B (the bias gradient), written here.
    pub bias_grad: Option<&'a GpuSlice>,
}

impl<'a> Epilogue<'a> {
    pub const NONE: Epilogue<'static> = Epilogue {
        bias: None,
        activation: None,
        through: None,
        bias_grad: None,
    };

    pub fn bias(bias: &'a GpuSlice) -> Self {
        Epilogue {
            bias: Some(bias),
            ..Epilogue::NONE
        }
    }

    pub fn then(self, activation: Option<Activation>) -> Self {
        Epilogue { activation, ..self }
    }

    /// The gradient through `activation`, whose output was `saved`.
    pub fn through(activation: Option<Activation>, saved: Option<&'a GpuSlice>) -> Self {
        Epilogue {
            through: activation.zip(saved),
            ..Epilogue::NONE
        }
    }

    pub fn with_bias_grad(bias_grad: Option<&'a GpuSlice>) -> Self {
        Epilogue {
            bias_grad,
            ..Epilogue::NONE
        }
    }
}

/// One GEMM to record: `out = A B` with `epilogue`, for the mapping of the kernels that record
/// it. `params` holds M, N, K and the geometry (and parity classes); split and epilogue fields
/// are filled in when it is recorded.
#[derive(Clone, Copy, Debug)]
pub struct Gemm<'a> {
    pub params: GemmParams,
    pub a: &'a GpuSlice,
    pub b: &'a GpuSlice,
    pub epilogue: Epilogue<'a>,
    pub out: &'a GpuSlice,
}

/// What one pass of a layer's GEMM reads and writes: `output = epilogue(input W)`, the
/// forward (x into y) or the input gradient (dy into dx, through W^T).
#[derive(Clone, Copy, Debug)]
pub struct Pass<'a> {
    pub input: &'a GpuSlice,
    pub w: &'a GpuSlice,
    pub epilogue: Epilogue<'a>,
    pub output: &'a GpuSlice,
}

/// What a layer's weight-gradient GEMM reads and writes: dW from x and dy, and db in the same
/// GEMM where given.
#[derive(Clone, Copy, Debug)]
pub struct WeightGrads<'a> {
    pub x: &'a GpuSlice,
    pub dy: &'a GpuSlice,
    pub dw: &'a GpuSlice,
    pub db: Option<&'a GpuSlice>,
}

impl<'a> Pass<'a> {
    /// `output = input W`, with no epilogue.
    pub fn new(input: &'a GpuSlice, w: &'a GpuSlice, output: &'a GpuSlice) -> Self {
        Pass {
            input,
            w,
            epilogue: Epilogue::NONE,
            output,
        }
    }

    /// The same pass through `epilogue`.
    pub fn epilogue(self, epilogue: Epilogue<'a>) -> Self {
        Pass { epilogue, ..self }
    }
}

impl<'a> WeightGrads<'a> {
    /// dW from x and dy, with no db.
    pub fn new(x: &'a GpuSlice, dy: &'a GpuSlice, dw: &'a GpuSlice) -> Self {
        WeightGrads {
            x,
            dy,
            dw,
            db: None,
        }
    }

    /// The same with db in the GEMM.
    pub fn db(self, db: &'a GpuSlice) -> Self {
        WeightGrads {
            db: Some(db),
            ..self
        }
    }
}

impl<'a> Gemm<'a> {
    /// A layer's pass: A is its input, B its weights.
    pub fn of_pass(params: GemmParams, pass: Pass<'a>) -> Self {
        Gemm {
            params,
            a: pass.input,
            b: pass.w,
            epilogue: pass.epilogue,
            out: pass.output,
        }
    }

    /// A layer's weight gradient: A is x, B is dy, db the epilogue's column sums.
    pub fn of_weight_grads(params: GemmParams, grads: WeightGrads<'a>) -> Self {
        Gemm {
            params,
            a: grads.x,
            b: grads.dy,
            epilogue: Epilogue::with_bias_grad(grads.db),
            out: grads.dw,
        }
    }
}

/// Workgroup memory of gemm_wide with 128-row tiles: 2 x 16 x (128 + 64) floats.
const WIDE_TALL_BYTES: u32 = 2 * 16 * (TALL_TILE + 64) * 4;
/// Below this many output columns the tiled drivers waste most of each 64-wide tile.
const NARROW_N: u32 = 16;
/// Up to this many columns the narrow driver is a tuning candidate.
const NARROW_CANDIDATE_N: u32 = 64;
/// Keep at least this much K per split.
const MIN_K_PER_SPLIT: u32 = 256;

/// Split K until about this many workgroups are in flight: weight gradients have few output
/// tiles and a reduction over every pixel of the batch (the only GEMMs that split; the others
/// have a row per pixel). A fixed rule per adapter type (not a tuned choice) because the split
/// changes the summation order, and a run's bits must not depend on tuning.
fn target_workgroups(ctx: &GpuContext) -> u32 {
    match ctx.info.device_type {
        // llvmpipe/lavapipe run workgroups on a handful of CPU threads.
        wgpu::DeviceType::Cpu => 16,
        _ => 512,
    }
}

/// The driver pipelines compiled for one operand mapping (`OP`) of one family.
#[derive(Clone)]
pub struct GemmKernels {
    /// `<family> OP=<mapping>`: the tuning key's prefix.
    name: String,
    tuner: std::sync::Arc<Tuner>,
    /// GEMMs recorded with the fixed driver while their choice is open (see `tune`).
    pending: std::sync::Arc<std::sync::Mutex<Vec<choice::Pending>>>,
    tiled: Kernel,
    narrow: Kernel,
    wide: Kernel,
    /// 128-row tiles: 24 KiB of workgroup memory, compiled where the adapter allows it.
    wide_tall: Option<Kernel>,
    splitk_sum: Kernel,
    /// `dense` or `conv`, and the operand mapping: what decides 16-byte alignment.
    family: &'static str,
    mapping: Mapping,
    /// Whether K may split (weight gradients).
    splittable: bool,
    /// Present where the adapter has subgroups (correct at any size and lane layout): 64-row
    /// and 128-row tiles.
    subgroup: Option<(Kernel, Kernel)>,
    /// Whether `gemm_subgroup` takes its shuffle path here (subgroups of 8 to 64 lanes), so it
    /// is worth choosing; elsewhere it falls back to the tiled body.
    subgroup_preferred: bool,
}

/// Which driver a GEMM runs with; exposed so tests can cover each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// Chosen from the shape and the adapter.
    Auto,
    /// Portable: workgroup-memory tiles.
    Tiled { splits: u32 },
    /// Subgroup shuffles (any adapter with subgroups; each lane loads its own rows where they
    /// do not fit), tiles of `rows` (64: 8 x 8 outputs per lane; 128: 16 x 8) x 64.
    Subgroup { splits: u32, rows: u32 },
    /// One thread per output.
    Narrow,
    /// 16-byte loads, double-buffered 16-deep K tiles (`gemm_wide.wgsl`), tiles of `rows` (64
    /// or 128) x 64; where the layout is not aligned for it, or the adapter lacks the workgroup
    /// memory of 128-row tiles, the tiled driver runs instead.
    Wide { splits: u32, rows: u32 },
}

impl GemmKernels {
    /// `shader` is the portable module, `subgroup_shader` the same family with the subgroup
    /// driver, compiled only when the adapter can run it.
    pub fn new(
        ctx: &GpuContext,
        shader: &ShaderSource,
        subgroup_shader: &ShaderSource,
        mapping: Mapping,
        tuner: std::sync::Arc<Tuner>,
    ) -> Result<Self, GpuError> {
        let op = mapping as u32;
        let c = [("OP", mapping.constant())];
        let subgroup = if ctx.has_subgroups() {
            let k = |entry| Kernel::new::<GemmParams>(ctx, subgroup_shader, entry, &c);
            Some((k("gemm_subgroup")?, k("gemm_subgroup_tall")?))
        } else {
            None
        };
        Ok(GemmKernels {
            name: format!("{} OP={op}", shader.name),
            tuner,
            pending: Default::default(),
            tiled: Kernel::new::<GemmParams>(ctx, shader, "gemm_tiled", &c)?,
            narrow: Kernel::new::<GemmParams>(ctx, shader, "gemm_narrow", &c)?,
            wide: Kernel::new::<GemmParams>(ctx, shader, "gemm_wide", &c)?,
            wide_tall: if ctx.limits.max_compute_workgroup_storage_size >= WIDE_TALL_BYTES {
                let c = [
                    ("OP", mapping.constant()),
                    ("WIDE_ROWS", f64::from(TALL_TILE)),
                ];
                Some(Kernel::new::<GemmParams>(ctx, shader, "gemm_wide", &c)?)
            } else {
                None
            },
            family: shader.name,
            mapping,
            splitk_sum: Kernel::new::<GemmParams>(ctx, shader, "gemm_splitk_sum", &c)?,
            splittable: mapping == Mapping::BackwardWeight,
            subgroup,
            subgroup_preferred: ctx.subgroup_kernels(),
        })
    }

    /// Records `gemm` for the mapping this family's `OP` defines with `driver`. Split-K
    /// allocates its scratch buffer now, once.
    pub fn record(&self, ctx: &GpuContext, gemm: Gemm<'_>, driver: Driver) -> Vec<Dispatch> {
        let Gemm {
            mut params,
            a,
            b,
            epilogue,
            out,
        } = gemm;
        params.activation = activation_code(epilogue.activation);
        params.grad_activation = activation_code(epilogue.through.map(|t| t.0));
        params.alpha = LEAKY_ALPHA;
        params.has_bias = u32::from(epilogue.bias.is_some());
        if epilogue.bias_grad.is_some() && params.bias_row == 0 {
            // The ones row goes after the data rows (once: record_auto comes back here).
            params.bias_row = 1;
            params.m += 1;
        }
        let (m, n, k) = (params.m, params.n, params.k);
        let tiles = m.div_ceil(TILE) * n.div_ceil(TILE);
        let splits = if self.splittable {
            target_workgroups(ctx)
                .div_ceil(tiles)
                .min((k / MIN_K_PER_SPLIT).max(1))
                .clamp(1, 64)
        } else {
            1
        };
        let driver = match driver {
            Driver::Auto => return self.record_auto(ctx, Gemm { params, ..gemm }, splits),
            d => d,
        };
        let bias_bind = epilogue.bias.map_or(Bind::Dummy, Bind::Storage);
        let saved_bind = epilogue.through.map_or(Bind::Dummy, |t| Bind::Storage(t.1));
        let bias_out_bind = epilogue.bias_grad.map_or(Bind::Dummy, Bind::Storage);
        let (a4_bind, b4_bind) = (vec4_view(a), vec4_view(b));
        let binds = |u, out| {
            [
                ("p", Bind::Uniform(u)),
                ("a_src", Bind::Storage(a)),
                ("b_src", Bind::Storage(b)),
                ("a_src4", a4_bind),
                ("b_src4", b4_bind),
                ("bias", bias_bind),
                ("saved", saved_bind),
                ("bias_out", bias_out_bind),
                ("out", Bind::Storage(out)),
            ]
        };
        // A GEMM reads its operands (and bias); the shape report counts them once.
        let read = (a.len + b.len + epilogue.bias.map_or(0, |b| b.len)) as u64;
        match driver {
            Driver::Narrow => {
                params.k_chunk = k;
                params.splits = 1;
                let u = ctx.uniform("gemm", &params);
                let wg = grid_for(m * n);
                vec![
                    self.narrow
                        .dispatch_reading(ctx, &binds(&u, out), wg, Some(read)),
                ]
            }
            Driver::Tiled { splits }
            | Driver::Subgroup { splits, .. }
            | Driver::Wide { splits, .. } => {
                let (kernel, tile_rows) = match driver {
                    Driver::Subgroup { rows, .. } => {
                        let (short, tall) = self
                            .subgroup
                            .as_ref()
                            .expect("the subgroup driver needs an adapter with subgroups");
                        match rows {
                            TALL_TILE => (tall, TALL_TILE),
                            _ => (short, TILE),
                        }
                    }
                    Driver::Wide {
                        rows: TALL_TILE, ..
                    } if self.wide_aligned(&params) && self.wide_tall.is_some() => {
                        (self.wide_tall.as_ref().expect("tall"), TALL_TILE)
                    }
                    Driver::Wide { rows: 64, .. } if self.wide_aligned(&params) => {
                        (&self.wide, TILE)
                    }
                    _ => (&self.tiled, TILE),
                };
                let splits = if self.splittable { splits } else { 1 };
                // Each split covers a whole number of K tiles.
                let k_chunk = k.div_ceil(splits).div_ceil(TILE_K).max(1) * TILE_K;
                let splits = k.div_ceil(k_chunk).max(1);
                params.k_chunk = k_chunk;
                params.splits = splits;
                let grid = tile_grid(n.div_ceil(TILE), m.div_ceil(tile_rows), splits);
                if splits == 1 {
                    let u = ctx.uniform("gemm", &params);
                    return vec![kernel.dispatch_reading(ctx, &binds(&u, out), grid, Some(read))];
                }
                let scratch = ctx.scratch("gemm split-K partials", (splits * m * n) as usize);
                let u = ctx.uniform("gemm", &params);
                vec![
                    kernel.dispatch_reading(ctx, &binds(&u, &scratch), grid, Some(read)),
                    self.splitk_sum.dispatch(
                        ctx,
                        &[
                            ("p", Bind::Uniform(&u)),
                            ("partials", Bind::Storage(&scratch)),
                            ("bias", bias_bind),
                            ("saved", saved_bind),
                            ("bias_out", bias_out_bind),
                            ("out", Bind::Storage(out)),
                        ],
                        grid_for(m * n),
                    ),
                ]
            }
            Driver::Auto => unreachable!(),
        }
    }
}

/// An operand as a binding of its 16-byte view (`a_src4`, `b_src4`): it needs one whole vec4;
/// an operand shorter than that is never read through it (its dimensions are not multiples
/// of 4).
fn vec4_view(x: &GpuSlice) -> Bind<'_> {
    if x.len >= 4 {
        Bind::Storage(x)
    } else {
        Bind::Dummy
    }
}

/// The (x, y, z) grid of `tiles_y` tile rows by `tiles_x` tile columns by `splits`: tile rows
/// beyond 65535 fold into z (see `tile_of` in gemm.wgsl).
fn tile_grid(tiles_x: u32, tiles_y: u32, splits: u32) -> [u32; 3] {
    const MAX: u32 = 65535;
    let y = tiles_y.clamp(1, MAX);
    [tiles_x, y, tiles_y.div_ceil(y) * splits]
}
