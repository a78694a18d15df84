//! The `modelTopology` of a TF.js (Keras-style) Sequential model, reduced to what the core
//! can run: an input size and a chain of dense layers.
//!
//! Errors are plain messages without the file name; the caller prefixes it.
use microdense::Activation;
use serde_json::{Map, Value};

/// Layer classes that map onto the core (the others are refused by name).
const SUPPORTED: &str = "only Dense, Flatten, Dropout, InputLayer";

/// A Dense layer as declared in the topology.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DenseSpec {
    /// 1-based position in the topology's layer list (for messages).
    pub position: usize,
    pub name: String,
    pub units: usize,
    pub activation: Activation,
    pub use_bias: bool,
}

impl DenseSpec {
    /// `layer 3 (dense_Dense2)`.
    pub fn label(&self) -> String {
        layer_label(self.position, &self.name)
    }
}

/// What the topology says about the network.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Plan {
    /// Inputs per sample, when the first layer declares its shape.
    pub input: Option<usize>,
    pub dense: Vec<DenseSpec>,
}

fn layer_label(position: usize, name: &str) -> String {
    if name.is_empty() {
        format!("layer {position}")
    } else {
        format!("layer {position} ({name})")
    }
}

/// Parses `modelTopology`: either the model itself (`{class_name, config}`, as TF.js
/// saves it) or Keras' wrapper with a `model_config` (as the Python converter writes it).
pub(crate) fn parse(model_topology: &Value) -> Result<Plan, String> {
    let model = model_topology.get("model_config").unwrap_or(model_topology);
    let Some(model) = model.as_object() else {
        return Err("modelTopology is not an object".into());
    };
    let class = model.get("class_name").and_then(Value::as_str);
    match class {
        Some("Sequential") => {}
        Some(other) => {
            return Err(format!(
                "the model is a {other}; only Sequential models are supported"
            ))
        }
        None => return Err("modelTopology has no class_name".into()),
    }
    // Older saves put the layer list directly in `config`.
    let layers = match model.get("config") {
        Some(Value::Array(layers)) => layers,
        Some(Value::Object(config)) => match config.get("layers") {
            Some(Value::Array(layers)) => layers,
            _ => return Err("the Sequential config has no layers list".into()),
        },
        _ => return Err("the Sequential model has no config".into()),
    };
    plan(layers)
}

fn plan(layers: &[Value]) -> Result<Plan, String> {
    // Shape of one sample after each layer (batch dimension dropped); `None` until a
    // layer declares it.
    let mut shape: Option<Vec<usize>> = None;
    let mut input = None;
    let mut dense = Vec::new();
    for (k, layer) in layers.iter().enumerate() {
        let position = k + 1;
        let empty = Map::new();
        let class = layer.get("class_name").and_then(Value::as_str);
        let config = layer
            .get("config")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let name = config
            .get("name")
            .or_else(|| layer.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let label = layer_label(position, name);
        let Some(class) = class else {
            return Err(format!("{label}: no class_name"));
        };
        if class == "InputLayer" && position != 1 {
            return Err(format!("{label}: an InputLayer must come first"));
        }
        if position == 1 {
            shape = declared_shape(config).map_err(|e| format!("{label}: {e}"))?;
            if class == "InputLayer" && shape.is_none() {
                return Err(format!(
                    "{label}: the InputLayer declares no batch_input_shape"
                ));
            }
            input = match &shape {
                Some(dims) => Some(product(dims).ok_or(format!("{label}: input too large"))?),
                None => None,
            };
        }
        match class {
            "InputLayer" | "Dropout" => {}
            "Flatten" => {
                if let Some(dims) = &shape {
                    check_flatten_order(config, dims).map_err(|e| format!("{label}: {e}"))?;
                    let n = product(dims).ok_or(format!("{label}: input too large"))?;
                    shape = Some(vec![n]);
                }
            }
            "Dense" => {
                let spec =
                    dense_spec(position, name, config).map_err(|e| format!("{label}: {e}"))?;
                if let Some(dims) = &shape {
                    if dims.len() != 1 {
                        return Err(format!(
                            "{label}: Dense on a {} input needs a Flatten before it",
                            dims_text(dims)
                        ));
                    }
                }
                shape = Some(vec![spec.units]);
                dense.push(spec);
            }
            other => {
                return Err(format!(
                    "{label}: class {other} is not supported ({SUPPORTED})"
                ))
            }
        }
    }
    if dense.is_empty() {
        return Err("the model has no Dense layer".into());
    }
    Ok(Plan { input, dense })
}

/// The per-sample input shape a first layer declares, if any.
fn declared_shape(config: &Map<String, Value>) -> Result<Option<Vec<usize>>, String> {
    // TF.js writes snake_case, Keras 3 `batch_shape`; `input_shape` has no batch entry.
    let with_batch = ["batch_input_shape", "batchInputShape", "batch_shape"];
    let without = ["input_shape", "inputShape"];
    let (key, dims, skip) = match with_batch
        .iter()
        .map(|k| (k, 1))
        .chain(without.iter().map(|k| (k, 0)))
        .find_map(|(k, skip)| {
            config
                .get(*k)
                .filter(|v| !v.is_null())
                .map(|v| (k, v, skip))
        }) {
        Some(found) => found,
        None => return Ok(None),
    };
    let Some(dims) = dims.as_array().filter(|d| d.len() > skip) else {
        return Err(format!("{key} is not a list of dimensions"));
    };
    let dims = dims[skip..]
        .iter()
        .map(|d| match d.as_u64().and_then(|d| usize::try_from(d).ok()) {
            Some(d) if d > 0 => Ok(d),
            _ if d.is_null() => Err(format!("{key} has a variable-size dimension")),
            _ => Err(format!("{key} has an invalid dimension {d}")),
        })
        .collect::<Result<Vec<usize>, String>>()?;
    if dims.is_empty() {
        return Err(format!("{key} has no dimensions besides the batch"));
    }
    Ok(Some(dims))
}

/// Keras' channels-first Flatten moves the channels last before flattening, which
/// reorders the inputs unless there is a single channel.
fn check_flatten_order(config: &Map<String, Value>, dims: &[usize]) -> Result<(), String> {
    let channels_first =
        config.get("data_format").and_then(Value::as_str) == Some("channels_first");
    if channels_first && dims.len() > 2 && dims[0] != 1 {
        return Err(format!(
            "a channels_first Flatten of a {} input reorders it; not supported",
            dims_text(dims)
        ));
    }
    Ok(())
}

fn dense_spec(
    position: usize,
    name: &str,
    config: &Map<String, Value>,
) -> Result<DenseSpec, String> {
    let units = match config.get("units").map(|u| (u, u.as_u64())) {
        Some((_, Some(u))) if u > 0 => {
            usize::try_from(u).map_err(|_| format!("units {u} is too large"))?
        }
        Some((u, _)) => return Err(format!("invalid units {u}")),
        None => return Err("Dense without units".into()),
    };
    let activation = match config.get("activation") {
        None | Some(Value::Null) => Activation::Linear,
        Some(Value::String(a)) => Activation::from_name(a).ok_or(format!(
            "activation {a} is not supported (only linear, relu, sigmoid, tanh, softmax)"
        ))?,
        Some(other) => return Err(format!("activation {other} is not supported")),
    };
    let use_bias = match config.get("use_bias").or_else(|| config.get("useBias")) {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("use_bias {other} is not a boolean")),
    };
    Ok(DenseSpec {
        position,
        name: name.to_owned(),
        units,
        activation,
        use_bias,
    })
}

fn product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// `28x28x1`.
pub(crate) fn dims_text(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(usize::to_string).collect();
    parts.join("x")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dense(units: u64, activation: &str) -> Value {
        json!({"class_name": "Dense", "config": {"units": units, "activation": activation, "name": "d"}})
    }

    #[test]
    fn nested_and_legacy_configs() {
        let layers = json!([
            {"class_name": "Flatten", "config": {"batch_input_shape": [null, 28, 28, 1], "name": "f"}},
            {"class_name": "Dense", "config": {"units": 32, "use_bias": false, "name": "a"}},
            {"class_name": "Dropout", "config": {"rate": 0.5}},
            dense(10, "softmax"),
        ]);
        let nested = json!({"class_name": "Sequential", "config": {"name": "s", "layers": layers}});
        let legacy = json!({"class_name": "Sequential", "config": layers});
        let keras = json!({"keras_version": "2.15", "model_config": nested});
        let p = parse(&nested).unwrap();
        assert_eq!(parse(&legacy).unwrap(), p);
        assert_eq!(parse(&keras).unwrap(), p);
        assert_eq!(p.input, Some(784));
        assert_eq!(p.dense.len(), 2);
        assert_eq!(
            p.dense[0],
            DenseSpec {
                position: 2,
                name: "a".into(),
                units: 32,
                activation: Activation::Linear,
                use_bias: false
            }
        );
        assert_eq!(p.dense[1].activation, Activation::Softmax);
        assert_eq!(p.dense[1].label(), "layer 4 (d)");
    }

    #[test]
    fn input_shapes() {
        let seq =
            |first: Value| json!({"class_name": "Sequential", "config": [first, dense(3, "relu")]});
        let input = |config: Value| {
            parse(&seq(json!({"class_name": "InputLayer", "config": config}))).map(|p| p.input)
        };
        assert_eq!(input(json!({"batch_input_shape": [null, 5]})), Ok(Some(5)));
        assert_eq!(input(json!({"batchInputShape": [null, 6]})), Ok(Some(6)));
        assert_eq!(input(json!({"batch_shape": [null, 7]})), Ok(Some(7)));
        assert!(input(json!({}))
            .unwrap_err()
            .contains("no batch_input_shape"));
        assert!(input(json!({"batch_input_shape": [null, null]}))
            .unwrap_err()
            .contains("variable-size"));
        assert!(input(json!({"batch_input_shape": [null, -3]})).is_err());
        assert!(input(json!({"batch_input_shape": [null]})).is_err());
        assert!(input(json!({"batch_input_shape": 4})).is_err());
        let first = json!({"class_name": "Dense", "config": {"units": 4, "input_shape": [9]}});
        assert_eq!(parse(&seq(first)).unwrap().input, Some(9));
        // No declared shape: the caller takes it from the first kernel.
        assert_eq!(parse(&seq(dense(4, "relu"))).unwrap().input, None);
    }

    #[test]
    fn refusals_name_the_layer() {
        let seq = |layers: Value| parse(&json!({"class_name": "Sequential", "config": layers}));
        let e = seq(json!([{"class_name": "Conv2D", "config": {"name": "conv2d_Conv2D1"}}]))
            .unwrap_err();
        assert_eq!(
            e,
            "layer 1 (conv2d_Conv2D1): class Conv2D is not supported (only Dense, Flatten, Dropout, InputLayer)"
        );
        let e = seq(json!([{"class_name": "Dense", "config": {"units": 3, "batch_input_shape": [null, 28, 28]}}]))
            .unwrap_err();
        assert!(e.contains("28x28 input needs a Flatten"), "{e}");
        assert!(seq(json!([dense(3, "elu")]))
            .unwrap_err()
            .contains("activation elu"));
        assert!(seq(json!([{"class_name": "Dense", "config": {"units": 0}}])).is_err());
        assert!(seq(json!([{"class_name": "Dense", "config": {"units": 2.5}}])).is_err());
        assert!(
            seq(json!([{"class_name": "Dense", "config": {"units": 2, "use_bias": "yes"}}]))
                .is_err()
        );
        assert!(seq(json!([{"class_name": "Dropout", "config": {}}]))
            .unwrap_err()
            .contains("no Dense"));
        assert!(
            seq(json!([dense(2, "relu"), {"class_name": "InputLayer", "config": {}}]))
                .unwrap_err()
                .contains("must come first")
        );
        assert!(seq(json!([{"config": {}}]))
            .unwrap_err()
            .contains("no class_name"));
        let flat = json!({"class_name": "Flatten", "config": {"batch_input_shape": [null, 3, 4, 4], "data_format": "channels_first"}});
        assert!(seq(json!([flat, dense(2, "relu")]))
            .unwrap_err()
            .contains("channels_first"));
        let e = parse(&json!({"class_name": "Functional", "config": {}})).unwrap_err();
        assert!(e.contains("Functional"), "{e}");
        assert!(parse(&json!([])).is_err());
        assert!(parse(&json!({"class_name": "Sequential"})).is_err());
    }
}
