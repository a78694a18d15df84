//! Writes a network as TF.js would save it from the browser: `model.json` (a Sequential
//! Layers model) and one `model.weights.bin`, loadable by `tf.loadLayersModel`.
use std::fs;
use std::path::Path;

use anyhow::{anyhow, Result};
use microdense::Topology;
use serde::Serialize;
use serde_json::{json, Value};

use crate::atomic::{commit_all, stage};

pub const MODEL_JSON: &str = "model.json";
pub const WEIGHTS_BIN: &str = "model.weights.bin";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelJson {
    format: &'static str,
    generated_by: String,
    converted_by: Option<String>,
    model_topology: Value,
    weights_manifest: [Manifest; 1],
}

#[derive(Serialize)]
struct Manifest {
    paths: [&'static str; 1],
    weights: Vec<Spec>,
}

#[derive(Serialize)]
struct Spec {
    name: String,
    shape: Vec<usize>,
    dtype: &'static str,
}

/// Writes `out_dir/model.json` and `out_dir/model.weights.bin` (each atomically, the
/// weights first), creating `out_dir` if needed.
pub fn export_tfjs(topology: &Topology, params: &[f32], out_dir: &Path) -> Result<()> {
    if params.len() != topology.params_len() {
        return Err(anyhow!(
            "cannot export: {} parameters, the topology needs {}",
            params.len(),
            topology.params_len()
        ));
    }
    if let Some(i) = params.iter().position(|p| !p.is_finite()) {
        return Err(anyhow!(
            "cannot export: parameter {i} is {} (not finite)",
            params[i]
        ));
    }
    let (json, bin) = encode(topology, params)?;
    fs::create_dir_all(out_dir)
        .map_err(|e| anyhow!("{}: cannot create directory: {e}", out_dir.display()))?;
    // Weights before the manifest that points at them.
    // Both written in full before either is renamed, and renamed as one step for
    // SIGINT and SIGTERM: the folder never pairs a new model.json with old weights.
    let staged = vec![
        stage(&out_dir.join(WEIGHTS_BIN), &bin)?,
        stage(&out_dir.join(MODEL_JSON), json.as_ref())?,
    ];
    commit_all(staged)?;
    Ok(())
}

/// `(model.json, model.weights.bin)` bytes.
fn encode(topology: &Topology, params: &[f32]) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut bin = Vec::with_capacity(4 * params.len());
    let mut layers = Vec::new();
    let mut specs = Vec::new();
    let mut offset = 0;
    for (i, layer) in topology.layers().iter().enumerate() {
        let (fan_in, units) = (topology.fan_in(i), layer.units);
        // Core rows (input-major) are the TF.js [in, out] kernel as is, then the biases.
        let layer_params = &params[offset..offset + (fan_in + 1) * units];
        offset += layer_params.len();
        for p in layer_params {
            bin.extend_from_slice(&p.to_le_bytes());
        }
        let name = format!("dense_Dense{}", i + 1);
        let mut config = json!({
            "units": units,
            "activation": layer.activation.name(),
            "use_bias": true,
            "kernel_initializer": {
                "class_name": "VarianceScaling",
                "config": {"scale": 1, "mode": "fan_avg", "distribution": "normal", "seed": null}
            },
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": null,
            "bias_regularizer": null,
            "activity_regularizer": null,
            "kernel_constraint": null,
            "bias_constraint": null,
            "name": name,
            "trainable": true
        });
        if i == 0 {
            config["batch_input_shape"] = json!([null, topology.input()]);
            config["dtype"] = json!("float32");
        }
        layers.push(json!({"class_name": "Dense", "config": config}));
        specs.push(Spec {
            name: format!("{name}/kernel"),
            shape: vec![fan_in, units],
            dtype: "float32",
        });
        specs.push(Spec {
            name: format!("{name}/bias"),
            shape: vec![units],
            dtype: "float32",
        });
    }
    let model = ModelJson {
        format: "layers-model",
        generated_by: format!("microdense v{}", env!("CARGO_PKG_VERSION")),
        converted_by: None,
        model_topology: json!({
            "class_name": "Sequential",
            "config": {"name": "sequential_1", "layers": layers},
            "keras_version": "tfjs-layers 4.22.0",
            "backend": "tensor_flow.js"
        }),
        weights_manifest: [Manifest {
            paths: [WEIGHTS_BIN],
            weights: specs,
        }],
    };
    let mut json = serde_json::to_vec_pretty(&model)
        .map_err(|e| anyhow!("cannot encode {MODEL_JSON}: {e}"))?;
    json.push(b'\n');
    Ok((json, bin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use microdense::{Activation, Layer};

    #[test]
    fn kernels_keep_tfjs_semantics_and_names() {
        let t = Topology::new(
            3,
            &[
                Layer::new(2, Activation::Relu),
                Layer::new(1, Activation::Sigmoid),
            ],
        )
        .unwrap();
        let params: Vec<f32> = (1..=11).map(|v| v as f32 * 0.1 - 0.4).collect();
        let (json, bin) = encode(&t, &params).unwrap();
        let floats: Vec<f32> = bin
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        // TF.js's first layer, y = x·K + b with K as [3, 2], agrees with the core.
        let (k, b) = (&floats[..6], &floats[6..8]);
        let x = [0.5f32, -1.0, 2.0];
        let tfjs: Vec<f32> = (0..2)
            .map(|j| b[j] + (0..3).map(|i| x[i] * k[i * 2 + j]).sum::<f32>())
            .collect();
        let one = Topology::new(3, &t.layers()[..1]).unwrap();
        let net = microdense::Network::new(one, &params[..8]).unwrap();
        let mut scratch = [0.0; 4];
        let core = net.logits(&x, &mut scratch).unwrap();
        for (a, c) in tfjs.iter().zip(core) {
            assert!((a.max(0.0) - c).abs() < 1e-6, "{tfjs:?} vs {core:?}");
        }
        assert_eq!(floats.len(), params.len());
        let v: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["format"], "layers-model");
        assert_eq!(v["convertedBy"], Value::Null);
        let layers = &v["modelTopology"]["config"]["layers"];
        assert_eq!(layers[0]["config"]["batch_input_shape"], json!([null, 3]));
        assert_eq!(layers[1]["config"]["activation"], "sigmoid");
        assert!(layers[1]["config"].get("batch_input_shape").is_none());
        let w = &v["weightsManifest"][0];
        assert_eq!(w["paths"], json!(["model.weights.bin"]));
        assert_eq!(
            w["weights"][0],
            json!({"name": "dense_Dense1/kernel", "shape": [3, 2], "dtype": "float32"})
        );
        assert_eq!(w["weights"][3]["name"], "dense_Dense2/bias");
    }

    #[test]
    fn bad_params_are_refused() {
        let t = Topology::new(1, &[Layer::new(1, Activation::Softmax)]).unwrap();
        let dir = Path::new("/nonexistent/never-created");
        let e = export_tfjs(&t, &[1.0], dir).unwrap_err().to_string();
        assert_eq!(e, "cannot export: 1 parameters, the topology needs 2");
        let e = export_tfjs(&t, &[1.0, f32::NAN], dir)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "cannot export: parameter 1 is NaN (not finite)");
    }
}
