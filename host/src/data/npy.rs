//! NumPy datasets: an `.npy` pair (features, labels) or an `.npz` archive.
//!
//! Features are N×F or N×H×W arrays of u8, i8, i16, i32, f32 or f64 (C order); labels
//! are N integers of any width. The labels of `X.npy` are found next to it by name:
//! `x.npy` ↔ `y.npy`, `x_train.npy` ↔ `y_train.npy`, `NAME_x.npy` ↔ `NAME_y.npy` (either
//! case of x), or given with `--labels`. In an `.npz` the arrays are `x`/`y`, or
//! `x_train`/`y_train` with `x_test`/`y_test` as its own test set (Keras' `mnist.npz`
//! layout), or the names given with `--arrays X,Y`.
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use npyz::{NpyFile, Order, TypeChar};

use super::table::{classes_from_ints, Table};

/// A numeric array, values widened to f32 (features) or i64 (labels).
struct Array {
    shape: Vec<usize>,
    dtype: String,
    values: Values,
}

enum Values {
    Floats(Vec<f32>),
    Ints(Vec<i64>),
}

fn read_array<R: Read>(what: &str, npy: NpyFile<R>) -> Result<Array> {
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    if npy.order() == Order::Fortran {
        return Err(anyhow!(
            "{what}: Fortran-ordered array; save it in C order (np.ascontiguousarray)"
        ));
    }
    let npyz::DType::Plain(ts) = npy.dtype() else {
        return Err(anyhow!(
            "{what}: a structured array; need a plain numeric one"
        ));
    };
    let dtype = ts.to_string();
    let io = |e: io::Error| anyhow!("{what}: cannot read the array data: {e}");
    let values = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Uint, 1) => Values::Ints(widen(npy.into_vec::<u8>().map_err(io)?)),
        (TypeChar::Int, 1) => Values::Ints(widen(npy.into_vec::<i8>().map_err(io)?)),
        (TypeChar::Int, 2) => Values::Ints(widen(npy.into_vec::<i16>().map_err(io)?)),
        (TypeChar::Uint, 2) => Values::Ints(widen(npy.into_vec::<u16>().map_err(io)?)),
        (TypeChar::Int, 4) => Values::Ints(widen(npy.into_vec::<i32>().map_err(io)?)),
        (TypeChar::Uint, 4) => Values::Ints(widen(npy.into_vec::<u32>().map_err(io)?)),
        (TypeChar::Int, 8) => Values::Ints(npy.into_vec::<i64>().map_err(io)?),
        (TypeChar::Float, 4) => Values::Floats(npy.into_vec::<f32>().map_err(io)?),
        (TypeChar::Float, 8) => {
            Values::Floats(npy.into_vec::<f64>().map_err(io)?.into_iter().map(|v| v as f32).collect())
        }
        _ => {
            return Err(anyhow!(
                "{what}: unsupported dtype {dtype}; use u8, i8, i16, i32, f32 or f64 (integers for labels)"
            ))
        }
    };
    Ok(Array {
        shape,
        dtype,
        values,
    })
}

fn widen<T: Into<i64>>(v: Vec<T>) -> Vec<i64> {
    v.into_iter().map(Into::into).collect()
}

fn open_npy(path: &Path) -> Result<Array> {
    let file = File::open(path).map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))?;
    let npy = NpyFile::new(BufReader::new(file))
        .map_err(|e| anyhow!("{}: not a NumPy .npy file: {e}", path.display()))?;
    read_array(&path.display().to_string(), npy)
}

/// An unlabelled features array (for `predict`): its shape and values.
pub fn load_features(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let a = open_npy(path)?;
    let values = match a.values {
        Values::Floats(v) => v,
        Values::Ints(v) => v.into_iter().map(|i| i as f32).collect(),
    };
    Ok((a.shape, values))
}

/// Features and labels as a table; `pixels` when the features are u8 images.
fn table(source: &Path, xname: &str, x: Array, yname: &str, y: Array) -> Result<Table> {
    let n = x.shape.first().copied().unwrap_or(0);
    let shape = match x.shape.len() {
        2 | 3 => x.shape[1..].to_vec(),
        _ => {
            return Err(anyhow!(
                "{xname}: features of shape {:?}; need N×F or N×H×W",
                x.shape
            ))
        }
    };
    if y.shape.len() != 1 && !(y.shape.len() == 2 && y.shape[1] == 1) {
        return Err(anyhow!(
            "{yname}: labels of shape {:?}; need N integers",
            y.shape
        ));
    }
    if y.shape[0] != n {
        return Err(anyhow!(
            "{xname}: {n} examples, but {yname} has {} labels",
            y.shape[0]
        ));
    }
    let Values::Ints(raw_labels) = y.values else {
        return Err(anyhow!(
            "{yname}: labels of dtype {}; need an integer type",
            y.dtype
        ));
    };
    let pixels = x.dtype.ends_with("u1") && shape.len() == 2;
    let features = match x.values {
        Values::Floats(v) => v,
        Values::Ints(v) => v.into_iter().map(|i| i as f32).collect(),
    };
    let (labels, classes) = classes_from_ints(source, &raw_labels)?;
    let t = Table {
        source: source.to_path_buf(),
        shape,
        features,
        labels,
        classes,
        pixels,
    };
    t.check()?;
    Ok(t)
}

/// The labels file that goes with features file `x`, by the naming rules above.
pub fn labels_path(x: &Path) -> Option<PathBuf> {
    let stem = x.file_stem()?.to_str()?;
    let swap = |s: &str| -> Option<String> {
        for (from, to) in [("x", "y"), ("X", "y"), ("X", "Y")] {
            if s == from {
                return Some(to.to_string());
            }
            if let Some(rest) = s.strip_prefix(&format!("{from}_")) {
                return Some(format!("{to}_{rest}"));
            }
            if let Some(rest) = s.strip_suffix(&format!("_{from}")) {
                return Some(format!("{rest}_{to}"));
            }
        }
        None
    };
    let y = x.with_file_name(format!("{}.npy", swap(stem)?));
    y.exists().then_some(y)
}

/// Loads a features `.npy` and its labels (`labels`, else found by name).
pub fn load_pair(x: &Path, labels: Option<&Path>) -> Result<Table> {
    let y = match labels {
        Some(y) => y.to_path_buf(),
        None => labels_path(x).ok_or_else(|| {
            anyhow!(
                "{}: no labels file found next to it (x.npy ↔ y.npy, x_train.npy ↔ y_train.npy, \
                 NAME_x.npy ↔ NAME_y.npy); name it with --labels",
                x.display()
            )
        })?,
    };
    let (xa, ya) = (open_npy(x)?, open_npy(&y)?);
    table(
        x,
        &x.display().to_string(),
        xa,
        &y.display().to_string(),
        ya,
    )
}

/// Loads an `.npz`: the training arrays, and the test arrays when it holds
/// `x_test`/`y_test` (and no names were given).
pub fn load_npz(path: &Path, names: Option<(&str, &str)>) -> Result<(Table, Option<Table>)> {
    let src = path.display().to_string();
    let mut zip = npyz::npz::NpzArchive::open(path)
        .map_err(|e| anyhow!("{src}: not a NumPy .npz archive: {e}"))?;
    let mut have: Vec<String> = zip.array_names().map(str::to_string).collect();
    have.sort();
    let has = |n: &str| have.iter().any(|h| h == n);
    let (xn, yn) = match names {
        Some(p) => p,
        None if has("x") && has("y") => ("x", "y"),
        None if has("x_train") && has("y_train") => ("x_train", "y_train"),
        None => {
            return Err(anyhow!(
                "{src}: no arrays x/y or x_train/y_train (it has: {}); name them with --arrays X,Y",
                have.join(", ")
            ))
        }
    };
    let mut get = |name: &str| -> Result<Array> {
        let what = format!("{src}: array {name}");
        let npy = zip
            .by_name(name)
            .map_err(|e| anyhow!("{what}: {e}"))?
            .ok_or_else(|| anyhow!("{src}: no array `{name}` (it has: {})", have.join(", ")))?;
        read_array(&what, npy)
    };
    let (x, y) = (get(xn)?, get(yn)?);
    let train = table(path, &format!("{src}: {xn}"), x, &format!("{src}: {yn}"), y)?;
    let test = if names.is_none() && xn == "x_train" && has("x_test") && has("y_test") {
        let (x, y) = (get("x_test")?, get("y_test")?);
        Some(table(
            path,
            &format!("{src}: x_test"),
            x,
            &format!("{src}: y_test"),
            y,
        )?)
    } else {
        None
    };
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;
    use npyz::WriterBuilder;

    fn write<T: npyz::Serialize + npyz::AutoSerialize + Copy>(p: &Path, shape: &[u64], v: &[T]) {
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(std::io::BufWriter::new(File::create(p).unwrap()))
            .begin_nd()
            .unwrap();
        w.extend(v.iter().copied()).unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn pairs_of_every_dtype() {
        let dir = tempfile::tempdir().unwrap();
        let (x, y) = (
            dir.path().join("x_train.npy"),
            dir.path().join("y_train.npy"),
        );
        write(&y, &[3], &[2i64, 0, 2]);
        write(&x, &[3, 2], &[1.5f64, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let t = load_pair(&x, None).unwrap();
        assert_eq!(
            (t.shape.clone(), t.labels.clone()),
            (vec![2], vec![1, 0, 1])
        );
        assert_eq!(t.classes, ["0", "2"]);
        assert_eq!(t.features, [1.5, 2.0, 3.0, 4.0, 5.0, 6.0]);
        write(&x, &[3, 2], &[1i16, -2, 3, 4, 5, 6]);
        assert_eq!(load_pair(&x, None).unwrap().features[1], -2.0);
        write(&x, &[3, 1, 2], &[0u8, 255, 3, 4, 5, 6]);
        let t = load_pair(&x, None).unwrap();
        assert!(t.pixels);
        assert_eq!(t.shape, [1, 2]);
        write(&x, &[3, 2], &[1i8, 2, 3, 4, 5, 6]);
        write(&x, &[3, 2], &[1i32, 2, 3, 4, 5, 6]);
        write(&x, &[3, 2], &[1f32, 2., 3., 4., 5., 6.]);
        assert_eq!(load_pair(&x, None).unwrap().features[5], 6.0);
    }

    #[test]
    fn bad_arrays_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let (x, y) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
        write(&y, &[2], &[0u8, 1]);
        let cases: [(&dyn Fn(), &str); 5] = [
            (&|| write(&x, &[2], &[1f32, 2.]), "need N×F or N×H×W"),
            (&|| write(&x, &[3, 1], &[1f32, 2., 3.]), "3 examples, but"),
            (&|| write(&x, &[2, 1], &[1u64, 2]), "unsupported dtype"),
            (
                &|| write(&x, &[2, 1], &[1f32, f32::INFINITY]),
                "example 2 feature 1 is inf",
            ),
            (
                &|| write(&x, &[2, 1, 1, 1], &[1f32, 2.]),
                "need N×F or N×H×W",
            ),
        ];
        for (make, want) in cases {
            make();
            let e = load_pair(&x, None).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("x.npy"), "{e}");
        }
        write(&x, &[2, 1], &[1f32, 2.]);
        write(&y, &[2], &[0.5f32, 1.0]);
        let e = load_pair(&x, None).unwrap_err().to_string();
        assert!(e.contains("need an integer type"), "{e}");
        let lone = dir.path().join("feat.npy");
        write(&lone, &[2, 1], &[1f32, 2.]);
        assert!(load_pair(&lone, None)
            .unwrap_err()
            .to_string()
            .contains("--labels"));
        std::fs::write(&x, b"not numpy").unwrap();
        assert!(load_pair(&x, None)
            .unwrap_err()
            .to_string()
            .contains("not a NumPy"));
    }

    #[test]
    fn npz_with_train_and_test_arrays() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.npz");
        {
            let mut z = npyz::npz::NpzWriter::create(&p).unwrap();
            let opts = npyz::zip::write::FileOptions::default();
            for (name, shape, v) in [
                ("x_train", vec![2u64, 2], vec![1u8, 2, 3, 4]),
                ("y_train", vec![2], vec![0, 1]),
                ("x_test", vec![1, 2], vec![5, 6]),
                ("y_test", vec![1], vec![1]),
            ] {
                let mut w = z
                    .array::<u8>(name, opts)
                    .unwrap()
                    .default_dtype()
                    .shape(&shape)
                    .begin_nd()
                    .unwrap();
                w.extend(v).unwrap();
                w.finish().unwrap();
            }
        }
        let (train, test) = load_npz(&p, None).unwrap();
        assert_eq!(train.features, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(test.unwrap().features, [5.0, 6.0]);
        let e = load_npz(&p, Some(("a", "b"))).unwrap_err().to_string();
        assert!(e.contains("no array `a`"), "{e}");
    }
}
