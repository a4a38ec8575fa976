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
