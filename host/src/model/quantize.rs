//! Post-training quantization of an f32 model to int8 (core's element type 1).
//!
//! The arithmetic (weight and bias scales, calibrated activation ranges, requantization
//! multipliers) is core's `microdense::int8::quantize`, so a chip computes the same bytes;
//! this module draws the calibration images and reports the choices.
use std::path::Path;

use anyhow::{anyhow, Result};
use microdense::{int8, int8::QuantParams, int8::PIXEL_INPUT, rng::Rng, Activation, Network};
use serde::Serialize;

use crate::data::examples::Examples;
use crate::data::table::ScaleKind;
use crate::model::{Model, QuantModel};

/// Calibration images drawn from the training set by default.
pub const DEFAULT_CALIBRATION: usize = 1000;
/// Seed of the draw (fixed: the same model and data give the same int8 model).
pub const CALIBRATION_SEED: u64 = 0x5EED_CA11;

/// Range of a hidden layer's outputs (after its activation) over the calibration images.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    pub samples: usize,
    /// Range of the network inputs, for a model with stored scaling that is not pixels
    /// /255 (those keep [`PIXEL_INPUT`]).
    pub input: Option<Range>,
    /// One per hidden layer (the output layer needs none).
    pub ranges: Vec<Range>,
}

/// `n` distinct indices of a set of `total`, drawn with [`CALIBRATION_SEED`] (all of
/// them, shuffled, when `n ≥ total`).
pub fn calibration_indices(total: usize, n: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..total).collect();
    Rng::new(CALIBRATION_SEED).shuffle(&mut all);
    all.truncate(n);
    all
}

/// Runs the float model over `indices` of `set` and records the range of every hidden
/// layer's output (core's [`int8::Calibration`], fed a chunk of images at a time).
pub fn calibrate(model: &Model, set: &dyn Examples, indices: &[usize]) -> Result<Calibration> {
    const CHUNK: usize = 256;
    let t = &model.topology;
    let net = Network::new(t.clone(), &model.params[..])?;
    let mut calibration = int8::Calibration::new(t);
    let (mut xs, mut labels) = (Vec::new(), Vec::new());
    let mut scratch = vec![0.0f32; t.infer_scratch_len(CHUNK)];
    let pixels = model
        .input
        .as_ref()
        .is_none_or(|i| i.scaling.kind == ScaleKind::Pixels);
    let mut input = Range { min: 0.0, max: 0.0 };
    for chunk in indices.chunks(CHUNK) {
        set.gather(chunk, &mut xs, &mut labels);
        for &v in &xs {
            input.min = input.min.min(v);
            input.max = input.max.max(v);
        }
        calibration
            .observe(&net, &xs, &mut scratch)
            .map_err(|e| anyhow!("calibration: {e}"))?;
    }
    Ok(Calibration {
        samples: indices.len(),
        input: (!pixels).then_some(input),
        ranges: calibration
            .ranges()
            .iter()
            .map(|r| Range {
                min: r.min,
                max: r.max,
            })
            .collect(),
    })
}

/// What quantization chose for one layer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerReport {
    pub layer: usize,
    pub fan_in: usize,
    pub units: usize,
    pub activation: &'static str,
    /// Smallest and largest per-unit weight scale.
    pub weight_scale: (f32, f32),
    /// The calibrated range (hidden layers).
    pub range: Option<Range>,
    /// Output quantization: int8 (hidden) or the i32 values' scale (output layer).
    pub output_scale: f32,
    pub output_zero_point: i32,
    /// Whether the output scale was widened to keep the multipliers below 1/2.
    pub widened: bool,
    /// Largest |accumulator| the layer can reach: |bias| + fan-in · 255 · 127.
    pub accumulator_bound: i64,
}

pub struct Quantized {
    pub model: QuantModel,
    pub layers: Vec<LayerReport>,
}

/// Quantizes `model` with the ranges of `calibration` (see the module docs).
pub fn quantize(model: &Model, calibration: &Calibration) -> Result<Quantized> {
    let t = &model.topology;
    let layers = t.layers();
    if let Some(l) = layers.iter().find(|l| {
        !matches!(
            l.activation,
            Activation::Linear | Activation::Relu | Activation::Softmax
        )
    }) {
        return Err(anyhow!(
            "int8 models take linear and relu hidden layers; this one has {}",
            l.activation.name()
        ));
    }
    if calibration.ranges.len() + 1 != layers.len() {
        return Err(anyhow!(
            "the calibration has {} layer ranges, the model {} hidden layers",
            calibration.ranges.len(),
            layers.len() - 1
        ));
    }
    let ranges: Vec<int8::Range> = calibration
        .ranges
        .iter()
        .map(|r| int8::Range {
            min: r.min,
            max: r.max,
        })
        .collect();
    let core_calibration = int8::Calibration::from_ranges(t, &ranges, calibration.samples)?;
    let net = Network::new(t.clone(), &model.params[..])?;
    let mut bytes = vec![0u8; microdense::sizes::int8_blob_len(t.input(), layers)];
    let mut choices = vec![int8::LayerChoice::default(); layers.len()];
    // A table's scaled inputs get their own calibrated range; pixels keep p − 128.
    let input = calibration
        .input
        .map_or(PIXEL_INPUT, |r| QuantParams::from_range(r.min, r.max));
    let n = int8::quantize(&net, input, &core_calibration, &mut bytes, &mut choices)
        .map_err(|e| anyhow!("cannot quantize the model: {e}"))?;
    bytes.truncate(n);
    if let Some(input) = &model.input {
        input.append_to(&mut bytes)?;
    }
    let reports = layers
        .iter()
        .zip(&choices)
        .enumerate()
        .map(|(i, (layer, c))| LayerReport {
            layer: i,
            fan_in: t.fan_in(i),
            units: layer.units,
            activation: layer.activation.name(),
            weight_scale: c.weight_scale,
            range: calibration.ranges.get(i).copied(),
            output_scale: c.output.scale,
            output_zero_point: c.output.zero_point,
            widened: c.widened,
            accumulator_bound: c.accumulator_bound,
        })
        .collect();
    let model = QuantModel::from_bytes(Path::new("int8 model"), &bytes)?;
    Ok(Quantized {
        model,
        layers: reports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::{Dataset, Images};
    use crate::model::mlp;
    use microdense::Init;

    fn toy_set(n: usize, seed: u64) -> Dataset {
        let mut rng = Rng::new(seed);
        let mut pixels = Vec::with_capacity(n * 16);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let c = rng.below(4);
            for p in 0..16 {
                pixels.push(if p % 4 == c {
                    200 + rng.below(56) as u8
                } else {
                    rng.below(30) as u8
                });
            }
            labels.push(c as u8);
        }
        Dataset {
            images: Images {
                count: n,
                rows: 4,
                cols: 4,
                pixels,
            },
            labels,
        }
    }

    #[test]
    fn int8_logits_follow_the_float_logits() {
        let set = toy_set(300, 1);
        for activation in [Activation::Linear, Activation::Relu] {
            let t = mlp(16, &[12, 9], activation, 4).unwrap();
            let model = Model::init(t, Init::He, 3);
            let cal = calibrate(&model, &set, &calibration_indices(set.len(), 200)).unwrap();
            assert_eq!(cal.ranges.len(), 2);
            let q = quantize(&model, &cal).unwrap();
            assert_eq!(q.layers.len(), 3);
            let net = model.network();
            let mut scratch = vec![0.0f32; net.topology().infer_scratch_len(1)];
            let qnet = q.model.network();
            let (mut worst, mut span) = (0.0f32, 0.0f32);
            let mut agree = 0;
            for i in 0..set.len() {
                let x: Vec<f32> = crate::data::scaled(set.image(i)).collect();
                let want = net.logits(&x, &mut scratch).unwrap().to_vec();
                let y = q.model.logits(set.image(i)).unwrap();
                let mut z = vec![0.0f32; 4];
                qnet.dequantize_logits(&y, &mut z);
                for (a, b) in z.iter().zip(&want) {
                    worst = worst.max((a - b).abs());
                    span = span.max(b.abs());
                }
                agree += usize::from(microdense::argmax(&want) == microdense::int8::argmax_i32(&y));
            }
            // Three layers of 8-bit rounding: within a few percent of the logits' scale.
            assert!(worst < 0.05 * span, "{activation:?}: {worst} of {span}");
            assert!(agree >= set.len() * 95 / 100, "{activation:?}: {agree}");
            // A relu layer's range starts at 0: zero point −128.
            if activation == Activation::Relu {
                assert_eq!(q.layers[0].output_zero_point, -128);
            }
        }
    }

    #[test]
    fn evaluation_counts_every_image_and_calibration_is_deterministic() {
        let set = toy_set(500, 2);
        let t = mlp(16, &[8], Activation::Relu, 4).unwrap();
        let model = Model::init(t, Init::He, 5);
        let idx = calibration_indices(set.len(), 100);
        assert_eq!(idx, calibration_indices(set.len(), 100));
        assert_eq!(calibration_indices(10, 50).len(), 10);
        let a = quantize(&model, &calibrate(&model, &set, &idx).unwrap()).unwrap();
        let b = quantize(&model, &calibrate(&model, &set, &idx).unwrap()).unwrap();
        assert_eq!(a.model.bytes(), b.model.bytes());
        let e = crate::eval::evaluate(&a.model, &set, None);
        assert_eq!(e.total(), 500);
        assert!(e.loss.is_finite());
        let some = crate::eval::evaluate(&a.model, &set, Some(&[0, 1, 2]));
        assert_eq!(some.total(), 3);
    }

    #[test]
    fn unsupported_models_are_errors() {
        let set = toy_set(50, 3);
        let t = mlp(16, &[8], Activation::Tanh, 4).unwrap();
        let model = Model::init(t, Init::He, 5);
        let cal = calibrate(&model, &set, &calibration_indices(50, 50)).unwrap();
        let e = quantize(&model, &cal).err().unwrap().to_string();
        assert!(e.contains("tanh"), "{e}");
        let mut bad = Model::init(mlp(16, &[8], Activation::Relu, 4).unwrap(), Init::He, 5);
        bad.params[3] = f32::INFINITY;
        assert!(calibrate(&bad, &set, &[0, 1]).is_err());
    }
}
