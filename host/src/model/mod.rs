//! A network with owned parameters, loaded from and saved to the weights format.
//!
//! Every error is one line naming the file: `path: <what>`. Submodules: int8
//! quantization, the firmware bundle, and other formats: TensorFlow.js, ONNX, TFLite (the
//! last two through `chain`, the dense layers an importer reads).
pub mod bundle;
pub mod chain;
pub mod onnx;
pub mod quantize;
pub mod tfjs;
pub mod tflite;

use std::fs;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use microdense::{
    format::write_blob, int8::Int8Network, Activation, Blob, ElementType, Init, Layer, Network,
    Topology,
};

use crate::atomic;
use crate::data::table::ModelInput;

/// A topology and its flat parameters (core's layout).
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub topology: Topology,
    pub params: Vec<f32>,
    /// Input scaling and class names (saved as weights format version 2); `None` for
    /// IDX models, whose input is pixels /255 (version 1).
    pub input: Option<ModelInput>,
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

/// The sizes alone: `784→32→256→10`.
pub fn shape(topology: &Topology) -> String {
    shape_of(topology.input(), topology.layers())
}

fn shape_of(input: usize, layers: &[Layer]) -> String {
    let mut s = input.to_string();
    for l in layers {
        s.push('→');
        s.push_str(&l.units.to_string());
    }
    s
}

fn describe_layers(input: usize, layers: &[Layer]) -> String {
    let s = shape_of(input, layers);
    let mut acts: Vec<&str> = layers.iter().map(|l| l.activation.name()).collect();
    acts.dedup();
    format!("{s} ({})", acts.join(", "))
}

impl Model {
    /// Weights drawn by `init` from `seed`, biases zero.
    pub fn init(topology: Topology, init: Init, seed: u64) -> Model {
        Model::init_with(topology, |_| init, seed)
    }

    /// Layer `i`'s weights drawn by `init(i)` from `seed`, biases zero.
    pub fn init_with(topology: Topology, init: impl Fn(usize) -> Init, seed: u64) -> Model {
        let params = vec![0.0; topology.params_len()];
        let mut model = Model {
            topology,
            params,
            input: None,
        };
        model.network_mut().init_with(init, seed);
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
        let mut bytes = vec![0u8; microdense::format::HEADER_LEN + 4 * self.params.len()];
        let n = write_blob(&self.topology, &self.params, &mut bytes)
            .map_err(|e| anyhow!("cannot encode the model: {e}"))?;
        bytes.truncate(n);
        if let Some(input) = &self.input {
            input.append_to(&mut bytes)?;
        }
        Ok(bytes)
    }

    /// Parses a whole file's bytes; `path` only names the source in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Model> {
        let at = path.display();
        let blob = parse_file(path, bytes)?;
        if blob.element_type() != ElementType::F32 {
            return Err(anyhow!(
                "{at}: an {} (quantized) model; this takes an f32 model",
                blob.element_type().name()
            ));
        }
        let topology = blob.topology().clone();
        let mut params = vec![0.0; topology.params_len()];
        blob.copy_params(&mut params)
            .map_err(|e| anyhow!("{at}: {e}"))?;
        if let Some(i) = params.iter().position(|p| !p.is_finite()) {
            return Err(anyhow!("{at}: parameter {i} is {} (not finite)", params[i]));
        }
        check_classifier(path, &topology)?;
        let input = blob
            .input_section()
            .map_err(|e| anyhow!("{at}: {e}"))?
            .map(|s| ModelInput::from_section(&s, topology.input()));
        Ok(Model {
            topology,
            params,
            input,
        })
    }

    pub fn load(path: &Path) -> Result<Model> {
        let bytes = crate::files::read_regular(path, u64::MAX)
            .map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))?;
        Model::from_bytes(path, &bytes)
    }

    /// Writes to a temporary file beside `path`, to be renamed by the caller (with other
    /// outputs: [`atomic::commit_all`]); creates parent directories.
    pub fn stage(&self, path: &Path) -> Result<atomic::Staged> {
        let bytes = self.to_bytes()?;
        create_parent(path)?;
        Ok(atomic::stage(path, &bytes)?)
    }

    /// Writes atomically (temporary file, then rename), creating parent directories.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        create_parent(path)?;
        atomic::write_atomic(path, &bytes)?;
        Ok(())
    }
}

/// Parses a whole file as one blob: anything after it means a damaged or wrong file
/// (flash regions may be larger than their blob, files may not).
fn parse_file<'b>(path: &Path, bytes: &'b [u8]) -> Result<Blob<'b>> {
    let at = path.display();
    let blob = Blob::parse(bytes).map_err(|e| anyhow!("{at}: {e}"))?;
    if bytes.len() != blob.len() {
        return Err(anyhow!(
            "{at}: {} unexpected bytes after the {}-byte weights blob",
            bytes.len() - blob.len(),
            blob.len()
        ));
    }
    Ok(blob)
}

fn check_classifier(path: &Path, topology: &Topology) -> Result<()> {
    if topology.layers().last().map(|l| l.activation) != Some(Activation::Softmax) {
        return Err(anyhow!(
            "{}: the output layer is not softmax; not a classifier",
            path.display()
        ));
    }
    Ok(())
}

/// An int8 (quantized) model: its validated blob, kept as the bytes of the file (see
/// [`crate::model::quantize`] for how one is made).
#[derive(Clone, Debug, PartialEq)]
pub struct QuantModel {
    pub topology: Topology,
    bytes: Vec<u8>,
}

impl QuantModel {
    /// Checks `bytes` is exactly one valid int8 blob of a classifier; `path` names the
    /// source in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<QuantModel> {
        let blob = parse_file(path, bytes)?;
        if blob.element_type() != ElementType::Int8 {
            return Err(anyhow!(
                "{}: an {} model; this takes an int8 model",
                path.display(),
                blob.element_type().name()
            ));
        }
        check_classifier(path, blob.topology())?;
        blob.input_section()
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        // A file of the older weight coding becomes today's (what exports and chips use).
        let mut bytes = bytes.to_vec();
        microdense::int8::recode_signed(&mut bytes)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        Ok(QuantModel {
            topology: blob.topology().clone(),
            bytes,
        })
    }

    /// The stored input scaling and class names (version-2 blobs).
    pub fn input(&self) -> Option<ModelInput> {
        let blob = Blob::parse(&self.bytes).ok()?;
        let s = blob.input_section().ok()??;
        Some(ModelInput::from_section(&s, self.topology.input()))
    }

    /// The model in the weights format (the file's bytes, recoded if of element type 1).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The network, read in place.
    pub fn network(&self) -> Int8Network<'_> {
        Int8Network::parse(&self.bytes)
            .unwrap_or_else(|_| unreachable!("QuantModel holds a validated int8 blob"))
    }

    /// One image's pixels as the int8 input: `p − 128` for the usual pixel quantization
    /// ([`microdense::int8::PIXEL_INPUT`]), else `p / 255` quantized with the model's input
    /// parameters.
    pub fn quantize_image(&self, image: &[u8], out: &mut [i8]) {
        let params = self.network().input_params();
        if params == microdense::int8::PIXEL_INPUT {
            microdense::int8::pixels_to_int8(image, out);
        } else {
            for (q, &p) in out.iter_mut().zip(image) {
                *q = params.quantize(f32::from(p) / 255.0);
            }
        }
    }

    /// The output layer's i32 values for one image (pixels, one byte each).
    pub fn logits(&self, image: &[u8]) -> Result<Vec<i32>> {
        let net = self.network();
        let mut x = vec![0i8; self.topology.input()];
        self.quantize_image(image, &mut x);
        let mut scratch = vec![0u32; net.scratch_len()];
        let mut out = vec![0i32; self.topology.outputs()];
        net.logits(&x, &mut scratch, &mut out)
            .map_err(|e| anyhow!("int8 inference: {e}"))?;
        Ok(out)
    }

    pub fn load(path: &Path) -> Result<QuantModel> {
        let bytes = crate::files::read_regular(path, u64::MAX)
            .map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))?;
        QuantModel::from_bytes(path, &bytes)
    }

    /// Writes atomically (temporary file, then rename), creating parent directories.
    pub fn save(&self, path: &Path) -> Result<()> {
        create_parent(path)?;
        atomic::write_atomic(path, &self.bytes)?;
        Ok(())
    }
}

/// A model file of either element type, for the commands that take both (`eval`,
/// `export --firmware`).
#[derive(Clone, Debug, PartialEq)]
pub enum AnyModel {
    F32(Model),
    Int8(QuantModel),
}

impl AnyModel {
    pub fn load(path: &Path) -> Result<AnyModel> {
        let bytes = crate::files::read_regular(path, u64::MAX)
            .map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))?;
        match parse_file(path, &bytes)?.element_type() {
            ElementType::F32 => Model::from_bytes(path, &bytes).map(AnyModel::F32),
            ElementType::Int8 => QuantModel::from_bytes(path, &bytes).map(AnyModel::Int8),
        }
    }

    pub fn topology(&self) -> &Topology {
        match self {
            AnyModel::F32(m) => &m.topology,
            AnyModel::Int8(m) => &m.topology,
        }
    }

    /// The stored input scaling and class names, if any (version 2).
    pub fn input(&self) -> Option<ModelInput> {
        match self {
            AnyModel::F32(m) => m.input.clone(),
            AnyModel::Int8(m) => m.input(),
        }
    }

    pub fn element_type(&self) -> ElementType {
        match self {
            AnyModel::F32(_) => ElementType::F32,
            AnyModel::Int8(_) => ElementType::Int8,
        }
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
        // With an input section (version 2) the scaling and class names come back.
        let mut m2 = m.clone();
        m2.input = Some(ModelInput {
            scaling: crate::data::table::Scaling {
                kind: crate::data::table::ScaleKind::Standard,
                offset: vec![1.0; 6],
                divisor: vec![2.0; 6],
            },
            classes: vec!["a".into(), "b".into(), "c".into()],
        });
        let b2 = m2.to_bytes().unwrap();
        assert_eq!(u16::from_le_bytes([b2[4], b2[5]]), 2);
        assert_eq!(Model::from_bytes(&p, &b2).unwrap(), m2);

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
    fn int8_files_load_as_int8_and_f32_files_as_f32() {
        use crate::data::idx::{Dataset, Images};
        let f = small();
        let set = Dataset {
            images: Images {
                count: 4,
                rows: 2,
                cols: 3,
                pixels: (0..24).map(|p| (p * 10) as u8).collect(),
            },
            labels: vec![0, 1, 2, 0],
        };
        let cal = crate::model::quantize::calibrate(&f, &set, &[0, 1, 2, 3]).unwrap();
        let q = crate::model::quantize::quantize(&f, &cal).unwrap().model;
        let p = Path::new("q.mdw");
        assert_eq!(QuantModel::from_bytes(p, q.bytes()).unwrap(), q);
        let e = Model::from_bytes(p, q.bytes()).unwrap_err().to_string();
        assert_eq!(
            e,
            "q.mdw: an int8 (quantized) model; this takes an f32 model"
        );
        let fb = f.to_bytes().unwrap();
        let e = QuantModel::from_bytes(p, &fb).unwrap_err().to_string();
        assert_eq!(e, "q.mdw: an f32 model; this takes an int8 model");
        let mut longer = q.bytes().to_vec();
        longer.push(0);
        let e = QuantModel::from_bytes(p, &longer).unwrap_err().to_string();
        assert!(e.contains("1 unexpected bytes"), "{e}");
        // The file's bytes, and the model's logits, through a save and a load.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/q.mdw");
        q.save(&path).unwrap();
        match AnyModel::load(&path).unwrap() {
            AnyModel::Int8(back) => {
                assert_eq!(back, q);
                assert_eq!(
                    back.logits(set.image(1)).unwrap(),
                    q.logits(set.image(1)).unwrap()
                );
            }
            AnyModel::F32(_) => panic!("int8 file loaded as f32"),
        }
        f.save(&dir.path().join("f.mdw")).unwrap();
        let any = AnyModel::load(&dir.path().join("f.mdw")).unwrap();
        assert_eq!(any.element_type(), ElementType::F32);
        assert_eq!(any.topology(), &f.topology);
    }

    #[test]
    fn describes_topologies() {
        let t = mlp(784, &[32, 256], Activation::Linear, 10).unwrap();
        assert_eq!(describe(&t), "784→32→256→10 (linear, softmax)");
        assert!(mlp(4, &[1; 9], Activation::Relu, 2).is_err());
    }
}
