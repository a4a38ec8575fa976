//! Checkpoints out of and into a session: everything needed to continue bit-identically.

use anyhow::{Context, Result};

use super::{Diverged, Session};
use crate::checkpoint::{Checkpoint, NetState};
use crate::model::NetworkParams;

impl Session<'_> {
    /// Everything needed to continue this run bit-identically (waits for the GPU).
    pub async fn snapshot(&mut self) -> Result<Checkpoint> {
        self.wait_gpu().await?;
        let ctx = self.ctx;
        let net = async |p: &NetworkParams| -> Result<NetState> {
            let [params, m, v, moving] = ctx
                .read_many::<f32>(&[&p.params, &p.adam_m, &p.adam_v, &p.moving])
                .await?
                .try_into()
                .expect("four buffers");
            let state: Vec<u32> = ctx.read(&p.adam_state).await?;
            Ok(NetState {
                params,
                adam_m: m,
                adam_v: v,
                adam_state: state.try_into().expect("adam state"),
                moving,
            })
        };
        let (g, d) = (net(&self.g).await?, net(&self.d).await?);
        // Never hand out a diverged state as a checkpoint (the report check may not have seen
        // it yet: checkpoints need not fall on reports).
        for (name, s) in [("G", &g), ("D", &d)] {
            let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
            if !(finite(&s.params) && finite(&s.adam_m) && finite(&s.adam_v) && finite(&s.moving)) {
                return Err(Diverged {
                    iteration: self.iteration,
                    what: format!("{name}'s parameters, moments or moving statistics are no longer finite numbers"),
                }
                .into());
            }
        }
        let counter: Vec<u32> = ctx.read(&self.counter).await?;
        anyhow::ensure!(
            u64::from(counter[0]) == self.iteration,
            "the GPU iteration counter ({}) disagrees with the host ({})",
            counter[0],
            self.iteration
        );
        Ok(Checkpoint {
            config: self.config.clone(),
            iteration: self.iteration,
            g,
            d,
            sample_noise: ctx.read(&self.z_sample).await?,
        })
    }

    /// Continues from a checkpoint of the same configuration (architecture, z size and batch
    /// decide the buffers; everything else comes from the checkpoint too).
    pub async fn restore(&mut self, c: &Checkpoint) -> Result<()> {
        self.wait_gpu().await?;
        let ctx = self.ctx;
        for (p, s) in [(&self.g, &c.g), (&self.d, &c.d)] {
            ctx.write(&p.params, &s.params);
            ctx.write(&p.adam_m, &s.adam_m);
            ctx.write(&p.adam_v, &s.adam_v);
            ctx.write(&p.adam_state, &s.adam_state);
            ctx.write(&p.moving, &s.moving);
        }
        ctx.write(&self.z_sample, &c.sample_noise);
        // A checkpoint holds only finite values (`Checkpoint::from_bytes`).
        ctx.write(&self.health, &[0u32]);
        let counter = u32::try_from(c.iteration).context("iteration count beyond 2^32")?;
        ctx.write(&self.counter, &[counter]);
        self.iteration = c.iteration;
        self.ctx.finished().await?;
        Ok(())
    }
}
