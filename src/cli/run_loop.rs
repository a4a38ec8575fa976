//! The run loop of `dcgan-wgpu [OPTIONS]`: chunks of iterations sized to the adapter's pace,
//! the seed's reports, scores, the checkpoint cadence, and the progress display.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::Result;
use dcgan_wgpu::checkpoint;
use dcgan_wgpu::eval::Evaluator;
use dcgan_wgpu::session::{Report, Session};
use indicatif::{ProgressBar, ProgressStyle};

use super::output::{LossLog, grid_path, write_grid};
use super::save_checkpoint;
use super::train::STOP;
use crate::{say, tell};

/// At most this many iterations per submit: enough to amortise a submit on a fast GPU.
const MAX_CHUNK: u64 = 16;
/// Chunks are sized to take about this long, so Ctrl-C is honoured within about this time even
/// on slow adapters, and a driver watchdog (e.g. Windows' 2 s TDR) stays far away.
const CHUNK_SECONDS: f64 = 0.25;

/// What a run does besides training: files, scores, progress.
pub(super) struct Run<'a> {
    pub(super) out_dir: &'a Path,
    pub(super) checkpoint_interval: u64,
    pub(super) evaluator: Option<&'a Evaluator>,
    pub(super) eval_every: u64,
    pub(super) progress: Progress,
    pub(super) log: LossLog,
}

impl Run<'_> {
    /// Trains until the configured total from wherever the session is. Writes the grid before
    /// training, at every report and at the end; `losses.csv` and `losses.png` at every report;
    /// the checkpoint every `checkpoint_interval` iterations, at the end and on Ctrl-C; and
    /// `progress.png` at the end. Resolves to the iteration it stopped at on Ctrl-C.
    pub(super) async fn train(&mut self, session: &mut Session<'_>) -> Result<Option<u64>> {
        let total = session.config.iterations;
        let interval = session.config.sample_interval;
        let checkpoint_interval = self.checkpoint_interval.max(1);
        if session.iteration == 0 {
            let reports = session.advance(0, true).await?;
            self.deliver(session, reports).await?;
        }
        let mut chunk = 1u64;
        let mut stopped = None;
        while session.iteration < total {
            if STOP.load(Ordering::SeqCst) {
                stopped = Some(session.iteration);
                break;
            }
            let next = |every: u64| (session.iteration / every + 1) * every;
            let target = next(interval).min(next(checkpoint_interval)).min(total);
            let n = (target - session.iteration).min(chunk);
            let started = Instant::now();
            // The seed reports every `sample_interval` iterations; the end of a run that is not
            // a multiple of it is reported too, so its final state is on disk.
            let reporting = session.iteration + n == target
                && (target.is_multiple_of(interval) || target == total);
            let mut reports = session.advance(n, reporting).await?;
            // An evaluation reads G's weights: take its report before training goes on.
            if reporting && self.evaluation_due(session.iteration, total) {
                reports.extend(session.finish().await?);
            }
            self.deliver(session, reports).await?;
            self.progress.advanced(session.iteration);
            if session.iteration.is_multiple_of(checkpoint_interval) && session.iteration < total {
                let reports = session.finish().await?;
                self.deliver(session, reports).await?;
                self.save(session).await?;
            }
            // Size the next chunk from this one's pace (it includes waiting for the previous).
            let per_iteration = started.elapsed().as_secs_f64() / n as f64;
            chunk = ((CHUNK_SECONDS / per_iteration.max(1e-6)) as u64).clamp(1, MAX_CHUNK);
        }
        let reports = session.finish().await?;
        self.deliver(session, reports).await?;
        self.save(session).await?;
        super::output::write_progress(self.out_dir, session.iteration)?;
        Ok(stopped)
    }

    fn evaluation_due(&self, iteration: u64, total: u64) -> bool {
        self.evaluator.is_some()
            && (iteration.is_multiple_of(self.eval_every) || iteration == total)
    }

    async fn deliver(&mut self, session: &Session<'_>, reports: Vec<Report>) -> Result<()> {
        let total = session.config.iterations;
        for r in reports {
            if r.iteration > 0 {
                self.progress.say(&r.metrics.line(r.iteration));
                // Evaluations are delivered as soon as their iteration is done (see `train`),
                // so G's weights are still those of `r.iteration`.
                let scores = match self.evaluator {
                    Some(e) if self.evaluation_due(r.iteration, total) => {
                        let s = e.evaluate(session.ctx).await?;
                        let labels = s.labels.as_ref().map_or(String::new(), |l| {
                            format!(", label acc.: {:.1}%", 100.0 * l.accuracy)
                        });
                        self.progress.say(&format!(
                            "{} [FID: {:.2}, IS: {:.2}, classes: {:.2} bits, confident: {:.1}%{labels}]",
                            r.iteration,
                            s.fid,
                            s.inception_score,
                            s.class_entropy_bits,
                            100.0 * s.confident
                        ));
                        Some(s)
                    }
                    _ => None,
                };
                self.log.append(r.iteration, &r.metrics, scores.as_ref())?;
                super::plot::losses_png(&self.out_dir.join("losses.png"), &self.log.points)?;
            }
            let (rows, cols) = session.config.arch.grid();
            write_grid(
                &grid_path(self.out_dir, r.iteration),
                &r.samples,
                rows,
                cols,
            )?;
        }
        Ok(())
    }

    async fn save(&mut self, session: &mut Session<'_>) -> Result<()> {
        let path = self.out_dir.join(checkpoint::FILE_NAME);
        save_checkpoint(&session.snapshot().await?, &path)?;
        log::info!(
            "checkpoint at iteration {}: {}",
            session.iteration,
            path.display()
        );
        Ok(())
    }
}

/// Progress on the terminal: a bar where stderr is one, plain lines every 10 s otherwise.
pub(super) struct Progress {
    quiet: bool,
    pub(super) bar: Option<ProgressBar>,
    total: u64,
    start: (u64, Instant),
    last_line: Instant,
}

impl Progress {
    pub(super) fn new(quiet: bool, done: u64, total: u64) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total).with_position(done);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40.cyan/blue} {pos}/{len} iterations  {per_sec}  ETA {eta}",
                )
                .expect("progress template"),
            );
            bar
        });
        Progress {
            quiet,
            bar,
            total,
            start: (done, Instant::now()),
            last_line: Instant::now(),
        }
    }

    fn say(&self, line: &str) {
        match (&self.bar, self.quiet) {
            (_, true) => {}
            (Some(bar), _) => bar.println(line),
            (None, _) => say!("{line}"),
        }
    }

    fn advanced(&mut self, iteration: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(iteration);
        } else if !self.quiet && self.last_line.elapsed().as_secs() >= 10 {
            self.last_line = Instant::now();
            let rate = (iteration - self.start.0) as f64 / self.start.1.elapsed().as_secs_f64();
            let eta = (self.total - iteration) as f64 / rate.max(1e-9);
            tell!(
                "iteration {iteration}/{}: {rate:.2} iterations/s, {eta:.0} s to go",
                self.total
            );
        }
    }
}
