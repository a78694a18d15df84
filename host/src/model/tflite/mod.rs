//! TFLite models in: chains of `FULLY_CONNECTED` layers as the TFLite converter writes them
//! for Keras `Dense` stacks.
//!
//! Read: `FULLY_CONNECTED` (weights `[units, fan_in]`, optional bias, fused `NONE`/`RELU`,
//! and fused `TANH` in float models), `RESHAPE` that keeps the per-sample width, `SOFTMAX`
//! (beta 1) as the output, `LOGISTIC`/`TANH` after a layer (float models), `QUANTIZE` of the
//! input and `DEQUANTIZE` of the output (the caller quantizes / dequantizes instead). Fused
//! `RELU6`, `RELU_N1_TO_1` are refused: microdense has no clipped activation.
//!
//! Float32 models become f32 models. Full-integer int8 models (int8 activations, int8
//! symmetric weights per tensor or per output channel, int32 biases) become int8 models
//! that use TFLite's requantization rule (core's `requantize_by_byte`, multipliers computed
//! as TFLite's `QuantizeMultiplier` does), so their integers equal LiteRT's reference
//! kernels'. An int8 model's output is the last layer's int8 logits (minus their zero
//! point); the int8 `SOFTMAX` after it is not run (its argmax is the logits', up to ties
//! that its 1/256 steps create).
//!
//! The flatbuffer types are generated from TFLite's `schema.fbs` by flatc
//! (`schema_generated.rs`, see scripts/import-fixtures/gen-schemas.sh).
use std::path::Path;

use anyhow::{anyhow, Result};
use microdense::int8::{
    tflite_multiplier, tflite_shift_byte, write_int8_blob, Int8Layer, QuantParams, TFLITE_RULE,
};
use microdense::{sizes, Activation};

use super::chain::{self, Dense};
use super::{Model, QuantModel};

#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    rustdoc::all,
    unused_imports,
    dead_code,
    non_camel_case_types,
    non_snake_case,
    mismatched_lifetime_syntaxes
)]
#[rustfmt::skip]
pub mod schema_generated;

use fb::{ActivationFunctionType as Fused, BuiltinOperator as Op, TensorType};
use schema_generated::tflite as fb;

/// What a `.tflite` file becomes.
#[derive(Debug)]
pub enum Imported {
    F32(Model),
    Int8(QuantModel),
}

/// A tensor's quantization: scales (one, or one per output channel) and zero points.
struct Quant {
    scales: Vec<f32>,
    zero_points: Vec<i64>,
}

/// One FULLY_CONNECTED layer as read, before it becomes f32 or int8.
struct FcLayer<'a> {
    here: String,
    input: fb::Tensor<'a>,
    weights: fb::Tensor<'a>,
    bias: Option<fb::Tensor<'a>>,
    output: fb::Tensor<'a>,
    /// The index of `output` (what an activation or reshape after the layer reads).
    out_index: i32,
    activation: Option<Activation>,
}

struct Reader<'a> {
    at: String,
    model: fb::Model<'a>,
    tensors: flatbuffers::Vector<'a, flatbuffers::ForwardsUOffset<fb::Tensor<'a>>>,
}

/// Reads a `.tflite` file; `path` names it in errors.
pub fn import_tflite(path: &Path, bytes: &[u8]) -> Result<Imported> {
    let at = path.display().to_string();
    // (The identifier check reads bytes 4..8 unguarded.)
    if bytes.len() < 8 || !fb::model_buffer_has_identifier(bytes) {
        return Err(anyhow!(
            "{at}: not a TFLite model (no TFL3 file identifier)"
        ));
    }
    let model = fb::root_as_model(bytes)
        .map_err(|e| anyhow!("{at}: not a valid TFLite flatbuffer ({e})"))?;
    let subgraphs = model
        .subgraphs()
        .ok_or_else(|| anyhow!("{at}: no subgraph"))?;
    if subgraphs.len() != 1 {
        return Err(anyhow!(
            "{at}: {} subgraphs; microdense imports single-graph models",
            subgraphs.len()
        ));
    }
    let graph = subgraphs.get(0);
    let tensors = graph
        .tensors()
        .ok_or_else(|| anyhow!("{at}: the subgraph has no tensors"))?;
    Reader { at, model, tensors }.read(graph)
}

impl<'a> Reader<'a> {
    fn tensor(&self, index: i32, here: &str) -> Result<fb::Tensor<'a>> {
        usize::try_from(index)
            .ok()
            .filter(|&i| i < self.tensors.len())
            .map(|i| self.tensors.get(i))
            .ok_or_else(|| anyhow!("{here}: tensor index {index} out of range"))
    }

    fn read(&self, graph: fb::SubGraph<'a>) -> Result<Imported> {
        let at = &self.at;
        let ends = |v: Option<flatbuffers::Vector<'a, i32>>, what: &str| -> Result<i32> {
            match v {
                Some(v) if v.len() == 1 => Ok(v.get(0)),
                v => Err(anyhow!(
                    "{at}: {} graph {what}s; microdense imports models with one",
                    v.map_or(0, |v| v.len())
                )),
            }
        };
        let graph_in = ends(graph.inputs(), "input")?;
        let graph_out = ends(graph.outputs(), "output")?;
        let input = self.tensor(graph_in, at)?;
        let width = per_sample(&self.tensor_name(input, at), input)?;
        let codes = self.model.operator_codes();
        let ops = graph.operators().map(|o| o.len()).unwrap_or(0);
        let mut current = graph_in;
        let mut width_now = width;
        let mut layers: Vec<FcLayer> = Vec::new();
        // The int8 input's parameters when a QUANTIZE takes a float input.
        let mut quantized_input: Option<fb::Tensor> = None;
        let mut softmax = false;
        let mut dequantized = false;
        for k in 0..ops {
            let Some(op) = graph.operators().map(|o| o.get(k)) else {
                break;
            };
            let code = codes
                .filter(|c| (op.opcode_index() as usize) < c.len())
                .map(|c| c.get(op.opcode_index() as usize))
                .map(|c| {
                    Op(c.builtin_code()
                        .0
                        .max(i32::from(c.deprecated_builtin_code())))
                })
                .ok_or_else(|| anyhow!("{at}: operator {k}: opcode index out of range"))?;
            let name = code.variant_name().unwrap_or("custom or unknown");
            let here = format!("{at}: operator {k} ({name})");
            let ins: Vec<i32> = op.inputs().map(|v| v.iter().collect()).unwrap_or_default();
            let outs: Vec<i32> = op.outputs().map(|v| v.iter().collect()).unwrap_or_default();
            let [out] = outs[..] else {
                return Err(anyhow!("{here}: {} outputs; one expected", outs.len()));
            };
            if ins.first() != Some(&current) {
                return Err(anyhow!(
                    "{here}: does not read the tensor the operator before it wrote; the graph is not a chain of layers"
                ));
            }
            if softmax && code != Op::DEQUANTIZE {
                return Err(anyhow!("{here}: an operator after the SOFTMAX"));
            }
            if dequantized {
                return Err(anyhow!("{here}: an operator after the output's DEQUANTIZE"));
            }
            let out_t = self.tensor(out, &here)?;
            match code {
                Op::FULLY_CONNECTED => {
                    let opts = op.builtin_options_as_fully_connected_options();
                    let fused = opts.map_or(Fused::NONE, |o| o.fused_activation_function());
                    if opts.is_some_and(|o| o.weights_format() != fb::FullyConnectedOptionsWeightsFormat::DEFAULT) {
                        return Err(anyhow!("{here}: shuffled weights format is not supported"));
                    }
                    let activation = match fused {
                        Fused::NONE => None,
                        Fused::RELU => Some(Activation::Relu),
                        Fused::TANH => Some(Activation::Tanh),
                        f => {
                            return Err(anyhow!(
                                "{here}: fused activation {}: not supported (microdense has linear, relu, sigmoid, tanh, softmax)",
                                f.variant_name().unwrap_or("unknown")
                            ))
                        }
                    };
                    let weights = self.tensor(*ins.get(1).unwrap_or(&-1), &here)?;
                    let bias = match ins.get(2) {
                        Some(&b) if b >= 0 => Some(self.tensor(b, &here)?),
                        _ => None,
                    };
                    let units = self.check_weights(&here, weights, width_now)?;
                    layers.push(FcLayer {
                        here: here.clone(),
                        input: self.tensor(current, &here)?,
                        weights,
                        bias,
                        output: out_t,
                        out_index: out,
                        activation,
                    });
                    width_now = units;
                }
                Op::RESHAPE => {
                    let w = per_sample(&here, out_t)?;
                    if w != width_now {
                        return Err(anyhow!(
                            "{here}: reshapes {width_now} values per sample into {w}"
                        ));
                    }
                }
                Op::SOFTMAX | Op::LOGISTIC | Op::TANH => {
                    let act = match code {
                        Op::SOFTMAX => {
                            let beta = op.builtin_options_as_softmax_options().map_or(1.0, |o| o.beta());
                            if beta != 1.0 {
                                return Err(anyhow!("{here}: beta {beta}; only 1 is supported"));
                            }
                            softmax = true;
                            Activation::Softmax
                        }
                        Op::LOGISTIC => Activation::Sigmoid,
                        _ => Activation::Tanh,
                    };
                    let Some(layer) = layers.last_mut().filter(|l| l.out_index == current) else {
                        return Err(anyhow!("{here}: an activation must directly follow a FULLY_CONNECTED"));
                    };
                    if layer.activation.is_some() {
                        return Err(anyhow!("{here}: a second activation on one layer"));
                    }
                    layer.activation = Some(act);
                    // A float activation op writes a new tensor; int8 SOFTMAX output is not
                    // the layer's (its logits are).
                    if code != Op::SOFTMAX || out_t.type_() == TensorType::FLOAT32 {
                        layer.output = out_t;
                    }
                    layer.out_index = out;
                }
                Op::QUANTIZE if k == 0 && self.tensor(current, &here)?.type_() == TensorType::FLOAT32 => {
                    quantized_input = Some(out_t);
                }
                Op::DEQUANTIZE if out == graph_out && out_t.type_() == TensorType::FLOAT32 => {
                    dequantized = true;
                }
                Op::QUANTIZE | Op::DEQUANTIZE => {
                    return Err(anyhow!(
                        "{here}: only a QUANTIZE of the float input and a DEQUANTIZE of the output are supported"
                    ));
                }
                _ => {
                    return Err(anyhow!(
                        "{here}: operator not supported (microdense reads FULLY_CONNECTED, RESHAPE, SOFTMAX, LOGISTIC, TANH, QUANTIZE/DEQUANTIZE at the edges)"
                    ))
                }
            }
            // A RESHAPE after a layer keeps that layer the producer of the chain's value.
            if code == Op::RESHAPE {
                if let Some(l) = layers.last_mut().filter(|l| l.out_index == current) {
                    l.output = out_t;
                    l.out_index = out;
                }
            }
            current = out;
        }
        if current != graph_out {
            return Err(anyhow!(
                "{at}: the graph output is not the end of the chain"
            ));
        }
        let first = layers.first().map(|l| l.weights.type_());
        if first == Some(TensorType::INT8) {
            let input_q = match quantized_input {
                Some(t) => t,
                None => input,
            };
            self.int8(width, input_q, &layers).map(Imported::Int8)
        } else {
            if quantized_input.is_some() || dequantized {
                return Err(anyhow!("{at}: QUANTIZE/DEQUANTIZE in a float model"));
            }
            self.f32(width, &layers).map(Imported::F32)
        }
    }

    fn tensor_name(&self, t: fb::Tensor<'a>, at: &str) -> String {
        format!("{at}: tensor '{}'", t.name().unwrap_or("?"))
    }

    /// Weights `[units, fan_in]` that take `width` values; their unit count.
    fn check_weights(&self, here: &str, w: fb::Tensor<'a>, width: usize) -> Result<usize> {
        let shape: Vec<i32> = w.shape().map(|s| s.iter().collect()).unwrap_or_default();
        match shape[..] {
            [units, fan_in] if units > 0 && fan_in as usize == width => Ok(units as usize),
            _ => Err(anyhow!(
                "{here}: weights of shape {shape:?} do not take the {width} values before them"
            )),
        }
    }

    /// A constant tensor's bytes, `count` elements of `size` bytes.
    fn data(&self, here: &str, t: fb::Tensor<'a>, count: usize, size: usize) -> Result<&'a [u8]> {
        let what = format!("{here}: tensor '{}'", t.name().unwrap_or("?"));
        let buffers = self
            .model
            .buffers()
            .ok_or_else(|| anyhow!("{what}: no buffers"))?;
        let b = t.buffer() as usize;
        if b == 0 || b >= buffers.len() {
            return Err(anyhow!("{what}: not a constant (buffer {b})"));
        }
        let buf = buffers.get(b);
        if buf.offset() > 1 {
            return Err(anyhow!(
                "{what}: data outside the flatbuffer is not supported"
            ));
        }
        let data = buf.data().unwrap_or(&[]);
        if data.len() != count * size {
            return Err(anyhow!(
                "{what}: {} bytes of data for {count} values of {size} bytes",
                data.len()
            ));
        }
        Ok(data)
    }

    fn f32(&self, width: usize, layers: &[FcLayer]) -> Result<Model> {
        let mut dense = Vec::with_capacity(layers.len());
        let mut fan_in = width;
        for l in layers {
            let units = self.check_weights(&l.here, l.weights, fan_in)?;
            for (t, what) in [(l.weights, "weights"), (l.input, "input")] {
                if t.type_() != TensorType::FLOAT32 {
                    return Err(anyhow!(
                        "{}: {what} of type {}; a float model has float32 weights and activations (hybrid models are not supported)",
                        l.here,
                        t.type_().variant_name().unwrap_or("unknown")
                    ));
                }
            }
            let raw = self.data(&l.here, l.weights, units * fan_in, 4)?;
            let w: Vec<f32> = raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let mut d = Dense::new(fan_in, units, transpose(&w, units, fan_in));
            if let Some(b) = l.bias {
                if b.type_() != TensorType::FLOAT32 {
                    return Err(anyhow!("{}: bias of a float layer is not float32", l.here));
                }
                let raw = self.data(&l.here, b, units, 4)?;
                d.biases = raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
            }
            d.activation = l.activation;
            dense.push(d);
            fan_in = units;
        }
        chain::to_model(&self.at, width, &dense)
    }

    fn quant(&self, here: &str, t: fb::Tensor<'a>) -> Result<Quant> {
        let what = format!("{here}: tensor '{}'", t.name().unwrap_or("?"));
        let q = t
            .quantization()
            .ok_or_else(|| anyhow!("{what}: no quantization parameters"))?;
        let scales: Vec<f32> = q.scale().map(|s| s.iter().collect()).unwrap_or_default();
        let zero_points: Vec<i64> = q
            .zero_point()
            .map(|s| s.iter().collect())
            .unwrap_or_default();
        if scales.is_empty() || scales.len() != zero_points.len() {
            return Err(anyhow!(
                "{what}: {} scales and {} zero points",
                scales.len(),
                zero_points.len()
            ));
        }
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(anyhow!(
                "{what}: quantization scale {s} is not positive and finite"
            ));
        }
        Ok(Quant {
            scales,
            zero_points,
        })
    }

    /// An int8 activation tensor's (scale, zero point).
    fn activation_params(&self, here: &str, t: fb::Tensor<'a>) -> Result<QuantParams> {
        if t.type_() != TensorType::INT8 {
            return Err(anyhow!(
                "{here}: tensor '{}' of type {}; a full-integer model has int8 activations",
                t.name().unwrap_or("?"),
                t.type_().variant_name().unwrap_or("unknown")
            ));
        }
        let q = self.quant(here, t)?;
        match (&q.scales[..], &q.zero_points[..]) {
            ([s], [z]) if (-128..=127).contains(z) => Ok(QuantParams {
                scale: *s,
                zero_point: *z as i32,
            }),
            _ => Err(anyhow!(
                "{here}: tensor '{}': one scale and a zero point in -128..=127 expected",
                t.name().unwrap_or("?")
            )),
        }
    }

    fn int8(&self, width: usize, input: fb::Tensor<'a>, layers: &[FcLayer]) -> Result<QuantModel> {
        let at = &self.at;
        let input_q = self.activation_params(at, input)?;
        struct Arrays {
            weights: Vec<i8>,
            biases: Vec<i32>,
            multipliers: Vec<i32>,
            shifts: Vec<u8>,
            output: QuantParams,
        }
        let mut arrays = Vec::with_capacity(layers.len());
        let mut dense = Vec::with_capacity(layers.len());
        let mut fan_in = width;
        let mut s_in = input_q;
        for l in layers {
            let here = &l.here;
            let units = self.check_weights(here, l.weights, fan_in)?;
            let in_q = self.activation_params(here, l.input)?;
            if in_q != s_in {
                return Err(anyhow!(
                    "{here}: input quantization differs from the tensor before it"
                ));
            }
            let out_q = self.activation_params(here, l.output)?;
            if l.weights.type_() != TensorType::INT8 {
                return Err(anyhow!("{here}: weights are not int8"));
            }
            let wq = self.quant(here, l.weights)?;
            if wq.zero_points.iter().any(|&z| z != 0) {
                return Err(anyhow!(
                    "{here}: weights with a non-zero zero point (asymmetric) are not supported"
                ));
            }
            let per_channel = wq.scales.len() == units;
            if wq.scales.len() != 1 && !per_channel {
                return Err(anyhow!(
                    "{here}: {} weight scales for {units} units",
                    wq.scales.len()
                ));
            }
            if per_channel && units > 1 {
                let dim = l
                    .weights
                    .quantization()
                    .map_or(0, |q| q.quantized_dimension());
                if dim != 0 {
                    return Err(anyhow!(
                        "{here}: weights quantized along dimension {dim}, not the output channels"
                    ));
                }
            }
            let raw = self.data(here, l.weights, units * fan_in, 1)?;
            let w: Vec<i8> = raw.iter().map(|&b| b as i8).collect();
            let biases = match l.bias {
                Some(b) => {
                    if b.type_() != TensorType::INT32 {
                        return Err(anyhow!("{here}: bias is not int32"));
                    }
                    let raw = self.data(here, b, units, 4)?;
                    raw.chunks_exact(4)
                        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect()
                }
                None => vec![0; units],
            };
            let mut multipliers = Vec::with_capacity(units);
            let mut shifts = Vec::with_capacity(units);
            for j in 0..units {
                let s_w = wq.scales[if per_channel { j } else { 0 }];
                // As TFLite: (double) input scale · (double) filter scale / (double) output scale.
                let real = f64::from(in_q.scale) * f64::from(s_w) / f64::from(out_q.scale);
                let (m, e) = tflite_multiplier(real)
                    .ok_or_else(|| anyhow!("{here}: unit {j}: multiplier {real} out of range"))?;
                // A zero multiplier (TFLite's for M < 2^-32) gives 0 at any shift.
                let byte = match m {
                    0 => TFLITE_RULE,
                    _ => tflite_shift_byte(e).ok_or_else(|| {
                        anyhow!(
                            "{here}: unit {j}: requantization multiplier {real} is 1/2 or more (input scale · weight scale / output scale); not supported"
                        )
                    })?,
                };
                multipliers.push(m);
                shifts.push(byte);
            }
            let mut d = Dense::new(fan_in, units, vec![]);
            d.activation = l.activation;
            dense.push(d);
            arrays.push(Arrays {
                weights: transpose(&w, units, fan_in),
                biases,
                multipliers,
                shifts,
                output: out_q,
            });
            fan_in = units;
            s_in = out_q;
        }
        let topology = chain::topology(at, width, &dense)?;
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
        let mut blob = vec![0u8; sizes::int8_blob_len(width, topology.layers())];
        let n = write_int8_blob(&topology, input_q, &int8_layers, &mut blob)
            .map_err(|e| anyhow!("{at}: {e}"))?;
        blob.truncate(n);
        QuantModel::from_bytes(Path::new(at), &blob)
    }
}

/// `[rows, cols]` row-major into `[cols, rows]` (TFLite's `[units, fan_in]` into core's
/// `[fan_in][units]`).
fn transpose<T: Copy + Default>(m: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut t = vec![T::default(); m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

/// Values per sample of an activation tensor: batch first (1, or −1 in the signature),
/// every other dimension fixed and positive.
fn per_sample(here: &str, t: fb::Tensor) -> Result<usize> {
    let name = t.name().unwrap_or("?");
    let shape: Vec<i32> = t.shape().map(|s| s.iter().collect()).unwrap_or_default();
    let signature: Vec<i32> = t
        .shape_signature()
        .map(|s| s.iter().collect())
        .unwrap_or_default();
    if signature.iter().skip(1).any(|&d| d < 0) {
        return Err(anyhow!(
            "{here}: tensor '{name}' has a dynamic dimension {signature:?}; only the batch may be"
        ));
    }
    if shape.len() < 2 || shape[0] != 1 {
        return Err(anyhow!(
            "{here}: tensor '{name}' of shape {shape:?}; [batch = 1, features…] expected"
        ));
    }
    let mut n = 1usize;
    for &d in &shape[1..] {
        if d <= 0 {
            return Err(anyhow!(
                "{here}: tensor '{name}' of shape {shape:?}: a dimension is not positive"
            ));
        }
        n = n
            .checked_mul(d as usize)
            .filter(|&n| n <= 1 << 20)
            .ok_or_else(|| anyhow!("{here}: tensor '{name}' is too large"))?;
    }
    Ok(n)
}
