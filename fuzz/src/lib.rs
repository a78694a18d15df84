//! The fuzz targets' bodies, callable from libFuzzer (`fuzz_targets/<name>.rs`), from the
//! seed generator (`src/bin/seeds.rs`) and from the stable smoke test
//! (`tests/smoke.rs`). Each takes arbitrary bytes and must never panic, hang or allocate
//! without bound: errors are fine, they are the parsers' job.
use std::io::Write;
use std::path::Path;

use microdense::{Sgd, Trainer};
use microdense_host::data::idx;
use microdense_host::model::bundle::read_bundle;
use microdense_host::model::tfjs::import_tfjs;
use microdense_host::model::{Model, QuantModel};

/// Every target: its name and body. Add a new parser's target here, in Cargo.toml
/// and in fuzz_targets/, and give it seeds in [`seeds`].
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("blob_f32", blob_f32),
    ("blob_int8", blob_int8),
    ("idx_raw", idx_raw),
    ("idx_gz", idx_gz),
    ("tfjs_import", tfjs_import),
    ("bundle", bundle),
    ("onnx_import", onnx_import),
    ("tflite_import", tflite_import),
];

const NAME: &str = "fuzz-input";

/// An f32 weights blob, then inference on one sample and one training step.
pub fn blob_f32(data: &[u8]) {
    let Ok(mut model) = Model::from_bytes(Path::new(NAME), data) else {
        return;
    };
    let t = model.topology.clone();
    let x: Vec<f32> = (0..t.input()).map(|i| (i % 7) as f32 / 7.0).collect();
    let mut scratch = vec![0.0f32; t.infer_scratch_len(1)];
    let logits = model
        .network()
        .logits(&x, &mut scratch)
        .map(<[f32]>::to_vec);
    assert_eq!(logits.map(|l| l.len()).ok(), Some(t.outputs()));
    let mut scratch = vec![0.0f32; t.train_scratch_len(1)];
    let mut velocity = vec![0.0f32; t.optimizer_len()];
    let sgd = Sgd::new(0.01).with_momentum(0.9);
    if let Ok(mut trainer) = Trainer::new(&t, 1, sgd, &mut scratch, &mut velocity) {
        let label = [(t.outputs() - 1).min(255) as u8];
        let _ = trainer.step(&mut model.network_mut(), &x, &label);
    }
}

/// An int8 weights blob, then integer inference on one image.
pub fn blob_int8(data: &[u8]) {
    let Ok(model) = QuantModel::from_bytes(Path::new(NAME), data) else {
        return;
    };
    let image: Vec<u8> = (0..model.topology.input())
        .map(|i| (i * 37) as u8)
        .collect();
    let logits = model.logits(&image);
    assert_eq!(logits.map(|l| l.len()).ok(), Some(model.topology.outputs()));
}

/// An IDX file as is (raw unless it starts with the gzip magic), as images and as labels.
pub fn idx_raw(data: &[u8]) {
    if let Ok(images) = idx::parse_images(Path::new(NAME), data.to_vec()) {
        assert_eq!(
            images.pixels.len(),
            images.count * images.rows * images.cols
        );
    }
    let _ = idx::parse_labels(Path::new(NAME), data.to_vec());
}

/// An IDX file through the gzip path: the input is a gzip stream (the magic is added
/// when missing).
pub fn idx_gz(data: &[u8]) {
    let mut file = Vec::with_capacity(data.len() + 2);
    if !data.starts_with(&[0x1f, 0x8b]) {
        file.extend_from_slice(&[0x1f, 0x8b]);
    }
    file.extend_from_slice(data);
    idx_raw(&file);
}

/// A TF.js model: the input is `u32 LE length of model.json`, model.json, then the bytes
/// of `model.weights.bin`, written to a temporary directory and imported.
pub fn tfjs_import(data: &[u8]) {
    let Some((json, shard)) = split_tfjs(data) else {
        return;
    };
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let json_path = dir.path().join("model.json");
    if std::fs::write(&json_path, json).is_err()
        || std::fs::write(dir.path().join("model.weights.bin"), shard).is_err()
    {
        return;
    }
    if let Ok((t, params)) = import_tfjs(&json_path) {
        assert_eq!(params.len(), t.params_len());
    }
}

fn split_tfjs(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(data.get(..4)?.try_into().ok()?) as usize;
    let rest = &data[4..];
    (len <= rest.len()).then(|| rest.split_at(len))
}

/// The firmware bundle, then every digit's host prediction.
pub fn bundle(data: &[u8]) {
    let Ok(view) = read_bundle(data) else {
        return;
    };
    for i in 0..view.test_labels.len() {
        let _ = view.test_image(i);
        assert!(view.host_prediction(i) < view.classes);
    }
}

/// An ONNX model (`import_onnx`: protobuf decoding, graph walk, initializers).
pub fn onnx_import(data: &[u8]) {
    match microdense_host::model::onnx::import_onnx(Path::new(NAME), data) {
        Ok((m, _notes)) => {
            // What was read is consistent: it exports and reads back to the same model.
            let bytes = microdense_host::model::onnx::export_onnx(&m);
            let again = microdense_host::model::onnx::import_onnx(Path::new(NAME), &bytes);
            assert!(
                matches!(again, Ok((ref a, _)) if *a == m),
                "re-import differs"
            );
        }
        Err(e) => names_input(&e),
    }
}

/// A TFLite flatbuffer (`import_tflite`: float and int8 chains); what is read runs.
pub fn tflite_import(data: &[u8]) {
    use microdense_host::model::tflite::{import_tflite, Imported};
    match import_tflite(Path::new(NAME), data) {
        Ok(Imported::F32(m)) => assert_eq!(m.params.len(), m.topology.params_len()),
        Ok(Imported::Int8(q)) => {
            let image = vec![7u8; q.topology.input()];
            let logits = q.logits(&image).expect("a read int8 model runs");
            assert_eq!(logits.len(), q.topology.outputs());
        }
        Err(e) => names_input(&e),
    }
}

/// A refusal names the file it refuses (the tool's one-line error promise).
fn names_input(e: &anyhow::Error) {
    let text = format!("{e:#}");
    assert!(text.contains(NAME), "error does not name the file: {text}");
}

/// The committed import fixtures (scripts/import-fixtures/make.py): real exporters' files.
const ONNX_SEEDS: [&[u8]; 1] = [include_bytes!(
    "../../host/tests/fixtures/import/digits-gemm.onnx"
)];
const TFLITE_SEEDS: [&[u8]; 3] = [
    include_bytes!("../../host/tests/fixtures/import/digits-f32.tflite"),
    include_bytes!("../../host/tests/fixtures/import/digits-int8.tflite"),
    include_bytes!("../../host/tests/fixtures/import/digits-int8-per-tensor.tflite"),
];

/// Small valid inputs for `target`, made with the host's own writers.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let f32_model = |input, hidden: &[usize], classes| {
        let t = microdense_host::model::mlp(input, hidden, microdense::Activation::Relu, classes)
            .expect("a valid topology");
        Model::init(t, microdense::Init::GlorotUniform, 7)
    };
    let models = [
        f32_model(4, &[3], 2),
        f32_model(6, &[], 3),
        f32_model(5, &[4, 3], 2),
    ];
    let images = idx::Images {
        count: 3,
        rows: 2,
        cols: 3,
        pixels: (0..18).map(|i| (i * 14) as u8).collect(),
    };
    let dataset = idx::Dataset {
        images: images.clone(),
        labels: vec![0, 1, 0],
    };
    match target {
        "blob_f32" => models
            .iter()
            .map(|m| m.to_bytes().expect("encodes"))
            .collect(),
        "blob_int8" => models
            .iter()
            .filter(|m| m.topology.input() == 6)
            .chain([&f32_model(6, &[4], 2)])
            .map(|m| quantized(m, &dataset).bytes().to_vec())
            .collect(),
        "idx_raw" | "idx_gz" => {
            let dir = tempfile::tempdir().expect("a temp dir");
            let (ip, lp) = (dir.path().join("i"), dir.path().join("l"));
            idx::write_images(&ip, &images).expect("writes");
            idx::write_labels(&lp, &dataset.labels).expect("writes");
            let raw = [std::fs::read(&ip), std::fs::read(&lp)].map(|r| r.expect("reads"));
            if target == "idx_raw" {
                raw.to_vec()
            } else {
                raw.iter().map(|r| gzip(r)).collect()
            }
        }
        "tfjs_import" => models
            .iter()
            .map(|m| {
                let dir = tempfile::tempdir().expect("a temp dir");
                microdense_host::model::tfjs::export_tfjs(&m.topology, &m.params, dir.path())
                    .expect("exports");
                let json = std::fs::read(dir.path().join("model.json")).expect("reads");
                let bin = std::fs::read(dir.path().join("model.weights.bin")).expect("reads");
                let mut seed = (json.len() as u32).to_le_bytes().to_vec();
                seed.extend(json);
                seed.extend(bin);
                seed
            })
            .collect(),
        "bundle" => {
            use microdense_host::model::{bundle::bundle_bytes_for, AnyModel};
            let images: Vec<&[u8]> = (0..3).map(|i| dataset.image(i)).collect();
            let q = quantized(&f32_model(6, &[4], 2), &dataset);
            let f = models[1].clone();
            [
                bundle_bytes_for(&AnyModel::F32(f), &images, &[0, 1, 0], &images[..1], &[1]),
                bundle_bytes_for(&AnyModel::Int8(q), &images, &[0, 1, 0], &[], &[]),
            ]
            .into_iter()
            .map(|b| b.expect("a bundle"))
            .collect()
        }
        "onnx_import" => ONNX_SEEDS
            .iter()
            .map(|b| b.to_vec())
            .chain(models.iter().map(microdense_host::model::onnx::export_onnx))
            .collect(),
        "tflite_import" => TFLITE_SEEDS.iter().map(|b| b.to_vec()).collect(),
        _ => Vec::new(),
    }
}

fn quantized(model: &Model, set: &idx::Dataset) -> QuantModel {
    let c =
        microdense_host::model::quantize::calibrate(model, set, &[0, 1, 2]).expect("calibrates");
    microdense_host::model::quantize::quantize(model, &c)
        .expect("quantizes")
        .model
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("in memory");
    e.finish().expect("in memory")
}
