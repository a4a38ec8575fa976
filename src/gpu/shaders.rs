//! The WGSL sources, embedded at compile time, and their validation through naga.
//!
//! A shader module is one file of `shaders/`, or an op file followed by shared drivers: the
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

/// No overridable constants: one variant with the defaults.
const DEFAULTS: &[&[(&str, f64)]] = &[&[]];
/// The GEMM families compile one pipeline per operand mapping (`OP` in dense.wgsl, conv.wgsl),
/// and gemm_wide also with 128-row tiles (`WIDE_ROWS`).
const GEMM_MAPPINGS: &[&[(&str, f64)]] = &[
    &[("OP", 0.0)],
    &[("OP", 1.0)],
    &[("OP", 2.0)],
    &[("OP", 0.0), ("WIDE_ROWS", 128.0)],
    &[("OP", 1.0), ("WIDE_ROWS", 128.0)],
    &[("OP", 2.0), ("WIDE_ROWS", 128.0)],
];
/// The subgroup modules have no gemm_wide.
const SUBGROUP_GEMM_MAPPINGS: &[&[(&str, f64)]] = &[&[("OP", 0.0)], &[("OP", 1.0)], &[("OP", 2.0)]];

macro_rules! wgsl {
    ($file:literal) => {
        (
            $file,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $file)),
        )
    };
}

pub const DENSE: ShaderSource = ShaderSource {
    name: "dense",
    files: &[
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
    files: &[wgsl!("reduce.wgsl"), wgsl!("column_sum.wgsl")],
    subgroups: false,
    variants: DEFAULTS,
};
pub const BATCHNORM: ShaderSource = ShaderSource {
    name: "batchnorm",
    files: &[
        wgsl!("epilogue.wgsl"),
        wgsl!("reduce.wgsl"),
        wgsl!("batchnorm.wgsl"),
    ],
    subgroups: false,
    variants: DEFAULTS,
};
pub const ACTIVATION: ShaderSource = ShaderSource {
    name: "activation",
    files: &[wgsl!("epilogue.wgsl"), wgsl!("activation.wgsl")],
    subgroups: false,
    variants: DEFAULTS,
};
pub const LOSS: ShaderSource = ShaderSource {
    name: "loss",
    files: &[wgsl!("loss.wgsl"), wgsl!("metrics.wgsl")],
    subgroups: false,
    variants: DEFAULTS,
};
pub const SOFTMAX: ShaderSource = ShaderSource {
    name: "softmax",
    files: &[wgsl!("softmax.wgsl"), wgsl!("metrics.wgsl")],
    subgroups: false,
    variants: DEFAULTS,
};
pub const ADAM: ShaderSource = ShaderSource {
    name: "adam",
    files: &[wgsl!("adam.wgsl")],
    subgroups: false,
    variants: DEFAULTS,
};
pub const DATA: ShaderSource = ShaderSource {
    name: "data",
    files: &[wgsl!("philox.wgsl"), wgsl!("data.wgsl")],
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
];

impl ShaderSource {
    /// The module's WGSL: its files in order, each under a comment naming it, with every
    /// directive (`diagnostic(...);`, `enable ...;`) moved to the start, where WGSL requires
    /// them (a file may need one; it cannot know what precedes it). Moved lines leave an empty
    /// line, so error positions within a file stay right.
    pub fn source(&self) -> String {
        let is_directive = |line: &str| {
            let l = line.trim_start();
            l.starts_with("diagnostic(") || l.starts_with("enable ") || l.starts_with("requires ")
        };
        let mut head = String::new();
        let mut body = String::new();
        for (file, text) in self.files {
            body.push_str(&format!("// ---- shaders/{file} ----\n"));
            for line in text.lines() {
                if is_directive(line) {
                    head.push_str(line.trim());
                    head.push('\n');
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
