//! Buffers: allocation, views into flat buffers, uploads and the one readback path.

use bytemuck::Pod;
use wgpu::util::DeviceExt;

use super::{GpuContext, GpuError};

/// A range of 32-bit elements (f32 or u32) inside a storage buffer: a whole activation buffer,
/// or one tensor inside a network's flat parameter buffer. Cloning is cheap (wgpu handles are
/// reference counted).
#[derive(Clone, Debug)]
pub struct GpuSlice {
    pub buffer: wgpu::Buffer,
    /// Offset in bytes; a multiple of the adapter's storage offset alignment.
    pub offset: u64,
    /// Length in 32-bit elements.
    pub len: usize,
    /// Elements bound past the end (a NaN guard band, with `Checks::guard_bands`; else 0).
    pub guard: usize,
}

impl GpuSlice {
    pub fn bytes(&self) -> u64 {
        self.len as u64 * 4
    }

    /// The sub-range `[start, start + len)` in elements. `start * 4` must keep the binding
    /// offset aligned when the result is bound.
    pub fn range(&self, start: usize, len: usize) -> GpuSlice {
        assert!(start + len <= self.len, "slice out of range");
        GpuSlice {
            buffer: self.buffer.clone(),
            offset: self.offset + start as u64 * 4,
            len,
            guard: 0,
        }
    }

    /// `[start, start + len)` in elements, which may run past this slice's end (not past the
    /// buffer's): two tensors of one buffer bound together.
    pub fn range_beyond(&self, start: usize, len: usize) -> GpuSlice {
        let end = self.offset + (start + len) as u64 * 4;
        assert!(end <= self.buffer.size(), "range past the buffer's end");
        GpuSlice {
            buffer: self.buffer.clone(),
            offset: self.offset + start as u64 * 4,
            len,
            guard: 0,
        }
    }

    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            // A zero-length binding is invalid; bind at least one element.
            size: wgpu::BufferSize::new((self.bytes() + self.guard as u64 * 4).max(4)),
        })
    }
}

/// A small uniform buffer holding one `#[repr(C)]` parameter struct of a dispatch.
#[derive(Clone, Debug)]
pub struct Uniform(pub wgpu::Buffer);

const STORAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl GpuContext {
    fn count_allocation(&self, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.allocated.fetch_add(bytes, Relaxed);
        self.largest.fetch_max(bytes, Relaxed);
    }

    /// A zero-initialised storage buffer of `len` 32-bit elements.
    pub fn storage(&self, label: &str, len: usize) -> GpuSlice {
        self.count_allocation((len.max(1) * 4) as u64);
        let guard = self.guard_len();
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: ((len + guard).max(1) * 4) as u64,
            usage: STORAGE_USAGE,
            mapped_at_creation: false,
        });
        self.guard_buffer(label, &buffer, len);
        GpuSlice {
            buffer,
            offset: 0,
            len,
            guard,
        }
    }

    /// A storage buffer a kernel writes before another reads it (split-K and reduction
    /// partials): zeros, or NaN with guard bands, so that reading an element nobody wrote
    /// shows.
    pub fn scratch(&self, label: &str, len: usize) -> GpuSlice {
        let s = self.storage(label, len);
        if self.checks.guard_bands && len > 0 {
            self.write(&s, &vec![f32::NAN; len]);
        }
        s
    }

    fn guard_len(&self) -> usize {
        if self.checks.guard_bands {
            super::context::GUARD
        } else {
            0
        }
    }

    /// Fills the guard band past `len` with NaN and remembers it for `check_guards`.
    fn guard_buffer(&self, label: &str, buffer: &wgpu::Buffer, len: usize) {
        if self.checks.guard_bands {
            let nan = vec![f32::NAN; super::context::GUARD];
            self.queue
                .write_buffer(buffer, len as u64 * 4, bytemuck::cast_slice(&nan));
            self.guarded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((label.to_string(), buffer.clone(), len));
        }
    }

    /// With guard bands: `Err` naming every buffer allocated since the last call whose guard
    /// band is no longer all NaN (a write past its end), and every placeholder binding that is
    /// no longer all NaN (a write into what a kernel should leave alone). `Ok` otherwise.
    pub async fn check_guards(&self) -> Result<(), String> {
        if !self.checks.guard_bands {
            return Ok(());
        }
        let taken = std::mem::take(&mut *self.guarded.lock().unwrap_or_else(|p| p.into_inner()));
        let mut regions: Vec<(String, GpuSlice)> = taken
            .into_iter()
            .map(|(label, buffer, len)| {
                let slice = GpuSlice {
                    buffer,
                    offset: len as u64 * 4,
                    len: super::context::GUARD,
                    guard: 0,
                };
                (label, slice)
            })
            .collect();
        for (name, buffer) in [
            ("placeholder", &self.dummy),
            ("placeholder rw", &self.dummy_rw),
        ] {
            regions.push((
                name.to_string(),
                GpuSlice {
                    buffer: buffer.clone(),
                    offset: 0,
                    len: (buffer.size() / 4) as usize,
                    guard: 0,
                },
            ));
        }
        let mut bad = Vec::new();
        for (name, slice) in &regions {
            let words: Vec<u32> = self.read(slice).await.map_err(|e| e.to_string())?;
            if let Some(i) = words.iter().position(|&w| w != f32::NAN.to_bits()) {
                bad.push(format!(
                    "{name}: element {i} of the guarded region is {} (written past an end)",
                    f32::from_bits(words[i])
                ));
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("\n"))
        }
    }

    /// A storage buffer initialised with `data`.
    pub fn storage_init<T: Pod>(&self, label: &str, data: &[T]) -> GpuSlice {
        assert_eq!(std::mem::size_of::<T>(), 4, "storage elements are 32-bit");
        let contents: &[u8] = if data.is_empty() {
            &[0; 4]
        } else {
            bytemuck::cast_slice(data)
        };
        self.count_allocation(contents.len() as u64);
        let guard = self.guard_len();
        let buffer = if guard == 0 {
            self.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage: STORAGE_USAGE,
                })
        } else {
            let b = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: contents.len() as u64 + guard as u64 * 4,
                usage: STORAGE_USAGE,
                mapped_at_creation: false,
            });
            self.queue.write_buffer(&b, 0, contents);
            self.guard_buffer(label, &b, data.len());
            b
        };
        GpuSlice {
            buffer,
            offset: 0,
            len: data.len(),
            guard,
        }
    }

    pub fn uniform<T: Pod>(&self, label: &str, value: &T) -> Uniform {
        Uniform(
            self.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytemuck::bytes_of(value),
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                }),
        )
    }

    /// Uploads `data` into the slice (must have the same length).
    pub fn write<T: Pod>(&self, dst: &GpuSlice, data: &[T]) {
        assert_eq!(std::mem::size_of::<T>(), 4);
        assert_eq!(data.len(), dst.len, "upload length mismatch");
        if !data.is_empty() {
            self.queue
                .write_buffer(&dst.buffer, dst.offset, bytemuck::cast_slice(data));
        }
    }

    /// Copies the slices into one staging buffer and resolves to their contents once the GPU
    /// has them (checkpoints, tests, scores; training reports go through `readback::Ring`).
    pub async fn read_many<T: Pod>(&self, srcs: &[&GpuSlice]) -> Result<Vec<Vec<T>>, GpuError> {
        assert_eq!(std::mem::size_of::<T>(), 4);
        let total: u64 = srcs.iter().map(|s| s.bytes()).sum();
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: total.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        let mut at = 0;
        for s in srcs {
            if s.len > 0 {
                encoder.copy_buffer_to_buffer(&s.buffer, s.offset, &staging, at, s.bytes());
            }
            at += s.bytes();
        }
        self.queue.submit([encoder.finish()]);
        let bytes = map_read(self, &staging, total).await?;
        let mut out = Vec::with_capacity(srcs.len());
        let mut at = 0usize;
        for s in srcs {
            let n = s.bytes() as usize;
            out.push(bytemuck::pod_collect_to_vec(&bytes[at..at + n]));
            at += n;
        }
        Ok(out)
    }

    pub async fn read<T: Pod>(&self, src: &GpuSlice) -> Result<Vec<T>, GpuError> {
        Ok(self.read_many(&[src]).await?.remove(0))
    }
}

/// Maps `staging` (after the copies into it were submitted) and resolves to its bytes.
pub(crate) async fn map_read(
    ctx: &GpuContext,
    staging: &wgpu::Buffer,
    len: u64,
) -> Result<Vec<u8>, GpuError> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let (tx, rx) = futures_channel::oneshot::channel();
    staging.map_async(wgpu::MapMode::Read, ..len, move |r| {
        let _ = tx.send(r);
    });
    ctx.drive(None);
    rx.await
        .map_err(|e| GpuError::Map(e.to_string()))?
        .map_err(|e| GpuError::Map(e.to_string()))?;
    ctx.check()?;
    let bytes = {
        let view = staging
            .get_mapped_range(..len)
            .map_err(|e| GpuError::Map(e.to_string()))?;
        view.to_vec()
    };
    staging.unmap();
    Ok(bytes)
}
