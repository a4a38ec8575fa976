//! The report ring: a few persistent MAP_READ buffers that a submit copies its report into
//! (metrics and the sample grid), mapped while training goes on. A slot is busy from the submit
//! that fills it until its bytes are taken; each carries a tag (the iteration) back with them.

use std::collections::VecDeque;

use futures_channel::oneshot;

use super::{GpuContext, GpuError};

type Mapped = oneshot::Receiver<Result<(), wgpu::BufferAsyncError>>;

pub struct Ring {
    buffers: Vec<wgpu::Buffer>,
    /// Slots in flight, oldest first: (slot, tag, the mapping's outcome once it arrives).
    pending: VecDeque<(usize, u64, Mapped)>,
}

impl Ring {
    pub fn new(ctx: &GpuContext, label: &str, bytes: u64, slots: usize) -> Self {
        let buffers = (0..slots)
            .map(|_| {
                ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size: bytes,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();
        Ring {
            buffers,
            pending: VecDeque::new(),
        }
    }

    /// A slot no report occupies, if any (else take the oldest first: `oldest`).
    pub fn free(&self) -> Option<usize> {
        (0..self.buffers.len()).find(|s| self.pending.iter().all(|p| p.0 != *s))
    }

    pub fn buffer(&self, slot: usize) -> &wgpu::Buffer {
        &self.buffers[slot]
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Call after submitting the copies into `slot`: maps it, to be taken with `tag`.
    pub fn submitted(&mut self, slot: usize, tag: u64) {
        let (tx, rx) = oneshot::channel();
        self.buffers[slot].map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.pending.push_back((slot, tag, rx));
    }

    /// The reports whose bytes have arrived, oldest first, without waiting.
    pub fn ready(&mut self, ctx: &GpuContext) -> Result<Vec<(u64, Vec<u8>)>, GpuError> {
        ctx.poll_now();
        let mut out = Vec::new();
        while let Some((_, _, rx)) = self.pending.front_mut() {
            match rx.try_recv() {
                Ok(Some(result)) => out.push(self.take(result)?),
                Ok(None) => break,
                Err(e) => return Err(GpuError::Map(e.to_string())),
            }
        }
        Ok(out)
    }

    /// Resolves to the oldest report in flight (None when there is none).
    pub async fn oldest(&mut self, ctx: &GpuContext) -> Result<Option<(u64, Vec<u8>)>, GpuError> {
        let Some((_, _, rx)) = self.pending.front_mut() else {
            return Ok(None);
        };
        ctx.drive(None);
        let result = rx.await.map_err(|e| GpuError::Map(e.to_string()))?;
        Ok(Some(self.take(result)?))
    }

    fn take(
        &mut self,
        mapped: Result<(), wgpu::BufferAsyncError>,
    ) -> Result<(u64, Vec<u8>), GpuError> {
        let (slot, tag, _) = self.pending.pop_front().expect("a pending report");
        mapped.map_err(|e| GpuError::Map(e.to_string()))?;
        let buffer = &self.buffers[slot];
        let bytes = buffer
            .get_mapped_range(..)
            .map_err(|e| GpuError::Map(e.to_string()))?
            .to_vec();
        buffer.unmap();
        Ok((tag, bytes))
    }
}
