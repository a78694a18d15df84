//! Writing an int8 blob from plain `[in][out]` weights and per-unit requantization.
use super::layout::{section_of, weight_offset, Section, WeightCoding};
use super::validation::{check_activations, validate};
use super::QuantParams;
use crate::format::{seal, split_blob};
use crate::{Buffer, ElementType, Error, Topology};

/// One layer of an int8 model to write: plain `[in][out]` weights (`W[i][j]` at
/// `i · units + j`, as the f32 layout), per-unit i32 biases and requantization
/// multipliers and shifts, and the quantization of the layer's output (the output
/// layer's is the scale of its i32 values, zero point 0).
#[derive(Clone, Copy, Debug)]
pub struct Int8Layer<'a> {
    /// `[in][out]` weights, `fan_in · units` of them.
    pub weights: &'a [i8],
    /// One i32 bias per unit, at the accumulator's scale.
    pub biases: &'a [i32],
    /// One requantization multiplier per unit (see [`super::quantize_multiplier`]).
    pub multipliers: &'a [i32],
    /// One requantization shift per unit, at most 31.
    pub shifts: &'a [u8],
    /// Quantization of the layer's output.
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
    write_with(topology, input, out, |i, s, w| {
        let l = &layers[i];
        w.output(s, l.output);
        for j in 0..s.units {
            w.unit(s, j, l.biases[j], l.multipliers[j], l.shifts[j]);
        }
        for r in 0..s.fan_in {
            for j in 0..s.units {
                w.weight(s, r, j, l.weights[r * s.units + j]);
            }
        }
        Ok(())
    })
}

/// Writes an int8 blob whose layers `fill` writes through a [`PayloadWriter`] (layer
/// index, its section), into a zeroed payload; then validates and seals it. The one path
/// of [`write_int8_blob`] and the quantizer, so both give the same bytes.
pub(crate) fn write_with(
    topology: &Topology,
    input: QuantParams,
    out: &mut [u8],
    mut fill: impl FnMut(usize, &Section, &mut PayloadWriter) -> Result<(), Error>,
) -> Result<usize, Error> {
    check_activations(topology)?;
    let shape = topology.layers();
    let (header, payload) = split_blob(topology, ElementType::Int8, out)?;
    payload.fill(0);
    let mut w = PayloadWriter { payload };
    // The padding row and column hold zeros in the coding too (0x80 in even columns).
    for i in 0..shape.len() {
        let s = section_of(topology.input(), shape, i);
        if s.fan_in % 2 == 1 {
            (0..s.cols).for_each(|j| w.weight(&s, s.fan_in, j, 0));
        }
        if s.units % 2 == 1 {
            (0..2 * s.pairs).for_each(|r| w.weight(&s, r, s.units, 0));
        }
    }
    w.put(0, input.scale.to_le_bytes());
    w.put(4, input.zero_point.to_le_bytes());
    for i in 0..shape.len() {
        fill(i, &section_of(topology.input(), shape, i), &mut w)?;
    }
    let payload = w.payload;
    validate(topology, payload, WeightCoding::EvenOffset)?;
    Ok(seal(header, payload))
}

/// Stores a layer's fields at their place in a payload (out of range: nothing).
pub(crate) struct PayloadWriter<'p> {
    payload: &'p mut [u8],
}

impl PayloadWriter<'_> {
    fn put(&mut self, at: usize, bytes: [u8; 4]) {
        if let Some(dst) = self.payload.get_mut(at..at + 4) {
            dst.copy_from_slice(&bytes);
        }
    }

    /// The layer's output quantization.
    pub(crate) fn output(&mut self, s: &Section, q: QuantParams) {
        self.put(s.params, q.scale.to_le_bytes());
        self.put(s.params + 4, q.zero_point.to_le_bytes());
    }

    /// Unit `j`'s bias and requantization.
    pub(crate) fn unit(&mut self, s: &Section, j: usize, bias: i32, multiplier: i32, shift: u8) {
        self.put(s.biases + 4 * j, bias.to_le_bytes());
        self.put(s.multipliers + 4 * j, multiplier.to_le_bytes());
        if let Some(b) = self.payload.get_mut(s.shifts + j) {
            *b = shift;
        }
    }

    /// `W[r][j]`, in the coding writers write ([`WeightCoding::EvenOffset`]).
    pub(crate) fn weight(&mut self, s: &Section, r: usize, j: usize, w: i8) {
        if let Some(b) = self.payload.get_mut(s.weights + weight_offset(s, r, j)) {
            *b = w as u8 ^ WeightCoding::EvenOffset.mask(j);
        }
    }
}
