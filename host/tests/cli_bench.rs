//! `bench` and `train --eval-every-epoch / --target-accuracy` on small synthetic IDX sets.
mod common;

use common::*;

fn json(out: &std::process::Output) -> serde_json::Value {
    assert_success(out);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn bench_reports_the_median_of_its_repeats() {
    let data = toy_data();
    let out = microdense()
        .args(["bench", "--hidden", "8", "--batch", "16", "--steps", "30"])
        .args(["--repeats", "3", "--json", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["network"], "16→8→10 (linear, softmax)");
    assert_eq!(
        (v["steps"].as_u64(), v["config"]["batch"].as_u64()),
        (Some(30), Some(16))
    );
    let repeats = v["repeats"].as_array().unwrap();
    assert_eq!(repeats.len(), 3);
    // 400 samples: 25 batches of 16 per epoch, so 30 steps are 480 samples.
    assert!(repeats.iter().all(|r| r["samples"] == 480));
    let mut rates: Vec<f64> = repeats
        .iter()
        .map(|r| r["samples_per_second"].as_f64().unwrap())
        .collect();
    rates.sort_by(f64::total_cmp);
    assert_eq!(v["samples_per_second"].as_f64(), Some(rates[1]));
    assert!(v["warmup_steps"].as_u64().unwrap() >= 8);

    let text = microdense()
        .args(["bench", "--hidden", "8", "--steps", "5", "--repeats", "1"])
        .env(microdense_host::data::idx::DATA_ENV, data.path())
        .output()
        .unwrap();
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("samples/s: median of 1 repeats of 5 steps"),
        "{text}"
    );
}

#[test]
fn bench_errors_are_one_line() {
    let empty = tempfile::tempdir().unwrap();
    let out = microdense()
        .args(["bench", "--data"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert_one_line_error(&out, &[&empty.path().to_string_lossy()]);
    let data = toy_data();
    let out = microdense()
        .args(["bench", "--lr", "1e30", "--steps", "50", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    assert_one_line_error(&out, &["smaller --lr"]);
}

#[test]
fn train_scores_each_epoch_and_finds_the_target() {
    let data = toy_data();
    let model = data.path().join("m.mdw");
    let args = [
        "--epochs",
        "4",
        "--activation",
        "relu",
        "--lr",
        "0.3",
        "--json",
    ];
    let run = |extra: &[&str]| {
        json(&train_small(
            data.path(),
            &model,
            &[&args[..], extra].concat(),
        ))
    };

    let v = run(&["--target-accuracy", "0.5"]);
    let scores = v["epoch_scores"].as_array().unwrap();
    assert_eq!(scores.len(), 4);
    let epochs: Vec<u64> = scores
        .iter()
        .map(|s| s["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(epochs, [1, 2, 3, 4]);
    let times: Vec<f64> = scores
        .iter()
        .map(|s| s["train_seconds"].as_f64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    // The last epoch's score is the final model's, and training time excludes scoring.
    assert_eq!(scores[3]["test_accuracy"], v["test_accuracy"]);
    assert_eq!(scores[3]["train_seconds"], v["train_seconds"]);
    assert!(v["train_seconds"].as_f64() <= v["seconds"].as_f64());
    assert!(v["epoch_eval_seconds"].as_f64().unwrap() > 0.0);
    let first = scores
        .iter()
        .find(|s| s["test_accuracy"].as_f64().unwrap() >= 0.5)
        .expect("the toy set is learned");
    assert_eq!(v["target"]["accuracy"], 0.5);
    assert_eq!(v["target"]["epoch"], first["epoch"]);
    assert_eq!(v["target"]["train_seconds"], first["train_seconds"]);

    // Per-epoch scoring alone, and a target that is not reached.
    let v = run(&["--eval-every-epoch"]);
    assert_eq!(v["epoch_scores"].as_array().unwrap().len(), 4);
    assert!(v["target"].is_null());
    let v = run(&["--target-accuracy", "1"]);
    if v["test_accuracy"].as_f64() < Some(1.0) {
        assert!(v["target"]["epoch"].is_null() && v["target"]["train_seconds"].is_null());
    }
    // Without the options, no scores (but the training time is always there).
    let v = run(&[]);
    assert_eq!(v["epoch_scores"].as_array().unwrap().len(), 0);
    assert!(v["train_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn train_text_summary_names_the_first_epoch_at_the_target() {
    let data = toy_data();
    let model = data.path().join("m.mdw");
    let out = train_small(
        data.path(),
        &model,
        &["--epochs", "3", "--lr", "0.3", "--target-accuracy", "0.2"],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with("epochs")).unwrap();
    assert!(line.contains("test accuracy after each: "), "{line}");
    assert!(line.contains("0.2 first reached after epoch 1"), "{line}");
    assert!(line.contains("scoring excluded"), "{line}");
}

#[test]
fn target_accuracy_must_be_a_fraction() {
    let data = toy_data();
    for bad in ["0", "98", "x"] {
        let out = microdense()
            .args(["train", "--target-accuracy", bad, "--data"])
            .arg(data.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--target-accuracy"));
    }
}
