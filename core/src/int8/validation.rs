//! The semantic checks of an int8 payload, run by [`crate::Blob::parse`] (after the CRC)
//! and by the writer before it returns: every scale finite and positive, zero points in
//! range, multipliers non-negative, shifts at most 31 (or all of TFLite's rule), padding zero.
use super::layout::{i32_at, params_at, section_of, weight_offset, Section, WeightCoding};
use super::{tflite_shift, TFLITE_RULE};
use crate::{Activation, Error, Topology};

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

/// Semantic checks of an int8 payload whose length matches `topology` (after the CRC).
pub(crate) fn validate(
    topology: &Topology,
    payload: &[u8],
    coding: WeightCoding,
) -> Result<(), Error> {
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
    // One rule for the whole model, chosen by the first unit's shift byte.
    let first = section_of(topology.input(), layers, 0);
    let tflite = payload
        .get(first.shifts)
        .is_some_and(|&b| b & TFLITE_RULE != 0);
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
            let ok = match tflite {
                true => tflite_shift(shift).is_some(),
                false => shift <= 31,
            };
            if !ok {
                return Err(Error::QuantShift {
                    layer: i,
                    unit,
                    shift,
                });
            }
        }
        let padding = payload.get(s.shifts + s.units..s.weights).unwrap_or(&[]);
        let weights = payload.get(s.weights..s.end).unwrap_or(&[]);
        if padding.iter().any(|&b| b != 0) || !padding_is_zero(&s, weights, coding) {
            return Err(Error::PaddingNotZero { layer: i });
        }
    }
    Ok(())
}

/// The zero row of an odd fan-in and the zero column of an odd unit count are zero
/// (in `coding`: 0x80 in an even column of [`WeightCoding::EvenOffset`]).
pub(crate) fn padding_is_zero(s: &Section, weights: &[u8], coding: WeightCoding) -> bool {
    let at = |i: usize, j: usize| {
        let b = weights.get(weight_offset(s, i, j)).copied();
        b.map_or(0, |b| b ^ coding.mask(j))
    };
    let row_ok = s.fan_in.is_multiple_of(2) || (0..s.cols).all(|j| at(s.fan_in, j) == 0);
    let col_ok = s.units.is_multiple_of(2) || (0..2 * s.pairs).all(|i| at(i, s.units) == 0);
    row_ok && col_ok
}
