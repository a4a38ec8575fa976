//! The WGSL sources, embedded at compile time, and their validation through naga.
//!
//! A shader module is a kernel family's file with what it shares composed around it: first
//! `common.wgsl` (the 1-D grid index, the workgroup reduction tree), and for the GEMM families
//! the mapping constants generated from [`Mapping`]; then, after an op file, shared drivers: the
//! implicit-GEMM families (`dense`, `conv`) each define `load_a`/`load_b` (and the 16-byte
//! `load_a4`/`load_b4`) for their operands and append `gemm.wgsl`, which owns the tiling, the
//! split-K reduction and the store, and `gemm_wide.wgsl` (or, where subgroups exist,
//! `gemm_subgroup.wgsl`).

use super::GpuError;

/// One compilable shader module: its name and the files it is made of, in order.
#[derive(Clone, Copy, Debug)]
pub struct ShaderSource {
    pub name: &'static str,
    pub files: &'static [(&'static str, &'static str)],
    /// Uses subgroup operations: compiled only where the adapter has them (SPIR-V 1.3,
    /// HLSL shader model 6, never FXC).
    pub subgroups: bool,
    /// Every set of pipeline-overridable constants the program compiles the module with (the
    /// translation test writes each one for every backend; `Kernel::new` refuses others).
    pub variants: &'static [&'static [(&'static str, f64)]],
}

/// Defines the GEMM mappings once, for the host (the enum) and for the WGSL (the constants the
/// shader loader puts before dense.wgsl and conv.wgsl), so the two cannot disagree.
macro_rules! mappings {
    ($($(#[$doc:meta])* $name:ident = $value:literal => $wgsl:literal,)*) => {
        /// Which product an implicit-GEMM pipeline computes: the `OP` pipeline constant of
        /// dense.wgsl and conv.wgsl.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u32)]
        pub enum Mapping {
            $($(#[$doc])* $name = $value,)*
        }

        /// The same as WGSL constants.
        const MAPPING_WGSL: &str = concat!(
            "// Generated from gpu::shaders::Mapping.\n",
            $("const ", $wgsl, ": u32 = ", stringify!($value), "u;\n",)*
        );
    };
}

mappings! {
    /// out = A B: the layer's output.
    Forward = 0 => "MAPPING_FORWARD",
    /// d input = d output B^T.
    BackwardInput = 1 => "MAPPING_BACKWARD_INPUT",
    /// d weights = A^T d output (the one that splits K; with a bias row, the bias gradient).
    BackwardWeight = 2 => "MAPPING_BACKWARD_WEIGHT",
}

impl Mapping {
    pub const ALL: [Mapping; 3] = [
        Mapping::Forward,
        Mapping::BackwardInput,
        Mapping::BackwardWeight,
    ];

    /// The value of the `OP` pipeline constant.
    pub const fn constant(self) -> f64 {
        self as u32 as f64
    }
}

/// Defines the constants the host and the kernels share once, as Rust constants and as the
/// WGSL file the shader loader puts first in every module, so a workgroup size, a tile or a
/// code cannot be changed on one side only.
macro_rules! shared_constants {
    ($($(#[$doc:meta])* $name:ident = $value:literal,)*) => {
        $($(#[$doc])* pub const $name: u32 = $value;)*

        const SHARED_WGSL: &str = concat!(
            "// Generated from gpu::shaders (shared_constants!).\n",
            $("const ", stringify!($name), ": u32 = ", stringify!($value), "u;\n",)*
        );
    };
}

shared_constants! {
    /// Invocations of every 1-D kernel's workgroup (`element_index`, `grid_for`) and of the
    /// workgroup reduction tree (`lane_total`; a power of two).
    WORKGROUP_1D = 256,
    /// The output tile's side of the tiled GEMM drivers (gemm.wgsl, gemm_subgroup.wgsl,
    /// gemm_wide.wgsl's columns).
    GEMM_TILE = 64,
    /// The rows of the tall tiles (gemm_subgroup_tall, gemm_wide with `WIDE_ROWS`): a parity
    /// class of a strided convolution's input gradient starts on a multiple of it.
    GEMM_TALL_TILE = 128,
    /// The depth of gemm_tiled's K tiles: split-K chunks are multiples of it.
    GEMM_TILE_K = 8,
    /// Columns per workgroup of the reductions' finishing stage (reduce.wgsl, batchnorm.wgsl).
    FINISH_COLS = 16,
    /// Samples per workgroup of the loss and metric kernels (loss.wgsl, metrics.wgsl).
    SAMPLES_PER_WORKGROUP = 1024,
    /// Adam steps a network can take in one iteration (adam.wgsl): its step-size slots.
    ADAM_MAX_STEPS = 4,
    /// Activation codes of epilogue.wgsl (`activate`, `activation_backward`), the `ACT`
    /// constant of activation.wgsl and the GEMM and BatchNorm epilogues' parameters.
    ACT_NONE = 0,
    ACT_LEAKY_RELU = 1,
    ACT_TANH = 2,
    ACT_SIGMOID = 3,
}

/// No overridable constants: one variant with the defaults.
const DEFAULTS: &[&[(&str, f64)]] = &[&[]];
const FORWARD: f64 = Mapping::Forward.constant();
const BACKWARD_INPUT: f64 = Mapping::BackwardInput.constant();
const BACKWARD_WEIGHT: f64 = Mapping::BackwardWeight.constant();
/// The GEMM families compile one pipeline per operand mapping (`OP`), and gemm_wide also with
/// 128-row tiles (`WIDE_ROWS`).
const GEMM_MAPPINGS: &[&[(&str, f64)]] = &[
    &[("OP", FORWARD)],
    &[("OP", BACKWARD_INPUT)],
    &[("OP", BACKWARD_WEIGHT)],
    &[("OP", FORWARD), ("WIDE_ROWS", 128.0)],
    &[("OP", BACKWARD_INPUT), ("WIDE_ROWS", 128.0)],
    &[("OP", BACKWARD_WEIGHT), ("WIDE_ROWS", 128.0)],
];
/// The subgroup modules have no gemm_wide.
const SUBGROUP_GEMM_MAPPINGS: &[&[(&str, f64)]] = &[
    &[("OP", FORWARD)],
    &[("OP", BACKWARD_INPUT)],
    &[("OP", BACKWARD_WEIGHT)],
];

macro_rules! wgsl {
    ($file:literal) => {
        (
            $file,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $file)),
        )
    };
}

/// The generated constants, as files of the module (named so in error messages).
const SHARED_FILE: (&str, &str) = ("shared.wgsl (generated)", SHARED_WGSL);
const MAPPING_FILE: (&str, &str) = ("gemm_mapping.wgsl (generated)", MAPPING_WGSL);

pub const DENSE: ShaderSource = ShaderSource {
    name: "dense",
    files: &[
        SHARED_FILE,
        wgsl!("common.wgsl"),
        MAPPING_FILE,
        wgsl!("epilogue.wgsl"),
        wgsl!("dense.wgsl"),
        wgsl!("gemm.wgsl"),
        wgsl!("gemm_wide.wgsl"),
    ],
    subgroups: false,
    variants: GEMM_MAPPINGS,
};
pub const CONV: ShaderSource = ShaderSource {
    name: "conv",
    files: &[
        SHARED_FILE,
        wgsl!("common.wgsl"),
        MAPPING_FILE,
        wgsl!("epilogue.wgsl"),
        wgsl!("conv.wgsl"),
        wgsl!("gemm.wgsl"),
        wgsl!("gemm_wide.wgsl"),
    ],
    subgroups: false,
    variants: GEMM_MAPPINGS,
};
/// The same families with the subgroup GEMM driver (only compiled where subgroups exist: a
/// module using subgroup operations fails to compile on adapters without them).
pub const DENSE_SUBGROUP: ShaderSource = ShaderSource {
    name: "dense_subgroup",
    files: &[
        SHARED_FILE,
        wgsl!("common.wgsl"),
        MAPPING_FILE,
        wgsl!("epilogue.wgsl"),
        wgsl!("dense.wgsl"),
        wgsl!("gemm.wgsl"),
        wgsl!("gemm_subgroup.wgsl"),
    ],
    subgroups: true,
    variants: SUBGROUP_GEMM_MAPPINGS,
};
pub const CONV_SUBGROUP: ShaderSource = ShaderSource {
    name: "conv_subgroup",
    files: &[
        SHARED_FILE,
        wgsl!("common.wgsl"),
        MAPPING_FILE,
        wgsl!("epilogue.wgsl"),
        wgsl!("conv.wgsl"),
        wgsl!("gemm.wgsl"),
        wgsl!("gemm_subgroup.wgsl"),
    ],
    subgroups: true,
    variants: SUBGROUP_GEMM_MAPPINGS,
};
pub const COLUMN_SUM: ShaderSource = ShaderSource {
    name: "column_sum",
    files: &[
        SHARED_FILE,
        wgsl!("common.wgsl"),
        wgsl!("reduce.wgsl"),
        wgsl!("column_sum.wgsl"),
    ],
    subgroups: false,
    variants: DEFAULTS,
};
pub const BATCHNORM: ShaderSource = ShaderSource {
    name: "batchnorm",
    files: &[
        SHARED_FILE,
        wgsl!("common.wgsl"),
        wgsl!("epilogue.wgsl"),
        wgsl!("reduce.wgsl"),
        wgsl!("batchnorm.wgsl"),
    ],
    subgroups: false,
    variants: DEFAULTS,
};
pub const ACTIVATION: ShaderSource = ShaderSource {
    name: "activation",
    files: &[
        SHARED_FILE,
        wgsl!("common.wgsl"),
        wgsl!("epilogue.wgsl"),
        wgsl!("activation.wgsl"),
    ],
    subgroups: false,
    variants: &[
        &[("ACT", ACT_LEAKY_RELU as f64)],
        &[("ACT", ACT_TANH as f64)],
        &[("ACT", ACT_SIGMOID as f64)],
    ],
};
pub const LOSS: ShaderSource = ShaderSource {
    name: "loss",
    files: &[
        SHARED_FILE,
        wgsl!("common.wgsl"),
        wgsl!("loss.wgsl"),
        wgsl!("metrics.wgsl"),
    ],
    subgroups: false,
    variants: DEFAULTS,
};
pub const SOFTMAX: ShaderSource = ShaderSource {
    name: "softmax",
    files: &[
        SHARED_FILE,
        wgsl!("common.wgsl"),
        wgsl!("softmax.wgsl"),
        wgsl!("metrics.wgsl"),
    ],
    subgroups: false,
    variants: DEFAULTS,
};
pub const ADAM: ShaderSource = ShaderSource {
    name: "adam",
    files: &[SHARED_FILE, wgsl!("common.wgsl"), wgsl!("adam.wgsl")],
    subgroups: false,
    variants: DEFAULTS,
};
pub const DATA: ShaderSource = ShaderSource {
    name: "data",
    files: &[
        SHARED_FILE,
        wgsl!("common.wgsl"),
        wgsl!("philox.wgsl"),
        wgsl!("data.wgsl"),
    ],
    subgroups: false,
    variants: DEFAULTS,
};

pub const EMBED: ShaderSource = ShaderSource {
    name: "embed",
    files: &[
        SHARED_FILE,
        wgsl!("common.wgsl"),
        wgsl!("epilogue.wgsl"),
        wgsl!("embed.wgsl"),
    ],
    subgroups: false,
    variants: DEFAULTS,
};

pub const FINITE: ShaderSource = ShaderSource {
    name: "finite",
    files: &[SHARED_FILE, wgsl!("common.wgsl"), wgsl!("finite.wgsl")],
    subgroups: false,
    variants: DEFAULTS,
};

pub const CEILING: ShaderSource = ShaderSource {
    name: "ceiling",
    files: &[SHARED_FILE, wgsl!("ceiling.wgsl")],
    subgroups: false,
    variants: DEFAULTS,
};

/// Every shader module the program compiles.
pub const ALL: &[ShaderSource] = &[
    DENSE,
    CONV,
    DENSE_SUBGROUP,
    CONV_SUBGROUP,
    COLUMN_SUM,
    BATCHNORM,
    ACTIVATION,
    LOSS,
    SOFTMAX,
    ADAM,
    DATA,
    EMBED,
    FINITE,
    CEILING,
];

impl ShaderSource {
    /// The module's WGSL as this build's compiler gets it: naga natively, the browser's own
    /// (Tint, through WebGPU) on wasm32.
    pub fn source(&self) -> String {
        self.compose(cfg!(target_arch = "wasm32"))
    }

    /// The module's WGSL as a browser compiles it (the page's compile check).
    pub fn browser_source(&self) -> String {
        self.compose(true)
    }

    /// The module's files in order, each under a comment naming it, with every directive
    /// (`diagnostic(...);`, `enable ...;`) moved to the start, where WGSL requires them (a file
    /// may need one; it cannot know what precedes it). Moved lines leave an empty line, so
    /// error positions within a file stay right. `diagnostic(off, subgroup_uniformity)` is
    /// Tint's rule only: naga does not know it and would warn at every start, so it goes only
    /// into the browser's source.
    fn compose(&self, browser: bool) -> String {
        let is_directive = |line: &str| {
            let l = line.trim_start();
            l.starts_with("diagnostic(") || l.starts_with("enable ") || l.starts_with("requires ")
        };
        let browser_only = |line: &str| line.contains("subgroup_uniformity");
        let mut head = String::new();
        let mut body = String::new();
        for (file, text) in self.files {
            body.push_str(&format!("// ---- shaders/{file} ----\n"));
            for line in text.lines() {
                if is_directive(line) {
                    if browser || !browser_only(line) {
                        head.push_str(line.trim());
                        head.push('\n');
                    }
                } else {
                    body.push_str(line);
                }
                body.push('\n');
            }
        }
        head + &body
    }

    /// Parses and validates the module with naga, returning it with its analysis (which
    /// bindings each entry point uses). Errors are rendered with file context.
    pub fn parse(&self) -> Result<(naga::Module, naga::valid::ModuleInfo), GpuError> {
        let source = self.source();
        let path = format!("shaders/{}", self.name);
        let module = naga::front::wgsl::parse_str(&source).map_err(|e| GpuError::Shader {
            name: self.name.to_string(),
            message: e.emit_to_string_with_path(&source, &path),
        })?;
        // A portable module must validate without subgroups: it runs where there are none.
        let capabilities = if self.subgroups {
            naga::valid::Capabilities::SUBGROUP | naga::valid::Capabilities::SUBGROUP_BARRIER
        } else {
            naga::valid::Capabilities::empty()
        };
        let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities)
            .validate(&module)
            .map_err(|e| GpuError::Shader {
                name: self.name.to_string(),
                message: e.emit_to_string_with_path(&source, &path),
            })?;
        Ok((module, info))
    }
}

/// `source` with entry point `entry` starting by filling each of `vars` (its workgroup
/// variables) with NaN, then a barrier (`Checks::poison_workgroup_memory`): a read of
/// workgroup memory before the kernel wrote it, or before a barrier made another invocation's
/// write visible, is then NaN in the results instead of whatever was there.
pub fn poisoned(source: &str, entry: &str, vars: &[String], workgroup_size: [u32; 3]) -> String {
    if vars.is_empty() {
        return source.to_string();
    }
    let lanes: u32 = workgroup_size.iter().product();
    let header = format!("fn {entry}(");
    let at = source
        .match_indices(&header)
        .map(|(i, _)| i)
        .find(|&i| i == 0 || source[..i].ends_with(char::is_whitespace))
        .unwrap_or_else(|| panic!("no entry point {entry} in the source"));
    let open = at + header.len();
    let mut depth = 1;
    let close = open
        + source[open..]
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("the parameter list ends");
    let params = &source[open..close];
    let builtin = "@builtin(local_invocation_index)";
    let (lid, extra) = match params.find(builtin) {
        Some(b) => {
            let rest = params[b + builtin.len()..].trim_start();
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (name, String::new())
        }
        None => {
            let sep = if params.trim().is_empty() || params.trim_end().ends_with(',') {
                ""
            } else {
                ", "
            };
            (
                "poison_lid".to_string(),
                format!("{sep}{builtin} poison_lid: u32"),
            )
        }
    };
    let body = close + source[close..].find('{').expect("the body opens");
    let mut prologue = String::from("\n    // Poisoned workgroup memory (kernel tests).\n");
    for var in vars {
        let decl = format!("var<workgroup> {var}:");
        let d = source
            .find(&decl)
            .unwrap_or_else(|| panic!("no declaration of {var}"));
        let ty = source[d + decl.len()..].split(';').next().unwrap().trim();
        let inner = ty
            .strip_prefix("array<")
            .and_then(|t| t.strip_suffix('>'))
            .unwrap_or_else(|| panic!("{var}: {ty} is not an array"));
        let (element, count) = inner.rsplit_once(',').expect("a sized array");
        let nan = "bitcast<f32>(0x7fc00000u)";
        let value = match element.trim() {
            "f32" => nan.to_string(),
            "vec4<f32>" => format!("vec4<f32>({nan})"),
            "u32" => "0xffffffffu".to_string(),
            other => panic!("{var}: no poison for {other}"),
        };
        prologue.push_str(&format!(
            "    for (var poison_i = {lid}; poison_i < u32({count}); poison_i += {lanes}u) {{ {var}[poison_i] = {value}; }}\n",
            count = count.trim()
        ));
    }
    prologue.push_str("    workgroupBarrier();\n");
    let mut out = String::with_capacity(source.len() + prologue.len() + extra.len());
    out.push_str(&source[..close]);
    out.push_str(&extra);
    out.push_str(&source[close..=body]);
    out.push_str(&prologue);
    out.push_str(&source[body + 1..]);
    out
}
