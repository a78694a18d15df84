//! train / eval / export on small synthetic IDX sets.
mod common;

use std::fs;

use common::*;
use microdense_host::model::bundle::read_bundle;
use microdense_host::model::Model;

#[test]
fn same_seed_gives_a_bit_identical_model_file() {
    let data = toy_data();
    let (a, b, c) = (
        data.path().join("a.mdw"),
        data.path().join("b.mdw"),
        data.path().join("c.mdw"),
    );
    let args = [
        "--momentum",
        "0.9",
        "--schedule",
        "cosine",
        "--activation",
        "relu",
    ];
    train_small(data.path(), &a, &args);
    train_small(data.path(), &b, &args);
    train_small(data.path(), &c, &[&args[..], &["--seed", "2"]].concat());
    let (a, b, c) = (
        fs::read(a).unwrap(),
        fs::read(b).unwrap(),
        fs::read(c).unwrap(),
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn train_then_eval_agree_and_learn_the_toy_set() {
    let data = toy_data();
    let model = data.path().join("m.mdw");
    let out = train_small(
        data.path(),
        &model,
        &["--activation", "relu", "--epochs", "20", "--lr", "0.3"],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("network   16→16→10 (relu, softmax)"),
        "{text}"
    );
    let acc_line = text.lines().find(|l| l.starts_with("test")).unwrap();

    let m = Model::load(&model).unwrap();
    assert_eq!(m.topology.input(), 16);
    let eval = microdense()
        .args(["eval", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    assert!(eval.status.success());
    let report = String::from_utf8(eval.stdout).unwrap();
    // The accuracy train printed is the one eval computes.
    let acc = acc_line.split_whitespace().nth(2).unwrap();
    assert!(
        report.contains(&format!("accuracy {acc}")),
        "{acc_line}\n{report}"
    );
    assert!(report.contains("per class:") && report.contains("confusion"));
    let acc: f64 = acc.parse().unwrap();
    assert!(acc > 0.9, "toy set not learned: {acc}");
}

#[test]
fn json_and_plots() {
    let data = toy_data();
    let model = data.path().join("m.mdw");
    let curves = data.path().join("plots/curves.svg");
    let out = train_small(
        data.path(),
        &model,
        &[
            "--json",
            "--plot",
            curves.to_str().unwrap(),
            "--val-every",
            "10",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["batches"], 60);
    assert_eq!(v["config"]["batch"], 16);
    assert_eq!(v["config"]["activation"], "linear");
    assert_eq!(v["history"]["loss"].as_array().unwrap().len(), 60);
    assert_eq!(v["history"]["val"].as_array().unwrap().len(), 6);
    assert_eq!(v["test_samples"], 100);
    assert!(v["diverged"].is_null());
    let svg = fs::read_to_string(&curves).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("validation accuracy"));

    let confusion = data.path().join("confusion.svg");
    let out = microdense()
        .args(["eval", "--json", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(data.path())
        .arg("--plot")
        .arg(&confusion)
        .output()
        .unwrap();
    assert!(out.status.success());
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["samples"], 100);
    assert_eq!(e["accuracy"], v["test_accuracy"]);
    assert_eq!(e["confusion"].as_array().unwrap().len(), 10);
    assert!(fs::read_to_string(confusion).unwrap().contains("<rect"));
}

#[test]
fn other_image_sizes_work_end_to_end() {
    let data = tempfile::tempdir().unwrap();
    write_splits(data.path(), 3, 7, 300, 40, true);
    let model = data.path().join("m.mdw");
    train_small(data.path(), &model, &["--hidden", "none"]);
    let m = Model::load(&model).unwrap();
    assert_eq!((m.topology.input(), m.topology.layers().len()), (21, 1));
}

#[test]
fn export_writes_a_firmware_bundle() {
    let data = toy_data();
    let model = data.path().join("m.mdw");
    train_small(data.path(), &model, &[]);
    let bundle = data.path().join("fw/bundle.bin");
    let out = microdense()
        .args([
            "export",
            "--firmware",
            "--digits",
            "7",
            "--train-digits",
            "3",
            "--model",
        ])
        .arg(&model)
        .arg("--data")
        .arg(data.path())
        .arg("--out")
        .arg(&bundle)
        .output()
        .unwrap();
    assert_success(&out);
    let bytes = fs::read(&bundle).unwrap();
    let view = read_bundle(&bytes).unwrap();
    assert_eq!((view.rows, view.cols), (4, 4));
    assert_eq!((view.test_labels.len(), view.train_labels.len()), (7, 3));
    assert_eq!(view.test_image(0).len(), 16);
    assert!(String::from_utf8_lossy(&out.stdout).contains("7 test digits"));
}

#[test]
fn data_directory_from_the_environment_and_flag_precedence() {
    let data = toy_data();
    let model = data.path().join("env.mdw");
    let out = microdense()
        .env(microdense_host::data::idx::DATA_ENV, data.path())
        .args(["train", "--batches", "5", "--out"])
        .arg(&model)
        .output()
        .unwrap();
    assert_success(&out);
    // --data wins over the environment.
    let empty = tempfile::tempdir().unwrap();
    let out = microdense()
        .env(microdense_host::data::idx::DATA_ENV, data.path())
        .args(["eval", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(empty.path())
        .output()
        .unwrap();
    assert_one_line_error(&out, &[&empty.path().to_string_lossy()]);
}

/// `--output-init` draws only the output layer differently (the hidden layer's weights
/// come from the same stream), `--loss tfjs` trains differently, and both are reported.
#[test]
fn output_initializer_and_loss() {
    let data = toy_data();
    let path = |n: &str| data.path().join(n);
    let one = ["--batches", "1", "--lr", "1e-30"];
    train_small(data.path(), &path("a.mdw"), &one);
    let out = train_small(
        data.path(),
        &path("b.mdw"),
        &[&one[..], &["--output-init", "variance-scaling"]].concat(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("glorot-normal init, variance-scaling output"),
        "{text}"
    );
    let (a, b) = (
        Model::load(&path("a.mdw")).unwrap(),
        Model::load(&path("b.mdw")).unwrap(),
    );
    // The hidden kernel (its biases moved by the near-zero step, differently).
    let (kernel, out) = (16 * 16, 16 * 16 + 16);
    assert_eq!(a.params[..kernel], b.params[..kernel]);
    assert_ne!(a.params[out..out + 160], b.params[out..out + 160]);

    let loss = |l: &str, n: &str| {
        let out = train_small(data.path(), &path(n), &["--loss", l, "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["config"]["loss"], l, "{v}");
        fs::read(path(n)).unwrap()
    };
    assert_ne!(loss("fused", "f.mdw"), loss("tfjs", "t.mdw"));
}
