//! quantize / eval / export of int8 models on small synthetic IDX sets, and their errors.
mod common;

use std::fs;
use std::path::Path;

use common::*;
use microdense::ElementType;
use microdense_host::model::bundle::read_bundle;
use microdense_host::model::{AnyModel, QuantModel};

fn quantize(data: &Path, model: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    microdense()
        .args(["quantize", "--model"])
        .arg(model)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn ok(out: &std::process::Output) -> String {
    assert_success(out);
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn quantize_then_eval_and_export_the_int8_model() {
    let data = toy_data();
    let (model, q) = (data.path().join("m.mdw"), data.path().join("q.mdw"));
    train_small(
        data.path(),
        &model,
        &["--activation", "relu", "--epochs", "20", "--lr", "0.3"],
    );
    let text = ok(&quantize(data.path(), &model, &q, &["--calibrate", "200"]));
    assert!(text.contains("calibration  200 training images"), "{text}");
    assert!(text.contains("relu"), "{text}");
    assert!(text.contains("zero point -128"), "{text}");
    let line = text.lines().find(|l| l.starts_with("accuracy")).unwrap();
    assert!(line.contains("f32 ") && line.contains("int8 "), "{line}");

    // The file is an int8 blob; eval reads it and agrees with the quantize summary.
    let loaded = QuantModel::load(&q).unwrap();
    assert_eq!(loaded.topology.input(), 16);
    assert!(matches!(AnyModel::load(&q).unwrap(), AnyModel::Int8(_)));
    let eval = ok(&microdense()
        .args(["eval", "--model"])
        .arg(&q)
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap());
    assert!(eval.contains("(int8)"), "{eval}");
    let int8_acc = line
        .split("int8 ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(
        eval.contains(&format!("accuracy {int8_acc} ")),
        "{eval} vs {line}"
    );
    // The default draws 1000 calibration images, or the whole (toy) training set.
    let all = data.path().join("all.mdw");
    let json = ok(&quantize(data.path(), &model, &all, &["--json"]));
    assert!(json.contains("\"drop_points\""), "{json}");
    assert!(json.contains("\"calibration_samples\": 400"), "{json}");

    // Same model, same data: the same bytes.
    let q2 = data.path().join("q2.mdw");
    ok(&quantize(data.path(), &model, &q2, &["--calibrate", "200"]));
    assert_eq!(fs::read(&q).unwrap(), fs::read(&q2).unwrap());

    // export --firmware bundles the int8 blob with the host's integer outputs.
    let bundle = data.path().join("fw/bundle-int8.bin");
    let out = ok(&microdense()
        .args([
            "export",
            "--firmware",
            "--digits",
            "5",
            "--train-digits",
            "0",
            "--model",
        ])
        .arg(&q)
        .arg("--data")
        .arg(data.path())
        .arg("--out")
        .arg(&bundle)
        .output()
        .unwrap());
    assert!(out.contains("(int8)"), "{out}");
    let bytes = fs::read(&bundle).unwrap();
    let view = read_bundle(&bytes).unwrap();
    assert_eq!(view.element, ElementType::Int8);
    assert_eq!(view.blob, loaded.bytes());
    assert_eq!(view.int_logits.len(), 5 * 10);
    for i in 0..5 {
        let want = loaded.logits(view.test_image(i)).unwrap();
        assert_eq!(&view.int_logits[10 * i..10 * i + 10], &want[..]);
    }
}

#[test]
fn quantize_errors_are_one_line() {
    let data = toy_data();
    let (model, q) = (data.path().join("m.mdw"), data.path().join("q.mdw"));
    train_small(data.path(), &model, &[]);
    ok(&quantize(data.path(), &model, &q, &[]));

    // An int8 model is not quantized again, nor exported to TF.js.
    let again = data.path().join("qq.mdw");
    let e = assert_one_line_error(&quantize(data.path(), &q, &again, &[]), &["q.mdw", "int8"]);
    assert!(e.contains("f32 model"), "{e}");
    assert!(!again.exists());
    let out = microdense()
        .args(["export-tfjs"])
        .arg(&q)
        .arg("--out")
        .arg(data.path().join("web"))
        .output()
        .unwrap();
    assert_one_line_error(&out, &["q.mdw", "int8"]);

    // Hidden layers int8 does not run.
    let tanh = data.path().join("tanh.mdw");
    train_small(data.path(), &tanh, &["--activation", "tanh"]);
    let e = assert_one_line_error(&quantize(data.path(), &tanh, &again, &[]), &["tanh.mdw"]);
    assert!(e.contains("tanh"), "{e}");

    // A damaged int8 file, a missing one, data of the wrong size.
    let mut bytes = fs::read(&q).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let broken = data.path().join("broken.mdw");
    fs::write(&broken, &bytes).unwrap();
    let out = microdense()
        .args(["eval", "--model"])
        .arg(&broken)
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    assert_one_line_error(&out, &["broken.mdw", "CRC mismatch"]);
    let e = assert_one_line_error(
        &quantize(data.path(), &data.path().join("none.mdw"), &again, &[]),
        &["none.mdw"],
    );
    assert!(e.contains("cannot read"), "{e}");
    let other = tempfile::tempdir().unwrap();
    write_splits(other.path(), 3, 3, 50, 20, false);
    assert_one_line_error(
        &quantize(other.path(), &model, &again, &[]),
        &["m.mdw", "inputs"],
    );

    // Usage errors are clap's (exit 2): no --out, a zero calibration count.
    let out = microdense()
        .args(["quantize", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = quantize(data.path(), &model, &again, &["--calibrate", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!again.exists());
}
