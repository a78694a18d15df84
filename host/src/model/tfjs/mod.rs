//! TensorFlow.js Layers-format models (`model.json` plus binary weight shards): import
//! into the core's topology and parameter layout, and export back.
//!
//! Import accepts Sequential models of Dense layers (linear, relu, sigmoid, tanh or
//! softmax, with or without bias), with Flatten, Dropout (identity at inference) and an
//! InputLayer around them. A TF.js kernel is `[in, out]` (`y = x·W + b`), the same
//! input-major order as the core's weight rows, so kernels are copied as they are.
//! Weights are matched to layers by order and shape, not by name: TF.js numbers layer
//! names globally (`dense_Dense4` may be a model's first layer).
//!
//! Every error is one line naming the file it is about (`model.json` or a shard).
mod export;
mod topology;
mod weights;

use std::path::Path;

use anyhow::{anyhow, Result};
use microdense::{Layer, Topology};
use serde::Deserialize;
use serde_json::Value;

pub use export::{export_tfjs, export_tfjs_like, Original, MODEL_JSON, WEIGHTS_BIN};

use topology::{DenseSpec, Plan};
use weights::{Group, Tensor};

/// Largest model.json read (TF.js writes a few kilobytes; the weights are in shards).
pub(crate) const MAX_MODEL_JSON: u64 = 64 << 20;

/// The parts of `model.json` the import reads.
#[derive(Debug, Deserialize)]
struct ModelJson {
    #[serde(rename = "modelTopology")]
    model_topology: Value,
    #[serde(rename = "weightsManifest")]
    weights_manifest: Vec<Group>,
}

/// Reads a TF.js Layers model: `model_json` and the weight shards its manifest lists
/// (relative to its directory). Returns the topology and its flat parameters.
pub fn import_tfjs(model_json: &Path) -> Result<(Topology, Vec<f32>)> {
    let at = model_json.display().to_string();
    let bytes = crate::files::read_regular(model_json, MAX_MODEL_JSON)
        .map_err(|e| anyhow!("{at}: cannot read: {e}"))?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| anyhow!("{at}: not valid JSON: {e}"))?;
    match value.get("format") {
        None | Some(Value::Null) => {}
        Some(Value::String(f)) if f == "layers-model" => {}
        Some(f) => {
            return Err(anyhow!(
            "{at}: format {f} is not supported (only layers-model, as tf.LayersModel.save writes)"
        ))
        }
    }
    // Parsed again into the typed form for errors with a line and column.
    let model: ModelJson = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow!("{at}: not a TF.js Layers model: {e}"))?;
    let plan = topology::parse(&model.model_topology).map_err(|e| anyhow!("{at}: {e}"))?;
    let tensors = weights::load(model_json, &model.weights_manifest)?;
    assemble(&at, &plan, tensors)
}

/// The shard files `model_json`'s manifest names that exist (best effort, for a
/// command's list of inputs; the import itself reports what is wrong).
pub fn shard_files(model_json: &Path) -> Vec<std::path::PathBuf> {
    let dir = model_json.parent().unwrap_or(Path::new(""));
    let Ok(bytes) = crate::files::read_regular(model_json, 64 << 20) else {
        return Vec::new();
    };
    let Ok(model) = serde_json::from_slice::<ModelJson>(&bytes) else {
        return Vec::new();
    };
    model
        .weights_manifest
        .iter()
        .flat_map(|g| &g.paths)
        .filter_map(|p| weights::shard_path(dir, p).ok())
        .filter(|p| p.exists())
        .collect()
}

/// One Dense layer's kernel (`[in, out]`) and bias, as stored by TF.js.
struct DenseWeights {
    kernel: Tensor,
    bias: Option<Tensor>,
}

/// Pairs the manifest's weights with the Dense layers and converts them to the core's
/// layout.
fn assemble(at: &str, plan: &Plan, tensors: Vec<Tensor>) -> Result<(Topology, Vec<f32>)> {
    let mut next = tensors.into_iter();
    let mut input = plan.input;
    let mut fan_in = plan.input;
    let mut layers = Vec::with_capacity(plan.dense.len());
    let mut found = Vec::with_capacity(plan.dense.len());
    for d in &plan.dense {
        let w = take_layer(at, d, &mut next)?;
        // Without a declared input shape, the first kernel tells the input size.
        let rows = fan_in.or_else(|| (w.kernel.shape.len() == 2).then(|| w.kernel.shape[0]));
        if w.kernel.shape != [rows.unwrap_or(0), d.units] {
            let rows = rows.map_or("?".to_owned(), |r| r.to_string());
            return Err(mismatch(
                at,
                &w.kernel,
                d,
                &format!("a kernel of shape [{rows}, {}]", d.units),
            ));
        }
        if let Some(bias) = &w.bias {
            if bias.shape != [d.units] {
                return Err(mismatch(
                    at,
                    bias,
                    d,
                    &format!("a bias of shape [{}]", d.units),
                ));
            }
        }
        for t in std::iter::once(&w.kernel).chain(&w.bias) {
            if let Some(i) = t.values.iter().position(|v| !v.is_finite()) {
                return Err(anyhow!(
                    "{at}: weight {} has a non-finite value ({}) at index {i}",
                    t.name,
                    t.values[i]
                ));
            }
        }
        input = input.or(rows);
        fan_in = Some(d.units);
        layers.push(Layer::new(d.units, d.activation));
        found.push(w);
    }
    let rest: Vec<Tensor> = next.collect();
    if let Some(first) = rest.first() {
        return Err(anyhow!(
            "{at}: the weights manifest has {} weight(s) no Dense layer uses (first: {} of shape {:?})",
            rest.len(),
            first.name,
            first.shape
        ));
    }
    let topology = Topology::new(input.unwrap_or(0), &layers).map_err(|e| anyhow!("{at}: {e}"))?;
    let mut params = Vec::with_capacity(topology.params_len());
    for (w, layer) in found.iter().zip(topology.layers()) {
        // Core rows are input-major like the kernel: no reordering.
        params.extend_from_slice(&w.kernel.values);
        match &w.bias {
            Some(b) => params.extend_from_slice(&b.values),
            None => params.resize(params.len() + layer.units, 0.0),
        }
    }
    Ok((topology, params))
}

/// The next one or two manifest weights: the kernel, and the bias if the layer has one.
fn take_layer(
    at: &str,
    d: &DenseSpec,
    next: &mut impl Iterator<Item = Tensor>,
) -> Result<DenseWeights> {
    let mut take = |what: &str| {
        next.next().ok_or_else(|| {
            anyhow!(
                "{at}: the weights manifest ends before the {what} of {}",
                d.label()
            )
        })
    };
    let first = take("kernel")?;
    if !d.use_bias {
        return Ok(DenseWeights {
            kernel: first,
            bias: None,
        });
    }
    let second = take("bias")?;
    // TF.js writes the kernel first; accept the reverse order too.
    Ok(if first.shape.len() == 1 && second.shape.len() != 1 {
        DenseWeights {
            kernel: second,
            bias: Some(first),
        }
    } else {
        DenseWeights {
            kernel: first,
            bias: Some(second),
        }
    })
}

fn mismatch(at: &str, t: &Tensor, d: &DenseSpec, wanted: &str) -> anyhow::Error {
    anyhow!(
        "{at}: weight {} has shape {:?}, but {} (Dense, {} units) needs {wanted}",
        t.name,
        t.shape,
        d.label(),
        d.units
    )
}
