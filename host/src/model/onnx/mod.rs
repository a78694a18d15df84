//! ONNX models in and out: graphs that are chains of fully connected layers, as
//! `torch.onnx.export` and `tf2onnx` write them.
//!
//! Read: `Gemm` (alpha, beta, transB; transA = 1 is refused: it would mix the samples of a
//! batch), `MatMul` then `Add` of a constant, `Relu`, `Sigmoid`, `Tanh`, `Softmax` on the
//! last axis (the output), `Flatten`/`Reshape` that keep the per-sample width,
//! `Identity`/`Dropout` (inference: no-ops) and `Constant` (for a Reshape's shape).
//! Initializers as raw data or typed fields, float32; float16 and float64 are converted to
//! float32 (the importer says so). The batch dimension may be symbolic; every other one must
//! be fixed. Anything else is one error naming the node, its op type and why.
//!
//! Written: `Gemm` + activation per layer, `Softmax` at the end, opset 13, weights as raw
//! little-endian float32 initializers; the batch dimension is symbolic (`N`).
//!
//! The protobuf types are generated from the official `onnx.proto` by prost-build
//! (`onnx_proto.rs`, see scripts/import-fixtures/gen-schemas.sh).
use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, Result};
use microdense::Activation;
use prost::Message;

use super::chain::{self, Dense};
use super::Model;

#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod onnx_proto;

use onnx_proto::tensor_proto::DataType;
use onnx_proto::tensor_shape_proto::dimension::Value as Dim;
use onnx_proto::type_proto::Value as TypeValue;
use onnx_proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

/// A constant tensor as f32 values with its dims.
struct Constant {
    dims: Vec<usize>,
    values: Vec<f32>,
}

/// Reads an ONNX file into an f32 model.
pub fn import_onnx(path: &Path, bytes: &[u8]) -> Result<(Model, Vec<String>)> {
    let at = path.display().to_string();
    let proto = ModelProto::decode(bytes)
        .map_err(|e| anyhow!("{at}: not an ONNX model (protobuf: {e})"))?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| anyhow!("{at}: not an ONNX model (no graph)"))?;
    let opset = proto
        .opset_import
        .iter()
        .filter(|o| o.domain.as_deref().unwrap_or("").is_empty())
        .filter_map(|o| o.version)
        .max()
        .unwrap_or(1);
    Reader {
        at: &at,
        opset,
        constants: HashMap::new(),
        notes: Vec::new(),
    }
    .read(graph)
}

struct Reader<'a> {
    at: &'a str,
    opset: i64,
    constants: HashMap<String, Constant>,
    notes: Vec<String>,
}

impl Reader<'_> {
    fn read(mut self, graph: &GraphProto) -> Result<(Model, Vec<String>)> {
        let at = self.at;
        for t in &graph.initializer {
            let name = t.name.clone().unwrap_or_default();
            let c = self.tensor(&format!("initializer '{name}'"), t)?;
            self.constants.insert(name, c);
        }
        let inputs: Vec<&ValueInfoProto> = graph
            .input
            .iter()
            .filter(|v| !self.constants.contains_key(v.name.as_deref().unwrap_or("")))
            .collect();
        let [input] = inputs[..] else {
            return Err(anyhow!(
                "{at}: {} graph inputs; microdense imports models with one input",
                inputs.len()
            ));
        };
        let in_name = input.name.clone().unwrap_or_default();
        let width = self.input_width(&in_name, input.r#type.as_ref())?;
        let [output] = &graph.output[..] else {
            return Err(anyhow!(
                "{at}: {} graph outputs; microdense imports models with one output",
                graph.output.len()
            ));
        };
        let mut current = in_name;
        let mut width_now = width;
        let mut layers: Vec<Dense> = Vec::new();
        // Which node made the last dense layer, for Add to fold into it.
        let mut last_dense_output: Option<String> = None;
        for (k, node) in graph.node.iter().enumerate() {
            let op = node.op_type.as_deref().unwrap_or("");
            let name = node.name.clone().unwrap_or_else(|| format!("#{k}"));
            let here = format!("{at}: node '{name}' ({op})");
            if !node.domain.as_deref().unwrap_or("").is_empty() {
                return Err(anyhow!(
                    "{here}: operator domain '{}' is not supported (only the default ONNX domain)",
                    node.domain.as_deref().unwrap_or("")
                ));
            }
            if op == "Constant" {
                let [out] = &node.output[..] else {
                    return Err(anyhow!("{here}: expected one output"));
                };
                let t = attr(node, "value")
                    .and_then(|a| a.t.as_ref())
                    .ok_or_else(|| {
                        anyhow!("{here}: only a 'value' tensor constant is supported")
                    })?;
                let c = self.tensor(&here, t)?;
                self.constants.insert(out.clone(), c);
                continue;
            }
            // Every other node continues the chain: its data input is the current tensor,
            // its other inputs constants.
            let data = node.input.first().map(String::as_str).unwrap_or("");
            if data != current {
                return Err(anyhow!(
                    "{here}: reads '{data}', not the output of the node before it ('{current}'); the graph is not a chain of layers"
                ));
            }
            for extra in node.input.iter().skip(1).filter(|s| !s.is_empty()) {
                if !self.constants.contains_key(extra) {
                    return Err(anyhow!(
                        "{here}: input '{extra}' is computed, not a constant; the graph is not a chain of layers"
                    ));
                }
            }
            let Some(out) = node.output.first().filter(|s| !s.is_empty()) else {
                return Err(anyhow!("{here}: no output"));
            };
            // A second output (Dropout's mask) may exist as long as nothing reads it.
            if node.output.iter().skip(1).any(|o| used_elsewhere(graph, o)) {
                return Err(anyhow!("{here}: more than one output is used"));
            }
            let constant = |i: usize| node.input.get(i).and_then(|n| self.constants.get(n));
            match op {
                "Gemm" => {
                    let alpha = attr(node, "alpha").and_then(|a| a.f).unwrap_or(1.0);
                    let beta = attr(node, "beta").and_then(|a| a.f).unwrap_or(1.0);
                    let trans_a = attr(node, "transA").and_then(|a| a.i).unwrap_or(0);
                    let trans_b = attr(node, "transB").and_then(|a| a.i).unwrap_or(0);
                    if trans_a != 0 {
                        return Err(anyhow!(
                            "{here}: transA = 1 transposes the batch with the features; not a dense layer"
                        ));
                    }
                    let b = constant(1).ok_or_else(|| anyhow!("{here}: no weight matrix B"))?;
                    let mut dense = matrix(&here, b, width_now, trans_b != 0)?;
                    dense.weights.iter_mut().for_each(|w| *w *= alpha);
                    if let Some(c) = constant(2) {
                        let bias = bias(&here, c, dense.units)?;
                        for (d, v) in dense.biases.iter_mut().zip(bias) {
                            *d = beta * v;
                        }
                    }
                    width_now = dense.units;
                    layers.push(dense);
                    last_dense_output = Some(current.clone());
                }
                "MatMul" => {
                    let b = constant(1).ok_or_else(|| anyhow!("{here}: no weight matrix"))?;
                    let dense = matrix(&here, b, width_now, false)?;
                    width_now = dense.units;
                    layers.push(dense);
                    last_dense_output = Some(current.clone());
                }
                "Add" => {
                    let Some(layer) = layers.last_mut().filter(|l| {
                        l.activation.is_none()
                            && last_dense_output.as_deref() == Some(current.as_str())
                    }) else {
                        return Err(anyhow!(
                            "{here}: an Add that does not directly follow a MatMul or Gemm is not a bias"
                        ));
                    };
                    let c = constant(1).ok_or_else(|| anyhow!("{here}: no constant to add"))?;
                    for (d, v) in layer.biases.iter_mut().zip(bias(&here, c, layer.units)?) {
                        *d += v;
                    }
                }
                "Relu" | "Sigmoid" | "Tanh" | "Softmax" => {
                    let act = match op {
                        "Relu" => Activation::Relu,
                        "Sigmoid" => Activation::Sigmoid,
                        "Tanh" => Activation::Tanh,
                        _ => {
                            // Last axis: −1, or 1 on the 2-D tensors of this chain; before
                            // opset 13 the default is 1 (and flattens to 2-D, the same here).
                            let default = if self.opset < 13 { 1 } else { -1 };
                            let axis = attr(node, "axis").and_then(|a| a.i).unwrap_or(default);
                            if axis != -1 && axis != 1 {
                                return Err(anyhow!(
                                    "{here}: axis {axis}; only the last axis (the classes) is supported"
                                ));
                            }
                            Activation::Softmax
                        }
                    };
                    let Some(layer) = layers
                        .last_mut()
                        .filter(|_| last_dense_output.as_deref() == Some(current.as_str()))
                    else {
                        return Err(anyhow!(
                            "{here}: an activation must directly follow a dense layer (Gemm, MatMul + Add)"
                        ));
                    };
                    if layer.activation.is_some() {
                        return Err(anyhow!("{here}: a second activation on one layer"));
                    }
                    layer.activation = Some(act);
                }
                "Flatten" | "Reshape" => {
                    let per_sample = if op == "Flatten" {
                        let axis = attr(node, "axis").and_then(|a| a.i).unwrap_or(1);
                        (axis == 1).then_some(width_now)
                    } else {
                        let shape = constant(1).ok_or_else(|| anyhow!("{here}: no shape"))?;
                        reshape_width(&shape.values, width_now)
                    };
                    if per_sample != Some(width_now) {
                        return Err(anyhow!(
                            "{here}: only reshapes to [batch, {width_now}] are supported"
                        ));
                    }
                }
                "Identity" => {}
                "Dropout" => {
                    if let Some(c) = constant(2) {
                        if c.values.iter().any(|&v| v != 0.0) {
                            return Err(anyhow!("{here}: training_mode is on"));
                        }
                    }
                }
                _ => {
                    return Err(anyhow!(
                        "{here}: operator not supported (microdense reads Gemm, MatMul, Add, Relu, Sigmoid, Tanh, Softmax, Flatten, Reshape, Identity, Dropout)"
                    ))
                }
            }
            // Add, activations and shape no-ops after a dense layer keep its value going.
            if last_dense_output.as_deref() == Some(current.as_str()) {
                last_dense_output = Some(out.clone());
            }
            current = out.clone();
        }
        let out_name = output.name.as_deref().unwrap_or("");
        if out_name != current {
            return Err(anyhow!(
                "{at}: the graph output '{out_name}' is not the end of the chain ('{current}')"
            ));
        }
        let model = chain::to_model(at, width, &layers)?;
        Ok((model, self.notes))
    }

    /// The per-sample width of the input: a symbolic or fixed batch dimension first, then
    /// fixed dimensions.
    fn input_width(&self, name: &str, ty: Option<&TypeProto>) -> Result<usize> {
        let at = self.at;
        let Some(TypeValue::TensorType(t)) = ty.and_then(|t| t.value.as_ref()) else {
            return Err(anyhow!("{at}: input '{name}' is not a tensor"));
        };
        if t.elem_type != Some(DataType::Float as i32) {
            return Err(anyhow!(
                "{at}: input '{name}' has element type {}; float32 expected",
                type_name(t.elem_type.unwrap_or(0))
            ));
        }
        let dims = &t
            .shape
            .as_ref()
            .ok_or_else(|| anyhow!("{at}: input '{name}' has no shape"))?
            .dim;
        if dims.len() < 2 {
            return Err(anyhow!(
                "{at}: input '{name}' has {} dimensions; expected [batch, features…]",
                dims.len()
            ));
        }
        let mut width = 1usize;
        for (i, d) in dims.iter().enumerate().skip(1) {
            match d.value {
                Some(Dim::DimValue(v)) if v > 0 => {
                    width = width
                        .checked_mul(v as usize)
                        .filter(|&w| w <= 1 << 20)
                        .ok_or_else(|| anyhow!("{at}: input '{name}' is too large"))?;
                }
                _ => {
                    return Err(anyhow!(
                        "{at}: input '{name}' dimension {i} is dynamic or not positive; only the batch dimension may be"
                    ))
                }
            }
        }
        Ok(width)
    }

    /// A constant tensor's values as f32 (converting float16 and float64, with a note).
    fn tensor(&mut self, what: &str, t: &TensorProto) -> Result<Constant> {
        let at = self.at;
        let here = format!("{at}: {what}");
        if t.data_location == Some(1) || !t.external_data.is_empty() {
            return Err(anyhow!("{here}: data in an external file is not supported"));
        }
        let mut dims = Vec::with_capacity(t.dims.len());
        let mut count = 1usize;
        for &d in &t.dims {
            if d < 0 {
                return Err(anyhow!("{here}: negative dimension {d}"));
            }
            dims.push(d as usize);
            count = count
                .checked_mul(d as usize)
                .filter(|&c| c <= 1 << 28)
                .ok_or_else(|| anyhow!("{here}: too large"))?;
        }
        let ty = t.data_type.unwrap_or(0);
        let raw = t.raw_data.as_deref();
        let values: Vec<f32> = match DataType::try_from(ty) {
            Ok(DataType::Float) => match raw {
                Some(r) => le_values(&here, r, count, 4, |b| {
                    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
                })?,
                None => t.float_data.clone(),
            },
            Ok(DataType::Double) => {
                self.note(format!("{what}: float64 converted to float32"));
                match raw {
                    Some(r) => le_values(&here, r, count, 8, |b| {
                        f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                    })?,
                    None => t.double_data.iter().map(|&v| v as f32).collect(),
                }
            }
            Ok(DataType::Float16) => {
                self.note(format!("{what}: float16 converted to float32"));
                match raw {
                    Some(r) => le_values(&here, r, count, 2, |b| {
                        f16_to_f32(u16::from_le_bytes([b[0], b[1]]))
                    })?,
                    None => t.int32_data.iter().map(|&v| f16_to_f32(v as u16)).collect(),
                }
            }
            Ok(DataType::Int64) => match raw {
                Some(r) => le_values(&here, r, count, 8, |b| {
                    i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                })?,
                None => t.int64_data.iter().map(|&v| v as f32).collect(),
            },
            _ => {
                return Err(anyhow!(
                    "{here}: element type {} is not supported (float32, float16, float64; int64 shapes)",
                    type_name(ty)
                ))
            }
        };
        if values.len() != count {
            return Err(anyhow!(
                "{here}: {} values for shape {:?} ({count} expected)",
                values.len(),
                dims
            ));
        }
        Ok(Constant { dims, values })
    }

    fn note(&mut self, text: String) {
        self.notes.push(text);
    }
}

fn attr<'n>(node: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    node.attribute
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
}

fn used_elsewhere(graph: &GraphProto, name: &str) -> bool {
    !name.is_empty()
        && (graph.node.iter().any(|n| n.input.iter().any(|i| i == name))
            || graph.output.iter().any(|o| o.name.as_deref() == Some(name)))
}

fn type_name(code: i32) -> String {
    DataType::try_from(code)
        .map(|t| t.as_str_name().to_string())
        .unwrap_or_else(|_| format!("code {code}"))
}

fn le_values<T>(
    here: &str,
    raw: &[u8],
    count: usize,
    size: usize,
    f: impl Fn(&[u8]) -> T,
) -> Result<Vec<T>> {
    if raw.len() != count * size {
        return Err(anyhow!(
            "{here}: {} bytes of raw data for {count} values of {size} bytes",
            raw.len()
        ));
    }
    Ok(raw.chunks_exact(size).map(f).collect())
}

/// IEEE-754 binary16 to binary32 (exact: every half is a float).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: f · 2^-24, normalized.
            let shift = f.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | (((f << shift) & 0x3ff) << 13)
        }
        (31, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// A weight matrix as a dense layer fed `width` values: `[width, units]`, or
/// `[units, width]` when `transposed` (Gemm's transB, PyTorch's Linear).
fn matrix(here: &str, b: &Constant, width: usize, transposed: bool) -> Result<Dense> {
    let [rows, cols] = b.dims[..] else {
        return Err(anyhow!(
            "{here}: weight matrix of shape {:?}; 2-D expected",
            b.dims
        ));
    };
    let (fan_in, units) = if transposed {
        (cols, rows)
    } else {
        (rows, cols)
    };
    if fan_in != width || units == 0 {
        return Err(anyhow!(
            "{here}: weight matrix of shape {:?} does not take the {width} values before it",
            b.dims
        ));
    }
    let weights = if transposed {
        let mut w = vec![0.0; fan_in * units];
        for j in 0..units {
            for i in 0..fan_in {
                w[i * units + j] = b.values[j * fan_in + i];
            }
        }
        w
    } else {
        b.values.clone()
    };
    Ok(Dense::new(fan_in, units, weights))
}

/// A bias of `units` values: shape [units], [1, units], or a broadcast scalar.
fn bias(here: &str, c: &Constant, units: usize) -> Result<Vec<f32>> {
    let n = c.values.len();
    let lead_ones = c.dims.iter().rev().skip(1).all(|&d| d == 1);
    match (n, c.dims.last()) {
        (1, _) => Ok(vec![c.values[0]; units]),
        (n, Some(&last)) if n == units && last == units && lead_ones => Ok(c.values.clone()),
        _ => Err(anyhow!(
            "{here}: bias of shape {:?} does not fit {units} units",
            c.dims
        )),
    }
}

/// The per-sample width a Reshape to `shape` gives (batch first: −1, 0 or any size, then
/// the features), if it is 2-D.
fn reshape_width(shape: &[f32], width: usize) -> Option<usize> {
    match shape {
        [_, w] if *w == -1.0 || *w == width as f32 => Some(width),
        _ => None,
    }
}

/// The ONNX model of an f32 microdense model.
pub fn export_onnx(model: &Model) -> Vec<u8> {
    let t = &model.topology;
    let mut nodes = Vec::new();
    let mut initializers = Vec::new();
    let mut current = "input".to_string();
    let mut offset = 0;
    for (k, layer) in t.layers().iter().enumerate() {
        let (fan_in, units) = (t.fan_in(k), layer.units);
        let w = &model.params[offset..offset + fan_in * units];
        let b = &model.params[offset + fan_in * units..offset + (fan_in + 1) * units];
        offset += (fan_in + 1) * units;
        let (wn, bn) = (format!("dense{k}.weight"), format!("dense{k}.bias"));
        initializers.push(float_tensor(&wn, &[fan_in, units], w));
        initializers.push(float_tensor(&bn, &[units], b));
        let gemm = format!("dense{k}");
        nodes.push(node("Gemm", &gemm, &[&current, &wn, &bn], &[]));
        current = gemm.clone();
        let act = match layer.activation {
            Activation::Linear => None,
            Activation::Relu => Some("Relu"),
            Activation::Sigmoid => Some("Sigmoid"),
            Activation::Tanh => Some("Tanh"),
            Activation::Softmax => Some("Softmax"),
        };
        if let Some(op) = act {
            let name = if op == "Softmax" {
                "probabilities".to_string()
            } else {
                format!("{gemm}.{}", op.to_lowercase())
            };
            let attrs = if op == "Softmax" {
                vec![AttributeProto {
                    name: Some("axis".into()),
                    i: Some(-1),
                    r#type: Some(onnx_proto::attribute_proto::AttributeType::Int as i32),
                    ..Default::default()
                }]
            } else {
                vec![]
            };
            nodes.push(node(op, &name, &[&current], &attrs));
            current = name;
        }
    }
    let graph = GraphProto {
        name: Some("microdense".into()),
        node: nodes,
        initializer: initializers,
        input: vec![value_info("input", t.input())],
        output: vec![value_info(&current, t.outputs())],
        ..Default::default()
    };
    ModelProto {
        ir_version: Some(8),
        producer_name: Some("microdense".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

fn node(op: &str, output: &str, inputs: &[&str], attrs: &[AttributeProto]) -> NodeProto {
    NodeProto {
        name: Some(output.to_string()),
        op_type: Some(op.to_string()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        attribute: attrs.to_vec(),
        ..Default::default()
    }
}

fn float_tensor(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.to_string()),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(DataType::Float as i32),
        raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

fn value_info(name: &str, width: usize) -> ValueInfoProto {
    use onnx_proto::tensor_shape_proto::Dimension;
    let dims = [Dim::DimParam("N".into()), Dim::DimValue(width as i64)];
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(onnx_proto::type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .into_iter()
                        .map(|d| Dimension {
                            value: Some(d),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;

    #[test]
    fn half_floats_convert_exactly() {
        for (h, f) in [
            (0x3c00u16, 1.0f32),
            (0xc000, -2.0),
            (0x3555, 0.333_251_95),
            (0x7bff, 65504.0),
            (0x0001, 2f32.powi(-24)),
            (0x03ff, 1023.0 * 2f32.powi(-24)),
            (0x0400, 2f32.powi(-14)),
            (0x8000, -0.0),
            (0x7c00, f32::INFINITY),
        ] {
            assert_eq!(f16_to_f32(h).to_bits(), f.to_bits(), "{h:#06x}");
        }
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
