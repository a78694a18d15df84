//! Every bad input gives exit code 1 and a one-line `error: <file>: <what>`, never a
//! panic, and never touches an existing output file.
mod common;

use std::fs;
use std::path::Path;

use common::*;
use microdense_host::data::idx::{self, Split};

/// Runs `train` on `data` with `--out` pointing at an existing file, asserts a one-line
/// error naming `names`, and that the existing file is byte-identical afterwards.
fn train_fails_keeping_output(data: &Path, names: &[&str]) -> String {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("existing.mdw");
    fs::write(&out, b"precious bytes").unwrap();
    let output = microdense()
        .args(["train", "--batches", "5", "--data"])
        .arg(data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let line = assert_one_line_error(&output, names);
    assert_eq!(fs::read(&out).unwrap(), b"precious bytes");
    let left: Vec<_> = fs::read_dir(out_dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "temporary files left behind");
    line
}

#[test]
fn missing_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let line = train_fails_keeping_output(&missing, &["nowhere", "train-images-idx3-ubyte"]);
    assert!(line.contains("not found"), "{line}");
}

#[test]
fn missing_labels_file() {
    let data = toy_data();
    let (_, labels) = paths(data.path(), Split::Test, false);
    fs::remove_file(&labels).unwrap();
    train_fails_keeping_output(data.path(), &["t10k-labels-idx1-ubyte"]);
}

#[test]
fn wrong_magic() {
    let data = toy_data();
    let (images, labels) = paths(data.path(), Split::Train, false);
    // A label file where the images belong.
    fs::copy(&labels, &images).unwrap();
    let line = train_fails_keeping_output(data.path(), &["train-images-idx3-ubyte"]);
    assert!(line.contains("magic"), "{line}");
}

#[test]
fn garbage_file() {
    let data = toy_data();
    let (images, _) = paths(data.path(), Split::Test, false);
    fs::write(&images, b"this is not an IDX file at all").unwrap();
    train_fails_keeping_output(data.path(), &["t10k-images-idx3-ubyte"]);
}

#[test]
fn truncated_file() {
    let data = toy_data();
    let (images, _) = paths(data.path(), Split::Train, false);
    let bytes = fs::read(&images).unwrap();
    fs::write(&images, &bytes[..bytes.len() - 7]).unwrap();
    let line = train_fails_keeping_output(data.path(), &["train-images-idx3-ubyte"]);
    assert!(line.contains("truncated"), "{line}");
}

#[test]
fn count_mismatch() {
    let data = toy_data();
    let (_, labels) = paths(data.path(), Split::Train, false);
    idx::write_labels(&labels, &[1u8; 399]).unwrap();
    let line = train_fails_keeping_output(data.path(), &["train-images-idx3-ubyte", "labels"]);
    assert!(line.contains("399"), "{line}");
}

#[test]
fn corrupt_gzip() {
    let dir = tempfile::tempdir().unwrap();
    write_splits(dir.path(), 4, 4, 300, 50, true);
    let (images, _) = paths(dir.path(), Split::Train, true);
    let mut bytes = fs::read(&images).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0x5a;
    }
    fs::write(&images, &bytes).unwrap();
    train_fails_keeping_output(dir.path(), &["train-images-idx3-ubyte.gz"]);
}

#[test]
fn labels_out_of_range_for_the_classes() {
    let data = toy_data();
    let (_, labels) = paths(data.path(), Split::Test, false);
    let mut l = vec![0u8; 100];
    l[17] = 12;
    idx::write_labels(&labels, &l).unwrap();
    let dir = data.path().to_string_lossy().into_owned();
    let line = train_fails_keeping_output(data.path(), &[&dir]);
    assert!(line.contains("12") && line.contains("10 classes"), "{line}");
}

#[test]
fn gzip_data_trains_like_raw_data() {
    let (raw, gz) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_splits(raw.path(), 4, 4, 300, 50, false);
    write_splits(gz.path(), 4, 4, 300, 50, true);
    let (a, b) = (raw.path().join("a.mdw"), gz.path().join("b.mdw"));
    train_small(raw.path(), &a, &[]);
    train_small(gz.path(), &b, &[]);
    assert_eq!(fs::read(a).unwrap(), fs::read(b).unwrap());
}

/// A model trained on 4×4 images, and the data directory it came from.
fn model_4x4() -> (tempfile::TempDir, std::path::PathBuf) {
    let data = toy_data();
    let model = data.path().join("m.mdw");
    train_small(data.path(), &model, &[]);
    (data, model)
}

fn eval(model: &Path, data: &Path) -> std::process::Output {
    microdense()
        .args(["eval", "--model"])
        .arg(model)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap()
}

#[test]
fn wrong_input_size_for_the_model() {
    let (_data, model) = model_4x4();
    let other = tempfile::tempdir().unwrap();
    write_splits(other.path(), 5, 5, 50, 50, false);
    let out = eval(&model, other.path());
    let line = assert_one_line_error(&out, &["m.mdw"]);
    assert!(line.contains("16 inputs") && line.contains("5x5"), "{line}");
    // export checks the same.
    let out = microdense()
        .args(["export", "--firmware", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(other.path())
        .arg("--out")
        .arg(other.path().join("b.bin"))
        .output()
        .unwrap();
    assert_one_line_error(&out, &["m.mdw", "16 inputs"]);
}

#[test]
fn corrupt_model_files() {
    let (data, model) = model_4x4();
    let good = fs::read(&model).unwrap();
    let bad = data.path().join("bad.mdw");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("CRC mismatch", {
            let mut b = good.clone();
            let last = b.len() - 1;
            b[last] ^= 0x01;
            b
        }),
        ("truncated", good[..good.len() - 4].to_vec()),
        ("truncated", good[..50].to_vec()),
        ("unexpected bytes after", [&good[..], b"xx"].concat()),
        ("bad magic", b"PK\x03\x04 a zip file, say".to_vec()),
        ("truncated", Vec::new()),
        ("version", {
            let mut b = good.clone();
            b[4] = 9;
            b
        }),
    ];
    for (what, bytes) in cases {
        fs::write(&bad, &bytes).unwrap();
        let line = assert_one_line_error(&eval(&bad, data.path()), &["bad.mdw"]);
        assert!(line.contains(what), "{what}: {line}");
    }
    let line = assert_one_line_error(
        &eval(&data.path().join("absent.mdw"), data.path()),
        &["absent.mdw"],
    );
    assert!(line.contains("cannot read"), "{line}");
}

#[test]
fn unwritable_output_keeps_nothing_half_written() {
    let data = toy_data();
    let blocker = data.path().join("file");
    fs::write(&blocker, b"x").unwrap();
    let out = microdense()
        .args(["train", "--batches", "3", "--data"])
        .arg(data.path())
        .arg("--out")
        .arg(blocker.join("model.mdw"))
        .output()
        .unwrap();
    assert_one_line_error(&out, &["file"]);
    assert_eq!(fs::read(&blocker).unwrap(), b"x");
}

#[test]
fn divergence_keeps_the_last_finite_model() {
    let data = toy_data();
    let out_path = data.path().join("diverged.mdw");
    let out = microdense()
        .args(["train", "--lr", "1e30", "--batches", "50", "--data"])
        .arg(data.path())
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    let line = assert_one_line_error(&out, &["diverged.mdw", "diverged at batch"]);
    assert!(line.contains("last model with a finite loss"), "{line}");
    // The summary still went to stdout, and the kept model loads and evaluates.
    assert!(String::from_utf8_lossy(&out.stdout).contains("test      accuracy"));
    let e = eval(&out_path, data.path());
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
}

#[test]
fn usage_errors_are_clap_errors() {
    for args in [
        &["train", "--lr", "-1"][..],
        &["train", "--lr", "nan"],
        &["train", "--momentum", "1"],
        &["train", "--batches", "5", "--epochs", "1"],
        &["train", "--hidden", "32,,4"],
        &["train", "--batch", "0"],
        &["eval"],
        &["export", "--model", "m.mdw"],
        &["frobnicate"],
    ] {
        let out = microdense().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn fetch_from_an_unreachable_mirror_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 on loopback: nothing listens; the connection is refused at once.
    let out = microdense()
        .args(["fetch", "--mirror", "http://127.0.0.1:9/", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_one_line_error(&out, &["train-images-idx3-ubyte.gz", "127.0.0.1:9"]);
}
