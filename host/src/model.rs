//! A network with owned parameters, loaded from and saved to the weights format.
//!
//! Every error is one line naming the file: `path: <what>`.
use std::fs;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use microdense::{write_blob, Activation, Blob, Init, Layer, Network, Topology};

use crate::atomic;

/// A topology and its flat parameters (core's layout).
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub topology: Topology,
    pub params: Vec<f32>,
}

/// `input → hidden… (activation) → classes (softmax)`.
pub fn mlp(
    input: usize,
    hidden: &[usize],
    activation: Activation,
    classes: usize,
) -> Result<Topology> {
    let mut layers: Vec<Layer> = hidden
        .iter()
        .map(|&units| Layer::new(units, activation))
        .collect();
    layers.push(Layer::new(classes, Activation::Softmax));
    Topology::new(input, &layers)
        .map_err(|e| anyhow!("network {}: {e}", describe_layers(input, &layers)))
}

/// `784-32-256-10` style summary with activations: `784→32→256→10 (linear, softmax)`.
pub fn describe(topology: &Topology) -> String {
    describe_layers(topology.input(), topology.layers())
}

fn describe_layers(input: usize, layers: &[Layer]) -> String {
    let mut s = input.to_string();
    for l in layers {
        s.push('→');
        s.push_str(&l.units.to_string());
    }
    let mut acts: Vec<&str> = layers.iter().map(|l| l.activation.name()).collect();
    acts.dedup();
    format!("{s} ({})", acts.join(", "))
}

impl Model {
    /// Weights drawn by `init` from `seed`, biases zero.
    pub fn init(topology: Topology, init: Init, seed: u64) -> Model {
        let params = vec![0.0; topology.params_len()];
        let mut model = Model { topology, params };
        model.network_mut().init(init, seed);
        model
    }

    pub fn network(&self) -> Network<&[f32]> {
        Network::new(self.topology.clone(), &self.params[..])
            .unwrap_or_else(|_| unreachable!("params_len is an invariant of Model"))
    }

    pub fn network_mut(&mut self) -> Network<&mut [f32]> {
        Network::new(self.topology.clone(), &mut self.params[..])
            .unwrap_or_else(|_| unreachable!("params_len is an invariant of Model"))
    }

    /// The model in the weights format.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut bytes = vec![0u8; microdense::HEADER_LEN + 4 * self.params.len()];
        let n = write_blob(&self.topology, &self.params, &mut bytes)
            .map_err(|e| anyhow!("cannot encode the model: {e}"))?;
        bytes.truncate(n);
        Ok(bytes)
    }

    /// Parses a whole file's bytes; `path` only names the source in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Model> {
        let at = path.display();
        let blob = Blob::parse(bytes).map_err(|e| anyhow!("{at}: {e}"))?;
        // A file holds exactly one blob; anything after it means a damaged or wrong file
        // (flash regions may be larger, files may not).
        if bytes.len() != blob.len() {
            return Err(anyhow!(
                "{at}: {} unexpected bytes after the {}-byte weights blob",
                bytes.len() - blob.len(),
                blob.len()
            ));
        }
        let topology = blob.topology().clone();
        let mut params = vec![0.0; topology.params_len()];
        blob.copy_params(&mut params)
            .map_err(|e| anyhow!("{at}: {e}"))?;
        if let Some(i) = params.iter().position(|p| !p.is_finite()) {
            return Err(anyhow!("{at}: parameter {i} is {} (not finite)", params[i]));
        }
        if topology.layers().last().map(|l| l.activation) != Some(Activation::Softmax) {
            return Err(anyhow!(
                "{at}: the output layer is not softmax; not a classifier"
            ));
        }
        Ok(Model { topology, params })
    }

    pub fn load(path: &Path) -> Result<Model> {
        let bytes = fs::read(path).map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))?;
        Model::from_bytes(path, &bytes)
    }

    /// Writes atomically (temporary file, then rename), creating parent directories.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        create_parent(path)?;
        atomic::write_atomic(path, &bytes)?;
        Ok(())
    }
}

/// Creates the directory that will hold `path`, if any.
pub fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create directory", dir.display())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn small() -> Model {
        let t = mlp(6, &[4], Activation::Relu, 3).unwrap();
        Model::init(t, Init::He, 3)
    }

    #[test]
    fn round_trip_and_errors_name_the_file() {
        let m = small();
        let bytes = m.to_bytes().unwrap();
        let p = PathBuf::from("m.mdw");
        assert_eq!(Model::from_bytes(&p, &bytes).unwrap(), m);

        let err = |b: &[u8]| format!("{:#}", Model::from_bytes(&p, b).unwrap_err());
        assert!(err(&bytes[..bytes.len() - 1]).starts_with("m.mdw: truncated"));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            err(&longer),
            format!(
                "m.mdw: 1 unexpected bytes after the {}-byte weights blob",
                bytes.len()
            )
        );
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(err(&flipped).starts_with("m.mdw: CRC mismatch"));
        assert!(err(b"hello").starts_with("m.mdw: not a microdense"));
        assert!(err(b"").contains("m.mdw:"));
    }

    #[test]
    fn non_finite_and_non_classifier_models_are_refused() {
        let mut m = small();
        m.params[2] = f32::NAN;
        let bytes = m.to_bytes().unwrap();
        let e = Model::from_bytes(Path::new("x"), &bytes).unwrap_err();
        assert_eq!(e.to_string(), "x: parameter 2 is NaN (not finite)");

        let t = Topology::new(2, &[Layer::new(2, Activation::Linear)]).unwrap();
        let bytes = Model::init(t, Init::He, 1).to_bytes().unwrap();
        let e = Model::from_bytes(Path::new("y"), &bytes).unwrap_err();
        assert!(e.to_string().contains("not softmax"), "{e}");
    }

    #[test]
    fn describes_topologies() {
        let t = mlp(784, &[32, 256], Activation::Linear, 10).unwrap();
        assert_eq!(describe(&t), "784→32→256→10 (linear, softmax)");
        assert!(mlp(4, &[1; 9], Activation::Relu, 2).is_err());
    }
}
