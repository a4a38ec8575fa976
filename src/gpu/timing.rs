//! GPU time per dispatch from timestamp queries, for the benchmark's per-kernel breakdown.

use super::{Dispatch, GpuContext, GpuError};

/// How dispatch times were measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimingMethod {
    /// Timestamps written between the dispatches of one compute pass.
    InsidePass,
    /// One compute pass per dispatch, with the pass's begin/end timestamps.
    PerPass,
}

impl TimingMethod {
    pub fn for_adapter(ctx: &GpuContext) -> Option<Self> {
        let f = ctx.features;
        if f.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES) {
            Some(TimingMethod::InsidePass)
        } else if f.contains(wgpu::Features::TIMESTAMP_QUERY) {
            Some(TimingMethod::PerPass)
        } else {
            None
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            TimingMethod::InsidePass => "GPU timestamp queries between dispatches",
            TimingMethod::PerPass => "GPU timestamp queries around one pass per dispatch",
        }
    }
}

/// Runs the dispatches once, in order, and resolves to each one's GPU time in seconds.
pub async fn dispatch_times(
    ctx: &GpuContext,
    method: TimingMethod,
    dispatches: &[Dispatch],
) -> Result<Vec<f64>, GpuError> {
    // A query set holds at most 4096 queries: time long lists in pieces.
    const MAX_QUERIES: usize = 4096;
    let per = match method {
        TimingMethod::InsidePass => MAX_QUERIES - 1,
        TimingMethod::PerPass => MAX_QUERIES / 2,
    };
    let mut times = Vec::with_capacity(dispatches.len());
    for chunk in dispatches.chunks(per) {
        times.extend(time_chunk(ctx, method, chunk).await?);
    }
    Ok(times)
}

async fn time_chunk(
    ctx: &GpuContext,
    method: TimingMethod,
    dispatches: &[Dispatch],
) -> Result<Vec<f64>, GpuError> {
    let n = dispatches.len();
    let count = match method {
        TimingMethod::InsidePass => n + 1,
        TimingMethod::PerPass => 2 * n,
    };
    let mut times = Vec::with_capacity(n);
    let device = &ctx.device;
    let queries = device.create_query_set(&wgpu::QuerySetDescriptor {
        label: Some("dispatch timestamps"),
        ty: wgpu::QueryType::Timestamp,
        count: count as u32,
    });
    let bytes = (count * 8) as u64;
    let resolve = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("timestamps"),
        size: bytes,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("timestamps readback"),
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    match method {
        TimingMethod::InsidePass => {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for (i, d) in dispatches.iter().enumerate() {
                pass.write_timestamp(&queries, i as u32);
                d.record(&mut pass);
            }
            pass.write_timestamp(&queries, n as u32);
        }
        TimingMethod::PerPass => {
            for (i, d) in dispatches.iter().enumerate() {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: None,
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: &queries,
                        beginning_of_pass_write_index: Some(2 * i as u32),
                        end_of_pass_write_index: Some(2 * i as u32 + 1),
                    }),
                });
                d.record(&mut pass);
            }
        }
    }
    encoder.resolve_query_set(&queries, 0..count as u32, &resolve, 0);
    encoder.copy_buffer_to_buffer(&resolve, 0, &staging, 0, bytes);
    ctx.queue.submit([encoder.finish()]);
    let raw = super::buffer::map_read(ctx, &staging, bytes).await?;
    let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&raw);
    let period = f64::from(ctx.queue.get_timestamp_period()) * 1e-9;
    for i in 0..n {
        let (begin, end) = match method {
            TimingMethod::InsidePass => (ticks[i], ticks[i + 1]),
            TimingMethod::PerPass => (ticks[2 * i], ticks[2 * i + 1]),
        };
        times.push(end.saturating_sub(begin) as f64 * period);
    }
    Ok(times)
}
