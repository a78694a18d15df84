//! One way in: `--data PATH` (and `--test PATH`) names an IDX folder, a CSV file, an
//! `.npy`/`.npz` or an image folder; the kind is found from the path, `--format` overrides.
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use super::csv::{self as csvdata, CsvOptions};
use super::images;
use super::npy;
use super::table::{relabel, stratified_split, Table};

/// The kinds of dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A folder of MNIST-style IDX files.
    Idx,
    /// A CSV file (optionally gzip'd).
    Csv,
    /// A NumPy `.npy` features file (labels next to it, or --labels).
    Npy,
    /// A NumPy `.npz` archive.
    Npz,
    /// A folder with one sub-folder of images per class.
    Images,
}

/// What to load, as the command line says it.
#[derive(Debug, Clone, Default)]
pub struct DataSpec {
    pub data: Option<PathBuf>,
    pub test: Option<PathBuf>,
    pub format: Option<Format>,
    pub csv: CsvOptions,
    /// `.npy` labels file.
    pub labels: Option<PathBuf>,
    /// `.npz` array names (features, labels).
    pub arrays: Option<(String, String)>,
    /// Fraction held out as the test set when no test set is given.
    pub test_split: f64,
    pub split_seed: u64,
}

/// The kind of dataset at `path`.
pub fn detect(path: &Path) -> Result<Format> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let stem = name.trim_end_matches(".gz");
    let by_name = if stem.ends_with(".csv") || stem.ends_with(".txt") || stem.ends_with(".tsv") {
        Some(Format::Csv)
    } else if name.ends_with(".npy") {
        Some(Format::Npy)
    } else if name.ends_with(".npz") {
        Some(Format::Npz)
    } else {
        None
    };
    if path.is_dir() {
        let idx = ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte"]
            .iter()
            .any(|f| path.join(f).exists() || path.join(format!("{f}.gz")).exists());
        return if idx {
            Ok(Format::Idx)
        } else if images::is_image_folder(path) {
            Ok(Format::Images)
        } else {
            Err(anyhow!(
                "{}: neither IDX files (train-images-idx3-ubyte…) nor class folders of \
                 images (DIR/<class>/*.png); give --format if it is one of them",
                path.display()
            ))
        };
    }
    match by_name {
        Some(_) if !path.exists() => Err(anyhow!("{}: not found", path.display())),
        Some(f) => Ok(f),
        // A missing folder is taken for the IDX one its error explains how to fetch.
        None if !path.exists() => Ok(Format::Idx),
        None => Err(anyhow!(
            "{}: cannot tell the kind of dataset from the name; give --format csv|npy|npz|images|idx",
            path.display()
        )),
    }
}

/// Whether the data is IDX (the MNIST path keeps its own loader and /255 pixels).
pub fn is_idx(spec: &DataSpec, path: &Path) -> Result<bool> {
    Ok(match spec.format {
        Some(f) => f == Format::Idx,
        None => detect(path)? == Format::Idx,
    })
}

/// One table file or folder, and the test table an `.npz` may hold beside it.
pub fn load_table(spec: &DataSpec, path: &Path) -> Result<(Table, Option<Table>)> {
    let format = match spec.format {
        Some(f) => f,
        None => detect(path)?,
    };
    match format {
        Format::Csv => Ok((csvdata::load(path, &spec.csv)?, None)),
        Format::Npy => Ok((npy::load_pair(path, spec.labels.as_deref())?, None)),
        Format::Npz => {
            let names = spec.arrays.as_ref().map(|(x, y)| (x.as_str(), y.as_str()));
            npy::load_npz(path, names)
        }
        Format::Images => Ok((images::load(path)?, None)),
        Format::Idx => Err(anyhow!(
            "{}: IDX data is read by the IDX loader, not as a table",
            path.display()
        )),
    }
}

/// Training and test tables, and how the test set was chosen (for reports).
pub struct Split {
    pub train: Table,
    pub test: Table,
    pub test_from: String,
}

/// Loads `path` for training: the test set is `spec.test`, else the test arrays of an
/// `.npz`, else a stratified `test_split` of the data drawn with `split_seed`. Test
/// labels are renumbered to the training classes.
pub fn load_split(spec: &DataSpec, path: &Path) -> Result<Split> {
    let (all, bundled) = load_table(spec, path)?;
    all.check_classes()?;
    let (train, test, test_from) = match (&spec.test, bundled) {
        (Some(t), _) => {
            let (test, _) = load_table(spec, t)?;
            (all, test, t.display().to_string())
        }
        (None, Some(test)) => (all, test, format!("{} (its test arrays)", path.display())),
        (None, None) => {
            if !(spec.test_split > 0.0 && spec.test_split < 1.0) {
                return Err(anyhow!(
                    "{}: no test set: give --test FILE or a --test-split between 0 and 1",
                    path.display()
                ));
            }
            let (keep, off) = stratified_split(&all, spec.test_split, spec.split_seed);
            if off.is_empty() {
                return Err(anyhow!(
                    "{}: {} examples are too few for a test split of {}",
                    path.display(),
                    all.len(),
                    spec.test_split
                ));
            }
            let from = format!(
                "{}, {:.0}% held out (stratified, split seed {})",
                path.display(),
                100.0 * spec.test_split,
                spec.split_seed
            );
            (all.subset(&keep), all.subset(&off), from)
        }
    };
    let test = relabel(test, &train.classes)?;
    if test.shape != train.shape {
        return Err(anyhow!(
            "{}: examples of shape {:?}, but the training data's are {:?}",
            test.source.display(),
            test.shape,
            train.shape
        ));
    }
    Ok(Split {
        train,
        test,
        test_from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn kinds_from_paths() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (name, want) in [
            ("a.csv", Format::Csv),
            ("a.CSV.gz", Format::Csv),
            ("x.npy", Format::Npy),
            ("d.npz", Format::Npz),
        ] {
            fs::write(d.join(name), "").unwrap();
            assert_eq!(detect(&d.join(name)).unwrap(), want, "{name}");
        }
        fs::write(d.join("train-images-idx3-ubyte.gz"), "").unwrap();
        assert_eq!(detect(d).unwrap(), Format::Idx);
        let e = detect(&d.join("missing.csv")).unwrap_err().to_string();
        assert!(e.ends_with("missing.csv: not found"), "{e}");
        fs::write(d.join("a.bin"), "").unwrap();
        assert!(detect(&d.join("a.bin"))
            .unwrap_err()
            .to_string()
            .contains("--format"));
    }

    #[test]
    fn split_and_separate_test_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("f,label\n");
        for i in 0..20 {
            text.push_str(&format!("{i},{}\n", ["a", "b"][i % 2]));
        }
        let p = dir.path().join("d.csv");
        fs::write(&p, &text).unwrap();
        let spec = DataSpec {
            test_split: 0.2,
            split_seed: 3,
            ..DataSpec::default()
        };
        let s = load_split(&spec, &p).unwrap();
        assert_eq!((s.train.len(), s.test.len()), (16, 4));
        assert_eq!(s.test.class_counts(), [2, 2]);
        let t = dir.path().join("t.csv");
        fs::write(&t, "f,label\n1,b\n").unwrap();
        let spec = DataSpec {
            test: Some(t.clone()),
            ..spec
        };
        let s = load_split(&spec, &p).unwrap();
        assert_eq!((s.train.len(), s.test.labels.clone()), (20, vec![1]));
        fs::write(&t, "f,label\n1,c\n").unwrap();
        let e = load_split(&spec, &p).err().unwrap().to_string();
        assert!(
            e.contains("class `c` is not one of the training classes (a, b)"),
            "{e}"
        );
    }
}
