//! Adapter selection, device creation and error plumbing.
//!
//! wgpu reports validation errors and device loss through callbacks; a training run must turn
//! them into `Result`s with a clear message instead of a panic, so the context collects them
//! and every submit/readback checks them ([`GpuContext::check`]).

use std::fmt;
use std::sync::{Arc, Mutex};

use super::GpuError;
use crate::config::Choice;

/// Which graphics API wgpu should use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendChoice {
    /// The best adapter of any backend (discrete GPU first, software last).
    #[default]
    Auto,
    Vulkan,
    Metal,
    Dx12,
    /// OpenGL (ES) through EGL; on Linux without a GPU this is Mesa's llvmpipe.
    Gl,
}

impl BackendChoice {
    pub fn backends(self) -> wgpu::Backends {
        match self {
            BackendChoice::Auto => wgpu::Backends::all(),
            BackendChoice::Vulkan => wgpu::Backends::VULKAN,
            BackendChoice::Metal => wgpu::Backends::METAL,
            BackendChoice::Dx12 => wgpu::Backends::DX12,
            BackendChoice::Gl => wgpu::Backends::GL,
        }
    }
}

impl Choice for BackendChoice {
    const ALL: &'static [Self] = &[
        BackendChoice::Auto,
        BackendChoice::Vulkan,
        BackendChoice::Metal,
        BackendChoice::Dx12,
        BackendChoice::Gl,
    ];
    fn name(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Vulkan => "vulkan",
            BackendChoice::Metal => "metal",
            BackendChoice::Dx12 => "dx12",
            BackendChoice::Gl => "gl",
        }
    }
    fn about(self) -> &'static str {
        match self {
            BackendChoice::Auto => {
                "the best adapter of any backend (discrete GPU first, software last)"
            }
            BackendChoice::Vulkan => "Vulkan",
            BackendChoice::Metal => "Metal",
            BackendChoice::Dx12 => "DirectX 12",
            BackendChoice::Gl => "OpenGL (ES) through EGL; on Linux without a GPU, Mesa's llvmpipe",
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to pick the adapter.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    pub backend: BackendChoice,
    /// Case-insensitive substring of the adapter name (`--adapter`).
    pub adapter_name: Option<String>,
    /// What the kernel tests turn on; off for training.
    pub checks: Checks,
}

/// Rewrites a module's composed WGSL (module name, source) before it is compiled.
pub type ShaderEdit = Arc<dyn Fn(&str, String) -> String + Send + Sync>;

/// Checks that make the bugs software drivers hide fail on them (lavapipe runs a workgroup as
/// coroutines that switch only at barriers, returns 0 for a read past a binding and drops a
/// stray write). For the kernel tests; a run never turns them on.
#[derive(Clone, Default)]
pub struct Checks {
    /// Every `var<workgroup>` an entry point uses is filled with NaN at its start, then a
    /// barrier: a read before the kernel's own write (a missing barrier) is NaN, not what an
    /// earlier workgroup left there.
    pub poison_workgroup_memory: bool,
    /// Every storage buffer is bound with a NaN guard band past its end, scratch buffers
    /// start as NaN and the placeholder bindings are NaN: a read past an end, of a placeholder
    /// or of scratch never written is NaN, and a write past an end or into a placeholder is
    /// found by [`GpuContext::check_guards`].
    pub guard_bands: bool,
    /// Rewrites each module's source before compiling it (the barrier mutation tests).
    pub edit: Option<ShaderEdit>,
}

impl fmt::Debug for Checks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checks")
            .field("poison_workgroup_memory", &self.poison_workgroup_memory)
            .field("guard_bands", &self.guard_bands)
            .field("edit", &self.edit.is_some())
            .finish()
    }
}

/// Bytes of a dummy binding (enough for any struct a binding declares; a multiple of every
/// storage offset alignment WebGPU allows), and the read-write slots (a kernel's bindings).
pub(crate) const DUMMY_SLOT: u64 = 256;
pub(crate) const DUMMY_RW_SLOTS: u64 = 8;
/// With guard bands: elements of NaN bound past a buffer's end, and past a placeholder's
/// (larger: a kernel that writes a placeholder it should leave alone writes far).
pub(crate) const GUARD: usize = 4096;
pub(crate) const DUMMY_GUARD: usize = 65536;

/// Bytes between two placeholder slots: the slot, and with guard bands its guard.
pub(crate) fn dummy_stride(checks: &Checks) -> u64 {
    if checks.guard_bands {
        DUMMY_SLOT + DUMMY_GUARD as u64 * 4
    } else {
        DUMMY_SLOT
    }
}

/// Resolves once the work submitted before it was made is done (`GpuContext::done_marker`).
pub struct SubmissionDone(futures_channel::oneshot::Receiver<()>);

impl SubmissionDone {
    /// `index`: the last submission it covers (natively, what to wait for).
    pub async fn wait(
        self,
        ctx: &GpuContext,
        index: &wgpu::SubmissionIndex,
    ) -> Result<(), GpuError> {
        ctx.drive(Some(index));
        self.0.await.map_err(|e| GpuError::Poll(e.to_string()))?;
        ctx.check()
    }
}

/// The device, its queue and what it can do. Created once per process.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// The first error wgpu reported outside an error scope (validation, out of memory, internal).
    uncaptured: Arc<Mutex<Option<String>>>,
    /// Set by the device-lost callback.
    lost: Arc<Mutex<Option<String>>>,
    /// Bound where a shader declares a binding that an op instance does not use (e.g. no bias):
    /// one for read-only bindings, one for read-write ones (one buffer cannot be both in a
    /// bind group), the latter with a slot of its own per unused binding (WebGPU forbids two
    /// writable bindings of one range).
    pub(crate) dummy: wgpu::Buffer,
    pub(crate) dummy_rw: wgpu::Buffer,
    /// Bytes of the storage buffers allocated so far, and the largest one (`memory`).
    pub(crate) allocated: std::sync::atomic::AtomicU64,
    pub(crate) largest: std::sync::atomic::AtomicU64,
    pub(crate) checks: Checks,
    /// With guard bands: the buffers allocated since the last `check_guards`, with their
    /// lengths (where the guard starts).
    pub(crate) guarded: Mutex<Vec<(String, wgpu::Buffer, usize)>>,
}

fn device_type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn backend_rank(b: wgpu::Backend) -> u32 {
    match b {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        wgpu::Backend::Gl => 1,
        _ => 2,
    }
}

/// One line describing an adapter, as `adapters` and error messages print it.
pub fn describe_adapter(info: &wgpu::AdapterInfo) -> String {
    let driver = if info.driver.is_empty() {
        String::new()
    } else {
        format!(", driver {} {}", info.driver, info.driver_info)
    };
    format!(
        "{} ({:?}, {:?}{})",
        info.name,
        info.backend,
        info.device_type,
        driver.trim_end()
    )
}

fn new_instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    // Validation layers are slow and noisy; wgpu's own validation stays on.
    desc.flags = wgpu::InstanceFlags::empty();
    // DX12: DXC (shader model 6, subgroups) from `dxcompiler.dll` on the PATH where there is
    // one, else FXC (shader model 5.1, no subgroups; every kernel has a portable driver). wgpu's
    // static DXC would download a prebuilt library at build time, so it is not offered.
    desc.backend_options.dx12.shader_compiler = wgpu::Dx12Compiler::Auto;
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu can see for the given backends, in the order a run would prefer them.
pub async fn list_adapters(backend: BackendChoice) -> Vec<wgpu::Adapter> {
    let instance = new_instance(backend.backends());
    let mut adapters = instance.enumerate_adapters(backend.backends()).await;
    adapters.sort_by_key(|a| {
        let info = a.get_info();
        (
            device_type_rank(info.device_type),
            backend_rank(info.backend),
        )
    });
    adapters
}

impl GpuContext {
    /// Picks the adapter, requests a device with the adapter's own limits and every optional
    /// feature the project can use, and installs the error and device-lost handlers.
    pub async fn new(options: &GpuOptions) -> Result<Self, GpuError> {
        let adapters = list_adapters(options.backend).await;
        let available: Vec<String> = adapters
            .iter()
            .map(|a| describe_adapter(&a.get_info()))
            .collect();
        let filter = options.adapter_name.as_ref().map(|s| s.to_lowercase());
        let adapter = adapters
            .into_iter()
            .find(|a| {
                filter
                    .as_ref()
                    .is_none_or(|f| a.get_info().name.to_lowercase().contains(f))
            })
            .ok_or_else(|| GpuError::NoAdapter {
                backend: options.backend,
                name: options.adapter_name.clone(),
                available,
            })?;
        let info = adapter.get_info();
        let wanted = wgpu::Features::SUBGROUP
            | wgpu::Features::SHADER_F16
            | wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
        let features = adapter.features() & wanted;
        // The WebGPU defaults cap storage bindings at 128 MiB and buffers at 256 MiB; ask for
        // what the adapter really has so large batches fit where the hardware allows.
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("dcgan-wgpu"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| GpuError::RequestDevice(describe_adapter(&info), e.to_string()))?;

        let uncaptured = Arc::new(Mutex::new(None));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(e.to_string());
            }
        }));
        let lost = Arc::new(Mutex::new(None));
        let sink = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            // Dropping the device at exit also "loses" it; that is not an error.
            if reason != wgpu::DeviceLostReason::Destroyed {
                let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
                *slot = Some(format!("{reason:?}: {message}"));
            }
        });
        let slot = dummy_stride(&options.checks);
        let dummy_buffer = |label, slots: u64| {
            let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: slot * slots,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            if options.checks.guard_bands {
                let nan = vec![f32::NAN; (slot * slots / 4) as usize];
                queue.write_buffer(&buffer, 0, bytemuck::cast_slice(&nan));
            }
            buffer
        };
        let (dummy, dummy_rw) = (
            dummy_buffer("dummy", 1),
            dummy_buffer("dummy rw", DUMMY_RW_SLOTS),
        );
        log::info!("adapter: {}", describe_adapter(&info));
        if info.backend == wgpu::Backend::Dx12 {
            // Wave operations need shader model 6, which only DXC compiles.
            if features.contains(wgpu::Features::SUBGROUP) {
                log::info!("DX12 shader compiler: DXC (shader model 6, subgroup kernels on)");
            } else {
                log::warn!(
                    "DX12 shader compiler: FXC (shader model 5.1, no subgroups): the portable \
                     kernels run. For DXC put dxcompiler.dll (DirectXShaderCompiler release) \
                     beside the program or on the PATH"
                );
            }
        }
        Ok(GpuContext {
            device,
            queue,
            info,
            limits,
            features,
            uncaptured,
            lost,
            dummy,
            dummy_rw,
            allocated: Default::default(),
            largest: Default::default(),
            checks: options.checks.clone(),
            guarded: Mutex::new(Vec::new()),
        })
    }

    /// Returns the first error wgpu reported since the last check, or device loss.
    pub fn check(&self) -> Result<(), GpuError> {
        if let Some(msg) = self.lost.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Err(GpuError::DeviceLost(msg));
        }
        if let Some(msg) = self
            .uncaptured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(GpuError::Wgpu(msg));
        }
        Ok(())
    }

    /// Marks the device lost and destroys it, as a driver reset would: the one fault a test can
    /// inject (`Fault::DeviceLoss` in a session), to check that a run stops cleanly.
    pub fn simulate_device_loss(&self) {
        *self.lost.lock().unwrap_or_else(|p| p.into_inner()) =
            Some("simulated device loss (a test's injected fault)".to_string());
        self.device.destroy();
    }

    /// Resolves once all submitted work has finished.
    pub async fn finished(&self) -> Result<(), GpuError> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.queue.on_submitted_work_done(move || {
            let _ = tx.send(());
        });
        self.drive(None);
        rx.await.map_err(|e| GpuError::Poll(e.to_string()))?;
        self.check()
    }

    /// Lets wgpu deliver the callbacks the engine's futures wait for. In a browser the event
    /// loop delivers them and the future yields to it; natively wgpu delivers them only inside
    /// `Device::poll`, so the future asks for them here, waiting for the queue as a native
    /// shell's `pollster::block_on` would have to anyway (a failed poll shows up in `check`).
    /// `until`: the submission the caller needs (None: all of them).
    pub(crate) fn drive(&self, until: Option<&wgpu::SubmissionIndex>) {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let poll = wgpu::PollType::Wait {
                submission_index: until.cloned(),
                timeout: None,
            };
            if let Err(e) = self.device.poll(poll) {
                log::warn!("polling the device: {e}");
            }
        }
        #[cfg(target_arch = "wasm32")]
        let _ = until;
    }

    /// Hands over the callbacks whose work is done, without waiting (natively; the browser
    /// does this by itself).
    pub(crate) fn poll_now(&self) {
        #[cfg(not(target_arch = "wasm32"))]
        if let Err(e) = self.device.poll(wgpu::PollType::Poll) {
            log::warn!("polling the device: {e}");
        }
    }

    /// A future that resolves once everything submitted so far is done; made now, awaited
    /// whenever the caller needs it.
    pub fn done_marker(&self) -> SubmissionDone {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.queue.on_submitted_work_done(move || {
            let _ = tx.send(());
        });
        SubmissionDone(rx)
    }

    /// Bytes of storage buffers allocated so far (all of a run's GPU memory but pipelines and
    /// the few uniform and staging buffers), and the largest single one.
    pub fn memory(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.allocated.load(Relaxed), self.largest.load(Relaxed))
    }

    pub fn describe(&self) -> String {
        describe_adapter(&self.info)
    }

    pub fn has_subgroups(&self) -> bool {
        self.features.contains(wgpu::Features::SUBGROUP)
    }

    /// Whether the subgroup kernels are worth choosing: with subgroups of 8 to 64 lanes they
    /// take their shuffle path (a lane shares 8 rows with its neighbours; a 64-lane workgroup
    /// holds whole subgroups). They are correct at any size, falling back to the tiled body.
    pub fn subgroup_kernels(&self) -> bool {
        self.has_subgroups()
            && self.info.subgroup_min_size >= 8
            && self.info.subgroup_max_size <= 64
    }

    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Storage-buffer offsets must be multiples of this (256 on most adapters).
    pub fn storage_alignment(&self) -> u64 {
        u64::from(self.limits.min_storage_buffer_offset_alignment)
    }
}
