//! TF.js Layers-format import and export, on fixtures written here: small `model.json`
//! files with binary shards of known weights.
use std::fs;
use std::path::{Path, PathBuf};

use microdense::{rng::Rng, Activation, Init, Layer, Network, Topology};
use microdense_host::model::tfjs::{export_tfjs, export_tfjs_like, import_tfjs, Original};
use microdense_host::model::Model;
use serde_json::{json, Value};
use tempfile::TempDir;

fn le(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn dense(name: &str, units: usize, activation: Value, use_bias: bool) -> Value {
    json!({"class_name": "Dense", "config": {
        "units": units, "activation": activation, "use_bias": use_bias, "name": name,
        "kernel_initializer": {"class_name": "VarianceScaling", "config": {"scale": 1}},
        "trainable": true
    }})
}

fn spec(name: &str, shape: &[usize]) -> Value {
    json!({"name": name, "shape": shape, "dtype": "float32"})
}

/// A browser-style save: the model's layers and one group over `model.weights.bin`.
fn browser_model(layers: Value, weights: Value) -> Value {
    json!({
        "format": "layers-model",
        "generatedBy": "TensorFlow.js tfjs-layers v4.22.0",
        "convertedBy": null,
        "modelTopology": {
            "class_name": "Sequential",
            "config": {"name": "sequential_3", "layers": layers},
            "keras_version": "tfjs-layers 4.22.0",
            "backend": "tensor_flow.js"
        },
        "weightsManifest": [{"paths": ["./model.weights.bin"], "weights": weights}]
    })
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p
}

fn write_json(dir: &Path, v: &Value) -> PathBuf {
    write(dir, "model.json", &serde_json::to_vec_pretty(v).unwrap())
}

// The reference model: a 2x2 image → Flatten → Dense(3, relu) → Dropout → Dense(2,
// softmax). TF.js kernels are [in, out]: K1[i][j] = K1[3i + j].
const K1: [f32; 12] = [1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12.];
const B1: [f32; 3] = [0.5, -0.5, 0.25];
const K2: [f32; 6] = [0.1, -0.2, 0.3, -0.4, 0.5, -0.6];
const B2: [f32; 2] = [0.01, -0.02];

/// The core's layout of the reference model: input-major rows, as the TF.js kernel.
fn expected_params() -> Vec<f32> {
    [&K1[..], &B1, &K2, &B2].concat()
}

fn expected_topology() -> Topology {
    Topology::new(
        4,
        &[
            Layer::new(3, Activation::Relu),
            Layer::new(2, Activation::Softmax),
        ],
    )
    .unwrap()
}

fn reference_layers() -> Value {
    json!([
        {"class_name": "Flatten", "config": {"name": "flatten_Flatten2", "batch_input_shape": [null, 2, 2, 1], "dtype": "float32"}},
        dense("dense_Dense4", 3, json!("relu"), true),
        {"class_name": "Dropout", "config": {"rate": 0.2, "name": "dropout_Dropout1"}},
        dense("dense_Dense5", 2, json!("softmax"), true),
    ])
}

fn reference_weights() -> Value {
    json!([
        spec("dense_Dense4/kernel", &[4, 3]),
        spec("dense_Dense4/bias", &[3]),
        spec("dense_Dense5/kernel", &[3, 2]),
        spec("dense_Dense5/bias", &[2]),
    ])
}

fn reference_bin() -> Vec<u8> {
    le(&[&K1[..], &B1, &K2, &B2].concat())
}

/// The reference model saved as the browser does; returns its model.json path.
fn browser_fixture(dir: &Path) -> PathBuf {
    write(dir, "model.weights.bin", &reference_bin());
    write_json(dir, &browser_model(reference_layers(), reference_weights()))
}

/// TF.js's own arithmetic, y = x·K + b with K as [in, out], for comparison.
fn tfjs_dense(x: &[f32], k: &[f32], b: &[f32]) -> Vec<f32> {
    let out = b.len();
    (0..out)
        .map(|j| {
            b[j] + x
                .iter()
                .enumerate()
                .map(|(i, xi)| xi * k[i * out + j])
                .sum::<f32>()
        })
        .collect()
}

#[test]
fn browser_save_imports_and_predicts_as_tfjs_does() {
    let dir = TempDir::new().unwrap();
    let (t, params) = import_tfjs(&browser_fixture(dir.path())).unwrap();
    assert_eq!(t, expected_topology());
    assert_eq!(params, expected_params());
    // Same logits as TF.js's formula.
    let net = Network::new(t, &params[..]).unwrap();
    let mut scratch = vec![0.0; net.topology().infer_scratch_len(1)];
    let x = [0.2f32, -0.7, 1.0, 0.05];
    let h: Vec<f32> = tfjs_dense(&x, &K1, &B1)
        .iter()
        .map(|v| v.max(0.0))
        .collect();
    let z = tfjs_dense(&h, &K2, &B2);
    let logits = net.logits(&x, &mut scratch).unwrap();
    for (a, b) in logits.iter().zip(&z) {
        assert!((a - b).abs() < 1e-5, "{logits:?} vs {z:?}");
    }
}

#[test]
fn converter_shards_and_groups_concatenate_in_order() {
    let dir = TempDir::new().unwrap();
    // Group 1 (first layer) split mid-float across two shards, group 2 the second layer;
    // the Python converter's wrapper around the model config, with an InputLayer.
    let g1 = le(&[&K1[..], &B1].concat());
    write(dir.path(), "group1-shard1of2.bin", &g1[..10]);
    write(dir.path(), "group1-shard2of2.bin", &g1[10..]);
    fs::create_dir(dir.path().join("sub")).unwrap();
    write(
        dir.path(),
        "sub/group2-shard1of1.bin",
        &le(&[&K2[..], &B2].concat()),
    );
    let mut layers = vec![
        json!({"class_name": "InputLayer", "config": {"batch_input_shape": [null, 2, 2], "name": "input1"}}),
    ];
    layers.extend(reference_layers().as_array().unwrap().iter().cloned());
    layers[1]["config"]
        .as_object_mut()
        .unwrap()
        .remove("batch_input_shape");
    let v = json!({
        "format": "layers-model",
        "generatedBy": "keras v2.15.0",
        "convertedBy": "TensorFlow.js Converter v4.22.0",
        "modelTopology": {
            "keras_version": "2.15.0",
            "backend": "tensorflow",
            "model_config": {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}},
            "training_config": {"loss": "categorical_crossentropy"}
        },
        "weightsManifest": [
            {"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"],
             "weights": [spec("dense/kernel", &[4, 3]), spec("dense/bias", &[3])]},
            {"paths": ["sub/group2-shard1of1.bin"],
             "weights": [spec("dense_1/kernel", &[3, 2]), spec("dense_1/bias", &[2])]}
        ]
    });
    let (t, params) = import_tfjs(&write_json(dir.path(), &v)).unwrap();
    assert_eq!(t, expected_topology());
    assert_eq!(params, expected_params());
}

#[test]
fn quantized_weights_are_dequantized() {
    let dir = TempDir::new().unwrap();
    let q1: Vec<u8> = (0..12).map(|i| i * 20).collect();
    let q1b: Vec<u16> = vec![0, 1000, 65535];
    // float16: 1, -2, 0.5, 65504, 2^-24, -0
    let h2: [u16; 6] = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000];
    let mut bin = q1.clone();
    bin.extend(q1b.iter().flat_map(|q| q.to_le_bytes()));
    bin.extend(h2.iter().flat_map(|h| h.to_le_bytes()));
    bin.extend(le(&B2));
    write(dir.path(), "model.weights.bin", &bin);
    let mut weights = reference_weights();
    weights[0]["quantization"] = json!({"dtype": "uint8", "scale": 0.1, "min": -1.0});
    weights[1]["quantization"] = json!({"dtype": "uint16", "scale": 0.001, "min": -0.5});
    weights[2]["quantization"] = json!({"dtype": "float16"});
    let p = write_json(dir.path(), &browser_model(reference_layers(), weights));
    let (_, params) = import_tfjs(&p).unwrap();
    let k1: Vec<f32> = q1
        .iter()
        .map(|&q| (f64::from(q) * 0.1 - 1.0) as f32)
        .collect();
    assert_eq!(params[..12], k1[..]);
    let b1: Vec<f32> = q1b
        .iter()
        .map(|&q| (f64::from(q) * 0.001 - 0.5) as f32)
        .collect();
    assert_eq!(params[12..15], b1[..]);
    let w2 = [1.0, -2.0, 0.5, 65504.0, 2f32.powi(-24), -0.0];
    let got: Vec<u32> = params[15..21].iter().map(|v| v.to_bits()).collect();
    let want: Vec<u32> = w2.iter().map(|v| v.to_bits()).collect();
    assert_eq!(got, want);
    assert_eq!(params[21..], B2);
}

#[test]
fn legacy_config_without_bias_or_activation() {
    let dir = TempDir::new().unwrap();
    // Layers directly as the config, camelCase shape, no format field, a bias-less first
    // layer with no activation, a sigmoid output (kept as is).
    let v = json!({
        "modelTopology": {"class_name": "Sequential", "config": [
            {"class_name": "Dense", "config": {"units": 3, "use_bias": false, "batchInputShape": [null, 4], "name": "d1"}},
            {"class_name": "Dense", "config": {"units": 2, "activation": "sigmoid", "name": "d2"}}
        ]},
        "weightsManifest": [{"paths": ["w.bin"], "weights": [
            spec("d1/kernel", &[4, 3]), spec("d2/kernel", &[3, 2]), spec("d2/bias", &[2])
        ]}]
    });
    write(dir.path(), "w.bin", &le(&[&K1[..], &K2, &B2].concat()));
    let (t, params) = import_tfjs(&write_json(dir.path(), &v)).unwrap();
    let want = Topology::new(
        4,
        &[
            Layer::new(3, Activation::Linear),
            Layer::new(2, Activation::Sigmoid),
        ],
    )
    .unwrap();
    assert_eq!(t, want);
    let mut expected = expected_params();
    expected[12..15].fill(0.0);
    assert_eq!(params, expected);
}

#[test]
fn input_size_from_the_first_kernel_and_optimizer_state_skipped() {
    let dir = TempDir::new().unwrap();
    let mut layers = reference_layers();
    layers.as_array_mut().unwrap().remove(0);
    let mut weights = reference_weights();
    // As `model.save(..., {includeOptimizer: true})` appends it.
    let opt = [
        json!({"name": "iter", "shape": [], "dtype": "int32", "group": "optimizer"}),
        json!({"name": "dense_Dense4/kernel/m", "shape": [4, 3], "dtype": "float32", "group": "optimizer"}),
    ];
    weights.as_array_mut().unwrap().extend(opt);
    let mut bin = reference_bin();
    bin.extend([0u8; 4 + 48]);
    write(dir.path(), "model.weights.bin", &bin);
    let p = write_json(dir.path(), &browser_model(layers, weights));
    let (t, params) = import_tfjs(&p).unwrap();
    assert_eq!(t, expected_topology());
    assert_eq!(params, expected_params());
}

fn random_params(t: &Topology, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut p: Vec<f32> = (0..t.params_len()).map(|_| rng.normal() as f32).collect();
    // Bit patterns a lossy path would change.
    let specials = [
        -0.0,
        1e-40,
        -f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        1.0 + f32::EPSILON,
    ];
    p[..specials.len()].copy_from_slice(&specials);
    p
}

#[test]
fn export_then_import_is_bit_exact() {
    let dir = TempDir::new().unwrap();
    let t = Topology::new(
        5,
        &[
            Layer::new(7, Activation::Relu),
            Layer::new(6, Activation::Sigmoid),
            Layer::new(4, Activation::Tanh),
            Layer::new(3, Activation::Linear),
            Layer::new(3, Activation::Softmax),
        ],
    )
    .unwrap();
    let params = random_params(&t, 11);
    let out = dir.path().join("web/model");
    export_tfjs(&t, &params, &out).unwrap();
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["model.json", "model.weights.bin"]);
    let (t2, p2) = import_tfjs(&out.join("model.json")).unwrap();
    assert_eq!(t2, t);
    let bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&p2), bits(&params));
    // Deterministic: exporting again gives the same bytes.
    let again = dir.path().join("again");
    export_tfjs(&t, &params, &again).unwrap();
    for f in ["model.json", "model.weights.bin"] {
        assert_eq!(
            fs::read(out.join(f)).unwrap(),
            fs::read(again.join(f)).unwrap()
        );
    }
}

#[test]
fn tutorial_model_survives_export_import_and_the_weights_format() {
    let dir = TempDir::new().unwrap();
    let t = microdense_host::model::mlp(784, &[32, 256], Activation::Linear, 10).unwrap();
    let model = Model::init(t, Init::GlorotNormal, 4);
    export_tfjs(&model.topology, &model.params, dir.path()).unwrap();
    let (topology, params) = import_tfjs(&dir.path().join("model.json")).unwrap();
    let imported = Model {
        topology,
        params,
        input: None,
    };
    assert_eq!(imported, model);
    // Like any other model: saved in the weights format and loaded back.
    let mdw = dir.path().join("m.mdw");
    imported.save(&mdw).unwrap();
    assert_eq!(Model::load(&mdw).unwrap(), model);
}

/// Imports `model_json` and checks the error: one line, about `file`, containing `what`.
fn assert_error(model_json: &Path, file: &Path, what: &str) {
    let e = import_tfjs(model_json).expect_err(what);
    for msg in [e.to_string(), format!("{e:#}")] {
        assert!(!msg.contains('\n'), "not one line: {msg}");
        let prefix = format!("{}: ", file.display());
        assert!(
            msg.starts_with(&prefix),
            "{msg:?} should start with {prefix:?}"
        );
        assert!(msg.contains(what), "{msg:?} should contain {what:?}");
    }
}

/// The reference fixture with `model.json` edited by `edit`.
fn edited(dir: &Path, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let p = browser_fixture(dir);
    let mut v: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    edit(&mut v);
    write_json(dir, &v)
}

#[test]
fn malformed_json_and_manifests() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let p = d.join("model.json");
    assert_error(&d.join("nope.json"), &d.join("nope.json"), "cannot read");
    write(d, "model.json", b"{\"format\": \"layers-model\",");
    assert_error(&p, &p, "not valid JSON: EOF while parsing");
    write(d, "model.json", b"{\"modelTopology\": 1,, }");
    assert_error(&p, &p, "not valid JSON");
    write(d, "model.json", b"[1, 2]");
    assert_error(&p, &p, "not a TF.js Layers model");
    let p = edited(d, |v| {
        v.as_object_mut()
            .unwrap()
            .remove("weightsManifest")
            .map(drop)
            .unwrap()
    });
    assert_error(&p, &p, "missing field `weightsManifest`");
    let p = edited(d, |v| {
        v["weightsManifest"][0]["weights"][1]["shape"] = json!([-3])
    });
    assert_error(&p, &p, "not a TF.js Layers model: invalid value");
    let p = edited(d, |v| v["format"] = json!("graph-model"));
    assert_error(&p, &p, "format \"graph-model\" is not supported");
    let p = edited(d, |v| {
        v["modelTopology"]["class_name"] = json!("Functional")
    });
    assert_error(&p, &p, "the model is a Functional; only Sequential");
    let p = edited(d, |v| {
        v["weightsManifest"][0]["paths"] = json!(["/etc/passwd"])
    });
    assert_error(
        &p,
        &p,
        "weight group 1: shard path \"/etc/passwd\" is not a relative file path",
    );
    let p = edited(d, |v| v["weightsManifest"][0]["paths"] = json!([]));
    assert_error(&p, &p, "weight group 1 lists no shard files");
}

#[test]
fn missing_short_and_long_shards() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let p = browser_fixture(d);
    let bin = d.join("./model.weights.bin");
    fs::remove_file(&bin).unwrap();
    assert_error(&p, &bin, "cannot read weights shard");
    let full = reference_bin();
    write(d, "model.weights.bin", &full[..full.len() - 1]);
    assert_error(
        &p,
        &bin,
        "too short: weight group 1 needs 92 bytes, its 1 shard(s) hold 91",
    );
    write(d, "model.weights.bin", &[&full[..], &[0, 0]].concat());
    assert_error(
        &p,
        &bin,
        "2 bytes more than the 92 that weight group 1 describes",
    );
    // A converter layout with its second shard missing.
    let p = edited(d, |v| {
        v["weightsManifest"][0]["paths"] = json!(["group1-shard1of2.bin", "group1-shard2of2.bin"])
    });
    write(d, "group1-shard1of2.bin", &full[..40]);
    assert_error(
        &p,
        &d.join("group1-shard2of2.bin"),
        "cannot read weights shard",
    );
}

#[test]
fn shapes_that_do_not_match_the_layers() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let p = edited(d, |v| {
        v["weightsManifest"][0]["weights"][0]["shape"] = json!([3, 4])
    });
    assert_error(
        &p,
        &p,
        "weight dense_Dense4/kernel has shape [3, 4], but layer 2 (dense_Dense4) (Dense, 3 units) needs a kernel of shape [4, 3]",
    );
    let p = edited(d, |v| {
        v["modelTopology"]["config"]["layers"][3]["config"]["units"] = json!(3);
    });
    assert_error(&p, &p, "needs a kernel of shape [3, 3]");
    let p = edited(d, |v| {
        v["weightsManifest"][0]["weights"][3]["shape"] = json!([1, 2])
    });
    assert_error(&p, &p, "needs a bias of shape [2]");
    // Manifest and topology out of step.
    let p = edited(d, |v| {
        v["modelTopology"]["config"]["layers"][3]["config"]["use_bias"] = json!(false);
    });
    assert_error(
        &p,
        &p,
        "1 weight(s) no Dense layer uses (first: dense_Dense5/bias of shape [2])",
    );
    let p = edited(d, |v| {
        v["modelTopology"]["config"]["layers"][1]["config"]["use_bias"] = json!(false);
    });
    assert_error(
        &p,
        &p,
        "weight dense_Dense4/bias has shape [3], but layer 4 (dense_Dense5)",
    );
    let p = edited(d, |v| {
        let layers = v["modelTopology"]["config"]["layers"]
            .as_array_mut()
            .unwrap();
        layers.push(dense("dense_Dense6", 2, json!("softmax"), true));
        layers[3]["config"]["activation"] = json!("tanh");
    });
    assert_error(
        &p,
        &p,
        "the weights manifest ends before the kernel of layer 5 (dense_Dense6)",
    );
    let p = edited(d, |v| {
        v["modelTopology"]["config"]["layers"][0]["config"]["batch_input_shape"] = json!([null, 5])
    });
    assert_error(&p, &p, "needs a kernel of shape [5, 3]");
}

#[test]
fn unsupported_layers_activations_and_dtypes() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let p = edited(d, |v| {
        v["modelTopology"]["config"]["layers"][1] =
            json!({"class_name": "Conv2D", "config": {"name": "conv2d_Conv2D1", "filters": 8}});
    });
    assert_error(
        &p,
        &p,
        "layer 2 (conv2d_Conv2D1): class Conv2D is not supported (only Dense, Flatten, Dropout, InputLayer)",
    );
    let p = edited(d, |v| {
        v["modelTopology"]["config"]["layers"][1]["config"]["activation"] = json!("elu")
    });
    assert_error(
        &p,
        &p,
        "layer 2 (dense_Dense4): activation elu is not supported",
    );
    let p = edited(d, |v| {
        v["modelTopology"]["config"]["layers"][1]["config"]["activation"] = json!("softmax")
    });
    assert_error(&p, &p, "softmax is only allowed on the output layer");
    let p = edited(d, |v| {
        v["modelTopology"]["config"]["layers"]
            .as_array_mut()
            .unwrap()
            .remove(0)
            .as_null()
            .unwrap_or(())
    });
    assert!(
        import_tfjs(&p).is_ok(),
        "the input size comes from the kernel"
    );
    let p = edited(d, |v| {
        v["modelTopology"]["config"]["layers"][0]["class_name"] = json!("Dense")
    });
    assert_error(&p, &p, "layer 1 (flatten_Flatten2): Dense without units");
    let p = edited(d, |v| {
        v["weightsManifest"][0]["weights"][0]["dtype"] = json!("int32")
    });
    assert_error(
        &p,
        &p,
        "weight dense_Dense4/kernel: dtype int32 is not supported",
    );
    let p = edited(d, |v| {
        v["weightsManifest"][0]["weights"][2]["quantization"] =
            json!({"dtype": "int8", "scale": 1, "min": 0})
    });
    assert_error(
        &p,
        &p,
        "weight dense_Dense5/kernel: quantization dtype int8 is not supported",
    );
    let p = edited(d, |v| {
        v["weightsManifest"][0]["weights"][2]["quantization"] =
            json!({"dtype": "uint8", "scale": 1})
    });
    assert_error(&p, &p, "uint8 quantization needs a finite scale and min");
    // Too deep for the core.
    let p = edited(d, |v| {
        let layers = v["modelTopology"]["config"]["layers"]
            .as_array_mut()
            .unwrap();
        let last = layers.pop().unwrap();
        for _ in 0..8 {
            layers.push(dense("d", 3, json!("relu"), false));
        }
        layers.push(last);
        let weights = v["weightsManifest"][0]["weights"].as_array_mut().unwrap();
        let tail = weights.split_off(2);
        weights.extend((0..8).map(|_| spec("k", &[3, 3])));
        weights.extend(tail);
    });
    write(
        d,
        "model.weights.bin",
        &[reference_bin(), vec![0; 8 * 36]].concat(),
    );
    assert_error(&p, &p, "topology has 10 layers, at most 8 are supported");
}

#[test]
fn non_finite_weights_are_refused() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let p = browser_fixture(d);
    let mut values = [&K1[..], &B1, &K2, &B2].concat();
    values[13] = f32::NAN;
    write(d, "model.weights.bin", &le(&values));
    assert_error(
        &p,
        &p,
        "weight dense_Dense4/bias has a non-finite value (NaN) at index 1",
    );
}

/// Replaces one random node of `v` with an odd value.
fn mutate(v: &mut Value, rng: &mut Rng) {
    let odd = [
        json!(null),
        json!(-1),
        json!(0),
        json!(1e300),
        json!(2.5),
        json!("x"),
        json!([]),
        json!({}),
        json!(true),
        json!(u64::MAX),
        json!([null, 1_000_000_000u64, 1_000_000_000u64]),
    ];
    let mut node = v;
    loop {
        let children = match node {
            Value::Array(a) if !a.is_empty() => a.len(),
            Value::Object(o) if !o.is_empty() => o.len(),
            _ => 0,
        };
        if children == 0 || rng.below(4) == 0 {
            *node = odd[rng.below(odd.len())].clone();
            return;
        }
        let k = rng.below(children);
        node = match node {
            Value::Array(a) => &mut a[k],
            Value::Object(o) => o.values_mut().nth(k).unwrap(),
            _ => unreachable!(),
        };
    }
}

#[test]
fn no_panic_on_mutated_models() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let good = browser_model(reference_layers(), reference_weights());
    let good_bytes = serde_json::to_vec(&good).unwrap();
    let bin = reference_bin();
    let mut rng = Rng::new(9);
    let mut accepted = 0;
    for round in 0..3000 {
        let json = if round % 3 == 0 {
            // Raw byte damage.
            let mut b = good_bytes.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(b.len());
                b[at] = rng.next_u64() as u8;
            }
            b.truncate(b.len() - rng.below(4).min(b.len()));
            b
        } else {
            let mut v = good.clone();
            for _ in 0..1 + rng.below(2) {
                mutate(&mut v, &mut rng);
            }
            serde_json::to_vec(&v).unwrap()
        };
        write(d, "model.json", &json);
        let cut = if round % 5 == 0 {
            rng.below(bin.len() + 1)
        } else {
            bin.len()
        };
        write(d, "model.weights.bin", &bin[..cut]);
        match import_tfjs(&d.join("model.json")) {
            Ok((t, p)) => {
                accepted += 1;
                assert_eq!(p.len(), t.params_len());
            }
            Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
        }
    }
    // Harmless edits (names, initializers) still import.
    assert!(accepted > 100, "{accepted}");
}

/// Converter-style uint8/uint16 weights (fixture by `bench/tfjs/quantized.js`): import
/// gives the very bits TF.js's own `getWeights()` gives, zero points included (which
/// needs the JSON scale read exactly, not one ULP off).
#[test]
fn quantized_import_is_bit_identical_to_tfjs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tfjs-quantized");
    let (_, params) = import_tfjs(&dir.join("model.json")).unwrap();
    let tfjs: Vec<u32> = fs::read(dir.join("tfjs-weights.f32"))
        .unwrap()
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let ours: Vec<u32> = params.iter().map(|p| p.to_bits()).collect();
    assert_eq!(ours.len(), tfjs.len());
    let differ: Vec<usize> = (0..ours.len()).filter(|&i| ours[i] != tfjs[i]).collect();
    assert!(
        differ.is_empty(),
        "{} of {} weights differ from TF.js's, first at {}: {} vs {}",
        differ.len(),
        ours.len(),
        differ[0],
        params[differ[0]],
        f32::from_bits(tfjs[differ[0]])
    );
    assert!(params.iter().filter(|p| **p == 0.0).count() >= 3);
}

/// `export-tfjs --like`: a model imported from TF.js goes back with the original's
/// topology (names, initializer configs, Flatten and Dropout) and weight names, the same
/// bytes as the original's weights, and a bias-less layer stays bias-less.
#[test]
fn export_like_the_original_keeps_names_and_initializers() {
    let dir = TempDir::new().unwrap();
    let original = browser_fixture(dir.path());
    let (t, params) = import_tfjs(&original).unwrap();
    let like = Original::read(&original, &t).unwrap();
    let out = dir.path().join("out");
    export_tfjs_like(&t, &params, Some(&like), &out).unwrap();
    let read = |p: &Path| -> Value { serde_json::from_slice(&fs::read(p).unwrap()).unwrap() };
    let (a, b) = (read(&original), read(&out.join("model.json")));
    assert_eq!(a["modelTopology"], b["modelTopology"]);
    assert_eq!(
        a["weightsManifest"][0]["weights"],
        b["weightsManifest"][0]["weights"]
    );
    assert_eq!(
        fs::read(out.join("model.weights.bin")).unwrap(),
        reference_bin()
    );
    let layers = &b["modelTopology"]["config"]["layers"];
    assert_eq!(layers[1]["config"]["name"], "dense_Dense4");
    assert_eq!(
        layers[1]["config"]["kernel_initializer"],
        json!({"class_name": "VarianceScaling", "config": {"scale": 1}})
    );
    assert_eq!(
        import_tfjs(&out.join("model.json")).unwrap(),
        (t.clone(), params.clone())
    );

    // Without --like: fresh names and glorot-normal's config.
    export_tfjs(&t, &params, &dir.path().join("fresh")).unwrap();
    let fresh = read(&dir.path().join("fresh/model.json"));
    assert_eq!(
        fresh["modelTopology"]["config"]["layers"][0]["config"]["name"],
        "dense_Dense1"
    );

    // A bias-less original layer stays bias-less while its biases are zero.
    let v = json!({
        "modelTopology": {"class_name": "Sequential", "config": [
            {"class_name": "Dense", "config": {"units": 3, "use_bias": false, "batchInputShape": [null, 4], "name": "d1"}},
            {"class_name": "Dense", "config": {"units": 2, "activation": "softmax", "name": "d2"}}
        ]},
        "weightsManifest": [{"paths": ["w.bin"], "weights": [
            spec("d1/kernel", &[4, 3]), spec("d2/kernel", &[3, 2]), spec("d2/bias", &[2])
        ]}]
    });
    let legacy = dir.path().join("legacy");
    fs::create_dir_all(&legacy).unwrap();
    let bin = le(&[&K1[..], &K2, &B2].concat());
    write(&legacy, "w.bin", &bin);
    let original = write_json(&legacy, &v);
    let (t, mut params) = import_tfjs(&original).unwrap();
    let like = Original::read(&original, &t).unwrap();
    export_tfjs_like(&t, &params, Some(&like), &out).unwrap();
    assert_eq!(fs::read(out.join("model.weights.bin")).unwrap(), bin);
    params[12] = 0.5;
    let e = export_tfjs_like(&t, &params, Some(&like), &out).unwrap_err();
    assert!(e.to_string().contains("its layer d1 has no bias"), "{e}");
    // Another network's original is refused.
    let other = Topology::new(4, &[Layer::new(5, Activation::Softmax)]).unwrap();
    let e = Original::read(&original, &other).err().unwrap().to_string();
    assert!(e.contains("its Dense layers are not this model's"), "{e}");
}
