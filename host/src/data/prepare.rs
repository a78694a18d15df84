//! Data made ready for training: the training, validation and test sets as network
//! inputs, and what the model must remember about its input (scaling, class names).
//!
//! Validation never reads the test set: it is a held-out part of the training data
//! (`val_split`), or, with no hold-out, batches of the training data itself (a training
//! accuracy). Only `reproduce` keeps the tutorial's validation on test images.
use std::path::Path;

use anyhow::{anyhow, Result};
use microdense::Topology;

use super::examples::Examples;
use super::idx::{self, Dataset, Images, Split};
use super::source::{is_idx, load_split, DataSpec};
use super::table::{stratified_split, ModelInput, ScaleKind, Scaling, Table};
use super::Data;

pub struct Prepared {
    pub train: Box<dyn Examples>,
    /// Held-out validation data; `None`: validate on training batches.
    pub val: Option<Box<dyn Examples>>,
    pub test: Box<dyn Examples>,
    /// `Some` for tables: saved with the model (weights format version 2).
    pub input: Option<ModelInput>,
    pub classes: usize,
    /// The data's path, and where the test set came from, for reports.
    pub data: String,
    pub test_from: String,
    pub tabular: bool,
}

impl Prepared {
    /// The set validation batches come from.
    pub fn val(&self) -> &dyn Examples {
        self.val.as_deref().unwrap_or(&*self.train)
    }
}

/// Validation fraction when none is given: a tenth of a table; none of IDX data, whose
/// training set stays whole (the tutorial's 60,000 images, and the same bits as ever).
pub fn default_val_split(tabular: bool) -> f64 {
    if tabular {
        0.1
    } else {
        0.0
    }
}

/// Loads and prepares `spec`'s data. `classes`: the IDX class count (tables count their
/// own); `scale`: the table scaling (default: standard, /255 for pixel data).
pub fn prepare(
    spec: &DataSpec,
    classes: Option<usize>,
    scale: Option<ScaleKind>,
    val_split: Option<f64>,
    seed: u64,
) -> Result<Prepared> {
    let path = idx::data_dir(spec.data.as_deref());
    if is_idx(spec, &path)? {
        if spec.test.is_some() {
            return Err(anyhow!(
                "{}: an IDX folder holds its own test files; --test is for other kinds",
                path.display()
            ));
        }
        return prepare_idx(&path, classes.unwrap_or(10), val_split.unwrap_or(0.0), seed);
    }
    let split = load_split(spec, &path)?;
    if let Some(c) = classes {
        if c != split.train.classes.len() {
            return Err(anyhow!(
                "{}: --classes {c}, but the data has {} classes ({})",
                path.display(),
                split.train.classes.len(),
                split.train.classes.join(", ")
            ));
        }
    }
    let kind = scale.unwrap_or(if split.train.pixels {
        ScaleKind::Pixels
    } else {
        ScaleKind::Standard
    });
    let val_split = val_split.unwrap_or(default_val_split(true));
    let (train, val) = hold_out(split.train, val_split, seed)?;
    // Statistics from the training part only: neither validation nor test data leak in.
    let scaling = Scaling::fit(kind, &train);
    let classes = train.classes.clone();
    let scaled = |t: Table| -> Box<dyn Examples> { Box::new(apply(&scaling, t)) };
    Ok(Prepared {
        classes: classes.len(),
        train: scaled(train),
        val: val.map(scaled),
        test: scaled(split.test),
        input: Some(ModelInput { scaling, classes }),
        data: path.display().to_string(),
        test_from: split.test_from,
        tabular: true,
    })
}

/// `table` with its features scaled by `scaling` (core's arithmetic).
pub fn apply(scaling: &Scaling, mut table: Table) -> Table {
    let mut out = Vec::new();
    scaling.apply(&table.features, &mut out);
    table.features = out;
    table
}

fn hold_out(all: Table, fraction: f64, seed: u64) -> Result<(Table, Option<Table>)> {
    if fraction <= 0.0 {
        return Ok((all, None));
    }
    let (keep, off) = stratified_split(&all, fraction, seed ^ 0x7661_6c69);
    if off.is_empty() || keep.is_empty() {
        return Ok((all, None));
    }
    Ok((all.subset(&keep), Some(all.subset(&off))))
}

fn prepare_idx(dir: &Path, classes: usize, val_split: f64, seed: u64) -> Result<Prepared> {
    let train = Data::load(dir, Split::Train)?;
    let test = Data::load(dir, Split::Test)?;
    train.check_labels(classes)?;
    test.check_labels(classes)?;
    let (a, b) = (&train.set.images, &test.set.images);
    if (a.rows, a.cols) != (b.rows, b.cols) {
        return Err(anyhow!(
            "{}: the training images are {}x{} but the test images are {}x{}",
            dir.display(),
            a.rows,
            a.cols,
            b.rows,
            b.cols
        ));
    }
    let (train_set, val) = if val_split > 0.0 {
        let (keep, off) = idx_split(&train.set, classes, val_split, seed);
        (subset(&train.set, &keep), Some(subset(&train.set, &off)))
    } else {
        (train.set, None)
    };
    Ok(Prepared {
        train: Box::new(train_set),
        val: val.map(|v| Box::new(v) as Box<dyn Examples>),
        test: Box::new(test.set),
        input: None,
        classes,
        data: dir.display().to_string(),
        test_from: dir.display().to_string(),
        tabular: false,
    })
}

fn idx_split(set: &Dataset, classes: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    // The split works on labels alone: a table of labels with no features.
    let labels = Table {
        source: Default::default(),
        shape: vec![0],
        features: Vec::new(),
        labels: set.labels.clone(),
        classes: (0..classes).map(|c| c.to_string()).collect(),
        pixels: true,
    };
    stratified_split(&labels, fraction, seed ^ 0x7661_6c69)
}

fn subset(set: &Dataset, indices: &[usize]) -> Dataset {
    let img = &set.images;
    let mut pixels = Vec::with_capacity(indices.len() * img.image_size());
    for &i in indices {
        pixels.extend_from_slice(set.image(i));
    }
    Dataset {
        images: Images {
            count: indices.len(),
            rows: img.rows,
            cols: img.cols,
            pixels,
        },
        labels: indices.iter().map(|&i| set.label(i)).collect(),
    }
}

/// IDX images as a table of raw pixels (classes named by their digit).
pub fn table_from_idx(set: &Dataset, source: &Path) -> Table {
    let classes = set.max_label().map_or(0, |m| usize::from(m) + 1);
    Table {
        source: source.to_path_buf(),
        shape: vec![set.images.rows, set.images.cols],
        features: set.images.pixels.iter().map(|&p| f32::from(p)).collect(),
        labels: set.labels.clone(),
        classes: (0..classes).map(|c| c.to_string()).collect(),
        pixels: true,
    }
}

/// Which part of the data a model is scored or calibrated on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Train,
    Test,
}

/// The data a model is scored (`Part::Test`) or calibrated (`Part::Train`) on, as its
/// inputs: for a model without stored scaling (version 1) and IDX data, the pixels /255
/// as always; otherwise the table's split (the same --test-split and --split-seed as
/// training), its labels renumbered to the model's class names and its values scaled
/// with the model's scaling. Returns the examples and a description for reports.
pub fn data_for_model(
    spec: &DataSpec,
    input: Option<&ModelInput>,
    topology: &Topology,
    model: &Path,
    part: Part,
) -> Result<(Box<dyn Examples>, String)> {
    let path = idx::data_dir(spec.data.as_deref());
    if input.is_none() && is_idx(spec, &path)? {
        let data = Data::load(&path, split_of(part))?;
        data.check_fits(topology, model)?;
        return Ok((Box::new(data.set), path.display().to_string()));
    }
    let (t, from) = raw_for_model(spec, input, topology, model, part)?;
    let scaling = match input {
        Some(i) => i.scaling.clone(),
        // A version-1 model takes pixels /255 (and other values as they are).
        None => Scaling::fit(
            if t.pixels {
                ScaleKind::Pixels
            } else {
                ScaleKind::None
            },
            &t,
        ),
    };
    Ok((Box::new(apply(&scaling, t)), from))
}

fn split_of(part: Part) -> Split {
    match part {
        Part::Train => Split::Train,
        Part::Test => Split::Test,
    }
}

/// [`data_for_model`]'s examples before scaling: the raw values a sensor gives, checked
/// against the model's width and classes (labels renumbered to its class names), for
/// `export --firmware` of a raw-feature model, whose chip scales them itself.
pub fn raw_for_model(
    spec: &DataSpec,
    input: Option<&ModelInput>,
    topology: &Topology,
    model: &Path,
    part: Part,
) -> Result<(Table, String)> {
    let (width, classes) = (topology.input(), topology.outputs());
    let path = idx::data_dir(spec.data.as_deref());
    let (t, from) = if is_idx(spec, &path)? {
        let data = Data::load(&path, split_of(part))?;
        (table_from_idx(&data.set, &path), path.display().to_string())
    } else {
        let split = load_split(spec, &path)?;
        match part {
            Part::Train => (split.train, path.display().to_string()),
            Part::Test => (split.test, split.test_from),
        }
    };
    if t.width() != width {
        return Err(size_error(model, width, t.width(), &t.source));
    }
    let t = match input {
        Some(i) => relabel_to(t, &i.classes)?,
        None => t,
    };
    if let Some(max) = t.labels.iter().max() {
        if usize::from(*max) >= classes {
            return Err(anyhow!(
                "{}: {} classes, but the model {} has {classes} outputs",
                t.source.display(),
                t.classes.len(),
                model.display()
            ));
        }
    }
    Ok((t, from))
}

fn relabel_to(t: Table, classes: &[String]) -> Result<Table> {
    if classes.is_empty() {
        Ok(t)
    } else {
        super::table::relabel(t, classes)
    }
}

fn size_error(model: &Path, width: usize, got: usize, data: &Path) -> anyhow::Error {
    anyhow!(
        "{}: the model takes {width} inputs, but the examples in {} have {got} values",
        model.display(),
        data.display()
    )
}
