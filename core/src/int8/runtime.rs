//! Running an int8 model in place: [`Int8Network`] checks the caller's buffers, then the
//! layers run one after the other through the crate's int8 kernel.
use super::layout::{
    i32_at, list_words, params_at, section_of, weight_offset, Section, WeightCoding,
};
use super::{QuantParams, TFLITE_RULE};
use crate::kernels::int8::{dense, gather_bytes, gather_pairs, Sink};
use crate::scaling::InputScaling;
use crate::sizes::int8_scratch_len;
use crate::{Blob, Buffer, Error, Topology};

/// An int8 model read in place from a parsed blob (flash, or a file's bytes).
///
/// ```
/// use microdense::int8::{quantize_multiplier, write_int8_blob, Int8Layer, Int8Network, QuantParams};
/// use microdense::{sizes::int8_blob_len, Activation, Layer, Topology};
/// // 2 inputs → 2 outputs, y = W·x with W = [[1, 0], [0, 2]] (rows: inputs), M = 1/4.
/// let t = Topology::new(2, &[Layer::new(2, Activation::Softmax)]).unwrap();
/// let (m, s) = quantize_multiplier(0.25).unwrap();
/// let layer = Int8Layer {
///     weights: &[1, 0, 0, 2],
///     biases: &[0, 0],
///     multipliers: &[m, m],
///     shifts: &[s, s],
///     output: QuantParams { scale: 0.5, zero_point: 0 },
/// };
/// let input = QuantParams { scale: 1.0, zero_point: 0 };
/// let mut blob = [0u8; int8_blob_len(2, &[Layer::new(2, Activation::Softmax)])];
/// write_int8_blob(&t, input, &[layer], &mut blob).unwrap();
/// let net = Int8Network::parse(&blob).unwrap();
/// let (mut scratch, mut out) = ([0u32; 8], [0i32; 2]);
/// net.logits(&[40, 100], &mut scratch[..net.scratch_len()], &mut out).unwrap();
/// assert_eq!(out, [10, 50]); // (40·1, 100·2) / 4
/// ```
#[derive(Clone, Debug)]
pub struct Int8Network<'a> {
    topology: Topology,
    payload: &'a [u8],
    coding: WeightCoding,
}

/// One layer of an [`Int8Network`], for inspection (the host's tools and tests).
#[derive(Clone, Copy, Debug)]
pub struct Int8LayerView<'a> {
    section: Section,
    payload: &'a [u8],
    coding: WeightCoding,
}

impl<'a> Int8LayerView<'a> {
    /// Inputs of the layer.
    pub fn fan_in(&self) -> usize {
        self.section.fan_in
    }

    /// Outputs of the layer.
    pub fn units(&self) -> usize {
        self.section.units
    }

    /// `W[i][j]`, the weight from input `i` to unit `j` (0 out of range).
    pub fn weight(&self, i: usize, j: usize) -> i8 {
        if i >= self.section.fan_in || j >= self.section.units {
            return 0;
        }
        let at = self.section.weights + weight_offset(&self.section, i, j);
        self.payload
            .get(at)
            .map_or(0, |&b| (b ^ self.coding.mask(j)) as i8)
    }

    /// Bias of unit `j` (0 out of range).
    pub fn bias(&self, j: usize) -> i32 {
        self.per_unit(self.section.biases, j)
    }

    /// Requantization multiplier of unit `j` (0 out of range).
    pub fn multiplier(&self, j: usize) -> i32 {
        self.per_unit(self.section.multipliers, j)
    }

    /// Requantization shift of unit `j` (0 out of range).
    pub fn shift(&self, j: usize) -> u8 {
        match j < self.section.units {
            true => self
                .payload
                .get(self.section.shifts + j)
                .copied()
                .unwrap_or(0),
            false => 0,
        }
    }

    /// Quantization of the layer's output.
    pub fn output(&self) -> QuantParams {
        params_at(self.payload, self.section.params)
    }

    fn per_unit(&self, array: usize, j: usize) -> i32 {
        match j < self.section.units {
            true => i32_at(self.payload, array + 4 * j),
            false => 0,
        }
    }
}

impl<'a> Int8Network<'a> {
    /// Wraps a parsed int8 blob (its payload was validated by [`Blob::parse`]).
    pub fn new(blob: &Blob<'a>) -> Result<Self, Error> {
        let coding = blob.int8_coding().ok_or(Error::ElementType)?;
        Ok(Int8Network {
            topology: blob.topology().clone(),
            payload: blob.payload(),
            coding,
        })
    }

    /// Parses `bytes` as a blob and wraps it; an f32 blob is [`Error::ElementType`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        Int8Network::new(&Blob::parse(bytes)?)
    }

    /// The model's shape.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// How the weight bytes are stored.
    pub fn coding(&self) -> WeightCoding {
        self.coding
    }

    /// How inputs are quantized ([`PIXEL_INPUT`] for the host's image models).
    pub fn input_params(&self) -> QuantParams {
        params_at(self.payload, 0)
    }

    /// Real value of one unit of the output layer's i32 values (zero point 0).
    pub fn output_scale(&self) -> f32 {
        self.layer(self.topology.layers().len() - 1)
            .map_or(1.0, |l| l.output().scale)
    }

    /// Layer `i`, for inspection.
    pub fn layer(&self, i: usize) -> Option<Int8LayerView<'a>> {
        (i < self.topology.layers().len()).then(|| Int8LayerView {
            section: section_of(self.topology.input(), self.topology.layers(), i),
            payload: self.payload,
            coding: self.coding,
        })
    }

    /// Scratch words [`Int8Network::logits`] needs.
    pub fn scratch_len(&self) -> usize {
        int8_scratch_len(self.topology.input(), self.topology.layers())
    }

    /// The output layer's i32 values for one quantized input (`topology().input()` long,
    /// quantized by [`Int8Network::input_params`]) into `out` (`topology().outputs()`
    /// long). Integer arithmetic only. `scratch` needs [`Int8Network::scratch_len`] words.
    /// An input at a 4-byte-aligned address is read four values at a time (faster, same
    /// result).
    pub fn logits(&self, input: &[i8], scratch: &mut [u32], out: &mut [i32]) -> Result<(), Error> {
        let t = &self.topology;
        for (buffer, expected, actual) in [
            (Buffer::Inputs, t.input(), input.len()),
            (Buffer::Output, t.outputs(), out.len()),
        ] {
            if expected != actual {
                return Err(Error::BufferLength {
                    buffer,
                    expected,
                    actual,
                });
            }
        }
        let needed = self.scratch_len();
        if scratch.len() < needed {
            return Err(Error::BufferLength {
                buffer: Buffer::Scratch,
                expected: needed,
                actual: scratch.len(),
            });
        }
        run(self, input, &mut scratch[..needed], out);
        Ok(())
    }

    /// The predicted class of one quantized input.
    pub fn predict(
        &self,
        input: &[i8],
        scratch: &mut [u32],
        out: &mut [i32],
    ) -> Result<usize, Error> {
        self.logits(input, scratch, out)?;
        Ok(argmax_i32(out))
    }

    /// Raw examples (a sensor's values, laid end to end) as int8 inputs: each value
    /// scaled by `scaling` (the model's stored one) and quantized with
    /// [`Int8Network::input_params`] in one pass, with no f32 buffer. The same bits as
    /// [`InputScaling::apply`] then [`QuantParams::quantize`]. `out` is as long as `raw`.
    pub fn quantize_raw(
        &self,
        scaling: &InputScaling<'_>,
        raw: &[f32],
        out: &mut [i8],
    ) -> Result<(), Error> {
        let w = self.topology.input();
        scaling.check_width(w)?;
        if !raw.len().is_multiple_of(w) || out.len() != raw.len() {
            return Err(Error::BufferLength {
                buffer: Buffer::Inputs,
                expected: w,
                actual: raw.len().min(out.len()),
            });
        }
        let params = self.input_params();
        for (q_row, x_row) in out.chunks_exact_mut(w).zip(raw.chunks_exact(w)) {
            for (j, (q, &x)) in q_row.iter_mut().zip(x_row).enumerate() {
                *q = params.quantize(scaling.scale_one(j, x));
            }
        }
        Ok(())
    }

    /// [`Int8Network::logits`] of one raw example: [`Int8Network::quantize_raw`] into
    /// `input`, then the integer network.
    pub fn logits_raw(
        &self,
        scaling: &InputScaling<'_>,
        raw: &[f32],
        input: &mut [i8],
        scratch: &mut [u32],
        out: &mut [i32],
    ) -> Result<(), Error> {
        let actual = input.len();
        let input = input.get_mut(..raw.len()).ok_or(Error::BufferLength {
            buffer: Buffer::Inputs,
            expected: raw.len(),
            actual,
        })?;
        self.quantize_raw(scaling, raw, input)?;
        self.logits(input, scratch, out)
    }

    /// The output layer's real values: `output_scale() · y` for each i32 output `y`.
    pub fn dequantize_logits(&self, values: &[i32], out: &mut [f32]) {
        let scale = self.output_scale();
        for (o, &v) in out.iter_mut().zip(values) {
            *o = scale * v as f32;
        }
    }
}

/// Index of the largest value (the first on ties; 0 for an empty slice).
pub fn argmax_i32(values: &[i32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if values.get(best).is_some_and(|b| v > b) {
            best = i;
        }
    }
    best
}

/// The whole network on one input. Lengths were checked by the caller: `scratch` is
/// exactly `int8_scratch_len` words, `out` the output layer's width.
///
/// Scratch: the list of non-zero input pairs, then two buffers of hidden activations, each
/// value its int8 code minus the zero point as an i16 (a pair per word, a zero after an
/// odd count).
#[inline(never)]
fn run(net: &Int8Network, input: &[i8], scratch: &mut [u32], out: &mut [i32]) {
    let t = &net.topology;
    let layers = t.layers();
    let widest_in = (0..layers.len()).map(|i| t.fan_in(i)).max().unwrap_or(0);
    let (list, acts) = scratch.split_at_mut(list_words(widest_in).min(scratch.len()));
    let half = acts.len() / 2;
    let (mut from, rest) = acts.split_at_mut(half);
    let mut to = rest.get_mut(..half).unwrap_or(&mut []);
    for (i, layer) in layers.iter().enumerate() {
        let s = section_of(t.input(), layers, i);
        let row = 2 * s.cols;
        let count = if i == 0 {
            gather_bytes(input, net.input_params().zero_point, row, list)
        } else {
            gather_pairs(from.get(..s.pairs).unwrap_or(&[]), row, list)
        };
        let relu = layer.activation == crate::Activation::Relu;
        let zp = params_at(net.payload, s.params).zero_point;
        if i + 1 == layers.len() {
            // TFLite's rule keeps the output's zero point and int8 range; the core's
            // has zero point 0 and no upper bound. (The blob uses one rule throughout.)
            let tflite = net.payload.get(s.shifts).is_some_and(|&b| b >= TFLITE_RULE);
            let (low, high) = match (tflite, relu) {
                (true, true) => (zp, 127),
                (true, false) => (-128, 127),
                (false, true) => (0, i32::MAX),
                (false, false) => (i32::MIN, i32::MAX),
            };
            dense(
                net.payload,
                &s,
                net.coding,
                list,
                count,
                Sink::Last(out, high),
                zp,
                low,
            );
            return;
        }
        let low = if relu { zp } else { -128 };
        let values: &mut [i16] = bytemuck::cast_slice_mut(&mut to[..]);
        let units = s.units.min(values.len());
        let sink = Sink::Hidden(&mut values[..units]);
        dense(net.payload, &s, net.coding, list, count, sink, zp, low);
        if let Some(v) = values.get_mut(units) {
            *v = 0; // the second half of an odd count's last pair
        }
        core::mem::swap(&mut from, &mut to);
    }
}
