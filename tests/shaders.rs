//! Every WGSL module parses and validates through naga. Needs no GPU.

use dcgan_wgpu::gpu::shaders::{self, WORKGROUP_1D};

#[test]
fn every_shader_module_validates() {
    let mut failures = Vec::new();
    for s in shaders::ALL {
        match s.parse() {
            Ok((module, _)) => {
                assert!(
                    !module.entry_points.is_empty(),
                    "{} has no entry point",
                    s.name
                );
                println!("{}: {} entry points", s.name, module.entry_points.len());
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_shader_file_is_compiled() {
    // A file under shaders/ that no module includes would silently escape validation.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".wgsl") {
            continue;
        }
        assert!(
            shaders::ALL
                .iter()
                .any(|s| s.files.iter().any(|(f, _)| *f == name)),
            "shaders/{name} is not part of any module"
        );
    }
}

/// Every module, as the program composes it (each set of overridable constants it compiles the
/// module with), written by naga's SPIR-V, Metal and HLSL back ends for every entry point, as
/// wgpu's Vulkan, Metal and DX12 back ends would: a shader that breaks on only one of them fails
/// here, on a machine with none of those GPUs. HLSL is written for shader model 5.1 (FXC, which
/// wgpu falls back to without dxcompiler.dll) for the portable modules and 6.0 (DXC) for all.
#[test]
fn every_shader_translates_for_every_backend() {
    use naga::back::{hlsl, msl, spv};
    use naga::ir::ShaderStage;
    let mut written = 0;
    let mut failures = Vec::new();
    for s in shaders::ALL {
        let (module, info) = s.parse().unwrap_or_else(|e| panic!("{e}"));
        for constants in s.variants {
            let constants: naga::back::PipelineConstants =
                constants.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            let (module, info) =
                naga::back::pipeline_constants::process_overrides(&module, &info, None, &constants)
                    .unwrap_or_else(|e| panic!("{} {constants:?}: {e}", s.name));
            for ep in &module.entry_points {
                let what = format!("{} {constants:?} {}", s.name, ep.name);
                let spv_options = spv::Options {
                    lang_version: if s.subgroups { (1, 3) } else { (1, 0) },
                    ..Default::default()
                };
                let spv_pipeline = spv::PipelineOptions {
                    shader_stage: ShaderStage::Compute,
                    entry_point: ep.name.clone(),
                };
                if let Err(e) = spv::write_vec(&module, &info, &spv_options, Some(&spv_pipeline)) {
                    failures.push(format!("{what}: SPIR-V: {e}"));
                }
                let msl_options = msl::Options {
                    lang_version: (2, 1),
                    fake_missing_bindings: true,
                    ..Default::default()
                };
                let msl_pipeline = msl::PipelineOptions {
                    entry_point: Some((ShaderStage::Compute, ep.name.clone())),
                    ..Default::default()
                };
                if let Err(e) = msl::write_string(&module, &info, &msl_options, &msl_pipeline) {
                    failures.push(format!("{what}: MSL: {e}"));
                }
                let models: &[hlsl::ShaderModel] = if s.subgroups {
                    &[hlsl::ShaderModel::V6_0]
                } else {
                    &[hlsl::ShaderModel::V5_1, hlsl::ShaderModel::V6_0]
                };
                for &shader_model in models {
                    let options = hlsl::Options {
                        shader_model,
                        fake_missing_bindings: true,
                        ..Default::default()
                    };
                    let pipeline = hlsl::PipelineOptions {
                        entry_point: Some((ShaderStage::Compute, ep.name.clone())),
                    };
                    let mut out = String::new();
                    let mut w = hlsl::Writer::new(&mut out, &options, &pipeline);
                    if let Err(e) = w.write(&module, &info, None) {
                        failures.push(format!("{what}: HLSL {}: {e}", shader_model.to_str()));
                    }
                }
                written += 1;
            }
        }
    }
    println!("{written} entry points written as SPIR-V, MSL and HLSL");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(written > 30, "only {written} entry points were translated");
}

/// The HLSL of a subgroup-free module asks for no wave intrinsics (FXC has none), and the
/// subgroup modules do use them, so the split between the two kinds of module is real.
#[test]
fn subgroup_operations_stay_in_the_subgroup_modules() {
    for s in shaders::ALL {
        let text = s.source();
        let uses = [
            "subgroupShuffle",
            "subgroupAdd",
            "subgroupBroadcast",
            "subgroup_size",
        ]
        .iter()
        .any(|op| text.contains(op));
        assert_eq!(
            uses, s.subgroups,
            "{}: subgroup use disagrees with its flag",
            s.name
        );
    }
}

/// Every entry point fits WebGPU's default limits, which browsers and some drivers report: at
/// most 8 storage buffers (maxStorageBuffersPerShaderStage) and 16 KiB of workgroup memory
/// (maxComputeWorkgroupStorageSize), counting what naga's analysis says it uses with each set
/// of constants the program compiles. The one exception, gemm_wide's 128-row tiles (24 KiB),
/// is compiled only where the adapter reports the room (`ops::gemm`).
#[test]
fn every_kernel_fits_webgpu_default_limits() {
    let mut checked = 0;
    for s in shaders::ALL {
        let (module, info) = s.parse().unwrap_or_else(|e| panic!("{e}"));
        for constants in s.variants {
            let tall = constants.contains(&("WIDE_ROWS", 128.0));
            let pc: naga::back::PipelineConstants =
                constants.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            let (module, info) =
                naga::back::pipeline_constants::process_overrides(&module, &info, None, &pc)
                    .unwrap_or_else(|e| panic!("{} {constants:?}: {e}", s.name));
            let mut layouter = naga::proc::Layouter::default();
            layouter.update(module.to_ctx()).unwrap();
            for (i, ep) in module.entry_points.iter().enumerate() {
                let uses = info.get_entry_point(i);
                let (mut storage, mut workgroup_bytes) = (0, 0);
                for (handle, var) in module.global_variables.iter() {
                    if uses[handle].is_empty() {
                        continue;
                    }
                    match var.space {
                        naga::AddressSpace::Storage { .. } => storage += 1,
                        naga::AddressSpace::WorkGroup => {
                            workgroup_bytes += layouter[var.ty].size;
                        }
                        _ => {}
                    }
                }
                let what = format!("{}::{} {constants:?}", s.name, ep.name);
                assert!(storage <= 8, "{what}: {storage} storage buffers");
                let limit = if tall && ep.name == "gemm_wide" {
                    24576
                } else {
                    16384
                };
                assert!(
                    workgroup_bytes <= limit,
                    "{what}: {workgroup_bytes} bytes of workgroup memory"
                );
                checked += 1;
            }
        }
    }
    println!("{checked} entry points (with their constants) within the limits");
    assert!(checked > 60);
}

/// What the lint reports of one module: every store into one component of a vector in
/// workgroup or storage memory (a write to a component accesses the whole vector in WGSL's
/// memory model: two invocations storing two components of one vec4 race, and a backend may
/// lower it to a read-modify-write that keeps stale lanes), and every entry point that reaches
/// the workgroup reduction tree (`lane_total`, 256 lanes) with another workgroup size.
fn lint(name: &str, module: &naga::Module, info: &naga::valid::ModuleInfo) -> Vec<String> {
    use naga::{AddressSpace, Expression, Statement, TypeInner};
    fn walk<'a>(block: &'a naga::Block, out: &mut Vec<&'a Statement>) {
        for s in block.iter() {
            out.push(s);
            match s {
                Statement::Block(b) => walk(b, out),
                Statement::If { accept, reject, .. } => {
                    walk(accept, out);
                    walk(reject, out);
                }
                Statement::Switch { cases, .. } => cases.iter().for_each(|c| walk(&c.body, out)),
                Statement::Loop {
                    body, continuing, ..
                } => {
                    walk(body, out);
                    walk(continuing, out);
                }
                _ => {}
            }
        }
    }
    let shared = |space: AddressSpace| {
        matches!(
            space,
            AddressSpace::WorkGroup | AddressSpace::Storage { .. }
        )
    };
    let mut problems = Vec::new();
    let mut functions: Vec<(String, &naga::Function, &naga::valid::FunctionInfo)> = module
        .functions
        .iter()
        .map(|(h, f)| (f.name.clone().unwrap_or_default(), f, &info[h]))
        .collect();
    for (i, ep) in module.entry_points.iter().enumerate() {
        functions.push((ep.name.clone(), &ep.function, info.get_entry_point(i)));
    }
    for (fname, f, fi) in &functions {
        let mut statements = Vec::new();
        walk(&f.body, &mut statements);
        for s in statements {
            let Statement::Store { pointer, .. } = s else {
                continue;
            };
            let base = match f.expressions[*pointer] {
                Expression::Access { base, .. } | Expression::AccessIndex { base, .. } => base,
                _ => continue,
            };
            let inner = fi[base].ty.inner_with(&module.types);
            let into_vector = match *inner {
                TypeInner::Pointer { base, space } => {
                    shared(space) && matches!(module.types[base].inner, TypeInner::Vector { .. })
                }
                TypeInner::ValuePointer {
                    size: Some(_),
                    space,
                    ..
                } => shared(space),
                _ => false,
            };
            if into_vector {
                problems.push(format!(
                    "{name}::{fname}: a store into one component of a vector in shared memory"
                ));
            }
        }
    }
    // Which functions reach lane_total.
    let callees = |f: &naga::Function| -> Vec<naga::Handle<naga::Function>> {
        let mut statements = Vec::new();
        walk(&f.body, &mut statements);
        statements
            .into_iter()
            .filter_map(|s| match s {
                Statement::Call { function, .. } => Some(*function),
                _ => None,
            })
            .collect()
    };
    fn reaches(
        module: &naga::Module,
        f: &naga::Function,
        callees: &dyn Fn(&naga::Function) -> Vec<naga::Handle<naga::Function>>,
    ) -> bool {
        callees(f).into_iter().any(|h| {
            let g = &module.functions[h];
            g.name.as_deref() == Some("lane_total") || reaches(module, g, callees)
        })
    }
    for ep in &module.entry_points {
        if reaches(module, &ep.function, &callees) && ep.workgroup_size != [WORKGROUP_1D, 1, 1] {
            problems.push(format!(
                "{name}::{}: reaches lane_total ({WORKGROUP_1D} lanes) with workgroup size {:?}",
                ep.name, ep.workgroup_size
            ));
        }
    }
    problems
}

/// The lint over every module: no component stores into shared vectors, the reduction tree
/// only in 256-lane workgroups.
#[test]
fn shaders_pass_the_memory_lint() {
    let mut problems = Vec::new();
    for s in shaders::ALL {
        let (module, info) = s.parse().unwrap_or_else(|e| panic!("{e}"));
        problems.extend(lint(s.name, &module, &info));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The lint finds what it is for: the tile store gemm.wgsl had (invocations tid..tid + 3
/// writing the components of one vec4), the same into storage memory, and the reduction tree
/// in a 64-lane workgroup; and it passes the fixed forms.
#[test]
fn the_memory_lint_catches_component_stores_and_wrong_workgroup_sizes() {
    let check = |src: &str| {
        let module = naga::front::wgsl::parse_str(src).unwrap_or_else(|e| panic!("{e}"));
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        )
        .validate(&module)
        .unwrap();
        lint("test", &module, &info)
    };
    let racy = "var<workgroup> tile: array<vec4<f32>, 16>;
        @compute @workgroup_size(64) fn main(@builtin(local_invocation_index) t: u32) {
            tile[t / 4u][t % 4u] = 1.0;
        }";
    assert_eq!(check(racy).len(), 1, "{:?}", check(racy));
    let racy_member = "var<workgroup> tile: array<vec4<f32>, 16>;
        @compute @workgroup_size(64) fn main(@builtin(local_invocation_index) t: u32) {
            tile[t / 4u].y = 1.0;
        }";
    assert_eq!(check(racy_member).len(), 1);
    let storage = "@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
        @compute @workgroup_size(64) fn main(@builtin(local_invocation_index) t: u32) {
            out[t / 4u][t % 4u] = 1.0;
        }";
    assert_eq!(check(storage).len(), 1);
    let fixed = "var<workgroup> tile: array<f32, 64>;
        var<private> mine: vec4<f32>;
        @compute @workgroup_size(64) fn main(@builtin(local_invocation_index) t: u32) {
            tile[t] = 1.0;
            mine[t % 4u] = 2.0;
        }";
    assert!(check(fixed).is_empty(), "{:?}", check(fixed));
    let tree = |size: u32| {
        format!(
            "{}{}
            @compute @workgroup_size({size}) fn main(@builtin(local_invocation_index) t: u32) {{
                let s = lane_total(t, 1u, 1.0);
            }}",
            // The generated constants, then common.wgsl.
            shaders::COLUMN_SUM.files[0].1,
            shaders::COLUMN_SUM.files[1].1
        )
    };
    assert_eq!(check(&tree(64)).len(), 1, "{:?}", check(&tree(64)));
    assert!(check(&tree(WORKGROUP_1D)).is_empty());
}

// Parameter blocks shaped like activation.wgsl's, right and wrong in each way the check must
// catch.
dcgan_wgpu::params! {
    struct Right { n: u32, alpha: f32, _pad: [u32; 2] }
}
dcgan_wgpu::params! {
    struct Swapped { alpha: f32, n: u32, _pad: [u32; 2] }
}
dcgan_wgpu::params! {
    struct Short { n: u32 }
}
dcgan_wgpu::params! {
    struct Extra { n: u32, alpha: f32, beta: f32, _pad: u32 }
}
dcgan_wgpu::params! {
    struct Renamed { count: u32, alpha: f32, _pad: [u32; 2] }
}
dcgan_wgpu::params! {
    struct Narrow { n: u32, alpha: f32, v: u32, _pad: u32 }
}

#[test]
fn parameter_blocks_are_checked_against_the_wgsl_layout() {
    use dcgan_wgpu::gpu::params::check;
    let module = |body: &str| {
        naga::front::wgsl::parse_str(&format!(
            "struct P {{ {body} }}\n@group(0) @binding(0) var<uniform> p: P;\n\
             @compute @workgroup_size(1) fn main() {{ let x = p.n; }}"
        ))
        .unwrap()
    };
    let act = module("n: u32, alpha: f32, _pad0: u32, _pad1: u32");
    check::<Right>(&act, "right").unwrap();
    for (name, result, says) in [
        (
            "swapped",
            check::<Swapped>(&act, "swapped"),
            "P.n: WGSL offset 0 size 4, host offset 4",
        ),
        (
            "short",
            check::<Short>(&act, "short"),
            "host's P is 4 bytes, the WGSL struct 16",
        ),
        (
            "extra",
            check::<Extra>(&act, "extra"),
            "host's P.beta is not in the WGSL struct",
        ),
        (
            "renamed",
            check::<Renamed>(&act, "renamed"),
            "P.n is missing on the host",
        ),
    ] {
        let e = result.expect_err(name).to_string();
        assert!(e.contains(says), "{name}: {e}");
    }
    let vec = module("n: u32, alpha: f32, v: vec2<u32>");
    let e = check::<Narrow>(&vec, "narrow")
        .expect_err("narrow")
        .to_string();
    assert!(
        e.contains("v: WGSL offset 8 size 8, host offset 8 size 4"),
        "{e}"
    );
    // Every parameter block of the program passes at pipeline creation (tests/ops), so only the
    // mismatches need a module here.
}
