//! The one in-memory form of a CSV, NumPy or image-folder dataset: raw feature values
//! as f32, one small-integer label per example, and the class names. The input scaling
//! a model stores is computed from it ([`Scaling::fit`]) and applied by core, so that a
//! PC and a chip turn the same raw values into the same bits.
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

/// Largest number of classes: labels are bytes, as core's trainer takes them.
pub const MAX_CLASSES: usize = 256;

/// Examples of one dataset, raw.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The file or folder it came from, for error messages.
    pub source: PathBuf,
    /// Shape of one example: `[features]` or `[rows, cols]` for images.
    pub shape: Vec<usize>,
    /// Row-major, example after example: `len() * width()` values.
    pub features: Vec<f32>,
    /// `labels[i]` indexes `classes`.
    pub labels: Vec<u8>,
    pub classes: Vec<String>,
    /// The values are pixel intensities 0…255 (image folders, u8 image arrays): their
    /// default scaling is /255, as for IDX data.
    pub pixels: bool,
}

impl Table {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per example: the network's input size.
    pub fn width(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        let w = self.width();
        &self.features[i * w..(i + 1) * w]
    }

    /// The examples `indices`, in that order, as a new table.
    pub fn subset(&self, indices: &[usize]) -> Table {
        let mut features = Vec::with_capacity(indices.len() * self.width());
        for &i in indices {
            features.extend_from_slice(self.row(i));
        }
        Table {
            source: self.source.clone(),
            shape: self.shape.clone(),
            features,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes.clone(),
            pixels: self.pixels,
        }
    }

    /// Checks what every loader promises: at least one example, finite values.
    pub fn check(&self) -> Result<()> {
        let src = self.source.display();
        if self.is_empty() {
            return Err(anyhow!("{src}: no examples"));
        }
        if self.width() == 0 {
            return Err(anyhow!("{src}: no feature columns"));
        }
        if let Some(at) = self.features.iter().position(|v| !v.is_finite()) {
            let w = self.width();
            return Err(anyhow!(
                "{src}: example {} feature {} is {} (features must be finite numbers)",
                at / w + 1,
                at % w + 1,
                self.features[at]
            ));
        }
        Ok(())
    }

    /// A training set needs two classes or more.
    pub fn check_classes(&self) -> Result<()> {
        let src = self.source.display();
        if self.classes.len() < 2 {
            return Err(anyhow!(
                "{src}: only one class ({}): a classifier needs at least two",
                self.classes.first().map_or("none", String::as_str)
            ));
        }
        Ok(())
    }

    /// Examples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut n = vec![0; self.classes.len()];
        for &l in &self.labels {
            n[usize::from(l)] += 1;
        }
        n
    }
}

/// Renumbers `table`'s labels to the classes `classes` (a training set's), by name. A
/// class the training set does not have is an error naming it.
pub fn relabel(mut table: Table, classes: &[String]) -> Result<Table> {
    let mut map = Vec::with_capacity(table.classes.len());
    for name in &table.classes {
        let Some(i) = classes.iter().position(|c| c == name) else {
            return Err(anyhow!(
                "{}: class `{name}` is not one of the training classes ({})",
                table.source.display(),
                classes.join(", ")
            ));
        };
        map.push(i as u8);
    }
    for l in &mut table.labels {
        *l = map[usize::from(*l)];
    }
    table.classes = classes.to_vec();
    Ok(table)
}

/// Turns raw label texts into class indices. Classes are the distinct labels in sorted
/// order: numerically when every label is an integer, else as text. So integer labels
/// 0…9 stay 0…9, and `setosa, versicolor, virginica` are classes 0, 1, 2.
pub fn classes_from_labels(source: &Path, raw: &[String]) -> Result<(Vec<u8>, Vec<String>)> {
    let numeric: Option<Vec<i64>> = raw.iter().map(|s| s.parse::<i64>().ok()).collect();
    let names: Vec<String> = match &numeric {
        Some(ints) => {
            let mut v = ints.clone();
            v.sort_unstable();
            v.dedup();
            v.iter().map(i64::to_string).collect()
        }
        None => {
            let mut v = raw.to_vec();
            v.sort();
            v.dedup();
            v
        }
    };
    if names.len() > MAX_CLASSES {
        return Err(anyhow!(
            "{}: {} distinct labels; at most {MAX_CLASSES} classes are supported",
            source.display(),
            names.len()
        ));
    }
    let index = |key: &str| names.binary_search_by(|n| compare(n, key, numeric.is_some()));
    let labels = raw
        .iter()
        .map(|s| index(s).map_or(0, |i| i as u8))
        .collect();
    Ok((labels, names))
}

fn compare(a: &str, b: &str, numeric: bool) -> std::cmp::Ordering {
    match (numeric, a.parse::<i64>(), b.parse::<i64>()) {
        (true, Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// Integer labels (NumPy) to class indices, the same rule as [`classes_from_labels`].
pub fn classes_from_ints(source: &Path, raw: &[i64]) -> Result<(Vec<u8>, Vec<String>)> {
    let text: Vec<String> = raw.iter().map(i64::to_string).collect();
    classes_from_labels(source, &text)
}

/// How raw inputs become network inputs: `x' = (x - offset) / divisor` per feature,
/// in f32 (core's `scale_input`). `/255` for pixels is offset 0, divisor 255, which
/// gives the same bits as the plain division the IDX path does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScaleKind {
    /// Per feature: subtract the training mean, divide by the standard deviation.
    Standard,
    /// Per feature: map the training minimum…maximum to 0…1.
    MinMax,
    /// Pixels: divide by 255.
    Pixels,
    /// Raw values as they are.
    None,
}

impl ScaleKind {
    pub fn name(self) -> &'static str {
        match self {
            ScaleKind::Standard => "standardized per feature",
            ScaleKind::MinMax => "min-max per feature",
            ScaleKind::Pixels => "pixels /255",
            ScaleKind::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    pub kind: ScaleKind,
    pub offset: Vec<f32>,
    pub divisor: Vec<f32>,
}

impl Scaling {
    /// The scaling of `kind` for `train`'s features (statistics in f64, stored as f32).
    /// A constant feature gets divisor 1, so it maps to 0 instead of dividing by zero.
    pub fn fit(kind: ScaleKind, train: &Table) -> Scaling {
        let w = train.width();
        let n = train.len().max(1) as f64;
        let (offset, divisor): (Vec<f32>, Vec<f32>) = match kind {
            ScaleKind::None => (vec![0.0; w], vec![1.0; w]),
            ScaleKind::Pixels => (vec![0.0; w], vec![255.0; w]),
            ScaleKind::Standard => (0..w)
                .map(|j| {
                    let col = (0..train.len()).map(|i| f64::from(train.features[i * w + j]));
                    let mean = col.clone().sum::<f64>() / n;
                    let var = col.map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                    (mean as f32, nonzero(var.sqrt() as f32))
                })
                .unzip(),
            ScaleKind::MinMax => (0..w)
                .map(|j| {
                    let col = (0..train.len()).map(|i| train.features[i * w + j]);
                    let lo = col.clone().fold(f32::INFINITY, f32::min);
                    let hi = col.fold(f32::NEG_INFINITY, f32::max);
                    (lo, nonzero(hi - lo))
                })
                .unzip(),
        };
        Scaling {
            kind,
            offset,
            divisor,
        }
    }

    /// `raw` (whole examples, end to end) scaled into `out`.
    pub fn apply(&self, raw: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.resize(raw.len(), 0.0);
        let input = microdense::scaling::InputScaling {
            offset: &self.offset,
            divisor: &self.divisor,
        };
        if input.apply(raw, out).is_err() {
            unreachable!("the scaling has one entry per feature of the rows it scales");
        }
    }
}

impl ScaleKind {
    pub fn code(self) -> microdense::scaling::ScalingKind {
        match self {
            ScaleKind::Standard => microdense::scaling::ScalingKind::Standard,
            ScaleKind::MinMax => microdense::scaling::ScalingKind::MinMax,
            ScaleKind::Pixels => microdense::scaling::ScalingKind::Pixels,
            ScaleKind::None => microdense::scaling::ScalingKind::None,
        }
    }

    pub fn from_code(k: microdense::scaling::ScalingKind) -> ScaleKind {
        match k {
            microdense::scaling::ScalingKind::Standard => ScaleKind::Standard,
            microdense::scaling::ScalingKind::MinMax => ScaleKind::MinMax,
            microdense::scaling::ScalingKind::Pixels => ScaleKind::Pixels,
            microdense::scaling::ScalingKind::None => ScaleKind::None,
        }
    }
}

/// What a model stores about its input (weights format version 2): the scaling of raw
/// values and the class names. IDX models have none (version 1): their input is pixels /255.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInput {
    pub scaling: Scaling,
    pub classes: Vec<String>,
}

impl ModelInput {
    /// Reads a version-2 blob's input section.
    pub fn from_section(s: &microdense::scaling::InputSection, width: usize) -> ModelInput {
        ModelInput {
            scaling: Scaling {
                kind: ScaleKind::from_code(s.kind()),
                offset: (0..width).map(|j| s.offset(j)).collect(),
                divisor: (0..width).map(|j| s.divisor(j)).collect(),
            },
            classes: (0..s.class_count())
                .map(|i| s.class_name(i).unwrap_or_default().to_string())
                .collect(),
        }
    }

    /// Appends the input section to the version-1 blob in `bytes`.
    pub fn append_to(&self, bytes: &mut Vec<u8>) -> Result<()> {
        let n = bytes.len();
        let names: Vec<&str> = self.classes.iter().map(String::as_str).collect();
        let extra = microdense::scaling::input_section_len(
            self.scaling.offset.len(),
            names.iter().map(|n| n.len()),
        );
        bytes.resize(n + extra, 0);
        let scaling = microdense::scaling::InputScaling {
            offset: &self.scaling.offset,
            divisor: &self.scaling.divisor,
        };
        let total = microdense::scaling::add_input_section(
            bytes,
            n,
            self.scaling.kind.code(),
            scaling,
            &names,
        )
        .map_err(|e| anyhow!("cannot store the input scaling: {e}"))?;
        bytes.truncate(total);
        Ok(())
    }
}

fn nonzero(d: f32) -> f32 {
    if d > 0.0 && d.is_finite() {
        d
    } else {
        1.0
    }
}

/// A seeded, stratified split: from each class, `fraction` of its examples (rounded,
/// at least one when the class has two or more) go to the second part. Returns
/// (kept, split off), each in the original order.
pub fn stratified_split(table: &Table, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); table.classes.len()];
    for (i, &l) in table.labels.iter().enumerate() {
        by_class[usize::from(l)].push(i);
    }
    let mut rng = SplitMix(seed ^ 0x5851_f42d_4c95_7f2d);
    let (mut keep, mut off) = (Vec::new(), Vec::new());
    for members in &mut by_class {
        // Fisher–Yates with a seeded generator: the same split on every machine.
        for i in (1..members.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            members.swap(i, j);
        }
        let mut k = (members.len() as f64 * fraction).round() as usize;
        if fraction > 0.0 && k == 0 && members.len() >= 2 {
            k = 1;
        }
        let k = k.min(members.len().saturating_sub(1));
        off.extend_from_slice(&members[..k]);
        keep.extend_from_slice(&members[k..]);
    }
    keep.sort_unstable();
    off.sort_unstable();
    (keep, off)
}

/// SplitMix64: a small, well-known generator; only splits use it.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(features: Vec<f32>, labels: Vec<u8>, classes: usize) -> Table {
        Table {
            source: PathBuf::from("t.csv"),
            shape: vec![features.len() / labels.len()],
            features,
            labels,
            classes: (0..classes).map(|c| c.to_string()).collect(),
            pixels: false,
        }
    }

    #[test]
    fn classes_sorted_numerically_or_as_text() {
        let p = Path::new("x");
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (l, c) = classes_from_labels(p, &s(&["10", "9", "2", "9"])).unwrap();
        assert_eq!((l, c), (vec![2, 1, 0, 1], s(&["2", "9", "10"])));
        let (l, c) = classes_from_labels(p, &s(&["b", "a", "c", "a"])).unwrap();
        assert_eq!((l, c), (vec![1, 0, 2, 0], s(&["a", "b", "c"])));
    }

    #[test]
    fn standard_and_min_max_scaling() {
        let t = table(vec![1.0, 5.0, 3.0, 5.0], vec![0, 1], 2);
        let s = Scaling::fit(ScaleKind::Standard, &t);
        assert_eq!(
            (s.offset.clone(), s.divisor.clone()),
            (vec![2.0, 5.0], vec![1.0, 1.0])
        );
        let mut out = Vec::new();
        s.apply(&t.features, &mut out);
        assert_eq!(out, [-1.0, 0.0, 1.0, 0.0]);
        let m = Scaling::fit(ScaleKind::MinMax, &t);
        m.apply(&t.features, &mut out);
        assert_eq!(out, [0.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn pixel_scaling_is_the_idx_division() {
        let t = table((0..=255).map(|p| p as f32).collect(), vec![0], 1);
        let mut out = Vec::new();
        Scaling::fit(ScaleKind::Pixels, &t).apply(&t.features, &mut out);
        for (p, v) in out.iter().enumerate() {
            assert_eq!(v.to_bits(), (f32::from(p as u8) / 255.0).to_bits());
        }
    }

    #[test]
    fn split_is_stratified_seeded_and_disjoint() {
        let labels: Vec<u8> = (0..100).map(|i| u8::from(i % 4 == 0)).collect();
        let t = table(vec![0.0; 100], labels, 2);
        let (keep, off) = stratified_split(&t, 0.2, 7);
        assert_eq!((keep.len(), off.len()), (80, 20));
        assert_eq!(off.iter().filter(|&&i| t.labels[i] == 1).count(), 5);
        assert_eq!(stratified_split(&t, 0.2, 7), (keep.clone(), off.clone()));
        assert_ne!(stratified_split(&t, 0.2, 8).1, off);
        let mut all = [keep, off].concat();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn check_names_bad_values_and_single_classes() {
        let t = table(vec![1.0, f32::NAN], vec![0, 1], 2);
        assert_eq!(
            t.check().unwrap_err().to_string(),
            "t.csv: example 2 feature 1 is NaN (features must be finite numbers)"
        );
        let t = table(vec![1.0, 2.0], vec![0, 0], 1);
        assert!(t
            .check_classes()
            .unwrap_err()
            .to_string()
            .contains("only one class"));
    }
}
