//! Tests on the real MNIST files named by MICRODENSE_DATA; each is skipped, loudly, when
//! it is unset.
mod common;

use std::io::Write;
use std::path::PathBuf;

use common::{assert_success, microdense};
use microdense_host::data::idx::DATA_ENV;

fn mnist(test: &str) -> Option<PathBuf> {
    match std::env::var_os(DATA_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => {
            // Straight to stderr, not eprintln!: libtest would capture that and show
            // nothing for a passing test.
            let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {DATA_ENV} not set");
            None
        }
    }
}

/// The tutorial's configuration (32+256 linear, 100 batches, lr 0.15) beats 0.70 on the
/// full test set, and eval of the saved model agrees. Batch 64, the tutorial's second
/// run: over 30 seeds it scores 0.875 ± 0.011 (min 0.844), whereas batch 16 scores
/// 0.79 ± 0.05 and dips below 0.70 for about one seed in 30, so a harmless change of
/// rounding in core could fail the test.
#[test]
fn tutorial_run_then_eval() {
    let Some(data) = mnist("tutorial_run_then_eval") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tutorial.mdw");
    let out = microdense()
        .args(["train", "--batch", "64", "--json", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&model)
        .output()
        .unwrap();
    assert_success(&out);
    let train: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let acc = train["test_accuracy"].as_f64().unwrap();
    assert_eq!(train["test_samples"], 10_000);
    assert!(acc > 0.70, "tutorial configuration reached only {acc}");

    let out = microdense()
        .args(["eval", "--json", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert_success(&out);
    let eval: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(eval["accuracy"].as_f64().unwrap(), acc);
    assert_eq!(eval["per_class"].as_array().unwrap().len(), 10);
}

/// core and the f64 reference agree within the default tolerance over 100 steps.
#[test]
fn check_against_the_reference() {
    let Some(data) = mnist("check_against_the_reference") else {
        return;
    };
    let out = microdense()
        .args(["check", "--json", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert_success(&out);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["steps"], 100);
    let tol = microdense_host::eval::crosscheck::DEFAULT_TOLERANCE;
    assert!(r["weights_relative"].as_f64().unwrap() < tol, "{r}");
    assert!(r["loss_relative"].as_f64().unwrap() < tol, "{r}");

    // A tolerance below the measured deviation must fail, with one line.
    let out = microdense()
        .args(["check", "--steps", "10", "--tolerance", "1e-12", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    common::assert_one_line_error(&out, &["tolerance"]);
}
