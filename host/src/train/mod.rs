//! The training loop: shuffled batches (reshuffled every epoch), an optional learning-rate
//! schedule, periodic validation batches, and divergence handling.
//!
//! Divergence: core's `Trainer::step` returns `NonFiniteLoss` without touching the
//! parameters when a batch's loss is NaN or infinite. The weights it was computed on
//! (after the previous update) are already suspect — a loss overflows because the
//! previous update blew the weights up — so the model kept is the one from *before the
//! previous step*: the last weights whose loss was actually measured finite. Likewise, if
//! the final update leaves a non-finite weight, the weights before it are kept. Rather
//! than copying the weights before every step, the loop snapshots weights, optimizer
//! state and sampler every [`replay::SNAPSHOT_EVERY`] steps; on divergence it replays the
//! steps from the last snapshot before the kept point (see [`replay`]). Steps are
//! deterministic, so the replayed weights are the very bits the run had.
pub mod replay;
pub mod schedule;

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use microdense::{
    argmax,
    loss::{softmax_cross_entropy, Loss},
    rng::Rng,
    sizes, Activation, Adam, Error, Init, Optimizer, Sgd, Topology, Trainer,
};
use serde::Serialize;

use crate::data::examples::Examples;
use crate::model::{mlp, Model};

/// How long to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Length {
    Batches(u64),
    Epochs(u32),
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainConfig {
    pub hidden: Vec<usize>,
    #[serde(serialize_with = "activation_name")]
    pub activation: Activation,
    pub classes: usize,
    pub batch: usize,
    pub length: Length,
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    /// Adam's settings (`--optimizer adam`); `None` trains with SGD.
    pub adam: Option<AdamSettings>,
    pub schedule: Schedule,
    /// Hidden layers' initializer.
    #[serde(serialize_with = "init_name")]
    pub init: Init,
    /// The output layer's (TF.js's tutorial: variance-scaling under glorot-normal).
    #[serde(serialize_with = "init_name")]
    pub output_init: Init,
    #[serde(serialize_with = "loss_name")]
    pub loss: Loss,
    /// Start from these weights (their topology replaces hidden/activation/inits).
    #[serde(skip)]
    pub from: Option<Model>,
    /// Train only this many layers from the top (the rest frozen); `None`: all.
    pub train_layers: Option<usize>,
    pub seed: u64,
    /// Validate every this many batches; 0 disables validation.
    pub val_every: u64,
    pub val_size: usize,
    /// Threads per step (`--threads`; the same bits with any number).
    #[serde(skip)]
    pub threads: usize,
}

/// Adam's moment decays and epsilon; the learning rate is the config's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AdamSettings {
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f32,
}

use replay::{Snapshots, SNAPSHOT_EVERY};
pub use schedule::Schedule;

/// Serializes an activation by its name (for JSON reports).
pub(crate) fn activation_name<S: serde::Serializer>(
    a: &Activation,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(a.name())
}

/// Serializes an initializer by its name (for JSON reports).
pub(crate) fn init_name<S: serde::Serializer>(i: &Init, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(i.name())
}

fn loss_name<S: serde::Serializer>(l: &Loss, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(l.name())
}

impl TrainConfig {
    /// The tutorial's network and optimizer: 32+256 linear hidden units, batch 16,
    /// 100 batches of plain SGD at lr 0.15, glorot-normal weights, a 100-sample validation
    /// batch every 5 batches.
    pub fn tutorial() -> Self {
        TrainConfig {
            hidden: vec![32, 256],
            activation: Activation::Linear,
            classes: 10,
            batch: 16,
            length: Length::Batches(100),
            lr: 0.15,
            momentum: 0.0,
            weight_decay: 0.0,
            adam: None,
            schedule: Schedule::Constant,
            init: Init::GlorotNormal,
            output_init: Init::GlorotNormal,
            loss: Loss::SoftmaxCrossEntropy,
            from: None,
            train_layers: None,
            seed: 1,
            val_every: 5,
            val_size: 100,
            threads: 1,
        }
    }

    /// Bytes of memory a run on `input`-pixel images needs (weights, their snapshots,
    /// optimizer state, scratch, batches, scoring); an error naming the size when this
    /// machine does not have that much available, before anything is allocated.
    pub fn check_memory(&self, input: usize) -> Result<u64> {
        let t = mlp(input, &self.hidden, self.activation, self.classes)?;
        let params = t.params_len() as u64;
        // Weights and two snapshots, each with the optimizer state beside them (Adam: two
        // moments, momentum: one velocity).
        let copies = match (self.adam.is_some(), self.momentum != 0.0) {
            (true, _) => 9,
            (false, true) => 6,
            (false, false) => 3,
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let floats = params
            .saturating_mul(copies)
            .saturating_add(t.train_scratch_len(self.batch) as u64)
            .saturating_add((self.batch as u64).saturating_mul(input as u64))
            .saturating_add(t.infer_scratch_len(self.val_size.max(1)) as u64)
            .saturating_add((t.infer_scratch_len(256) as u64).saturating_mul(threads));
        let need = floats.saturating_mul(4);
        if let Some(available) = available_memory() {
            if need > available {
                return Err(anyhow!(
                    "cannot train {} with batch {}: it needs {} of memory, and {} are available",
                    crate::model::describe(&t),
                    self.batch,
                    human_bytes(need),
                    human_bytes(available)
                ));
            }
        }
        Ok(need)
    }

    /// Batches in the whole run for a training set of `n` samples.
    pub fn total_batches(&self, n: usize) -> u64 {
        match self.length {
            Length::Batches(b) => b,
            Length::Epochs(e) => u64::from(e) * n.div_ceil(self.batch) as u64,
        }
    }

    /// The optimizer at the base learning rate.
    pub fn optimizer(&self) -> Optimizer {
        match self.adam {
            None => Sgd::new(self.lr)
                .with_momentum(self.momentum)
                .with_weight_decay(self.weight_decay)
                .into(),
            Some(a) => Adam::new(self.lr)
                .with_betas(a.beta1, a.beta2)
                .with_epsilon(a.epsilon)
                .into(),
        }
    }

    /// Learning rate of batch `step` (0-based) out of `total`.
    pub fn lr_at(&self, step: u64, total: u64) -> f32 {
        self.schedule.lr_at(self.lr, step, total)
    }
}

/// `1.5 GB` style.
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GB", n as f64 / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / f64::from(1u32 << 20)),
        n => format!("{n} bytes"),
    }
}

/// MemAvailable from /proc/meminfo, where there is one.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// Seeds of the independent random streams of a run, all derived from the one seed so
/// that changing, say, the validation size does not change the initial weights.
struct Seeds {
    init: u64,
    shuffle: u64,
    validation: u64,
}

impl Seeds {
    fn from(seed: u64) -> Self {
        let mut r = Rng::new(seed);
        Seeds {
            init: r.next_u64(),
            shuffle: r.next_u64(),
            validation: r.next_u64(),
        }
    }
}

/// Batches of indices: a fresh shuffle of the whole set every epoch; the last batch of an
/// epoch is smaller when the set does not divide evenly.
#[derive(Clone)]
pub struct Sampler {
    order: Vec<usize>,
    at: usize,
    epoch: u32,
    rng: Rng,
}

impl Sampler {
    pub fn new(n: usize, seed: u64) -> Self {
        let mut s = Sampler {
            order: (0..n).collect(),
            at: 0,
            epoch: 0,
            rng: Rng::new(seed),
        };
        s.rng.shuffle(&mut s.order);
        s
    }

    /// Whether the last batch handed out ended an epoch.
    pub fn epoch_finished(&self) -> bool {
        self.at >= self.order.len()
    }

    /// The batch after the one last handed out, as far as this epoch's order holds it
    /// (empty at an epoch's end: the next order is not drawn yet).
    pub fn upcoming(&self, batch: usize) -> &[usize] {
        let at = self.at.min(self.order.len());
        &self.order[at..(at + batch).min(self.order.len())]
    }

    /// The next batch, and the (0-based) epoch it belongs to.
    pub fn next_batch(&mut self, batch: usize) -> (&[usize], u32) {
        if self.at >= self.order.len() {
            self.rng.shuffle(&mut self.order);
            self.at = 0;
            self.epoch += 1;
        }
        let start = self.at;
        self.at = (start + batch).min(self.order.len());
        (&self.order[start..self.at], self.epoch)
    }
}

/// A validation score on one batch of held-out samples.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ValPoint {
    /// Batches trained before this score.
    pub batch: u64,
    pub loss: f64,
    pub accuracy: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct History {
    /// Loss of batch k (before its update), one per completed step.
    pub loss: Vec<f32>,
    pub val: Vec<ValPoint>,
}

/// Where and why training stopped early.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Divergence {
    /// 1-based batch whose loss was NaN or infinite (total + 1 when the last update
    /// itself produced non-finite weights).
    pub batch: u64,
    /// The kept model has been updated by this many batches.
    pub kept_after: u64,
}

pub struct Trained {
    pub model: Model,
    pub history: History,
    pub diverged: Option<Divergence>,
    /// Batches trained (including the ones rolled back after a divergence).
    pub batches: u64,
    /// Samples trained on (counted like `batches`).
    pub samples: u64,
    pub epochs: u32,
    pub elapsed: Duration,
    /// Time in the steps alone: sampling, batch assembly, the step and its bookkeeping;
    /// not validation nor the event handler (see `train`).
    pub train_time: Duration,
}

/// What the loop reports as it goes, for a progress bar.
pub enum Event<'a> {
    Step {
        batch: u64,
        loss: f32,
        lr: f32,
    },
    Val(&'a ValPoint),
    /// The step just done completed epoch `epoch` (1-based); `train_time` so far.
    Epoch {
        epoch: u32,
        model: &'a Model,
        train_time: Duration,
    },
}

/// Trains a new network on `train`, validating on `val` (both already checked to fit:
/// same image size, labels below `cfg.classes`). `Outcome::train_time` leaves out what a
/// caller adds (validation, whatever `on_event` does, such as scoring a whole test set
/// after each epoch), so that benchmarks can time the training alone.
pub fn train(
    cfg: &TrainConfig,
    train: &dyn Examples,
    val: Option<&dyn Examples>,
    on_event: &mut dyn FnMut(Event),
) -> Result<Trained> {
    run(cfg, train, val, on_event, SNAPSHOT_EVERY)
}

/// The training-set indices of the first `count` batches of a run of `cfg` on `n`
/// samples, in the order [`train`] uses them.
pub fn batch_order(cfg: &TrainConfig, n: usize, count: u64) -> Vec<Vec<usize>> {
    let mut sampler = Sampler::new(n, Seeds::from(cfg.seed).shuffle);
    (0..count)
        .map(|_| sampler.next_batch(cfg.batch).0.to_vec())
        .collect()
}

fn run(
    cfg: &TrainConfig,
    train: &dyn Examples,
    val: Option<&dyn Examples>,
    on_event: &mut dyn FnMut(Event),
    snapshot_every: u64,
) -> Result<Trained> {
    let started = Instant::now();
    cfg.check_memory(train.input_size())?;
    let seeds = Seeds::from(cfg.seed);
    let mut model = match &cfg.from {
        Some(m) => {
            let (inputs, classes) = (m.topology.input(), m.topology.outputs());
            if (inputs, classes) != (train.input_size(), cfg.classes) {
                return Err(anyhow!(
                    "the starting model maps {inputs} inputs to {classes} classes; the data \
                     has {} inputs and {} classes",
                    train.input_size(),
                    cfg.classes
                ));
            }
            m.clone()
        }
        None => {
            let topology = mlp(train.input_size(), &cfg.hidden, cfg.activation, cfg.classes)?;
            let output = topology.layers().len() - 1;
            let init = |i| {
                if i == output {
                    cfg.output_init
                } else {
                    cfg.init
                }
            };
            Model::init_with(topology, init, seeds.init)
        }
    };
    let topology = model.topology.clone();
    let total = cfg.total_batches(train.len());

    let first = first_trained(&topology, cfg.train_layers)?;
    let (input, layers) = (topology.input(), topology.layers());
    let mut scratch = vec![0.0f32; sizes::tail_train_scratch_len(input, layers, cfg.batch, first)];
    let optimizer = cfg.optimizer();
    let trained = sizes::tail_params_len(input, layers, first);
    let mut velocity = vec![0.0f32; optimizer.state_len(trained)];
    let pool = crate::parallel::Pool::new(cfg.threads);
    let mut trainer = Trainer::tail(
        &topology,
        cfg.batch,
        first,
        optimizer,
        &mut scratch,
        &mut velocity,
    )
    .map_err(|e| anyhow!("cannot train {}: {e}", crate::model::describe(&topology)))?
    .with_loss(cfg.loss);
    if cfg.threads > 1 {
        trainer = trainer.with_parallel(&pool);
    }

    let mut validator = match val {
        Some(v) if cfg.val_every > 0 => Some(Validator::new(v, cfg.val_size, seeds.validation)),
        _ => None,
    };
    let mut sampler = Sampler::new(train.len(), seeds.shuffle);
    let mut batches = Batches {
        cfg,
        train,
        total,
        xs: Vec::new(),
        labels: Vec::new(),
    };
    let mut snapshots = Snapshots::default();
    let mut history = History::default();
    let mut diverged = None;
    let mut epochs = 0;
    let mut done = 0;
    let mut samples = 0;
    let mut train_time = Duration::ZERO;

    for step in 0..total {
        let timer = Instant::now();
        if step % snapshot_every.max(1) == 0 {
            snapshots.take(step, &model.params, &trainer, &sampler);
        }
        let (epoch, result) = batches.step(step, &mut sampler, &mut trainer, &mut model);
        epochs = epoch + 1;
        match result {
            Ok(loss) => {
                history.loss.push(loss);
                done = step + 1;
                samples += batches.labels.len() as u64;
                train_time += timer.elapsed();
                on_event(Event::Step {
                    batch: done,
                    loss,
                    lr: cfg.lr_at(step, total),
                });
                if sampler.epoch_finished() {
                    on_event(Event::Epoch {
                        epoch: epoch + 1,
                        model: &model,
                        train_time,
                    });
                }
            }
            Err(Error::NonFiniteLoss) => {
                train_time += timer.elapsed();
                diverged = Some(Divergence {
                    batch: step + 1,
                    kept_after: step.saturating_sub(1),
                });
                break;
            }
            Err(e) => return Err(anyhow!("batch {}: {e}", step + 1)),
        }
        if let Some(v) = validator.as_mut() {
            if done % cfg.val_every == 0 || done == total {
                let point = v.score(&model, done);
                on_event(Event::Val(&point));
                history.val.push(point);
            }
        }
    }
    if diverged.is_none() && model.params.iter().any(|p| !p.is_finite()) {
        diverged = Some(Divergence {
            batch: total + 1,
            kept_after: total.saturating_sub(1),
        });
    }
    if let Some(d) = diverged {
        if d.batch == 1 {
            return Err(anyhow!(
                "training diverged at batch 1: the loss of the initial weights is not finite"
            ));
        }
        snapshots.replay(d.kept_after, &mut batches, &mut trainer, &mut model)?;
        // The kept weights' loss was measured, but later entries were not theirs.
        history.loss.truncate(d.kept_after as usize + 1);
        history.val.retain(|p| p.batch <= d.kept_after);
    }
    Ok(Trained {
        model,
        history,
        diverged,
        batches: done,
        samples,
        epochs,
        elapsed: started.elapsed(),
        train_time,
    })
}

/// The first layer trained when only the last `train_layers` are (all when `None`).
fn first_trained(topology: &Topology, train_layers: Option<usize>) -> Result<usize> {
    let depth = topology.layers().len();
    match train_layers {
        None => Ok(0),
        Some(k) if (1..=depth).contains(&k) => Ok(depth - k),
        Some(k) => Err(anyhow!(
            "--train-layers {k}: the model {} has {depth} layers",
            crate::model::describe(topology)
        )),
    }
}

/// The run's batches and the buffers they are assembled in.
pub(crate) struct Batches<'a> {
    cfg: &'a TrainConfig,
    train: &'a dyn Examples,
    total: u64,
    xs: Vec<f32>,
    labels: Vec<u8>,
}

impl Batches<'_> {
    /// Step `step` (0-based): the sampler's next batch at the schedule's learning rate,
    /// the one way both the run and a replay take a step. Returns the batch's epoch and
    /// the step's loss.
    pub(crate) fn step(
        &mut self,
        step: u64,
        sampler: &mut Sampler,
        trainer: &mut Trainer,
        model: &mut Model,
    ) -> (u32, Result<f32, Error>) {
        let (indices, epoch) = sampler.next_batch(self.cfg.batch);
        self.train.gather(indices, &mut self.xs, &mut self.labels);
        self.train.prefetch(sampler.upcoming(self.cfg.batch));
        let lr = self.cfg.lr_at(step, self.total);
        let result = trainer
            .set_optimizer(self.cfg.optimizer().with_lr(lr))
            .and_then(|()| trainer.step(&mut model.network_mut(), &self.xs, &self.labels));
        (epoch, result)
    }
}

/// Rotates through a shuffled held-out set, `size` samples at a time, as the tutorial's
/// `nextTestBatch`.
struct Validator<'a> {
    set: &'a dyn Examples,
    sampler: Sampler,
    size: usize,
    xs: Vec<f32>,
    labels: Vec<u8>,
    scratch: Vec<f32>,
    grad: Vec<f32>,
}

impl<'a> Validator<'a> {
    fn new(set: &'a dyn Examples, size: usize, seed: u64) -> Self {
        Validator {
            set,
            sampler: Sampler::new(set.len(), seed),
            size: size.min(set.len()),
            xs: Vec::new(),
            labels: Vec::new(),
            scratch: Vec::new(),
            grad: Vec::new(),
        }
    }

    fn score(&mut self, model: &Model, batch: u64) -> ValPoint {
        let (indices, _) = self.sampler.next_batch(self.size);
        self.set.gather(indices, &mut self.xs, &mut self.labels);
        let t = &model.topology;
        let n = self.labels.len();
        self.scratch.resize(t.infer_scratch_len(n), 0.0);
        self.grad.resize(t.outputs(), 0.0);
        let Ok(logits) = model.network().logits(&self.xs, &mut self.scratch) else {
            unreachable!("batch and scratch sized from the topology");
        };
        let (mut loss, mut correct) = (0.0f64, 0usize);
        for (z, &label) in logits.chunks_exact(t.outputs()).zip(&self.labels) {
            loss += f64::from(softmax_cross_entropy(z, usize::from(label), &mut self.grad));
            correct += usize::from(argmax(z) == usize::from(label));
        }
        ValPoint {
            batch,
            loss: loss / n as f64,
            accuracy: correct as f64 / n as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::{Dataset, Images};

    /// Two separable classes in 4 pixels: bright left half or bright right half.
    fn toy(n: usize) -> Dataset {
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        let mut rng = Rng::new(5);
        for i in 0..n {
            let c = (i % 2) as u8;
            let noise = |r: &mut Rng| r.below(60) as u8;
            let (hi, lo) = (200, 20);
            let row = if c == 0 {
                [hi, hi, lo, lo]
            } else {
                [lo, lo, hi, hi]
            };
            pixels.extend(row.iter().map(|&p: &u8| p.saturating_add(noise(&mut rng))));
            labels.push(c);
        }
        Dataset {
            images: Images {
                count: n,
                rows: 2,
                cols: 2,
                pixels,
            },
            labels,
        }
    }

    fn cfg() -> TrainConfig {
        TrainConfig {
            hidden: vec![3],
            activation: Activation::Tanh,
            classes: 2,
            batch: 8,
            length: Length::Epochs(3),
            val_every: 2,
            val_size: 10,
            ..TrainConfig::tutorial()
        }
    }

    #[test]
    fn sampler_covers_each_epoch_once() {
        let mut s = Sampler::new(10, 1);
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        for _ in 0..3 {
            let (b, e) = s.next_batch(4);
            assert_eq!(e, 0);
            sizes.push(b.len());
            seen.extend_from_slice(b);
        }
        assert_eq!(sizes, [4, 4, 2]);
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        let (b, e) = s.next_batch(4);
        assert_eq!((b.len(), e), (4, 1));
    }

    #[test]
    fn upcoming_is_the_next_batch_within_the_epoch() {
        let mut s = Sampler::new(10, 1);
        for want in [4, 4, 2, 0] {
            let next = s.upcoming(4).to_vec();
            assert_eq!(next.len(), want);
            if want == 0 {
                break;
            }
            assert_eq!(s.next_batch(4).0, next);
        }
    }

    #[test]
    fn learns_a_toy_problem_deterministically() {
        let (tr, va) = (toy(64), toy(20));
        let mut events = 0;
        let a = train(&cfg(), &tr, Some(&va), &mut |_| events += 1).unwrap();
        assert!(a.diverged.is_none());
        assert_eq!(a.batches, 24);
        assert_eq!(a.epochs, 3);
        assert_eq!(a.history.loss.len(), 24);
        assert_eq!(a.history.val.len(), 12);
        assert_eq!(events, 39); // 24 steps, 12 validations, 3 epochs
        assert!(a.history.val.last().unwrap().accuracy > 0.9);
        let b = train(&cfg(), &tr, Some(&va), &mut |_| {}).unwrap();
        assert_eq!(a.model.to_bytes().unwrap(), b.model.to_bytes().unwrap());
        let c = train(&TrainConfig { seed: 2, ..cfg() }, &tr, None, &mut |_| {}).unwrap();
        assert_ne!(a.model.params, c.model.params);
    }

    /// `--threads` splits no sum: 2 and 3 threads give the weights of 1, bit for bit,
    /// with linear and ReLU hidden layers, momentum, and batches over one block of 64.
    #[test]
    fn threads_give_the_bits_of_one_thread() {
        let tr = toy(200);
        for (activation, batch, momentum) in [
            (Activation::Linear, 8, 0.0),
            (Activation::Relu, 16, 0.9),
            (Activation::Linear, 70, 0.5),
        ] {
            let run = |threads| {
                let cfg = TrainConfig {
                    hidden: vec![24, 17],
                    activation,
                    batch,
                    momentum,
                    threads,
                    ..cfg()
                };
                let model = train(&cfg, &tr, None, &mut |_| {}).unwrap().model;
                model.params.iter().map(|p| p.to_bits()).collect::<Vec<_>>()
            };
            let one = run(1);
            for threads in [2, 3] {
                let what = format!("{activation:?}, batch {batch}, {threads} threads");
                assert_eq!(run(threads), one, "{what}");
            }
        }
    }

    #[test]
    fn epoch_events_come_after_each_full_epoch_with_the_training_time() {
        let tr = toy(60); // batch 8: 8 batches per epoch, the last one of 4
        let mut seen = Vec::new();
        let out = train(&cfg(), &tr, None, &mut |e| {
            if let Event::Epoch {
                epoch,
                model,
                train_time,
            } = e
            {
                seen.push((epoch, model.params.clone(), train_time));
            }
        })
        .unwrap();
        assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(seen.windows(2).all(|w| w[0].2 <= w[1].2));
        assert_eq!(
            seen[2].1, out.model.params,
            "the model after the epoch's last step"
        );
        assert_eq!(seen[2].2, out.train_time);
        assert!(out.train_time <= out.elapsed);
        // A run that stops mid-epoch reports only the epochs it finished.
        let mut epochs = 0;
        let short = TrainConfig {
            length: Length::Batches(12),
            ..cfg()
        };
        train(&short, &tr, None, &mut |e| {
            epochs += u32::from(matches!(e, Event::Epoch { .. }))
        })
        .unwrap();
        assert_eq!(epochs, 1);
    }

    #[test]
    fn divergence_keeps_the_last_finite_model() {
        let tr = toy(64);
        let huge = TrainConfig {
            lr: 1e30,
            activation: Activation::Linear,
            length: Length::Batches(50),
            ..cfg()
        };
        let out = train(&huge, &tr, None, &mut |_| {}).unwrap();
        let d = out.diverged.expect("lr 1e30 must diverge");
        assert!(d.batch >= 2, "{d:?}");
        assert_eq!(d.kept_after, d.batch - 2);
        assert!(out.model.params.iter().all(|p| p.is_finite()));
        assert_eq!(out.history.loss.len() as u64, d.kept_after + 1);
        // The kept model is exactly the one trained on `kept_after` batches.
        let short = TrainConfig {
            length: Length::Batches(d.kept_after),
            ..huge
        };
        if d.kept_after > 0 {
            let again = train(&short, &tr, None, &mut |_| {}).unwrap();
            assert_eq!(again.model.params, out.model.params);
        }
    }

    /// Replaying from a snapshot must give the bits the run had, wherever the snapshots
    /// fall relative to the divergence; with one every step nothing is replayed.
    #[test]
    fn divergence_replay_is_exact_for_any_snapshot_interval() {
        let tr = toy(64);
        let late = TrainConfig {
            lr: 3.0,
            momentum: 0.9,
            activation: Activation::Linear,
            length: Length::Batches(60),
            ..cfg()
        };
        let runs: Vec<Trained> = [1, 2, 3, 5, 256]
            .iter()
            .map(|&every| run(&late, &tr, None, &mut |_| {}, every).unwrap())
            .collect();
        let d = runs[0].diverged.expect("lr 3 with momentum must diverge");
        assert!(d.kept_after >= 6, "diverges late enough to replay: {d:?}");
        for r in &runs[1..] {
            let e = r.diverged.unwrap();
            assert_eq!((e.batch, e.kept_after), (d.batch, d.kept_after));
            assert_eq!(r.model.params, runs[0].model.params);
        }
        let short = TrainConfig {
            length: Length::Batches(d.kept_after),
            ..late
        };
        let again = train(&short, &tr, None, &mut |_| {}).unwrap();
        assert_eq!(again.model.params, runs[0].model.params);
    }

    #[test]
    fn cosine_schedule_decays_to_zero() {
        let c = TrainConfig {
            schedule: Schedule::Cosine,
            lr: 0.2,
            ..cfg()
        };
        assert_eq!(c.lr_at(0, 100), 0.2);
        assert!((c.lr_at(50, 100) - 0.1).abs() < 1e-6);
        assert!(c.lr_at(99, 100) < 1e-3);
        assert_eq!(cfg().lr_at(99, 100), cfg().lr);
    }
}
