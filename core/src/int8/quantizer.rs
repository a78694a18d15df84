//! Post-training quantization of an f32 network into an int8 blob, in core so that a chip
//! that has fine-tuned its model can quantize it itself and get the very bytes
//! `microdense quantize` writes on a PC from the same calibration inputs.
//!
//! The scheme (docs/weights-format.md has the layout):
//! - input: as the caller says (the host's image models: [`super::PIXEL_INPUT`]);
//! - weights: int8 symmetric per output unit, `s_w[j] = max_i |W[i][j]| / 127`;
//! - biases: i32 at the accumulator's scale `s_in · s_w[j]`;
//! - hidden activations: int8 asymmetric per tensor over the range observed on the
//!   calibration inputs ([`Calibration`]), widened to include 0
//!   ([`QuantParams::from_range`]);
//! - output layer: i32 values at one scale, `max_j s_in · s_w[j] / 0.49`, so the argmax is
//!   integer and the softmax runs on `scale · y` after the fact;
//! - requantization: `M_j = s_in · s_w[j] / s_out` as a 31-bit multiplier and a shift
//!   ([`super::quantize_multiplier`]); every M is kept below 0.49 (an output scale is
//!   widened if a layer would need more).
//!
//! Scales are computed in f64 and rounded to f32 where the blob stores them, with libm's
//! correctly rounded operations, so every target computes the same bytes. Nothing is
//! allocated: the weights are quantized a unit (column) at a time straight into the blob.
use super::requant::{quantize_multiplier, QuantParams};
use super::writer::write_with;
use crate::network::forward_dense;
use crate::sizes::MAX_LAYERS;
use crate::{Activation, Buffer, Error, Network, Topology};

/// Largest requantization multiplier the quantizer produces (the format takes up to 1/2).
const MAX_MULTIPLIER: f64 = 0.49;

/// A network's parameters in two parts split at a layer boundary, as a chip that trained
/// its last layers holds them: `frozen` (the first layers, e.g. read in place from
/// flash), then `trained` (the rest, in RAM). Together they are the flat parameters.
#[derive(Clone, Copy, Debug)]
pub struct Parts<'a> {
    /// The first layers' parameters.
    pub frozen: &'a [f32],
    /// The parameters of the layers after them.
    pub trained: &'a [f32],
}

impl<'a> Parts<'a> {
    /// Checks the parts against `t`: together `t.params_len()` values, split where a
    /// layer starts (or at either end).
    fn check(self, t: &Topology) -> Result<Self, Error> {
        let split = self.frozen.len();
        let at_layer = (0..t.layers().len()).any(|i| t.offsets(i).0 == split);
        let total = split + self.trained.len();
        if total != t.params_len() {
            return Err(Error::BufferLength {
                buffer: Buffer::Params,
                expected: t.params_len(),
                actual: total,
            });
        }
        if !(at_layer || self.trained.is_empty()) {
            return Err(Error::TopologyMismatch);
        }
        Ok(self)
    }

    /// Layer `i`'s weights and biases (lengths checked by [`Parts::check`]).
    fn layer(self, t: &Topology, i: usize) -> (&'a [f32], &'a [f32]) {
        let (w, b) = t.offsets(i);
        let units = t.layers()[i].units;
        let split = self.frozen.len();
        let (part, at) = match w < split {
            true => (self.frozen, 0),
            false => (self.trained, split),
        };
        (&part[w - at..b - at], &part[b - at..b - at + units])
    }
}

/// Range of a hidden layer's outputs (after its activation) over the calibration inputs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// Smallest value seen.
    pub min: f32,
    /// Largest value seen.
    pub max: f32,
}

/// The ranges of every hidden layer's outputs over the inputs observed so far.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    ranges: [Range; MAX_LAYERS],
    hidden: usize,
    samples: usize,
}

impl Calibration {
    /// Nothing observed yet, for a network of `topology`.
    pub fn new(topology: &Topology) -> Self {
        Calibration {
            ranges: [Range {
                min: f32::INFINITY,
                max: f32::NEG_INFINITY,
            }; MAX_LAYERS],
            hidden: topology.layers().len().saturating_sub(1),
            samples: 0,
        }
    }

    /// Runs `net` over a batch of inputs laid end to end and widens each hidden layer's
    /// range by its outputs. `scratch` needs `topology.infer_scratch_len(batch)` values;
    /// batches of any size give the same ranges (each sample's sums run in the same
    /// order). A NaN or infinite activation is [`Error::NonFiniteActivation`].
    pub fn observe<P: AsRef<[f32]>>(
        &mut self,
        net: &Network<P>,
        inputs: &[f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let all = Parts {
            frozen: net.params(),
            trained: &[],
        };
        self.observe_parts(net.topology(), all, inputs, scratch)
    }

    /// [`Calibration::observe`] for a network whose parameters are in two [`Parts`].
    pub fn observe_parts(
        &mut self,
        t: &Topology,
        parts: Parts<'_>,
        inputs: &[f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let parts = parts.check(t)?;
        if t.layers().len().saturating_sub(1) != self.hidden {
            return Err(Error::TopologyMismatch);
        }
        let n = crate::network::batch_of(t, inputs)?;
        let needed = t.infer_scratch_len(n);
        if scratch.len() < needed {
            return Err(Error::BufferLength {
                buffer: Buffer::Scratch,
                expected: needed,
                actual: scratch.len(),
            });
        }
        let (mut from, mut to) = scratch[..needed].split_at_mut(needed / 2);
        for i in 0..self.hidden {
            let input: &[f32] = if i == 0 { inputs } else { from };
            let input = &input[..n * t.fan_in(i)];
            forward_dense(t.layers()[i], parts.layer(t, i), input, to, n);
            let r = &mut self.ranges[i];
            for &v in &to[..n * t.layers()[i].units] {
                if !v.is_finite() {
                    return Err(Error::NonFiniteActivation { layer: i });
                }
                r.min = r.min.min(v);
                r.max = r.max.max(v);
            }
            core::mem::swap(&mut from, &mut to);
        }
        self.samples += n;
        Ok(())
    }

    /// Calibration from ranges measured elsewhere (one per hidden layer).
    pub fn from_ranges(
        topology: &Topology,
        ranges: &[Range],
        samples: usize,
    ) -> Result<Self, Error> {
        let mut c = Calibration::new(topology);
        if ranges.len() != c.hidden {
            return Err(Error::TopologyMismatch);
        }
        c.ranges[..c.hidden].copy_from_slice(ranges);
        c.samples = samples;
        Ok(c)
    }

    /// Inputs observed.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// One range per hidden layer; all `[0, 0]` when nothing was observed.
    pub fn ranges(&self) -> &[Range] {
        const NONE: [Range; MAX_LAYERS] = [Range { min: 0.0, max: 0.0 }; MAX_LAYERS];
        match self.samples {
            0 => &NONE[..self.hidden],
            _ => &self.ranges[..self.hidden],
        }
    }
}

/// What the quantizer chose for one layer, for reports.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct LayerChoice {
    /// Smallest and largest per-unit weight scale.
    pub weight_scale: (f32, f32),
    /// The output's quantization: int8 (hidden) or the i32 values' scale (output layer).
    pub output: QuantParams,
    /// Whether the output scale was widened to keep the multipliers below 1/2.
    pub widened: bool,
    /// Largest |accumulator| the layer can reach: |bias| + fan-in · 255 · 127.
    pub accumulator_bound: i64,
}

impl Default for QuantParams {
    fn default() -> Self {
        QuantParams {
            scale: 1.0,
            zero_point: 0,
        }
    }
}

/// Quantizes `net` into an int8 blob at the start of `out` (at least
/// [`crate::sizes::int8_blob_len`] bytes) and returns its length. `input` is how inputs
/// are quantized; `calibration` gives the hidden layers' ranges; `choices`, when it has
/// an entry per layer, receives what was chosen (pass `&mut []` to skip). Errors: an
/// activation int8 models do not run, a bias too large for an i32 accumulator
/// ([`Error::QuantBias`]), a multiplier out of range.
pub fn quantize<P: AsRef<[f32]>>(
    net: &Network<P>,
    input: QuantParams,
    calibration: &Calibration,
    out: &mut [u8],
    choices: &mut [LayerChoice],
) -> Result<usize, Error> {
    let all = Parts {
        frozen: net.params(),
        trained: &[],
    };
    quantize_parts(net.topology(), all, input, calibration, out, choices)
}

/// [`quantize`] for a network whose parameters are in two [`Parts`] (the same bytes as
/// [`quantize`] of the joined parameters).
pub fn quantize_parts(
    t: &Topology,
    parts: Parts<'_>,
    input: QuantParams,
    calibration: &Calibration,
    out: &mut [u8],
    choices: &mut [LayerChoice],
) -> Result<usize, Error> {
    let parts = parts.check(t)?;
    let layers = t.layers();
    if calibration.hidden + 1 != layers.len() {
        return Err(Error::TopologyMismatch);
    }
    if let Some(l) = layers.iter().find(|l| {
        !matches!(
            l.activation,
            Activation::Linear | Activation::Relu | Activation::Softmax
        )
    }) {
        return Err(Error::Int8Activation(l.activation.code()));
    }
    let ranges = calibration.ranges();
    let mut s_in = f64::from(input.scale);
    write_with(t, input, out, |i, s, writer| {
        let (fan_in, units) = (s.fan_in, s.units);
        let (w, b) = parts.layer(t, i);
        // Unit j's symmetric weight scale.
        let scale = |j: usize| {
            let max = (0..fan_in)
                .map(|r| libm::fabs(f64::from(w[r * units + j])))
                .fold(0.0, f64::max);
            if max > 0.0 {
                max / 127.0
            } else {
                1.0 / 127.0
            }
        };
        let (mut lo, mut hi, mut widest) = (f64::INFINITY, 0.0f64, 0.0f64);
        for j in 0..units {
            let sw = scale(j);
            (lo, hi, widest) = (lo.min(sw), hi.max(sw), widest.max(s_in * sw));
        }
        let last = i + 1 == layers.len();
        let range = ranges.get(i).copied();
        let mut output = match range {
            Some(r) if !last => QuantParams::from_range(r.min, r.max),
            _ => QuantParams {
                scale: (widest / MAX_MULTIPLIER) as f32,
                zero_point: 0,
            },
        };
        // Keep every M_j below 0.49, widening the output scale if needed.
        let widened = !last && widest / f64::from(output.scale) > MAX_MULTIPLIER;
        if widened {
            let scale = (widest / MAX_MULTIPLIER) as f32;
            let min = range.map_or(0.0, |r| r.min.min(0.0));
            let zero_point = libm::roundf(-128.0 - min / scale).clamp(-128.0, 127.0) as i32;
            output = QuantParams { scale, zero_point };
        }
        writer.output(s, output);
        let mut bound = 0i64;
        for j in 0..units {
            let sw = scale(j);
            for r in 0..fan_in {
                let q = libm::round(f64::from(w[r * units + j]) / sw);
                writer.weight(s, r, j, q.clamp(-127.0, 127.0) as i8);
            }
            let q = libm::round(f64::from(b[j]) / (s_in * sw));
            let reach = libm::fabs(q) + (fan_in as f64) * 255.0 * 127.0;
            if reach.is_nan() || reach >= f64::from(i32::MAX) {
                return Err(Error::QuantBias { layer: i, unit: j });
            }
            bound = bound.max(reach as i64);
            let real = s_in * sw / f64::from(output.scale);
            let (m, shift) =
                quantize_multiplier(real).ok_or(Error::MultiplierRange { layer: i, unit: j })?;
            writer.unit(s, j, q as i32, m, shift);
        }
        if let Some(c) = choices.get_mut(i) {
            *c = LayerChoice {
                weight_scale: (lo as f32, hi as f32),
                output,
                widened,
                accumulator_bound: bound,
            };
        }
        s_in = f64::from(output.scale);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::int8::{Int8Network, PIXEL_INPUT};
    use crate::rng::Rng;
    use crate::sizes::int8_blob_len;
    use crate::{Init, Layer};
    use std::vec;

    const L: [Layer; 3] = [
        Layer::new(12, Relu),
        Layer::new(9, Linear),
        Layer::new(4, Softmax),
    ];
    use Activation::*;

    #[test]
    fn calibrates_in_any_batches_and_quantizes_what_it_measured() {
        let t = Topology::new(20, &L).unwrap();
        let mut net = Network::new(t.clone(), vec![0.0f32; t.params_len()]).unwrap();
        net.init(Init::He, 3);
        net.params_mut().iter_mut().for_each(|p| *p += 0.01); // non-zero biases
        let mut rng = Rng::new(5);
        let pixels: vec::Vec<u8> = (0..30 * 20).map(|_| rng.below(256) as u8).collect();
        let xs: vec::Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        let mut whole = Calibration::new(&t);
        let mut scratch = vec![0.0f32; t.infer_scratch_len(30)];
        whole.observe(&net, &xs, &mut scratch).unwrap();
        let mut one_by_one = Calibration::new(&t);
        for x in xs.chunks(20) {
            one_by_one.observe(&net, x, &mut scratch).unwrap();
        }
        assert_eq!(whole, one_by_one);
        assert_eq!((whole.samples(), whole.ranges().len()), (30, 2));
        assert!(whole.ranges()[0].min >= 0.0 && whole.ranges()[0].max > 0.0); // relu
        assert_eq!(
            Calibration::new(&t).ranges(),
            &[Range { min: 0.0, max: 0.0 }; 2]
        );

        let mut blob = vec![0u8; int8_blob_len(20, &L)];
        let mut choices = [LayerChoice::default(); 3];
        let n = quantize(&net, PIXEL_INPUT, &whole, &mut blob, &mut choices).unwrap();
        assert_eq!(n, blob.len());
        let q = Int8Network::parse(&blob).unwrap();
        // Hidden outputs cover the measured range; the output layer's values are i32.
        assert_eq!(q.layer(0).unwrap().output(), choices[0].output);
        let r = whole.ranges()[1];
        assert_eq!(choices[1].output, QuantParams::from_range(r.min, r.max));
        assert_eq!(choices[2].output.zero_point, 0);
        // Unit 0's weights: symmetric, the largest magnitude at ±127.
        let w0 = (0..20).map(|i| q.layer(0).unwrap().weight(i, 0).unsigned_abs());
        assert_eq!(w0.max(), Some(127));
        // The int8 model mostly agrees with the float one.
        let (mut s8, mut out, mut x8) = (vec![0u32; q.scratch_len()], [0i32; 4], [0i8; 20]);
        let mut agree = 0;
        for (p, x) in pixels.chunks(20).zip(xs.chunks(20)) {
            crate::int8::pixels_to_int8(p, &mut x8);
            let want = net.predict(x, &mut scratch).unwrap();
            agree += usize::from(q.predict(&x8, &mut s8, &mut out).unwrap() == want);
        }
        assert!(agree >= 27, "{agree} of 30");
        // Wrong buffers and shapes are errors, not panics.
        assert!(quantize(&net, PIXEL_INPUT, &whole, &mut blob[1..], &mut []).is_err());
        let other = Topology::new(20, &L[1..]).unwrap();
        assert_eq!(
            quantize(
                &net,
                PIXEL_INPUT,
                &Calibration::new(&other),
                &mut blob,
                &mut []
            ),
            Err(Error::TopologyMismatch)
        );
        let mut bad = net.clone();
        bad.params_mut()[20 * 12 + 12 + 12 * 9] = f32::NAN; // layer 1's first bias
        assert_eq!(
            Calibration::new(&t).observe(&bad, &xs, &mut scratch),
            Err(Error::NonFiniteActivation { layer: 1 })
        );
    }

    #[test]
    fn parameters_in_two_parts_give_the_same_ranges_and_bytes() {
        let t = Topology::new(20, &L).unwrap();
        let mut net = Network::new(t.clone(), vec![0.0f32; t.params_len()]).unwrap();
        net.init(Init::He, 9);
        let mut rng = Rng::new(2);
        let xs: vec::Vec<f32> = (0..10 * 20)
            .map(|_| rng.below(256) as f32 / 255.0)
            .collect();
        let mut scratch = vec![0.0f32; t.infer_scratch_len(10)];
        let mut whole = Calibration::new(&t);
        whole.observe(&net, &xs, &mut scratch).unwrap();
        let mut want = vec![0u8; int8_blob_len(20, &L)];
        quantize(&net, PIXEL_INPUT, &whole, &mut want, &mut []).unwrap();
        // Split before each layer (and at the end): the same calibration, the same bytes.
        for split in [0, 20 * 12 + 12, 20 * 12 + 12 + 12 * 9 + 9, t.params_len()] {
            let (frozen, trained) = net.params().split_at(split);
            let parts = Parts { frozen, trained };
            let mut c = Calibration::new(&t);
            for x in xs.chunks(40) {
                c.observe_parts(&t, parts, x, &mut scratch).unwrap();
            }
            assert_eq!(c, whole, "split at {split}");
            let mut got = vec![0u8; want.len()];
            let n = quantize_parts(&t, parts, PIXEL_INPUT, &c, &mut got, &mut []).unwrap();
            assert_eq!((n, &got), (want.len(), &want), "split at {split}");
        }
        // A split inside a layer, or parts of the wrong total length, are errors.
        let (frozen, trained) = net.params().split_at(7);
        let inside = Parts { frozen, trained };
        assert_eq!(
            quantize_parts(&t, inside, PIXEL_INPUT, &whole, &mut want, &mut []),
            Err(Error::TopologyMismatch)
        );
        let short = Parts {
            frozen,
            trained: &trained[1..],
        };
        assert!(Calibration::new(&t)
            .observe_parts(&t, short, &xs, &mut scratch)
            .is_err());
    }
}
