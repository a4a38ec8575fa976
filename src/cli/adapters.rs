//! `dcgan-wgpu adapters`: the adapters wgpu sees, marking the one a run would pick.

use anyhow::Result;
use dcgan_wgpu::gpu::context;

use super::GpuArgs;
use crate::say;

pub fn run(args: GpuArgs) -> Result<()> {
    let all = pollster::block_on(context::list_adapters(args.backend));
    if all.is_empty() {
        anyhow::bail!(
            "wgpu sees no adapter for backend '{}'. On Linux without a GPU, install Mesa's \
             software Vulkan driver: `sudo apt-get install mesa-vulkan-drivers libvulkan1`",
            args.backend
        );
    }
    let filter = args.adapter.as_ref().map(|s| s.to_lowercase());
    let mut picked = false;
    for a in &all {
        let info = a.get_info();
        let matches = filter
            .as_ref()
            .is_none_or(|f| info.name.to_lowercase().contains(f));
        let mark = if matches && !picked {
            picked = true;
            "*"
        } else {
            " "
        };
        say!("{mark} {}", context::describe_adapter(&info));
    }
    if !picked {
        anyhow::bail!(
            "no adapter's name contains {:?}",
            args.adapter.unwrap_or_default()
        );
    }
    say!("(* = the adapter a run with these options uses)");
    Ok(())
}
