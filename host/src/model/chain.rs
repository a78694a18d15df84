//! A chain of dense layers as the importers read it from another format, before it
//! becomes a [`Model`]: one type for the ONNX and TFLite readers.
use anyhow::{anyhow, Result};
use microdense::{Activation, Layer, Topology};

use super::Model;

/// One dense layer in core's orientation: `weights[i * units + j]` from input i to unit j.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    pub fan_in: usize,
    pub units: usize,
    pub weights: Vec<f32>,
    pub biases: Vec<f32>,
    /// `None` until an activation follows (then linear).
    pub activation: Option<Activation>,
}

impl Dense {
    /// Zero biases.
    pub fn new(fan_in: usize, units: usize, weights: Vec<f32>) -> Dense {
        Dense {
            fan_in,
            units,
            weights,
            biases: vec![0.0; units],
            activation: None,
        }
    }
}

/// The topology of `layers` fed `input` values: each fan-in must be the previous width, the
/// output layer softmax (microdense models are classifiers), and every parameter finite.
/// `at` names the source in errors.
pub fn topology(at: &str, input: usize, layers: &[Dense]) -> Result<Topology> {
    let Some(last) = layers.last() else {
        return Err(anyhow!(
            "{at}: no dense layer (FullyConnected/Gemm/MatMul) in the graph"
        ));
    };
    if last.activation != Some(Activation::Softmax) {
        return Err(anyhow!(
            "{at}: the output is not a softmax over the last dense layer; microdense imports classifiers"
        ));
    }
    let mut width = input;
    let mut shape = Vec::with_capacity(layers.len());
    for (k, l) in layers.iter().enumerate() {
        if l.fan_in != width {
            return Err(anyhow!(
                "{at}: dense layer {k} takes {} inputs but receives {width}",
                l.fan_in
            ));
        }
        let act = l.activation.unwrap_or(Activation::Linear);
        if act == Activation::Softmax && k + 1 != layers.len() {
            return Err(anyhow!(
                "{at}: softmax after dense layer {k}, which is not the last"
            ));
        }
        shape.push(Layer::new(l.units, act));
        width = l.units;
    }
    Topology::new(input, &shape).map_err(|e| anyhow!("{at}: {e}"))
}

/// The f32 model of the chain.
pub fn to_model(at: &str, input: usize, layers: &[Dense]) -> Result<Model> {
    let topology = topology(at, input, layers)?;
    let mut params = Vec::with_capacity(topology.params_len());
    for (k, l) in layers.iter().enumerate() {
        if let Some(i) = l
            .weights
            .iter()
            .chain(&l.biases)
            .position(|v| !v.is_finite())
        {
            return Err(anyhow!(
                "{at}: dense layer {k}: parameter {i} is not finite"
            ));
        }
        params.extend_from_slice(&l.weights);
        params.extend_from_slice(&l.biases);
    }
    Ok(Model {
        topology,
        params,
        input: None,
    })
}
