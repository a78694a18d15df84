//! Bad ONNX and TFLite files: one line naming the file and the problem, exit 1, no panic,
//! nothing written (an existing output is left as it was). The models are built here with
//! the generated protobuf/flatbuffer types, a valid one first, then each defect.
mod common;

use std::path::Path;

use common::microdense;
use flatbuffers::FlatBufferBuilder;
use microdense_host::model::onnx::onnx_proto as pb;
use microdense_host::model::tflite::schema_generated::tflite as fb;
use prost::Message;

/// Runs `microdense <cmd> <file> --out <dir>/out.mdw` on `bytes`; on failure checks the
/// error contract and returns stderr.
fn run(cmd: &str, ext: &str, bytes: &[u8]) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("model.{ext}"));
    std::fs::write(&file, bytes).unwrap();
    let out_path = dir.path().join("out.mdw");
    std::fs::write(&out_path, b"keep").unwrap();
    let out = microdense()
        .arg(cmd)
        .arg(&file)
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if out.status.success() {
        assert_ne!(std::fs::read(&out_path).unwrap(), b"keep");
        return Ok(String::from_utf8_lossy(&out.stdout).to_string());
    }
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains(&file.display().to_string()),
        "names the file: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        std::fs::read(&out_path).unwrap(),
        b"keep",
        "output untouched"
    );
    Err(stderr)
}

fn fails(cmd: &str, ext: &str, bytes: &[u8], expect: &str) {
    match run(cmd, ext, bytes) {
        Ok(stdout) => panic!("{cmd} accepted a bad model: {stdout}"),
        Err(e) => assert!(e.contains(expect), "expected '{expect}' in: {e}"),
    }
}

// ------------------------------------------------------------------- ONNX

fn dims(values: &[i64]) -> pb::TensorShapeProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::TensorShapeProto {
        dim: values
            .iter()
            .map(|&v| Dimension {
                value: Some(if v < 0 {
                    Value::DimParam("N".into())
                } else {
                    Value::DimValue(v)
                }),
                ..Default::default()
            })
            .collect(),
    }
}

fn value(name: &str, shape: &[i64]) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: Some(1),
                shape: Some(dims(shape)),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn init(name: &str, shape: &[i64], values: Vec<f32>) -> pb::TensorProto {
    pb::TensorProto {
        name: Some(name.into()),
        dims: shape.to_vec(),
        data_type: Some(1),
        float_data: values,
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
    pb::NodeProto {
        name: Some(format!("{op}_{output}")),
        op_type: Some(op.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

/// x [N, 4] → MatMul W [4, 3] → Add b → Relu → Gemm (transB) V [2, 3], c → Softmax.
fn onnx_graph() -> pb::GraphProto {
    pb::GraphProto {
        node: vec![
            node("MatMul", &["x", "W"], "h0"),
            node("Add", &["h0", "b"], "h1"),
            node("Relu", &["h1"], "h2"),
            pb::NodeProto {
                attribute: vec![pb::AttributeProto {
                    name: Some("transB".into()),
                    i: Some(1),
                    r#type: Some(2),
                    ..Default::default()
                }],
                ..node("Gemm", &["h2", "V", "c"], "z")
            },
            node("Softmax", &["z"], "p"),
        ],
        initializer: vec![
            init("W", &[4, 3], (0..12).map(|i| i as f32 * 0.1).collect()),
            init("b", &[3], vec![0.1, -0.2, 0.3]),
            init("V", &[2, 3], vec![1.0, -1.0, 0.5, 0.25, 2.0, -0.5]),
            init("c", &[2], vec![0.0, 1.0]),
        ],
        input: vec![value("x", &[-1, 4])],
        output: vec![value("p", &[-1, 2])],
        ..Default::default()
    }
}

fn onnx(graph: pb::GraphProto) -> Vec<u8> {
    pb::ModelProto {
        ir_version: Some(8),
        opset_import: vec![pb::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn onnx_valid_model_imports_and_round_trips_through_export() {
    let stdout = run("import-onnx", "onnx", &onnx(onnx_graph())).unwrap();
    assert!(stdout.contains("4→3→2 (relu, softmax)"), "{stdout}");
    // Import, export, import: the same parameters.
    let dir = tempfile::tempdir().unwrap();
    let (src, a, exported, b) = (
        dir.path().join("m.onnx"),
        dir.path().join("a.mdw"),
        dir.path().join("a.onnx"),
        dir.path().join("b.mdw"),
    );
    std::fs::write(&src, onnx(onnx_graph())).unwrap();
    let ok = |args: &[&Path], cmd: &str| {
        let out = microdense()
            .arg(cmd)
            .arg(args[0])
            .arg("--out")
            .arg(args[1])
            .output()
            .unwrap();
        common::assert_success(&out);
    };
    ok(&[&src, &a], "import-onnx");
    ok(&[&a, &exported], "export-onnx");
    ok(&[&exported, &b], "import-onnx");
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn onnx_float16_and_float64_initializers_are_converted_and_said_so() {
    let mut g = onnx_graph();
    // W as float16 raw data (0.0, 0.5, 1.0, … as halves), b as float64 typed values.
    let halves: Vec<u8> = (0..12u16)
        .flat_map(|i| [0x3800u16 + i].map(|h| h.to_le_bytes()))
        .flatten()
        .collect();
    g.initializer[0] = pb::TensorProto {
        name: Some("W".into()),
        dims: vec![4, 3],
        data_type: Some(10),
        raw_data: Some(halves),
        ..Default::default()
    };
    g.initializer[1] = pb::TensorProto {
        name: Some("b".into()),
        dims: vec![3],
        data_type: Some(11),
        double_data: vec![0.1, -0.2, 0.3],
        ..Default::default()
    };
    let stdout = run("import-onnx", "onnx", &onnx(g)).unwrap();
    assert!(
        stdout.contains("note: initializer 'W': float16 converted to float32"),
        "{stdout}"
    );
    assert!(
        stdout.contains("note: initializer 'b': float64 converted to float32"),
        "{stdout}"
    );
}

#[test]
fn onnx_truncated_or_corrupt_protobuf() {
    let bytes = onnx(onnx_graph());
    fails(
        "import-onnx",
        "onnx",
        &bytes[..bytes.len() / 2],
        "not an ONNX model (protobuf",
    );
    fails("import-onnx", "onnx", &[0xff; 64], "not an ONNX model");
    fails("import-onnx", "onnx", &[], "not an ONNX model (no graph)");
}

#[test]
fn onnx_unsupported_op_names_the_node() {
    let mut g = onnx_graph();
    g.node[2] = node("LeakyRelu", &["h1"], "h2");
    fails(
        "import-onnx",
        "onnx",
        &onnx(g),
        "node 'LeakyRelu_h2' (LeakyRelu): operator not supported",
    );
}

#[test]
fn onnx_dynamic_feature_dimension() {
    let mut g = onnx_graph();
    g.input = vec![value("x", &[-1, -1])];
    fails("import-onnx", "onnx", &onnx(g), "dimension 1 is dynamic");
}

#[test]
fn onnx_wrong_weight_size() {
    let mut g = onnx_graph();
    g.initializer[0] = init("W", &[4, 3], vec![0.5; 11]);
    fails(
        "import-onnx",
        "onnx",
        &onnx(g),
        "initializer 'W': 11 values for shape [4, 3]",
    );
    let mut g = onnx_graph();
    g.initializer[0] = init("W", &[5, 3], vec![0.5; 15]);
    fails(
        "import-onnx",
        "onnx",
        &onnx(g),
        "does not take the 4 values before it",
    );
}

#[test]
fn onnx_graph_that_is_not_a_chain() {
    // The Relu reads the MatMul's output, skipping the Add: a branch.
    let mut g = onnx_graph();
    g.node[2] = node("Relu", &["h0"], "h2");
    fails(
        "import-onnx",
        "onnx",
        &onnx(g),
        "the graph is not a chain of layers",
    );
    // Two graph inputs.
    let mut g = onnx_graph();
    g.input.push(value("y", &[-1, 4]));
    fails("import-onnx", "onnx", &onnx(g), "2 graph inputs");
    // transA would transpose the batch.
    let mut g = onnx_graph();
    g.node[3].attribute.push(pb::AttributeProto {
        name: Some("transA".into()),
        i: Some(1),
        r#type: Some(2),
        ..Default::default()
    });
    fails("import-onnx", "onnx", &onnx(g), "transA = 1");
}

// ------------------------------------------------------------------- TFLite

struct Tensor {
    shape: Vec<i32>,
    signature: Option<Vec<i32>>,
    ty: fb::TensorType,
    data: Option<Vec<u8>>,
    quant: Option<(Vec<f32>, Vec<i64>)>,
}

struct Op {
    code: fb::BuiltinOperator,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    fused: fb::ActivationFunctionType,
}

fn tflite(tensors: &[Tensor], ops: &[Op]) -> Vec<u8> {
    let mut b = FlatBufferBuilder::new();
    // Buffer 0 is the empty sentinel; each constant tensor gets its own.
    let mut buffers = vec![fb::Buffer::create(&mut b, &fb::BufferArgs::default())];
    let mut ts = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        let buffer = match &t.data {
            Some(d) => {
                let data = b.create_vector(d);
                buffers.push(fb::Buffer::create(
                    &mut b,
                    &fb::BufferArgs {
                        data: Some(data),
                        ..Default::default()
                    },
                ));
                buffers.len() as u32 - 1
            }
            None => 0,
        };
        let quantization = t.quant.as_ref().map(|(s, z)| {
            let (scale, zero_point) = (b.create_vector(s), b.create_vector(z));
            fb::QuantizationParameters::create(
                &mut b,
                &fb::QuantizationParametersArgs {
                    scale: Some(scale),
                    zero_point: Some(zero_point),
                    ..Default::default()
                },
            )
        });
        let shape = b.create_vector(&t.shape);
        let shape_signature = t.signature.as_ref().map(|s| b.create_vector(s));
        let name = b.create_string(&format!("t{i}"));
        ts.push(fb::Tensor::create(
            &mut b,
            &fb::TensorArgs {
                shape: Some(shape),
                shape_signature,
                type_: t.ty,
                buffer,
                name: Some(name),
                quantization,
                ..Default::default()
            },
        ));
    }
    let mut codes: Vec<fb::BuiltinOperator> = Vec::new();
    let mut operators = Vec::new();
    for o in ops {
        let index = codes.iter().position(|&c| c == o.code).unwrap_or_else(|| {
            codes.push(o.code);
            codes.len() - 1
        });
        let (inputs, outputs) = (b.create_vector(&o.inputs), b.create_vector(&o.outputs));
        let (options_type, options) = if o.code == fb::BuiltinOperator::FULLY_CONNECTED {
            let opts = fb::FullyConnectedOptions::create(
                &mut b,
                &fb::FullyConnectedOptionsArgs {
                    fused_activation_function: o.fused,
                    ..Default::default()
                },
            );
            (
                fb::BuiltinOptions::FullyConnectedOptions,
                Some(opts.as_union_value()),
            )
        } else {
            (fb::BuiltinOptions::NONE, None)
        };
        operators.push(fb::Operator::create(
            &mut b,
            &fb::OperatorArgs {
                opcode_index: index as u32,
                inputs: Some(inputs),
                outputs: Some(outputs),
                builtin_options_type: options_type,
                builtin_options: options,
                ..Default::default()
            },
        ));
    }
    let codes: Vec<_> = codes
        .iter()
        .map(|&c| {
            fb::OperatorCode::create(
                &mut b,
                &fb::OperatorCodeArgs {
                    builtin_code: c,
                    deprecated_builtin_code: c.0.min(127) as i8,
                    version: 1,
                    ..Default::default()
                },
            )
        })
        .collect();
    let (tensors, operators) = (b.create_vector(&ts), b.create_vector(&operators));
    let (inputs, outputs) = (b.create_vector(&[0]), b.create_vector(&[tensors_last(&ts)]));
    let subgraph = fb::SubGraph::create(
        &mut b,
        &fb::SubGraphArgs {
            tensors: Some(tensors),
            inputs: Some(inputs),
            outputs: Some(outputs),
            operators: Some(operators),
            ..Default::default()
        },
    );
    let (subgraphs, codes, buffers) = (
        b.create_vector(&[subgraph]),
        b.create_vector(&codes),
        b.create_vector(&buffers),
    );
    let model = fb::Model::create(
        &mut b,
        &fb::ModelArgs {
            version: 3,
            operator_codes: Some(codes),
            subgraphs: Some(subgraphs),
            buffers: Some(buffers),
            ..Default::default()
        },
    );
    fb::finish_model_buffer(&mut b, model);
    b.finished_data().to_vec()
}

fn tensors_last<T>(ts: &[T]) -> i32 {
    ts.len() as i32 - 1
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn activation(shape: &[i32], quant: Option<(f32, i64)>) -> Tensor {
    Tensor {
        shape: shape.to_vec(),
        signature: Some([&[-1], &shape[1..]].concat()),
        ty: if quant.is_some() {
            fb::TensorType::INT8
        } else {
            fb::TensorType::FLOAT32
        },
        data: None,
        quant: quant.map(|(s, z)| (vec![s], vec![z])),
    }
}

/// Float: x [1, 4] → FULLY_CONNECTED (W [3, 4], b) with fused RELU → t3 → SOFTMAX → t4.
/// With `int8`: the same chain fully quantized (per-channel weights).
fn tflite_chain(int8: bool) -> (Vec<Tensor>, Vec<Op>) {
    let q = |s: f32, z: i64| int8.then_some((s, z));
    let weights = if int8 {
        Tensor {
            shape: vec![3, 4],
            signature: None,
            ty: fb::TensorType::INT8,
            data: Some((0..12).map(|i| (i as i8 * 9 - 50) as u8).collect()),
            quant: Some((vec![0.01, 0.02, 0.03], vec![0, 0, 0])),
        }
    } else {
        Tensor {
            shape: vec![3, 4],
            signature: None,
            ty: fb::TensorType::FLOAT32,
            data: Some(f32_bytes(
                &(0..12).map(|i| i as f32 * 0.1 - 0.5).collect::<Vec<_>>(),
            )),
            quant: None,
        }
    };
    let bias = if int8 {
        Tensor {
            shape: vec![3],
            signature: None,
            ty: fb::TensorType::INT32,
            data: Some(
                [100i32, -200, 300]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            ),
            quant: Some((vec![0.001, 0.002, 0.003], vec![0, 0, 0])),
        }
    } else {
        Tensor {
            shape: vec![3],
            signature: None,
            ty: fb::TensorType::FLOAT32,
            data: Some(f32_bytes(&[0.1, 0.0, -0.1])),
            quant: None,
        }
    };
    let tensors = vec![
        activation(&[1, 4], q(0.1, -3)),
        weights,
        bias,
        activation(&[1, 3], q(0.05, -10)),
        activation(&[1, 3], q(1.0 / 256.0, -128)),
    ];
    let ops = vec![
        Op {
            code: fb::BuiltinOperator::FULLY_CONNECTED,
            inputs: vec![0, 1, 2],
            outputs: vec![3],
            fused: fb::ActivationFunctionType::NONE,
        },
        Op {
            code: fb::BuiltinOperator::SOFTMAX,
            inputs: vec![3],
            outputs: vec![4],
            fused: fb::ActivationFunctionType::NONE,
        },
    ];
    (tensors, ops)
}

#[test]
fn tflite_valid_models_import() {
    for (int8, kind) in [(false, "(f32)"), (true, "(int8, TFLite requantization)")] {
        let (t, o) = tflite_chain(int8);
        let stdout = run("import-tflite", "tflite", &tflite(&t, &o)).unwrap();
        assert!(
            stdout.contains(&format!("4→3 (softmax) {kind}")),
            "{stdout}"
        );
    }
}

#[test]
fn tflite_truncated_or_corrupt_flatbuffer() {
    let (t, o) = tflite_chain(false);
    let bytes = tflite(&t, &o);
    fails(
        "import-tflite",
        "tflite",
        &bytes[..bytes.len() / 2],
        "not a valid TFLite flatbuffer",
    );
    let mut garbage = vec![0xffu8; 64];
    garbage[4..8].copy_from_slice(b"TFL3");
    fails(
        "import-tflite",
        "tflite",
        &garbage,
        "not a valid TFLite flatbuffer",
    );
    fails(
        "import-tflite",
        "tflite",
        b"not a model at all",
        "no TFL3 file identifier",
    );
    // The root offset pointing past the end.
    let mut bad = bytes.clone();
    bad[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    fails(
        "import-tflite",
        "tflite",
        &bad,
        "not a valid TFLite flatbuffer",
    );
}

#[test]
fn tflite_unsupported_op_and_relu6() {
    let (t, mut o) = tflite_chain(false);
    o[1].code = fb::BuiltinOperator::L2_NORMALIZATION;
    fails(
        "import-tflite",
        "tflite",
        &tflite(&t, &o),
        "operator 1 (L2_NORMALIZATION): operator not supported",
    );
    let (t, mut o) = tflite_chain(false);
    o[0].fused = fb::ActivationFunctionType::RELU6;
    fails(
        "import-tflite",
        "tflite",
        &tflite(&t, &o),
        "fused activation RELU6: not supported",
    );
}

#[test]
fn tflite_dynamic_shape() {
    let (mut t, o) = tflite_chain(false);
    t[0].signature = Some(vec![-1, -1]);
    fails(
        "import-tflite",
        "tflite",
        &tflite(&t, &o),
        "dynamic dimension",
    );
}

#[test]
fn tflite_wrong_weight_size() {
    let (mut t, o) = tflite_chain(false);
    t[1].data.as_mut().unwrap().truncate(44);
    fails(
        "import-tflite",
        "tflite",
        &tflite(&t, &o),
        "44 bytes of data for 12 values",
    );
    let (mut t, o) = tflite_chain(false);
    t[1].shape = vec![3, 5];
    fails(
        "import-tflite",
        "tflite",
        &tflite(&t, &o),
        "do not take the 4 values before them",
    );
}

#[test]
fn tflite_graph_that_is_not_a_chain() {
    let (t, mut o) = tflite_chain(false);
    o[1].inputs = vec![0];
    fails(
        "import-tflite",
        "tflite",
        &tflite(&t, &o),
        "the graph is not a chain of layers",
    );
}

#[test]
fn tflite_zero_or_negative_quantization_scale() {
    for bad in [0.0, -0.05, f32::NAN] {
        let (mut t, o) = tflite_chain(true);
        t[3].quant = Some((vec![bad], vec![-10]));
        fails(
            "import-tflite",
            "tflite",
            &tflite(&t, &o),
            "is not positive and finite",
        );
        let (mut t, o) = tflite_chain(true);
        t[1].quant = Some((vec![0.01, bad, 0.03], vec![0, 0, 0]));
        fails(
            "import-tflite",
            "tflite",
            &tflite(&t, &o),
            "is not positive and finite",
        );
    }
    let (mut t, o) = tflite_chain(true);
    t[1].quant = Some((vec![0.01, 0.02, 0.03], vec![0, 1, 0]));
    fails(
        "import-tflite",
        "tflite",
        &tflite(&t, &o),
        "non-zero zero point",
    );
}
