//! Shared helpers for the CLI tests: synthetic IDX datasets and stderr checks.
#![allow(dead_code)] // each test crate uses a different subset

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use microdense_host::data::idx::{self, Images, Split};

/// The `microdense` binary with the data environment cleared, so a developer's
/// MICRODENSE_DATA never leaks into a test that means to use --data.
pub fn microdense() -> Command {
    let mut cmd = Command::cargo_bin("microdense").expect("binary built");
    cmd.env_remove(idx::DATA_ENV);
    cmd
}

/// A learnable toy set: class c lights pixel c (and its neighbour) of a `rows`×`cols`
/// image, on top of noise. Deterministic in `seed`.
pub fn dataset(n: usize, rows: usize, cols: usize, classes: u8, seed: u64) -> (Images, Vec<u8>) {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let size = rows * cols;
    let mut pixels = Vec::with_capacity(n * size);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let c = (next() % u32::from(classes)) as u8;
        let mut img: Vec<u8> = (0..size).map(|_| (next() % 40) as u8).collect();
        img[usize::from(c) % size] = 200 + (next() % 56) as u8;
        img[(usize::from(c) + 1) % size] = 150;
        pixels.extend_from_slice(&img);
        labels.push(c);
    }
    (
        Images {
            count: n,
            rows,
            cols,
            pixels,
        },
        labels,
    )
}

/// File paths of a split in `dir`, gzip or raw.
pub fn paths(dir: &Path, split: Split, gz: bool) -> (PathBuf, PathBuf) {
    let (i, l) = split.file_names();
    let ext = if gz { ".gz" } else { "" };
    (dir.join(format!("{i}{ext}")), dir.join(format!("{l}{ext}")))
}

/// Writes a train (`n_train`) and test (`n_test`) split of `rows`×`cols` toy digits.
pub fn write_splits(dir: &Path, rows: usize, cols: usize, n_train: usize, n_test: usize, gz: bool) {
    std::fs::create_dir_all(dir).unwrap();
    for (split, n, seed) in [(Split::Train, n_train, 1), (Split::Test, n_test, 2)] {
        let (images, labels) = dataset(n, rows, cols, 10, seed);
        let (ip, lp) = paths(dir, split, gz);
        idx::write_images(&ip, &images).unwrap();
        idx::write_labels(&lp, &labels).unwrap();
    }
}

/// A temporary directory holding a valid 4×4 toy set (raw IDX).
pub fn toy_data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_splits(dir.path(), 4, 4, 400, 100, false);
    dir
}

/// Asserts a failed run: exit code 1, no panic, and stderr is exactly one non-empty
/// line that starts with "error: " and contains every string in `names`.
pub fn assert_one_line_error(output: &std::process::Output, names: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "exit code; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for name in names {
        assert!(
            lines[0].contains(name),
            "error does not name {name}: {stderr}"
        );
    }
    lines[0].to_string()
}

/// Trains a small model on `data` into `out` and asserts success: one hidden layer of 16
/// and 60 batches unless `extra` says otherwise.
pub fn train_small(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let has = |flag: &str| extra.contains(&flag);
    let mut cmd = microdense();
    cmd.args(["train", "--quiet"]);
    if !has("--hidden") {
        cmd.args(["--hidden", "16"]);
    }
    if !has("--batches") && !has("--epochs") {
        cmd.args(["--batches", "60"]);
    }
    let output = cmd
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "train failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Asserts that a command succeeded, showing its stderr when it did not.
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes an `.npy` of `shape` holding `v` (the npyz crate, as a NumPy user would).
pub fn write_npy<T: npyz::AutoSerialize + Copy>(p: &Path, shape: &[u64], v: &[T]) {
    use npyz::WriterBuilder;
    let file = std::fs::File::create(p).unwrap();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .unwrap();
    w.extend(v.iter().copied()).unwrap();
    w.finish().unwrap();
}
