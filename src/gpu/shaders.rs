//! The WGSL sources, embedded at compile time, and their validation through naga.
//!
//! A shader module is one file of `shaders/`, or an op file followed by a shared driver: the
//! implicit-GEMM families (`dense`, `conv`) each define `load_a`/`load_b` for their operands and
//! append `gemm.wgsl`, which owns the tiling, the split-K reduction and the store.

use super::GpuError;

/// One compilable shader module: its name and the files it is made of, in order.
#[derive(Clone, Copy, Debug)]
pub struct ShaderSource {
    pub name: &'static str,
    pub files: &'static [(&'static str, &'static str)],
}

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
    ],
};
pub const CONV: ShaderSource = ShaderSource {
    name: "conv",
    files: &[
        wgsl!("epilogue.wgsl"),
        wgsl!("conv.wgsl"),
        wgsl!("gemm.wgsl"),
    ],
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
};
pub const CONV_SUBGROUP: ShaderSource = ShaderSource {
    name: "conv_subgroup",
    files: &[
        wgsl!("epilogue.wgsl"),
        wgsl!("conv.wgsl"),
        wgsl!("gemm.wgsl"),
        wgsl!("gemm_subgroup.wgsl"),
    ],
};
pub const REDUCE: ShaderSource = ShaderSource {
    name: "reduce",
    files: &[wgsl!("reduce.wgsl")],
};
pub const BATCHNORM: ShaderSource = ShaderSource {
    name: "batchnorm",
    files: &[wgsl!("epilogue.wgsl"), wgsl!("batchnorm.wgsl")],
};
pub const ACTIVATION: ShaderSource = ShaderSource {
    name: "activation",
    files: &[wgsl!("epilogue.wgsl"), wgsl!("activation.wgsl")],
};
pub const LOSS: ShaderSource = ShaderSource {
    name: "loss",
    files: &[wgsl!("loss.wgsl"), wgsl!("metrics.wgsl")],
};
pub const SOFTMAX: ShaderSource = ShaderSource {
    name: "softmax",
    files: &[wgsl!("softmax.wgsl"), wgsl!("metrics.wgsl")],
};
pub const ADAM: ShaderSource = ShaderSource {
    name: "adam",
    files: &[wgsl!("adam.wgsl")],
};
pub const DATA: ShaderSource = ShaderSource {
    name: "data",
    files: &[wgsl!("philox.wgsl"), wgsl!("data.wgsl")],
};

/// Every shader module the program compiles.
pub const ALL: &[ShaderSource] = &[
    DENSE,
    CONV,
    DENSE_SUBGROUP,
    CONV_SUBGROUP,
    REDUCE,
    BATCHNORM,
    ACTIVATION,
    LOSS,
    SOFTMAX,
    ADAM,
    DATA,
];

impl ShaderSource {
    pub fn source(&self) -> String {
        let mut s = String::new();
        for (file, text) in self.files {
            s.push_str(&format!("// ---- shaders/{file} ----\n"));
            s.push_str(text);
            s.push('\n');
        }
        s
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
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .map_err(|e| GpuError::Shader {
            name: self.name.to_string(),
            message: e.emit_to_string_with_path(&source, &path),
        })?;
        Ok((module, info))
    }
}
