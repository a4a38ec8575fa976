//! Advancing a session: chunks of iterations recorded into one compute pass and submitted,
//! with at most one submission in flight while the next is recorded; reports (the metrics and
//! the sample grid) copied into the readback ring in the same submit and handed over once they
//! have arrived, without stopping the GPU.

use anyhow::{Context, Result};

use super::{Diverged, Fault, METRICS_LEN, Session};
use crate::config::{Arch, IMAGE_PIXELS, Metrics};

/// What a report reads back: the last iteration's metrics, whether a parameter has stopped
/// being finite, and the sample grid.
#[derive(Clone, Debug)]
pub struct Report {
    /// Iterations completed when it was taken.
    pub iteration: u64,
    pub metrics: Metrics,
    /// Some parameter or moving statistic of G or D is NaN or infinite.
    pub nonfinite_state: bool,
    /// The sample grid (`Arch::grid`), row by row: images of 28x28 in [-1, 1].
    pub samples: Vec<f32>,
}

/// Bytes of a report: 6 metrics, the non-finite flag (a u32), then the samples.
pub fn report_bytes(arch: Arch) -> u64 {
    ((METRICS_LEN + 1 + arch.grid_samples() * IMAGE_PIXELS) * 4) as u64
}

impl Report {
    fn from_bytes(iteration: u64, bytes: &[u8]) -> Report {
        let values: Vec<f32> = bytemuck::pod_collect_to_vec(bytes);
        Report {
            iteration,
            metrics: Metrics::from_slice(&values[..METRICS_LEN]),
            nonfinite_state: values[METRICS_LEN].to_bits() != 0,
            samples: values[METRICS_LEN + 1..].to_vec(),
        }
    }

    /// `Err` when the run had diverged by this report.
    pub fn check(&self) -> Result<(), Diverged> {
        let what = match self.metrics.first_nonfinite() {
            Some(what) => what,
            None if self.nonfinite_state => {
                "a parameter of G or D is no longer a finite number".to_string()
            }
            None => return Ok(()),
        };
        Err(Diverged {
            iteration: self.iteration,
            what,
        })
    }
}

/// The reports, unless one shows a diverged run.
fn checked(reports: Vec<Report>) -> Result<Vec<Report>> {
    for r in &reports {
        r.check()?;
    }
    Ok(reports)
}

impl Session<'_> {
    /// Submits `n` iterations (with a report after them when `report`), then waits for the
    /// previous submission, so the GPU always has the next chunk queued while the host records.
    /// Resolves to the reports that have arrived, oldest first.
    pub async fn advance(&mut self, n: u64, report: bool) -> Result<Vec<Report>> {
        let mut arrived = Vec::new();
        if report && self.reports.free().is_none() {
            arrived.extend(self.oldest_report().await?);
        }
        self.submit(n, report)?;
        self.settle().await?;
        arrived.extend(self.ready_reports()?);
        checked(arrived)
    }

    /// Records `n` iterations (and a report) into one compute pass and submits them; returns at
    /// once. A report needs a free slot (`advance` makes sure of one).
    pub fn submit(&mut self, n: u64, report: bool) -> Result<()> {
        if let Some(Fault::DeviceLossAt(at)) = self.fault
            && self.iteration >= at
        {
            self.ctx.simulate_device_loss();
        }
        let slot = if report {
            Some(
                self.reports
                    .free()
                    .context("every report slot is in flight")?,
            )
        } else {
            None
        };
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("train"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("train"),
                timestamp_writes: None,
            });
            for _ in 0..n {
                for d in &self.step {
                    d.record(&mut pass);
                }
            }
            if report {
                for d in &self.sample {
                    d.record(&mut pass);
                }
            }
        }
        if let Some(slot) = slot {
            let dst = self.reports.buffer(slot);
            let mut at = 0;
            for src in [&self.metrics, &self.health, self.sampler.output()] {
                encoder.copy_buffer_to_buffer(&src.buffer, src.offset, dst, at, src.bytes());
                at += src.bytes();
            }
        }
        let index = self.ctx.queue.submit([encoder.finish()]);
        let done = self.ctx.done_marker();
        self.iteration += n;
        self.submits += 1;
        if let Some(slot) = slot {
            self.reports.submitted(slot, self.iteration);
        }
        // The one before this submission is what `settle` waits for.
        self.previous = self.in_flight.replace((index, done));
        self.ctx.check()?;
        Ok(())
    }

    /// Waits for the submission before the last one.
    pub async fn settle(&mut self) -> Result<()> {
        if let Some((index, done)) = self.previous.take() {
            done.wait(self.ctx, &index)
                .await
                .context("waiting for the GPU")?;
        }
        Ok(())
    }

    /// The reports that have arrived, oldest first, without waiting.
    pub fn ready_reports(&mut self) -> Result<Vec<Report>> {
        let ready = self
            .reports
            .ready(self.ctx)
            .context("reading a report back from the GPU")?;
        Ok(ready
            .into_iter()
            .map(|(it, bytes)| Report::from_bytes(it, &bytes))
            .collect())
    }

    async fn oldest_report(&mut self) -> Result<Option<Report>> {
        let oldest = self
            .reports
            .oldest(self.ctx)
            .await
            .context("reading a report back from the GPU")?;
        Ok(oldest.map(|(it, bytes)| Report::from_bytes(it, &bytes)))
    }

    /// Waits for every submitted iteration (reports stay in flight).
    pub(super) async fn wait_gpu(&mut self) -> Result<()> {
        self.previous = None;
        if let Some((index, done)) = self.in_flight.take() {
            done.wait(self.ctx, &index)
                .await
                .context("waiting for the GPU")?;
        }
        Ok(())
    }

    /// Waits for every submitted iteration; resolves to every report still in flight.
    pub async fn finish(&mut self) -> Result<Vec<Report>> {
        self.wait_gpu().await?;
        let mut reports = Vec::new();
        while let Some(r) = self.oldest_report().await? {
            reports.push(r);
        }
        checked(reports)
    }

    /// The losses and accuracies of the last iteration (waits for it).
    pub async fn metrics(&mut self) -> Result<Metrics> {
        self.wait_gpu().await?;
        Ok(Metrics::from_slice(
            &self.ctx.read::<f32>(&self.metrics).await?,
        ))
    }

    /// G's images for the fixed sample noise, inference-mode BN (Keras' `predict`), in [-1, 1].
    pub async fn samples(&mut self) -> Result<Vec<f32>> {
        self.wait_gpu().await?;
        self.ctx.run(&self.sample).await?;
        Ok(self.ctx.read(self.sampler.output()).await?)
    }
}
