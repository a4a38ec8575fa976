//! Every WGSL module parses and validates through naga. Needs no GPU.

use dcgan_wgpu::gpu::shaders;

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
