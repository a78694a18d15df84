//! Writes a network as TF.js would save it from the browser: `model.json` (a Sequential
//! Layers model) and one `model.weights.bin`, loadable by `tf.loadLayersModel`.
use std::fs;
use std::path::Path;

use anyhow::{anyhow, Result};
use microdense::Topology;
use serde::Serialize;
use serde_json::{json, Value};

use super::topology::DenseSpec;
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

/// What an export keeps of the TF.js model a network came from: its `modelTopology`
/// as it was (layer names, initializer configs, Flatten/Dropout layers…), and its Dense
/// layers' names and biases.
pub struct Original {
    model_topology: Value,
    dense: Vec<DenseSpec>,
}

impl Original {
    /// Reads the original `model.json` and checks its Dense layers are `topology`'s.
    pub fn read(model_json: &Path, topology: &Topology) -> Result<Original> {
        let at = model_json.display();
        let bytes = crate::files::read_regular(model_json, super::MAX_MODEL_JSON)
            .map_err(|e| anyhow!("{at}: cannot read: {e}"))?;
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| anyhow!("{at}: not valid JSON: {e}"))?;
        let model_topology = v
            .get("modelTopology")
            .cloned()
            .ok_or_else(|| anyhow!("{at}: no modelTopology"))?;
        let plan = super::topology::parse(&model_topology).map_err(|e| anyhow!("{at}: {e}"))?;
        let ours: Vec<_> = topology
            .layers()
            .iter()
            .map(|l| (l.units, l.activation))
            .collect();
        let theirs: Vec<_> = plan.dense.iter().map(|d| (d.units, d.activation)).collect();
        if ours != theirs || plan.input.is_some_and(|i| i != topology.input()) {
            return Err(anyhow!(
                "{at}: its Dense layers are not this model's ({})",
                crate::model::describe(topology)
            ));
        }
        Ok(Original {
            model_topology,
            dense: plan.dense,
        })
    }
}

/// Writes `out_dir/model.json` and `out_dir/model.weights.bin` (each atomically, the
/// weights first), creating `out_dir` if needed.
pub fn export_tfjs(topology: &Topology, params: &[f32], out_dir: &Path) -> Result<()> {
    export_tfjs_like(topology, params, None, out_dir)
}

/// As [`export_tfjs`], keeping what it can of `original` (the model the network was
/// imported from): a round trip renames no layer and changes no initializer.
pub fn export_tfjs_like(
    topology: &Topology,
    params: &[f32],
    original: Option<&Original>,
    out_dir: &Path,
) -> Result<()> {
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
    let (json, bin) = encode(topology, params, original)?;
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
fn encode(
    topology: &Topology,
    params: &[f32],
    original: Option<&Original>,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut bin = Vec::with_capacity(4 * params.len());
    let mut layers = Vec::new();
    let mut specs = Vec::new();
    let mut offset = 0;
    for (i, layer) in topology.layers().iter().enumerate() {
        let (fan_in, units) = (topology.fan_in(i), layer.units);
        // Core rows (input-major) are the TF.js [in, out] kernel as is, then the biases.
        let layer_params = &params[offset..offset + (fan_in + 1) * units];
        offset += layer_params.len();
        let (kernel, biases) = layer_params.split_at(fan_in * units);
        let spec = original.and_then(|o| o.dense.get(i));
        let name = spec.map_or_else(|| format!("dense_Dense{}", i + 1), |d| d.name.clone());
        let use_bias = spec.is_none_or(|d| d.use_bias);
        if !use_bias && biases.iter().any(|&b| b != 0.0) {
            return Err(anyhow!(
                "cannot export like the original: its layer {name} has no bias, this model's \
                 layer {} has non-zero biases",
                i + 1
            ));
        }
        let kept = if use_bias { layer_params } else { kernel };
        for p in kept {
            bin.extend_from_slice(&p.to_le_bytes());
        }
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
        if use_bias {
            specs.push(Spec {
                name: format!("{name}/bias"),
                shape: vec![units],
                dtype: "float32",
            });
        }
    }
    let model = ModelJson {
        format: "layers-model",
        generated_by: format!("microdense v{}", env!("CARGO_PKG_VERSION")),
        converted_by: None,
        model_topology: match original {
            Some(o) => o.model_topology.clone(),
            None => json!({
                "class_name": "Sequential",
                "config": {"name": "sequential_1", "layers": layers},
                "keras_version": "tfjs-layers 4.22.0",
                "backend": "tensor_flow.js"
            }),
        },
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
        let (json, bin) = encode(&t, &params, None).unwrap();
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
