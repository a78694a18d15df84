//! Writing an int8 blob from plain `[in][out]` weights and per-unit requantization.
use super::layout::{section_of, weight_offset};
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
                payload[s.weights + weight_offset(&s, r, j)] = l.weights[r * s.units + j] as u8;
            }
        }
    }
    validate(topology, payload)?;
    Ok(seal(header, payload))
}
