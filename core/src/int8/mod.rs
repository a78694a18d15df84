//! int8 models: integer-only inference on a quantized blob (element type 2, or the
//! older 1: [`WeightCoding`]), in place.
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
//!
//! The module is split by concern: `layout` (where each array lies), `validation` (what a
//! parsed payload must satisfy), `writer` ([`write_int8_blob`]), `quantizer` ([`quantize`]
//! an f32 network after a [`Calibration`]), `runtime` ([`Int8Network`]), `requant` (the
//! fixed-point arithmetic) and `tflite` (TFLite's requantization rule, for imported
//! models); the loops themselves are
//! in the crate's kernels. Buffer sizes are in [`crate::sizes`].
pub(crate) mod layout;
mod quantizer;
mod recode;
mod requant;
mod runtime;
mod tflite;
pub(crate) mod validation;
mod writer;

pub use layout::WeightCoding;
pub use quantizer::{quantize, quantize_parts, Calibration, LayerChoice, Parts, Range};
pub use recode::recode_signed;
pub use requant::{
    multiplier_value, pixels_to_int8, quantize_multiplier, requantize, QuantParams, PIXEL_INPUT,
};
pub use runtime::{argmax_i32, Int8LayerView, Int8Network};
pub use tflite::{
    requantize_by_byte, tflite_multiplier, tflite_shift, tflite_shift_byte, TFLITE_RULE,
};
pub use writer::{write_int8_blob, Int8Layer};

#[cfg(test)]
mod tests;
