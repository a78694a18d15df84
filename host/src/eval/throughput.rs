//! Training throughput (samples per second) of one configuration, timed the way
//! `bench/pytorch/bench.py` times PyTorch, so that the two can be compared.
//!
//! Timed, per step: the next batch of indices from a shuffled order (reshuffled at each
//! epoch's end), gathering those images' pixels, scaled to f32, into one contiguous batch
//! with their labels as training does (`data::gather`), asking the cache for the next
//! batch's images, and `Trainer::step` (forward, softmax cross-entropy, backward, SGD
//! update). Not timed: loading the data, setting up the network (every repeat starts again from the same initial weights and the same
//! shuffle, so every repeat does the same work). A warm-up comes first; the figure is the
//! median of the repeats.
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use microdense::{Activation, Init, Sgd, Trainer};
use serde::Serialize;

use crate::data::idx::Dataset;
use crate::model::{mlp, Model};
use crate::train::{activation_name, init_name, Sampler};

/// Warm-up length; it also measures the rate that sizes the repeats.
const WARMUP: Duration = Duration::from_millis(500);
/// A repeat lasts about this long unless the steps are given.
const REPEAT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, Serialize)]
pub struct BenchConfig {
    pub hidden: Vec<usize>,
    #[serde(serialize_with = "activation_name")]
    pub activation: Activation,
    pub batch: usize,
    pub lr: f32,
    pub momentum: f32,
    #[serde(serialize_with = "init_name")]
    pub init: Init,
    pub seed: u64,
    /// Steps per repeat; `None`: as many as take about two seconds.
    pub steps: Option<u64>,
    pub repeats: u32,
    /// Threads per step (`--threads`).
    pub threads: usize,
}

/// One timed run of `steps` steps.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Repeat {
    pub seconds: f64,
    pub samples: u64,
    pub samples_per_second: f64,
}

#[derive(Debug, Serialize)]
pub struct Throughput {
    pub steps: u64,
    pub warmup_steps: u64,
    pub repeats: Vec<Repeat>,
    /// Median over `repeats`.
    pub samples_per_second: f64,
    /// Batch-mean loss of the last step of the last repeat (a sanity check: it trains).
    pub last_loss: f32,
}

/// A network, trainer state and shuffle, reset to the same start before every repeat.
struct Session<'d> {
    data: &'d Dataset,
    cfg: &'d BenchConfig,
    start: Model,
    model: Model,
    sampler: Sampler,
    scratch: Vec<f32>,
    velocity: Vec<f32>,
    xs: Vec<f32>,
    labels: Vec<u8>,
    pool: crate::parallel::Pool,
}

impl<'d> Session<'d> {
    fn new(data: &'d Dataset, cfg: &'d BenchConfig, classes: usize) -> Result<Self> {
        let topology = mlp(data.input_size(), &cfg.hidden, cfg.activation, classes)?;
        let start = Model::init(topology.clone(), cfg.init, cfg.seed);
        let velocity_len = if cfg.momentum != 0.0 {
            topology.optimizer_len()
        } else {
            0
        };
        Ok(Session {
            data,
            cfg,
            model: start.clone(),
            start,
            sampler: Sampler::new(data.len(), cfg.seed),
            scratch: vec![0.0; topology.train_scratch_len(cfg.batch)],
            velocity: vec![0.0; velocity_len],
            xs: Vec::with_capacity(cfg.batch * data.input_size()),
            labels: Vec::with_capacity(cfg.batch),
            pool: crate::parallel::Pool::new(cfg.threads),
        })
    }

    fn reset(&mut self) {
        self.model.params.copy_from_slice(&self.start.params);
        self.sampler = Sampler::new(self.data.len(), self.cfg.seed);
    }

    /// `steps` steps from where the last call left off (the trainer's velocity starts at
    /// zero each call); returns the time, the samples and the last loss.
    fn steps(&mut self, steps: u64) -> Result<(Duration, u64, f32)> {
        let sgd = Sgd::new(self.cfg.lr).with_momentum(self.cfg.momentum);
        let topology = self.model.topology.clone();
        let trainer = Trainer::new(
            &topology,
            self.cfg.batch,
            sgd,
            &mut self.scratch,
            &mut self.velocity,
        )
        .map_err(|e| anyhow!("cannot train {}: {e}", crate::model::describe(&topology)))?;
        let mut trainer = if self.cfg.threads > 1 {
            trainer.with_parallel(&self.pool)
        } else {
            trainer
        };
        let mut net = self.model.network_mut();
        let (mut samples, mut loss) = (0u64, f32::NAN);
        let started = Instant::now();
        for step in 0..steps {
            let (indices, _) = self.sampler.next_batch(self.cfg.batch);
            crate::data::gather(self.data, indices, &mut self.xs, &mut self.labels);
            crate::data::prefetch(self.data, self.sampler.upcoming(self.cfg.batch));
            loss = trainer
                .step(&mut net, &self.xs, &self.labels)
                .map_err(|e| anyhow!("step {}: {e} (try a smaller --lr)", step + 1))?;
            samples += self.labels.len() as u64;
        }
        Ok((started.elapsed(), samples, loss))
    }
}

/// Measures `cfg` on `data` (labels below `classes`).
pub fn measure(data: &Dataset, classes: usize, cfg: &BenchConfig) -> Result<Throughput> {
    if data.is_empty() {
        return Err(anyhow!("no training images to benchmark on"));
    }
    let mut run = Session::new(data, cfg, classes)?;
    // Warm-up in doubling chunks until WARMUP has passed; the last chunk gives the rate.
    let (mut chunk, mut warmup_steps, mut spent) = (8u64, 0u64, Duration::ZERO);
    let rate = loop {
        let (t, _, _) = run.steps(chunk)?;
        warmup_steps += chunk;
        spent += t;
        if spent >= WARMUP {
            break chunk as f64 / t.as_secs_f64().max(1e-9);
        }
        chunk *= 2;
    };
    let steps = cfg
        .steps
        .unwrap_or_else(|| ((rate * REPEAT.as_secs_f64()).ceil() as u64).max(1));
    let mut repeats = Vec::new();
    let mut last_loss = f32::NAN;
    for _ in 0..cfg.repeats.max(1) {
        run.reset();
        let (t, samples, loss) = run.steps(steps)?;
        last_loss = loss;
        let seconds = t.as_secs_f64();
        repeats.push(Repeat {
            seconds,
            samples,
            samples_per_second: samples as f64 / seconds.max(1e-12),
        });
    }
    Ok(Throughput {
        steps,
        warmup_steps,
        samples_per_second: median(repeats.iter().map(|r| r.samples_per_second).collect()),
        repeats,
        last_loss,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::Images;

    fn set() -> Dataset {
        let n = 50;
        Dataset {
            images: Images {
                count: n,
                rows: 2,
                cols: 2,
                pixels: (0..n * 4).map(|i| (i * 37 % 256) as u8).collect(),
            },
            labels: (0..n).map(|i| (i % 3) as u8).collect(),
        }
    }

    fn cfg() -> BenchConfig {
        BenchConfig {
            hidden: vec![5],
            activation: Activation::Relu,
            batch: 8,
            lr: 0.05,
            momentum: 0.0,
            init: Init::GlorotNormal,
            seed: 1,
            steps: Some(20),
            repeats: 3,
            threads: 1,
        }
    }

    #[test]
    fn repeats_do_the_same_work() {
        let p = set();
        let t = measure(&p, 3, &cfg()).unwrap();
        assert_eq!((t.steps, t.repeats.len()), (20, 3));
        // 20 steps of 8 over 50 samples: epochs of 6 full batches and one of 2.
        assert!(t
            .repeats
            .iter()
            .all(|r| r.samples == 6 * 8 + 2 + 6 * 8 + 2 + 6 * 8));
        assert!(t.warmup_steps >= 8 && t.last_loss.is_finite());
        let mut sorted: Vec<f64> = t.repeats.iter().map(|r| r.samples_per_second).collect();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(t.samples_per_second, sorted[1]);
    }

    #[test]
    fn momentum_and_a_diverging_rate() {
        let p = set();
        let m = BenchConfig {
            momentum: 0.9,
            repeats: 1,
            ..cfg()
        };
        assert!(measure(&p, 3, &m).is_ok());
        let huge = BenchConfig {
            lr: 1e30,
            activation: Activation::Linear,
            ..cfg()
        };
        let e = measure(&p, 3, &huge).unwrap_err().to_string();
        assert!(e.contains("smaller --lr"), "{e}");
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
