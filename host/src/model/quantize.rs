//! Post-training quantization of an f32 model to int8 (core's element type 1).
//!
//! The scheme (docs/weights-format.md has the layout):
//! - input: pixels at scale 1/255, zero point −128 (`q = p − 128`, no arithmetic on chip);
//! - weights: int8 symmetric per output unit, `s_w[j] = max_i |W[i][j]| / 127`;
//! - biases: i32 at the accumulator's scale `s_in · s_w[j]`;
//! - hidden activations: int8 asymmetric per tensor, the range observed on calibration
//!   images from the training set (widened to include 0). A relu layer's range starts at
//!   0, so its zero point is −128 and all 256 codes cover the positive half; a linear
//!   layer's signed range gets a zero point inside it. Asymmetric rather than symmetric:
//!   symmetric would waste half the codes on relu outputs and part of them on a linear
//!   layer's lopsided range;
//! - output layer: i32 values at one scale, `2.05 · max_j s_in · s_w[j]`, so the argmax is
//!   integer and the softmax runs on `scale · y` after the fact;
//! - requantization: `M_j = s_in · s_w[j] / s_out` as a 31-bit multiplier and a shift
//!   (`microdense::int8::quantize_multiplier`); every M is kept below 1/2 (an output scale is
//!   widened if a layer would need more).
use std::path::Path;

use anyhow::{anyhow, Result};
use microdense::{
    int8::quantize_multiplier, int8::write_int8_blob, int8::Int8Layer, int8::QuantParams,
    int8::PIXEL_INPUT, rng::Rng, sizes::params_len, Activation, Network, Topology,
};
use serde::Serialize;

use crate::data::gather;
use crate::data::idx::Dataset;
use crate::model::{Model, QuantModel};

/// Calibration images drawn from the training set by default.
pub const DEFAULT_CALIBRATION: usize = 1000;
/// Seed of the draw (fixed: the same model and data give the same int8 model).
pub const CALIBRATION_SEED: u64 = 0x5EED_CA11;

/// Largest requantization multiplier the quantizer produces (core takes up to 1/2).
const MAX_MULTIPLIER: f64 = 0.49;

/// Range of a hidden layer's outputs (after its activation) over the calibration images.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    pub samples: usize,
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

/// Parameters of layer `i` in a flat f32 parameter buffer: weights then biases.
fn layer_params<'p>(t: &Topology, params: &'p [f32], i: usize) -> &'p [f32] {
    let start = params_len(t.input(), &t.layers()[..i]);
    let len = t.layers()[i].units * (t.fan_in(i) + 1);
    &params[start..start + len]
}

/// Runs the float model over `indices` of `set`, layer by layer (each layer as a network
/// of its own, so the core computes every activation), and records the range of every
/// hidden layer's output.
pub fn calibrate(model: &Model, set: &Dataset, indices: &[usize]) -> Result<Calibration> {
    const CHUNK: usize = 256;
    let t = &model.topology;
    let layers = t.layers();
    let hidden = layers.len() - 1;
    let nets: Vec<Network<&[f32]>> = (0..hidden)
        .map(|i| {
            let one = Topology::new(t.fan_in(i), &layers[i..=i])?;
            Ok(Network::new(one, layer_params(t, &model.params, i))?)
        })
        .collect::<Result<_>>()?;
    let mut ranges = vec![
        Range {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
        };
        hidden
    ];
    let (mut xs, mut labels) = (Vec::new(), Vec::new());
    let widest = layers.iter().map(|l| l.units).max().unwrap_or(0);
    let mut scratch = vec![0.0f32; 2 * CHUNK * widest];
    for chunk in indices.chunks(CHUNK) {
        gather(set, chunk, &mut xs, &mut labels);
        let mut x = xs.clone();
        for (i, net) in nets.iter().enumerate() {
            let y = net
                .logits(&x, &mut scratch)
                .map_err(|e| anyhow!("calibration, layer {i}: {e}"))?;
            let r = &mut ranges[i];
            for &v in y {
                if !v.is_finite() {
                    return Err(anyhow!(
                        "calibration: layer {i} produced {v} (the model is not finite)"
                    ));
                }
                r.min = r.min.min(v);
                r.max = r.max.max(v);
            }
            x = y.to_vec();
        }
    }
    if indices.is_empty() {
        ranges
            .iter_mut()
            .for_each(|r| *r = Range { min: 0.0, max: 0.0 });
    }
    Ok(Calibration {
        samples: indices.len(),
        ranges,
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
    struct Arrays {
        weights: Vec<i8>,
        biases: Vec<i32>,
        multipliers: Vec<i32>,
        shifts: Vec<u8>,
        output: QuantParams,
    }
    let mut arrays = Vec::new();
    let mut reports = Vec::new();
    let mut s_in = f64::from(PIXEL_INPUT.scale);
    for (i, layer) in layers.iter().enumerate() {
        let (fan_in, units) = (t.fan_in(i), layer.units);
        let p = layer_params(t, &model.params, i);
        let (w, b) = p.split_at(fan_in * units);
        // Per-unit symmetric weight scales.
        let scales: Vec<f64> = (0..units)
            .map(|j| {
                let max = (0..fan_in)
                    .map(|r| f64::from(w[r * units + j]).abs())
                    .fold(0.0, f64::max);
                if max > 0.0 {
                    max / 127.0
                } else {
                    1.0 / 127.0
                }
            })
            .collect();
        let weights: Vec<i8> = (0..fan_in * units)
            .map(|k| {
                let q = (f64::from(w[k]) / scales[k % units]).round();
                q.clamp(-127.0, 127.0) as i8
            })
            .collect();
        let mut bound = 0i64;
        let biases: Vec<i32> = (0..units)
            .map(|j| {
                let q = (f64::from(b[j]) / (s_in * scales[j])).round();
                let reach = q.abs() + (fan_in as f64) * 255.0 * 127.0;
                if reach.is_nan() || reach >= f64::from(i32::MAX) {
                    return Err(anyhow!(
                        "layer {i} unit {j}: bias {} is too large for an i32 accumulator at \
                         scale {:.3e}",
                        b[j],
                        s_in * scales[j]
                    ));
                }
                bound = bound.max(reach as i64);
                Ok(q as i32)
            })
            .collect::<Result<_>>()?;
        let widest = scales.iter().fold(0.0f64, |a, &s| a.max(s_in * s));
        let last = i + 1 == layers.len();
        let (mut output, range) = if last {
            let scale = (widest / MAX_MULTIPLIER) as f32;
            (
                QuantParams {
                    scale,
                    zero_point: 0,
                },
                None,
            )
        } else {
            let r = calibration.ranges[i];
            (QuantParams::from_range(r.min, r.max), Some(r))
        };
        // Keep every M_j below 1/2, widening the output scale if needed.
        let mut widened = false;
        if !last && widest / f64::from(output.scale) > MAX_MULTIPLIER {
            widened = true;
            let scale = (widest / MAX_MULTIPLIER) as f32;
            let min = range.map_or(0.0, |r| r.min.min(0.0));
            output = QuantParams {
                scale,
                zero_point: if last {
                    0
                } else {
                    (-128.0 - min / scale).round().clamp(-128.0, 127.0) as i32
                },
            };
        }
        let (multipliers, shifts): (Vec<i32>, Vec<u8>) = scales
            .iter()
            .map(|&sw| {
                let real = s_in * sw / f64::from(output.scale);
                quantize_multiplier(real).ok_or_else(|| {
                    anyhow!("layer {i}: requantization multiplier {real} out of range")
                })
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        let (lo, hi) = scales.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &s| {
            (lo.min(s), hi.max(s))
        });
        reports.push(LayerReport {
            layer: i,
            fan_in,
            units,
            activation: layer.activation.name(),
            weight_scale: (lo as f32, hi as f32),
            range,
            output_scale: output.scale,
            output_zero_point: output.zero_point,
            widened,
            accumulator_bound: bound,
        });
        arrays.push(Arrays {
            weights,
            biases,
            multipliers,
            shifts,
            output,
        });
        s_in = f64::from(output.scale);
    }
    let int8_layers: Vec<Int8Layer> = arrays
        .iter()
        .map(|a| Int8Layer {
            weights: &a.weights,
            biases: &a.biases,
            multipliers: &a.multipliers,
            shifts: &a.shifts,
            output: a.output,
        })
        .collect();
    let mut bytes = vec![0u8; microdense::sizes::int8_blob_len(t.input(), layers)];
    let n = write_int8_blob(t, PIXEL_INPUT, &int8_layers, &mut bytes)
        .map_err(|e| anyhow!("cannot encode the int8 model: {e}"))?;
    bytes.truncate(n);
    let model = QuantModel::from_bytes(Path::new("int8 model"), &bytes)?;
    Ok(Quantized {
        model,
        layers: reports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::Images;
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
