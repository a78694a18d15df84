//! Divergence replay: snapshots of a run taken every [`SNAPSHOT_EVERY`] steps, and the
//! exact replay from one of them to the last weights whose loss was measured finite.
use anyhow::{anyhow, Result};
use microdense::Trainer;

use super::{Batches, Sampler};
use crate::model::Model;

/// Steps between snapshots for divergence replay: copying 2 × 400 KB of weights and
/// velocity (the 98% network) every step cost about 5% of training; every 256 steps
/// it is noise, and a replay is at most 256 steps.
pub const SNAPSHOT_EVERY: u64 = 256;

/// What a run needs to replay its steps from `steps` on.
struct Snapshot {
    steps: u64,
    params: Vec<f32>,
    velocity: Vec<f32>,
    sampler: Sampler,
}

/// The last two snapshots, newest first: a divergence right after a snapshot keeps
/// weights from before it.
#[derive(Default)]
pub(crate) struct Snapshots([Option<Snapshot>; 2]);

impl Snapshots {
    /// A snapshot after `steps` steps, reusing the oldest one's buffers.
    pub(crate) fn take(
        &mut self,
        steps: u64,
        params: &[f32],
        trainer: &Trainer,
        sampler: &Sampler,
    ) {
        let old = self.0[1].take();
        self.0[1] = self.0[0].take();
        self.0[0] = Some(match old {
            Some(mut s) => {
                s.steps = steps;
                s.params.copy_from_slice(params);
                s.velocity.copy_from_slice(trainer.velocity());
                s.sampler.clone_from(sampler);
                s
            }
            None => Snapshot {
                steps,
                params: params.to_vec(),
                velocity: trainer.velocity().to_vec(),
                sampler: sampler.clone(),
            },
        });
    }

    /// Puts `model` and `trainer` in the state they had after `kept_after` steps: the
    /// newest snapshot at or before it, then the steps in between again.
    pub(crate) fn replay(
        &self,
        kept_after: u64,
        batches: &mut Batches,
        trainer: &mut Trainer,
        model: &mut Model,
    ) -> Result<()> {
        let snapshot = self
            .0
            .iter()
            .flatten()
            .find(|s| s.steps <= kept_after)
            .ok_or_else(|| anyhow!("no snapshot to replay batch {kept_after} from"))?;
        model.params.copy_from_slice(&snapshot.params);
        trainer
            .set_velocity(&snapshot.velocity)
            .map_err(|e| anyhow!("cannot restore the optimizer state: {e}"))?;
        let mut sampler = snapshot.sampler.clone();
        for step in snapshot.steps..kept_after {
            let (_, result) = batches.step(step, &mut sampler, trainer, model);
            result.map_err(|e| anyhow!("replaying batch {} after a divergence: {e}", step + 1))?;
        }
        Ok(())
    }
}
