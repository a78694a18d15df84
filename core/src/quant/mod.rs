//! int8 models: integer-only inference on a quantized blob (element type 1), in place.
//!
//! Weights are int8, symmetric per output unit; biases i32 at the scale of the layer's
//! accumulators; activations int8 with a per-tensor scale and zero point; each unit's
//! accumulator is requantized by an integer multiplier and shift ([`requantize`]). The
//! output layer is requantized to i32 "logits" at one scale ([`Int8Network::output_scale`]),
//! so the argmax needs no float and a softmax can run on the dequantized values. The
//! payload layout is in docs/weights-format.md; [`write_int8_blob`] writes it from plain
//! `[in][out]` weights and [`Int8Network`] runs it.
//!
//! Accumulators are i32 and wrap modulo 2^32 on every target alike (the quantizer keeps
//! them in range), so a PC, a Cortex-M3 and a Cortex-M4 (SMLAD) agree bit for bit.
mod forward;
mod requant;
mod tflite;

pub use requant::{
    multiplier_value, pixels_to_int8, quantize_multiplier, requantize, QuantParams, PIXEL_INPUT,
};
pub use tflite::{
    requantize_tflite, tflite_exponent, tflite_multiplier, tflite_shift_byte, TFLITE_SHIFT_BASE,
};

use crate::format::{seal, split_blob};
use crate::{Activation, Blob, Buffer, ElementType, Error, Layer, Topology};

/// Bytes before the first layer: input scale (f32) and zero point (i32).
const INPUT_PARAMS: usize = 8;

/// Where one layer's arrays lie in the payload. `pairs` input pairs (odd fan-ins get a
/// zero row) and `cols` columns (odd unit counts get a zero column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Section {
    pub fan_in: usize,
    pub units: usize,
    pub pairs: usize,
    pub cols: usize,
    /// Output scale (f32) and zero point (i32).
    pub params: usize,
    pub biases: usize,
    pub multipliers: usize,
    pub shifts: usize,
    pub weights: usize,
    pub end: usize,
}

const fn section(start: usize, fan_in: usize, units: usize) -> Section {
    let pairs = fan_in.div_ceil(2);
    let cols = units + units % 2;
    let biases = start + 8;
    let multipliers = biases + 4 * units;
    let shifts = multipliers + 4 * units;
    let weights = shifts + units.next_multiple_of(4);
    Section {
        fan_in,
        units,
        pairs,
        cols,
        params: start,
        biases,
        multipliers,
        shifts,
        weights,
        end: weights + 2 * pairs * cols,
    }
}

/// Section of layer `index` (fan-ins from `input` and the layers before it).
const fn section_of(input: usize, layers: &[Layer], index: usize) -> Section {
    let (mut start, mut fan_in, mut i) = (INPUT_PARAMS, input, 0);
    loop {
        let s = section(start, fan_in, layers[i].units);
        if i == index {
            return s;
        }
        start = s.end;
        fan_in = layers[i].units;
        i += 1;
    }
}

/// Payload bytes of an int8 blob for this topology.
pub const fn int8_payload_len(input: usize, layers: &[Layer]) -> usize {
    if layers.is_empty() {
        return INPUT_PARAMS;
    }
    section_of(input, layers, layers.len() - 1).end
}

/// Total bytes of an int8 blob for this topology.
pub const fn int8_blob_len(input: usize, layers: &[Layer]) -> usize {
    crate::HEADER_LEN + int8_payload_len(input, layers)
}

/// Scratch words (`u32`) for one int8 inference: the list of non-zero input pairs of the
/// widest layer input, then two activation buffers (two values per word).
pub const fn int8_scratch_len(input: usize, layers: &[Layer]) -> usize {
    let (mut widest_in, mut widest_out, mut fan_in, mut i) = (0, 0, input, 0);
    while i < layers.len() {
        if fan_in > widest_in {
            widest_in = fan_in;
        }
        if layers[i].units > widest_out {
            widest_out = layers[i].units;
        }
        fan_in = layers[i].units;
        i += 1;
    }
    int8_scratch_bound(widest_in, widest_out)
}

/// Scratch words enough for any int8 network whose inputs to every layer are at most
/// `fan_in` wide and whose layers have at most `units` units (firmware that runs models
/// it does not know at build time sizes its buffer by this).
pub const fn int8_scratch_bound(fan_in: usize, units: usize) -> usize {
    forward::list_words(fan_in) + 2 * units.div_ceil(2)
}

/// Checks every layer's activation is one int8 models run: linear or relu (any layer),
/// softmax (the output layer; the topology already requires it last).
pub(crate) fn check_activations(topology: &Topology) -> Result<(), Error> {
    for l in topology.layers() {
        match l.activation {
            Activation::Linear | Activation::Relu | Activation::Softmax => {}
            a => return Err(Error::Int8Activation(a.code())),
        }
    }
    Ok(())
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    match bytes.get(at..at + 4) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

fn i32_at(bytes: &[u8], at: usize) -> i32 {
    u32_at(bytes, at) as i32
}

fn f32_at(bytes: &[u8], at: usize) -> f32 {
    f32::from_bits(u32_at(bytes, at))
}

fn params_at(bytes: &[u8], at: usize) -> QuantParams {
    QuantParams {
        scale: f32_at(bytes, at),
        zero_point: i32_at(bytes, at + 4),
    }
}

/// Semantic checks of an int8 payload whose length matches `topology` (after the CRC).
pub(crate) fn validate(topology: &Topology, payload: &[u8]) -> Result<(), Error> {
    let scale_ok = |s: f32| s.is_finite() && s > 0.0;
    let input = params_at(payload, 0);
    if !scale_ok(input.scale) {
        return Err(Error::QuantScale { tensor: 0 });
    }
    if !(-128..=127).contains(&input.zero_point) {
        return Err(Error::ZeroPoint {
            tensor: 0,
            value: input.zero_point,
        });
    }
    let layers = topology.layers();
    let tflite = uses_tflite_rule(topology, payload);
    for i in 0..layers.len() {
        let s = section_of(topology.input(), layers, i);
        let out = params_at(payload, s.params);
        if !scale_ok(out.scale) {
            return Err(Error::QuantScale { tensor: i + 1 });
        }
        let last = i + 1 == layers.len();
        let zp_ok = if last && !tflite {
            out.zero_point == 0
        } else {
            (-128..=127).contains(&out.zero_point)
        };
        if !zp_ok {
            return Err(Error::ZeroPoint {
                tensor: i + 1,
                value: out.zero_point,
            });
        }
        for unit in 0..s.units {
            let value = i32_at(payload, s.multipliers + 4 * unit);
            if value < 0 {
                return Err(Error::QuantMultiplier {
                    layer: i,
                    unit,
                    value,
                });
            }
            let shift = payload.get(s.shifts + unit).copied().unwrap_or(0);
            // One rule for the whole model: the core's shifts, or TFLite's exponents.
            if tflite != tflite_exponent(shift).is_some() || (!tflite && shift > 31) {
                return Err(Error::QuantShift {
                    layer: i,
                    unit,
                    shift,
                });
            }
        }
        let padding = payload.get(s.shifts + s.units..s.weights).unwrap_or(&[]);
        let weights = payload.get(s.weights..s.end).unwrap_or(&[]);
        if padding.iter().any(|&b| b != 0) || !forward::padding_is_zero(&s, weights) {
            return Err(Error::PaddingNotZero { layer: i });
        }
    }
    Ok(())
}

/// Whether the model's shift bytes hold TFLite exponents (its first unit's byte decides;
/// [`validate`] checks every other unit agrees).
pub(crate) fn uses_tflite_rule(topology: &Topology, payload: &[u8]) -> bool {
    let first = section_of(topology.input(), topology.layers(), 0);
    payload
        .get(first.shifts)
        .is_some_and(|&b| tflite_exponent(b).is_some())
}

/// One layer of an int8 model to write: plain `[in][out]` weights (`W[i][j]` at
/// `i · units + j`, as the f32 layout), per-unit i32 biases and requantization
/// multipliers and shifts, and the quantization of the layer's output (the output
/// layer's is the scale of its i32 values, zero point 0).
#[derive(Clone, Copy, Debug)]
pub struct Int8Layer<'a> {
    pub weights: &'a [i8],
    pub biases: &'a [i32],
    pub multipliers: &'a [i32],
    pub shifts: &'a [u8],
    pub output: QuantParams,
}

/// Writes an int8 blob at the start of `out` and returns its length: `input` is how the
/// model's input is quantized, `layers` one entry per topology layer. Whatever it writes
/// parses: the same checks as [`Blob::parse`] apply before anything is returned.
pub fn write_int8_blob(
    topology: &Topology,
    input: QuantParams,
    layers: &[Int8Layer],
    out: &mut [u8],
) -> Result<usize, Error> {
    check_activations(topology)?;
    let shape = topology.layers();
    if layers.len() != shape.len() {
        return Err(Error::TopologyMismatch);
    }
    for (i, l) in layers.iter().enumerate() {
        let (fan_in, units) = (topology.fan_in(i), shape[i].units);
        for (len, expected) in [
            (l.weights.len(), fan_in * units),
            (l.biases.len(), units),
            (l.multipliers.len(), units),
            (l.shifts.len(), units),
        ] {
            if len != expected {
                return Err(Error::BufferLength {
                    buffer: Buffer::Params,
                    expected,
                    actual: len,
                });
            }
        }
    }
    let (header, payload) = split_blob(topology, ElementType::Int8, out)?;
    payload.fill(0);
    let put = |payload: &mut [u8], at: usize, bytes: [u8; 4]| {
        if let Some(dst) = payload.get_mut(at..at + 4) {
            dst.copy_from_slice(&bytes);
        }
    };
    put(payload, 0, input.scale.to_le_bytes());
    put(payload, 4, input.zero_point.to_le_bytes());
    for (i, l) in layers.iter().enumerate() {
        let s = section_of(topology.input(), shape, i);
        put(payload, s.params, l.output.scale.to_le_bytes());
        put(payload, s.params + 4, l.output.zero_point.to_le_bytes());
        for j in 0..s.units {
            put(payload, s.biases + 4 * j, l.biases[j].to_le_bytes());
            put(
                payload,
                s.multipliers + 4 * j,
                l.multipliers[j].to_le_bytes(),
            );
            payload[s.shifts + j] = l.shifts[j];
        }
        for r in 0..s.fan_in {
            for j in 0..s.units {
                payload[s.weights + forward::weight_offset(&s, r, j)] =
                    l.weights[r * s.units + j] as u8;
            }
        }
    }
    validate(topology, payload)?;
    Ok(seal(header, payload))
}

/// An int8 model read in place from a parsed blob (flash, or a file's bytes).
///
/// ```
/// use microdense::{Activation, Int8Layer, Int8Network, Layer, QuantParams, Topology};
/// // 2 inputs → 2 outputs, y = W·x with W = [[1, 0], [0, 2]] (rows: inputs), M = 1/4.
/// let t = Topology::new(2, &[Layer::new(2, Activation::Softmax)]).unwrap();
/// let (m, s) = microdense::quantize_multiplier(0.25).unwrap();
/// let layer = Int8Layer {
///     weights: &[1, 0, 0, 2],
///     biases: &[0, 0],
///     multipliers: &[m, m],
///     shifts: &[s, s],
///     output: QuantParams { scale: 0.5, zero_point: 0 },
/// };
/// let input = QuantParams { scale: 1.0, zero_point: 0 };
/// let mut blob = [0u8; microdense::int8_blob_len(2, &[Layer::new(2, Activation::Softmax)])];
/// microdense::write_int8_blob(&t, input, &[layer], &mut blob).unwrap();
/// let net = Int8Network::parse(&blob).unwrap();
/// let (mut scratch, mut out) = ([0u32; 8], [0i32; 2]);
/// net.logits(&[40, 100], &mut scratch[..net.scratch_len()], &mut out).unwrap();
/// assert_eq!(out, [10, 50]); // (40·1, 100·2) / 4
/// ```
#[derive(Clone, Debug)]
pub struct Int8Network<'a> {
    topology: Topology,
    payload: &'a [u8],
}

/// One layer of an [`Int8Network`], for inspection (the host's tools and tests).
#[derive(Clone, Copy, Debug)]
pub struct Int8LayerView<'a> {
    section: Section,
    payload: &'a [u8],
}

impl<'a> Int8LayerView<'a> {
    pub fn fan_in(&self) -> usize {
        self.section.fan_in
    }

    pub fn units(&self) -> usize {
        self.section.units
    }

    /// `W[i][j]`, the weight from input `i` to unit `j` (0 out of range).
    pub fn weight(&self, i: usize, j: usize) -> i8 {
        if i >= self.section.fan_in || j >= self.section.units {
            return 0;
        }
        let at = self.section.weights + forward::weight_offset(&self.section, i, j);
        self.payload.get(at).map_or(0, |&b| b as i8)
    }

    pub fn bias(&self, j: usize) -> i32 {
        self.per_unit(self.section.biases, j)
    }

    pub fn multiplier(&self, j: usize) -> i32 {
        self.per_unit(self.section.multipliers, j)
    }

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
        if blob.element_type() != ElementType::Int8 {
            return Err(Error::ElementType);
        }
        Ok(Int8Network {
            topology: blob.topology().clone(),
            payload: blob.payload(),
        })
    }

    /// Parses `bytes` as a blob and wraps it; an f32 blob is [`Error::ElementType`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        Int8Network::new(&Blob::parse(bytes)?)
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
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

    pub fn layer(&self, i: usize) -> Option<Int8LayerView<'a>> {
        (i < self.topology.layers().len()).then(|| Int8LayerView {
            section: section_of(self.topology.input(), self.topology.layers(), i),
            payload: self.payload,
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
        forward::run(self, input, &mut scratch[..needed], out);
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

#[cfg(test)]
mod tests;
