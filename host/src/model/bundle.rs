//! The firmware bundle on the host: the host's logits for the test digits, and the
//! bundle written and read back through core's [`microdense::bundle`] (the layout is
//! documented there; the firmware's build script reads it with the same module).
//!
//! The logits are the host's, the exact computation the firmware repeats on the chip: for
//! an f32 model `f32`s, core's [`Network::logits`] for one sample at a time on
//! `pixel / 255.0`; for an int8 model `i32`s, core's [`microdense::int8::Int8Network::logits`] on
//! `pixel − 128`. A model of raw features (a CSV's) gets a raw-feature bundle instead
//! ([`feature_bundle_bytes`]): its rows as the sensor gives them, and the logits of core's
//! `logits_raw` with the model's stored scaling, which the chip applies the same way.
use std::path::Path;

use anyhow::{ensure, Context};
use microdense::{format::write_blob, ElementType, Network, Topology};

use microdense::bundle::{Bundle, Section, Sections};

use crate::data::scaled;
use crate::model::{AnyModel, QuantModel};

/// Logits of each image, one sample at a time, laid end to end.
pub fn host_logits(
    topology: &Topology,
    params: &[f32],
    images: &[&[u8]],
) -> anyhow::Result<Vec<f32>> {
    let net = Network::new(topology.clone(), params)?;
    let mut x = vec![0.0f32; topology.input()];
    let mut scratch = vec![0.0f32; topology.infer_scratch_len(1)];
    let mut out = Vec::with_capacity(images.len() * topology.outputs());
    for image in images {
        for (x, v) in x.iter_mut().zip(scaled(image)) {
            *x = v;
        }
        let logits = net.logits(&x, &mut scratch)?;
        out.extend_from_slice(logits);
    }
    Ok(out)
}

/// The int8 model's i32 outputs for each image, laid end to end.
pub fn host_int8_logits(model: &QuantModel, images: &[&[u8]]) -> anyhow::Result<Vec<i32>> {
    let mut out = Vec::with_capacity(images.len() * model.topology.outputs());
    for image in images {
        out.extend(model.logits(image)?);
    }
    Ok(out)
}

/// Square digits when the input is a perfect square (MNIST: 28×28), else one row.
fn shape(input: usize) -> (usize, usize) {
    let side = (input as f64).sqrt().round() as usize;
    if side * side == input {
        (side, side)
    } else {
        (1, input)
    }
}

fn check_digits(
    what: &str,
    topology: &Topology,
    images: &[&[u8]],
    labels: &[u8],
) -> anyhow::Result<()> {
    ensure!(
        images.len() == labels.len(),
        "{} {what} images but {} labels",
        images.len(),
        labels.len()
    );
    let classes = topology.outputs();
    for (i, (image, &label)) in images.iter().zip(labels).enumerate() {
        ensure!(
            image.len() == topology.input(),
            "{what} image {i} has {} pixels, the model takes {}",
            image.len(),
            topology.input()
        );
        ensure!(
            usize::from(label) < classes,
            "{what} label {i} is {label}, the model has {classes} classes"
        );
    }
    Ok(())
}

/// The bundle's bytes (see the module docs); `write_bundle` stores them.
pub fn bundle_bytes(
    topology: &Topology,
    params: &[f32],
    images: &[&[u8]],
    labels: &[u8],
    train_images: &[&[u8]],
    train_labels: &[u8],
) -> anyhow::Result<Vec<u8>> {
    check_digits("test", topology, images, labels)?;
    check_digits("train", topology, train_images, train_labels)?;
    let logits = host_logits(topology, params, images)?;
    let mut blob = vec![0u8; microdense::format::HEADER_LEN + 4 * topology.params_len()];
    write_blob(topology, params, &mut blob)?;
    let logits: Vec<[u8; 4]> = logits.iter().map(|z| z.to_le_bytes()).collect();
    assemble(
        topology,
        &blob,
        &logits,
        images,
        labels,
        train_images,
        train_labels,
    )
}

/// The bundle's bytes for a model of either element type (int8: the blob as it is, and
/// the host's i32 outputs as the logits).
pub fn bundle_bytes_for(
    model: &AnyModel,
    images: &[&[u8]],
    labels: &[u8],
    train_images: &[&[u8]],
    train_labels: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let q = match model {
        AnyModel::F32(m) => {
            return bundle_bytes(
                &m.topology,
                &m.params,
                images,
                labels,
                train_images,
                train_labels,
            )
        }
        AnyModel::Int8(q) => q,
    };
    let topology = &q.topology;
    check_digits("test", topology, images, labels)?;
    check_digits("train", topology, train_images, train_labels)?;
    let logits: Vec<[u8; 4]> = host_int8_logits(q, images)?
        .iter()
        .map(|y| y.to_le_bytes())
        .collect();
    assemble(
        topology,
        q.bytes(),
        &logits,
        images,
        labels,
        train_images,
        train_labels,
    )
}

/// Lays out header, blob, digits and logits with core's bundle writer.
fn assemble(
    topology: &Topology,
    blob: &[u8],
    logits: &[[u8; 4]],
    images: &[&[u8]],
    labels: &[u8],
    train_images: &[&[u8]],
    train_labels: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let (rows, cols) = shape(topology.input());
    let sections = Sections {
        features: false,
        rows,
        cols,
        classes: topology.outputs(),
        blob,
        test_images: images,
        test_labels: labels,
        logits,
        train_images,
        train_labels,
    };
    let mut out = vec![0u8; sections.len()?];
    sections.write(&mut out)?;
    Ok(out)
}

/// The raw-feature bundle (version 2) of a model that stores its input scaling: `rows`
/// are raw feature rows (the model's input width each) with their `labels`; the logits
/// are core's [`Network::logits_raw`] (f32) or the int8 network's `logits_raw`, one row
/// at a time, with the scaling read back from the model's own blob.
pub fn feature_bundle_bytes(
    model: &AnyModel,
    rows: &[&[f32]],
    labels: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let topology = model.topology();
    let (width, classes) = (topology.input(), topology.outputs());
    ensure!(
        rows.len() == labels.len(),
        "{} test rows but {} labels",
        rows.len(),
        labels.len()
    );
    for (i, (row, &label)) in rows.iter().zip(labels).enumerate() {
        ensure!(
            row.len() == width,
            "test row {i} has {} values, the model takes {width}",
            row.len()
        );
        ensure!(
            usize::from(label) < classes,
            "test label {i} is {label}, the model has {classes} classes"
        );
    }
    let blob = match model {
        AnyModel::F32(m) => m.to_bytes()?,
        AnyModel::Int8(q) => q.bytes().to_vec(),
    };
    let parsed = microdense::Blob::parse(&blob)?;
    let Some(section) = parsed.input_section()? else {
        anyhow::bail!("the model stores no input scaling (a pixel model: export pixels)");
    };
    let offset: Vec<f32> = (0..width).map(|j| section.offset(j)).collect();
    let divisor: Vec<f32> = (0..width).map(|j| section.divisor(j)).collect();
    let scaling = microdense::scaling::InputScaling {
        offset: &offset,
        divisor: &divisor,
    };
    let mut logits: Vec<[u8; 4]> = Vec::with_capacity(rows.len() * classes);
    match model {
        AnyModel::F32(m) => {
            let net = m.network();
            let mut x = vec![0.0f32; width];
            let mut scratch = vec![0.0f32; topology.infer_scratch_len(1)];
            for row in rows {
                let z = net.logits_raw(&scaling, row, &mut x, &mut scratch)?;
                logits.extend(z.iter().map(|v| v.to_le_bytes()));
            }
        }
        AnyModel::Int8(q) => {
            let net = q.network();
            let mut x = vec![0i8; width];
            let mut scratch = vec![0u32; net.scratch_len()];
            let mut y = vec![0i32; classes];
            for row in rows {
                net.logits_raw(&scaling, row, &mut x, &mut scratch, &mut y)?;
                logits.extend(y.iter().map(|v| v.to_le_bytes()));
            }
        }
    }
    let bytes: Vec<Vec<u8>> = rows
        .iter()
        .map(|r| r.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    let sections = Sections {
        features: true,
        rows: 1,
        cols: width,
        classes,
        blob: &blob,
        test_images: &refs,
        test_labels: labels,
        logits: &logits,
        train_images: &[],
        train_labels: &[],
    };
    let mut out = vec![0u8; sections.len()?];
    sections.write(&mut out)?;
    // Read back as the firmware's build will (shape, scaling present, finite values).
    Bundle::parse(&out)?;
    Ok(out)
}

/// Writes [`feature_bundle_bytes`] atomically (see [`write_bundle`]).
pub fn write_feature_bundle(
    out: &Path,
    model: &AnyModel,
    rows: &[&[f32]],
    labels: &[u8],
) -> anyhow::Result<()> {
    let bytes = feature_bundle_bytes(model, rows, labels)?;
    store(out, &bytes)
}

/// Writes the bundle for a model (`topology`, `params`), its test digits (`images`,
/// `labels`; the host logits for them are computed here) and the digits the on-chip
/// trainer learns from (`train_images`, `train_labels`; may be empty). Atomic: a temporary
/// file beside `out`, then a rename. Creates `out`'s directory if needed.
pub fn write_bundle(
    out: &Path,
    topology: &Topology,
    params: &[f32],
    images: &[&[u8]],
    labels: &[u8],
    train_images: &[&[u8]],
    train_labels: &[u8],
) -> anyhow::Result<()> {
    let bytes = bundle_bytes(topology, params, images, labels, train_images, train_labels)?;
    store(out, &bytes)
}

/// [`write_bundle`] for a model of either element type ([`bundle_bytes_for`]).
pub fn write_bundle_for(
    out: &Path,
    model: &AnyModel,
    images: &[&[u8]],
    labels: &[u8],
    train_images: &[&[u8]],
    train_labels: &[u8],
) -> anyhow::Result<()> {
    let bytes = bundle_bytes_for(model, images, labels, train_images, train_labels)?;
    store(out, &bytes)
}

fn store(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    crate::atomic::write_atomic(out, bytes)?;
    Ok(())
}

/// A bundle read back (for checks and tests), with its logits decoded.
#[derive(Debug)]
pub struct BundleView<'a> {
    pub rows: usize,
    pub cols: usize,
    pub classes: usize,
    pub blob: &'a [u8],
    pub test_images: &'a [u8],
    pub test_labels: &'a [u8],
    /// Raw-feature bundles: the test rows' values, row after row (empty for pixels).
    pub test_values: Vec<f32>,
    /// The model's element type: the logits are f32 for f32 models, i32 for int8 ones.
    pub element: ElementType,
    /// The host's logits: as stored for f32 models, dequantized for int8 models.
    pub logits: Vec<f32>,
    /// The host's i32 outputs for int8 models (empty for f32 models).
    pub int_logits: Vec<i32>,
    pub train_images: &'a [u8],
    pub train_labels: &'a [u8],
}

impl BundleView<'_> {
    /// Pixels of test digit `i`.
    pub fn test_image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.test_images[i * n..(i + 1) * n]
    }

    /// The host's predicted class for test digit `i` (argmax of its logits).
    pub fn host_prediction(&self, i: usize) -> usize {
        let range = i * self.classes..(i + 1) * self.classes;
        match self.element {
            ElementType::Int8 => microdense::int8::argmax_i32(&self.int_logits[range]),
            ElementType::F32 => microdense::argmax(&self.logits[range]),
        }
    }
}

/// Parses and checks a bundle with core's reader ([`Bundle::parse`]: header fields,
/// section bounds, the blob's CRC, shape and labels) and decodes its logits.
pub fn read_bundle(bytes: &[u8]) -> anyhow::Result<BundleView<'_>> {
    let b = Bundle::parse(bytes)?;
    let parsed = b.model()?;
    let words = b
        .section(Section::Logits)
        .chunks_exact(4)
        .map(|w| [w[0], w[1], w[2], w[3]]);
    let element = parsed.element_type();
    let (logits, int_logits) = match element {
        ElementType::F32 => (words.map(f32::from_le_bytes).collect(), Vec::new()),
        ElementType::Int8 => {
            let net = microdense::int8::Int8Network::new(&parsed)?;
            let ints: Vec<i32> = words.map(i32::from_le_bytes).collect();
            let mut z = vec![0.0f32; ints.len()];
            net.dequantize_logits(&ints, &mut z);
            (z, ints)
        }
    };
    Ok(BundleView {
        rows: b.rows(),
        cols: b.cols(),
        classes: b.classes(),
        blob: b.section(Section::Model),
        test_images: b.section(Section::TestImages),
        test_labels: b.section(Section::TestLabels),
        test_values: match b.features() {
            true => b
                .section(Section::TestImages)
                .chunks_exact(4)
                .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect(),
            false => Vec::new(),
        },
        element,
        logits,
        int_logits,
        train_images: b.section(Section::TrainImages),
        train_labels: b.section(Section::TrainLabels),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use microdense::{Activation, Init, Layer};

    fn model() -> (Topology, Vec<f32>) {
        let t = Topology::new(
            16,
            &[
                Layer::new(5, Activation::Tanh),
                Layer::new(3, Activation::Softmax),
            ],
        )
        .unwrap();
        let mut net = Network::new(t.clone(), vec![0.0; t.params_len()]).unwrap();
        net.init(Init::GlorotUniform, 3);
        (t, net.into_parts().1)
    }

    #[test]
    fn round_trip_with_aligned_blob_and_host_logits() {
        let (t, params) = model();
        let imgs: Vec<Vec<u8>> = (0..3u8)
            .map(|d| (0..16).map(|p| p * 16 + d).collect())
            .collect();
        let refs: Vec<&[u8]> = imgs.iter().map(|i| &i[..]).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/bundle.bin");
        write_bundle(&path, &t, &params, &refs, &[2, 0, 1], &refs[..2], &[1, 1]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let b = read_bundle(&bytes).unwrap();
        assert_eq!((b.rows, b.cols, b.classes), (4, 4, 3));
        assert_eq!(
            u32::from_le_bytes(bytes[36..40].try_into().unwrap()) % 32,
            0
        );
        assert_eq!(b.test_image(1), &imgs[1][..]);
        assert_eq!(
            (b.test_labels, b.train_labels),
            (&[2u8, 0, 1][..], &[1u8, 1][..])
        );
        assert_eq!(b.train_images.len(), 32);
        assert_eq!(microdense::Blob::parse(b.blob).unwrap().topology(), &t);
        // Logits are core's single-sample logits on pixel / 255, bit for bit.
        let net = Network::new(t.clone(), &params[..]).unwrap();
        let mut scratch = vec![0.0; t.infer_scratch_len(1)];
        for (i, img) in imgs.iter().enumerate() {
            let x: Vec<f32> = img.iter().map(|&p| f32::from(p) / 255.0).collect();
            let want = net.logits(&x, &mut scratch).unwrap();
            let got = &b.logits[3 * i..3 * i + 3];
            assert_eq!(
                got.iter().map(|z| z.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|z| z.to_bits()).collect::<Vec<_>>()
            );
            assert_eq!(b.host_prediction(i), microdense::argmax(want));
        }
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn int8_bundles_carry_the_blob_and_the_integer_logits() {
        use crate::data::idx::{Dataset, Images};
        use crate::model::quantize::{calibrate, quantize};
        use crate::model::{mlp, Model};
        let imgs: Vec<Vec<u8>> = (0..6u8)
            .map(|d| {
                (0..16u32)
                    .map(|p| (p * 37 + u32::from(d) * 101) as u8 & 0xF7)
                    .collect()
            })
            .collect();
        let set = Dataset {
            images: Images {
                count: 6,
                rows: 4,
                cols: 4,
                pixels: imgs.concat(),
            },
            labels: vec![0, 1, 2, 0, 1, 2],
        };
        let f = Model::init(
            mlp(16, &[7], Activation::Relu, 3).unwrap(),
            Init::GlorotUniform,
            4,
        );
        let q = quantize(&f, &calibrate(&f, &set, &[0, 1, 2, 3, 4, 5]).unwrap())
            .unwrap()
            .model;
        let refs: Vec<&[u8]> = imgs.iter().map(|i| &i[..]).collect();
        let bytes = bundle_bytes_for(
            &AnyModel::Int8(q.clone()),
            &refs,
            &set.labels,
            &refs[..1],
            &[2],
        )
        .unwrap();
        let b = read_bundle(&bytes).unwrap();
        assert_eq!(b.element, ElementType::Int8);
        assert_eq!(b.blob, q.bytes());
        for (i, img) in imgs.iter().enumerate() {
            let want = q.logits(img).unwrap();
            assert_eq!(&b.int_logits[3 * i..3 * i + 3], &want[..]);
            assert_eq!(b.host_prediction(i), microdense::int8::argmax_i32(&want));
            let scale = q.network().output_scale();
            assert_eq!(b.logits[3 * i], scale * want[0] as f32);
        }
        // An f32 model through the same entry point is the f32 bundle.
        let (t, params) = model();
        let f = AnyModel::F32(Model {
            topology: t.clone(),
            params: params.clone(),
            input: None,
        });
        let img = [0u8; 16];
        assert_eq!(
            bundle_bytes_for(&f, &[&img], &[1], &[], &[]).unwrap(),
            bundle_bytes(&t, &params, &[&img], &[1], &[], &[]).unwrap()
        );
        assert!(bundle_bytes_for(&AnyModel::Int8(q), &[&img[..15]], &[1], &[], &[]).is_err());
    }

    #[test]
    fn feature_bundles_carry_raw_rows_and_the_logits_of_the_scaled_rows() {
        use crate::data::table::{ModelInput, ScaleKind, Scaling};
        use crate::model::Model;
        let t = Topology::new(
            3,
            &[
                Layer::new(4, Activation::Relu),
                Layer::new(2, Activation::Softmax),
            ],
        )
        .unwrap();
        let mut m = Model::init(t.clone(), Init::He, 2);
        let rows: [&[f32]; 2] = [&[1000.0, 0.5, -3.0], &[1500.0, 0.25, 7.0]];
        let labels = [1u8, 0];
        // Without a stored scaling there is nothing for the chip to apply.
        let e = feature_bundle_bytes(&AnyModel::F32(m.clone()), &rows, &labels).unwrap_err();
        assert!(e.to_string().contains("no input scaling"), "{e}");
        m.input = Some(ModelInput {
            scaling: Scaling {
                kind: ScaleKind::Standard,
                offset: vec![1200.0, 0.4, 1.0],
                divisor: vec![250.0, 0.1, 4.0],
            },
            classes: vec!["a".into(), "b".into()],
        });
        let bytes = feature_bundle_bytes(&AnyModel::F32(m.clone()), &rows, &labels).unwrap();
        let b = read_bundle(&bytes).unwrap();
        assert_eq!((b.rows, b.cols, b.classes), (1, 3, 2));
        assert_eq!(b.test_values, rows.concat());
        assert_eq!(b.train_images.len(), 0);
        let net = m.network();
        let mut scratch = vec![0.0; t.infer_scratch_len(1)];
        for (i, row) in rows.iter().enumerate() {
            let x: Vec<f32> = row
                .iter()
                .zip([(1200.0, 250.0), (0.4, 0.1), (1.0, 4.0)])
                .map(|(&v, (o, d))| (v - o) / d)
                .collect();
            let want = net.logits(&x, &mut scratch).unwrap();
            let got = &b.logits[2 * i..2 * i + 2];
            assert_eq!(
                got.iter().map(|z| z.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|z| z.to_bits()).collect::<Vec<_>>()
            );
        }
        // Rows of the wrong width, labels past the classes.
        let short: [&[f32]; 1] = [&[1.0, 2.0]];
        let f = AnyModel::F32(m);
        assert!(feature_bundle_bytes(&f, &short, &[0]).is_err());
        assert!(feature_bundle_bytes(&f, &rows[..1], &[2]).is_err());
    }

    #[test]
    fn bad_inputs_are_errors() {
        let (t, params) = model();
        let img = [0u8; 16];
        let short = [0u8; 15];
        let ok: &[&[u8]] = &[&img];
        let e = |r: anyhow::Result<Vec<u8>>| r.unwrap_err().to_string();
        assert!(e(bundle_bytes(&t, &params, ok, &[0, 1], &[], &[])).contains("labels"));
        assert!(e(bundle_bytes(&t, &params, &[&short], &[0], &[], &[])).contains("pixels"));
        assert!(e(bundle_bytes(&t, &params, ok, &[3], &[], &[])).contains("classes"));
        assert!(e(bundle_bytes(&t, &params, ok, &[0], ok, &[7])).contains("train label"));
        assert!(bundle_bytes(&t, &params[1..], ok, &[0], &[], &[]).is_err());
        let good = bundle_bytes(&t, &params, ok, &[0], &[], &[]).unwrap();
        assert!(read_bundle(&good[..good.len() - 1]).is_err());
        let mut flipped = good.clone();
        flipped[microdense::bundle::HEADER_LEN + 100] ^= 1;
        assert!(read_bundle(&flipped)
            .unwrap_err()
            .to_string()
            .contains("CRC"));
        assert!(read_bundle(b"MDBUNDLE").is_err());
    }
}
