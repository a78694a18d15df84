//! `microdense check`: core (f32) and the independent f64 reference trained side by side
//! from the same initial weights on the same batches.
//!
//! Relative deviation of weights, per layer: `max |core − ref| / max |ref|` over the
//! layer's weights and biases. Element-wise relative error is meaningless for weights
//! that cross zero (and biases start at exactly zero); the layer's largest weight is the
//! scale at which an error changes that layer's outputs, and each layer gets its own
//! scale because glorot init makes them differ several-fold. Loss, per step:
//! `|core − ref| / max(|ref|, 1e-3)`; the floor only matters for a loss near zero, where
//! an absolute error of 1e-6 is of no interest.
//!
//! Both sides see the same inputs (core's f32 pixels, widened exactly to f64), so the
//! deviation measures arithmetic alone: f32 rounding in core, amplified over the steps.
use anyhow::Result;
use serde::Serialize;

use crate::data::gather;
use crate::data::idx::Dataset;
use crate::eval::reference::RefNet;
use crate::model::Model;
use crate::train::{Sampler, TrainConfig};
use microdense::{Sgd, Topology, Trainer};

/// Default `--tolerance`. Measured on MNIST with the tutorial configuration, seeds 1–10:
/// after 100 steps the weights deviate by at most 7.5e-7 of their layer's scale, the
/// first step's gradients by 4.2e-7 and the per-step loss by 2.1e-6 (a few f32 ulps),
/// growing slowly with length (1.9e-6 and 3.4e-6 after 1,000 steps). Against that, a
/// learning rate off by just 0.1% on one side moves the weights by 6.3e-4 after 100
/// steps (1% by 6.3e-3). 1e-4 sits between the two: about 50× above f32 rounding, and
/// still catching any mistake larger than that tiny one.
pub const DEFAULT_TOLERANCE: f64 = 1e-4;

/// Loss deviations below this reference loss are taken as absolute.
const LOSS_FLOOR: f64 = 1e-3;

#[derive(Clone, Debug, Serialize)]
pub struct LayerDeviation {
    pub layer: usize,
    /// Largest |ref| in the layer (the scale).
    pub scale: f64,
    pub max_abs: f64,
    pub relative: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// The network compared, as [`crate::model::shape`] writes it.
    #[serde(skip)]
    pub network: String,
    pub steps: u64,
    pub seed: u64,
    /// Largest per-step relative loss deviation, and the (1-based) step it occurred at.
    pub loss_relative: f64,
    pub loss_step: u64,
    /// Relative gradient deviation of the first step (before any drift).
    pub first_gradients_relative: f64,
    /// Per-layer weight deviation after the last step.
    pub layers: Vec<LayerDeviation>,
    /// The worst of `layers`.
    pub weights_relative: f64,
    pub first_loss: (f32, f64),
    pub last_loss: (f32, f64),
}

impl CheckReport {
    pub fn worst(&self) -> f64 {
        self.loss_relative
            .max(self.weights_relative)
            .max(self.first_gradients_relative)
    }
}

/// Per-layer deviation of `a` from `b`, both in core's flat layout.
fn layer_deviations(t: &Topology, a: &[f32], b: &[f64]) -> Vec<LayerDeviation> {
    let mut at = 0;
    let mut out = Vec::new();
    for (i, layer) in t.layers().iter().enumerate() {
        let len = layer.units * (t.fan_in(i) + 1);
        let (xa, xb) = (&a[at..at + len], &b[at..at + len]);
        at += len;
        let scale = xb.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let max_abs = xa
            .iter()
            .zip(xb)
            .fold(0.0f64, |m, (&x, &y)| m.max((f64::from(x) - y).abs()));
        out.push(LayerDeviation {
            layer: i,
            scale,
            max_abs,
            relative: max_abs / scale.max(f64::MIN_POSITIVE),
        });
    }
    out
}

/// Trains `steps` steps of the tutorial configuration (plain SGD) on both sides.
pub fn run(train: &Dataset, steps: u64, seed: u64) -> Result<CheckReport> {
    let cfg = TrainConfig {
        seed,
        ..TrainConfig::tutorial()
    };
    let topology = crate::model::mlp(train.input_size(), &cfg.hidden, cfg.activation, cfg.classes)?;
    let mut rng = microdense::rng::Rng::new(seed);
    let mut model = Model::init(topology.clone(), cfg.init, rng.next_u64());
    let mut reference = RefNet::from_core(&topology, &model.params);

    let mut scratch = vec![0.0f32; topology.train_scratch_len(cfg.batch)];
    let mut trainer = Trainer::new(
        &topology,
        cfg.batch,
        Sgd::new(cfg.lr),
        &mut scratch,
        &mut [],
    )
    .map_err(|e| anyhow::anyhow!("cannot train: {e}"))?;
    let mut sampler = Sampler::new(train.len(), rng.next_u64());
    let (mut xs, mut labels) = (Vec::new(), Vec::new());

    let (mut loss_relative, mut loss_step) = (0.0f64, 0);
    let mut first_gradients_relative = 0.0;
    let (mut first_loss, mut last_loss) = ((0.0, 0.0), (0.0, 0.0));
    for step in 1..=steps {
        let (indices, _) = sampler.next_batch(cfg.batch);
        gather(train, indices, &mut xs, &mut labels);
        let wide: Vec<Vec<f64>> = xs
            .chunks_exact(topology.input())
            .map(|x| x.iter().map(|&v| f64::from(v)).collect())
            .collect();
        let rows: Vec<&[f64]> = wide.iter().map(Vec::as_slice).collect();

        let core_loss = {
            let mut net = model.network_mut();
            let loss = trainer
                .loss_and_gradients(&net, &xs, &labels)
                .map_err(|e| anyhow::anyhow!("step {step}: {e}"))?;
            if step == 1 {
                let (_, ref_grads) = reference.loss_and_gradients(&rows, &labels);
                let devs = layer_deviations(&topology, trainer.gradients(), &ref_grads);
                first_gradients_relative = devs.iter().fold(0.0f64, |m, d| m.max(d.relative));
            }
            trainer
                .apply(&mut net)
                .map_err(|e| anyhow::anyhow!("step {step}: {e}"))?;
            loss
        };
        let ref_loss = reference.sgd_step(&rows, &labels, f64::from(cfg.lr));
        if !core_loss.is_finite() || !ref_loss.is_finite() {
            return Err(anyhow::anyhow!(
                "step {step}: non-finite loss (core {core_loss}, reference {ref_loss})"
            ));
        }
        let rel = (f64::from(core_loss) - ref_loss).abs() / ref_loss.abs().max(LOSS_FLOOR);
        if rel > loss_relative {
            (loss_relative, loss_step) = (rel, step);
        }
        if step == 1 {
            first_loss = (core_loss, ref_loss);
        }
        last_loss = (core_loss, ref_loss);
    }
    let layers = layer_deviations(&topology, &model.params, &reference.params_flat());
    let weights_relative = layers.iter().fold(0.0f64, |m, d| m.max(d.relative));
    Ok(CheckReport {
        network: crate::model::shape(&topology),
        steps,
        seed,
        loss_relative,
        loss_step,
        first_gradients_relative,
        layers,
        weights_relative,
        first_loss,
        last_loss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::Images;

    /// Random 8×8 "digits" with random labels: enough to exercise every term.
    fn noise(n: usize) -> Dataset {
        let mut rng = microdense::rng::Rng::new(3);
        Dataset {
            images: Images {
                count: n,
                rows: 8,
                cols: 8,
                // Half the pixels zero, as in MNIST (core skips zero inputs).
                pixels: (0..n * 64)
                    .map(|_| (rng.below(512).saturating_sub(256)) as u8)
                    .collect(),
            },
            labels: (0..n).map(|_| rng.below(10) as u8).collect(),
        }
    }

    #[test]
    fn core_agrees_with_the_reference() {
        let r = run(&noise(200), 30, 1).unwrap();
        assert_eq!((r.steps, r.layers.len()), (30, 3));
        assert!(r.worst() < DEFAULT_TOLERANCE, "{r:?}");
        assert!(r.worst() > 0.0, "f32 and f64 cannot agree exactly: {r:?}");
        assert!(r.layers.iter().all(|l| l.scale > 0.0));
    }

    #[test]
    fn deviation_is_relative_to_each_layer_scale() {
        let t = crate::model::mlp(1, &[1], microdense::Activation::Linear, 1).unwrap();
        // Layer 0: [w, b] = [2, 0]; layer 1: [w, b] = [0.5, 0.25].
        let d = layer_deviations(&t, &[2.0, 0.01, 0.5, 0.25], &[2.0, 0.0, 0.5, 0.2]);
        assert!((d[0].relative - 0.005).abs() < 1e-9, "{d:?}");
        assert!((d[1].relative - 0.1).abs() < 1e-7, "{d:?}");
    }
}
