//! Compiled compute pipelines ([`Kernel`]) and recorded dispatches ([`Dispatch`]).
//!
//! Every kernel's bind-group layout is derived from naga's analysis of its entry point, so a
//! shader file can declare the bindings of several entry points and each pipeline only asks
//! for the ones it really uses. Pipelines and bind groups are created once; a training step is
//! a list of [`Dispatch`]es replayed into a compute pass.

use std::sync::Arc;

use super::params::Params;
use super::shaders::{ShaderSource, WORKGROUP_1D};
use super::{GpuContext, GpuError, GpuSlice, Uniform};

/// What to bind to one of a shader's named bindings.
#[derive(Clone, Copy, Debug)]
pub enum Bind<'a> {
    Uniform(&'a Uniform),
    Storage(&'a GpuSlice),
    /// A placeholder for a binding the kernel declares but will not touch with these
    /// parameters (e.g. `bias` when `has_bias` is 0).
    Dummy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotKind {
    Uniform,
    StorageRead,
    StorageReadWrite,
}

/// One binding an entry point uses.
#[derive(Clone, Debug)]
struct Slot {
    binding: u32,
    name: String,
    kind: SlotKind,
    /// The entry point loads from it (naga's analysis), so its length counts as elements read.
    reads: bool,
}

/// A compute pipeline for one entry point (with its pipeline-overridable constants).
#[derive(Clone, Debug)]
pub struct Kernel {
    pub name: Arc<str>,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    slots: Arc<[Slot]>,
}

/// One recorded dispatch: a kernel with its bind group and grid.
#[derive(Clone, Debug)]
pub struct Dispatch {
    pub kernel: Arc<str>,
    /// What the dispatch is part of (e.g. `G.convt1 forward`), for per-layer breakdowns.
    pub scope: Arc<str>,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    pub workgroups: [u32; 3],
    /// Elements of its storage bindings it reads (each read binding's bound length, or what
    /// the op states for gathers): the shape report of `bench`.
    pub elements_read: u64,
}

/// Tags every dispatch of a list with a scope.
pub fn tag(dispatches: Vec<Dispatch>, scope: &str) -> Vec<Dispatch> {
    let scope: Arc<str> = scope.into();
    dispatches
        .into_iter()
        .map(|d| Dispatch {
            scope: scope.clone(),
            ..d
        })
        .collect()
}

impl Dispatch {
    /// Workgroups launched.
    pub fn workgroup_count(&self) -> u64 {
        self.workgroups.iter().map(|&w| u64::from(w)).product()
    }

    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let [x, y, z] = self.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }
}

/// The grid of a 1-D kernel over `elements` (one invocation each, `element_index` in
/// common.wgsl): its workgroups of [`WORKGROUP_1D`] folded by [`grid_1d`].
pub fn grid_for(elements: u32) -> [u32; 3] {
    grid_1d(elements.div_ceil(WORKGROUP_1D))
}

/// A grid-stride loop over `elements` in workgroups of [`WORKGROUP_1D`]: one per
/// `WORKGROUP_1D` elements, at least 1 and at most `max_workgroups`, and the stride each
/// invocation walks with (all the grid's invocations). Returns (workgroups, stride).
pub fn grid_stride(elements: u32, max_workgroups: u32) -> (u32, u32) {
    let workgroups = elements.div_ceil(WORKGROUP_1D).clamp(1, max_workgroups);
    (workgroups, workgroups * WORKGROUP_1D)
}

/// Splits `n` workgroups into an (x, y) grid within the 65535-per-dimension limit; kernels
/// rebuild the linear index as `wid.y * num_workgroups.x + wid.x`.
pub fn grid_1d(n: u32) -> [u32; 3] {
    const MAX: u32 = 65535;
    if n <= MAX {
        [n.max(1), 1, 1]
    } else {
        [MAX, n.div_ceil(MAX), 1]
    }
}

impl Kernel {
    /// Compiles `entry` of `shader` with the given overridable constants; `P` is the host's
    /// parameter block for its `var<uniform> p`, checked against the WGSL struct's layout.
    pub fn new<P: Params>(
        ctx: &GpuContext,
        shader: &ShaderSource,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> Result<Kernel, GpuError> {
        assert!(
            shader.variants.contains(&constants),
            "{}: constants {constants:?} are not among the module's declared variants",
            shader.name
        );
        let (module, info) = shader.parse()?;
        let (ep_index, _) = module
            .entry_points
            .iter()
            .enumerate()
            .find(|(_, ep)| ep.name == entry)
            .ok_or_else(|| GpuError::Shader {
                name: shader.name.to_string(),
                message: format!("no entry point {entry}"),
            })?;
        let ep_info = info.get_entry_point(ep_index);
        let mut slots = Vec::new();
        for (handle, var) in module.global_variables.iter() {
            let Some(binding) = &var.binding else {
                continue;
            };
            if ep_info[handle].is_empty() {
                continue;
            }
            assert_eq!(binding.group, 0, "kernels use bind group 0 only");
            let kind = match var.space {
                naga::AddressSpace::Uniform => SlotKind::Uniform,
                naga::AddressSpace::Storage { access } => {
                    if access.contains(naga::StorageAccess::STORE) {
                        SlotKind::StorageReadWrite
                    } else {
                        SlotKind::StorageRead
                    }
                }
                other => panic!("unsupported binding space {other:?} in {}", shader.name),
            };
            slots.push(Slot {
                binding: binding.binding,
                name: var.name.clone().unwrap_or_default(),
                kind,
                reads: ep_info[handle].contains(naga::valid::GlobalUse::READ),
            });
        }
        slots.sort_by_key(|s| s.binding);
        let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
            .iter()
            .map(|&Slot { binding, kind, .. }| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match kind {
                        SlotKind::Uniform => wgpu::BufferBindingType::Uniform,
                        SlotKind::StorageRead => {
                            wgpu::BufferBindingType::Storage { read_only: true }
                        }
                        SlotKind::StorageReadWrite => {
                            wgpu::BufferBindingType::Storage { read_only: false }
                        }
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let label = if constants.is_empty() {
            format!("{}::{entry}", shader.name)
        } else {
            let c: Vec<String> = constants.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{}::{entry}[{}]", shader.name, c.join(","))
        };
        super::params::check::<P>(&module, &label)?;
        let device = &ctx.device;
        // Natively an error scope resolves at once, so a bad kernel is named here. In a browser
        // it would resolve later; there no scope is pushed and the error reaches the context's
        // uncaptured-error handler (`GpuContext::check`), still naming the pipeline.
        #[cfg(not(target_arch = "wasm32"))]
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(&label),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let mut source = shader.source();
        if let Some(edit) = &ctx.checks.edit {
            source = edit(shader.name, source);
        }
        if ctx.checks.poison_workgroup_memory {
            source = super::shaders::poisoned(
                &source,
                entry,
                &poisoned_vars(&module, ep_info),
                module.entry_points[ep_index].workgroup_size,
            );
        }
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(shader.name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                // Every kernel writes workgroup memory before reading it.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(Some(e)) = futures_util::FutureExt::now_or_never(scope.pop()) {
            return Err(GpuError::Shader {
                name: label,
                message: e.to_string(),
            });
        }
        Ok(Kernel {
            name: label.into(),
            pipeline,
            layout,
            slots: slots.into(),
        })
    }

    /// Binds resources by the shader's variable names and returns the dispatch over
    /// `workgroups`. Names the entry point does not use are ignored; a used one that is missing
    /// is a programming error and panics with the kernel and binding named.
    pub fn dispatch(
        &self,
        ctx: &GpuContext,
        binds: &[(&str, Bind<'_>)],
        workgroups: [u32; 3],
    ) -> Dispatch {
        self.dispatch_reading(ctx, binds, workgroups, None)
    }

    /// `dispatch`, stating the elements read where a binding is only partly read (a gather
    /// from a whole data set).
    pub fn dispatch_reading(
        &self,
        ctx: &GpuContext,
        binds: &[(&str, Bind<'_>)],
        workgroups: [u32; 3],
        elements_read: Option<u64>,
    ) -> Dispatch {
        use super::context::{DUMMY_GUARD, DUMMY_RW_SLOTS, DUMMY_SLOT, dummy_stride};
        let stride = dummy_stride(&ctx.checks);
        let dummy = |buffer: &wgpu::Buffer, slot: u64| GpuSlice {
            buffer: buffer.clone(),
            offset: slot * stride,
            len: DUMMY_SLOT as usize / 4,
            guard: if ctx.checks.guard_bands {
                DUMMY_GUARD
            } else {
                0
            },
        };
        // Each unused read-write binding gets a slot of its own: WebGPU forbids two writable
        // bindings of one range.
        let mut rw_dummies = (0..DUMMY_RW_SLOTS).map(|slot| dummy(&ctx.dummy_rw, slot));
        let mut read = 0;
        // (binding, name, the bound range (None: the uniform), writable)
        let mut bound: Vec<(u32, &str, Option<GpuSlice>, bool)> = Vec::new();
        let mut uniform = None;
        for Slot {
            binding,
            name,
            kind,
            reads,
        } in self.slots.iter()
        {
            let bind = binds.iter().find(|(n, _)| n == name).map(|(_, b)| *b);
            if let (true, Some(Bind::Storage(s))) = (reads, bind) {
                read += s.len as u64;
            }
            let writable = *kind == SlotKind::StorageReadWrite;
            let slice = match (bind, kind) {
                (Some(Bind::Uniform(u)), SlotKind::Uniform) => {
                    uniform = Some(u);
                    None
                }
                (Some(Bind::Storage(s)), SlotKind::StorageRead | SlotKind::StorageReadWrite) => {
                    Some(s.clone())
                }
                (Some(Bind::Dummy), SlotKind::StorageRead) => Some(dummy(&ctx.dummy, 0)),
                (Some(Bind::Dummy), SlotKind::StorageReadWrite) => {
                    Some(rw_dummies.next().expect("a read-write dummy slot"))
                }
                (b, k) => panic!(
                    "{}: binding '{name}' ({binding}) expects {k:?}, got {b:?}",
                    self.name
                ),
            };
            bound.push((*binding, name, slice, writable));
        }
        check_aliasing(&self.name, &bound);
        let entries: Vec<wgpu::BindGroupEntry> = bound
            .iter()
            .map(|(binding, _, slice, _)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: match slice {
                    Some(s) => s.binding(),
                    None => uniform.expect("the uniform").0.as_entire_binding(),
                },
            })
            .collect();
        let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&self.name),
            layout: &self.layout,
            entries: &entries,
        });
        Dispatch {
            kernel: self.name.clone(),
            scope: "".into(),
            pipeline: self.pipeline.clone(),
            bind_group,
            workgroups,
            elements_read: elements_read.unwrap_or(read),
        }
    }
}

/// The workgroup variables an entry point uses, by name.
fn poisoned_vars(module: &naga::Module, ep_info: &naga::valid::FunctionInfo) -> Vec<String> {
    module
        .global_variables
        .iter()
        .filter(|(h, v)| v.space == naga::AddressSpace::WorkGroup && !ep_info[*h].is_empty())
        .filter_map(|(_, v)| v.name.clone())
        .collect()
}

/// WebGPU's rule for one dispatch (a browser refuses the dispatch otherwise, native drivers do
/// not check): a buffer bound writable is bound nowhere else in it, read-only or writable, in
/// an overlapping range; and not read-only elsewhere at all (one usage per buffer and pass
/// scope). A breach is a programming error: it panics naming the kernel and the bindings.
fn check_aliasing(kernel: &str, bound: &[(u32, &str, Option<GpuSlice>, bool)]) {
    for (i, (_, a_name, a, a_writable)) in bound.iter().enumerate() {
        for (_, b_name, b, b_writable) in &bound[i + 1..] {
            let (Some(a), Some(b)) = (a, b) else { continue };
            if a.buffer != b.buffer || !(*a_writable || *b_writable) {
                continue;
            }
            let overlap =
                a.offset < b.offset + b.bytes().max(4) && b.offset < a.offset + a.bytes().max(4);
            assert!(
                *a_writable && *b_writable && !overlap,
                "{kernel}: bindings '{a_name}' and '{b_name}' share a buffer with a writable binding \
                 ({}; WebGPU refuses the dispatch)",
                if overlap {
                    "overlapping ranges"
                } else {
                    "read-only and writable usage"
                }
            );
        }
    }
}

impl GpuContext {
    /// Records the dispatches into one compute pass, submits, and resolves once they are done.
    pub async fn run<'a>(
        &self,
        dispatches: impl IntoIterator<Item = &'a Dispatch>,
    ) -> Result<(), GpuError> {
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("run") });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("run"),
                timestamp_writes: None,
            });
            for d in dispatches {
                d.record(&mut pass);
            }
        }
        self.queue.submit([encoder.finish()]);
        self.finished().await
    }
}
