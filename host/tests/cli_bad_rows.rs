//! The "bad input" list where a model meets data it was not trained on: `predict`
//! on a non-finite cell or `.npy` value or an array of the wrong width, `eval` and
//! `export --firmware` on a class the model does not know, training on a non-finite
//! `.npy` feature, an empty file to predict. Each is one line naming the file (and row or
//! column where it applies), exit 1, and the model file is left as it was.
mod common;

use std::fs;
use std::path::Path;

use common::{assert_one_line_error, assert_success, microdense, write_npy};

fn run(args: &[&str]) -> std::process::Output {
    microdense().args(args).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A two-feature, two-class table the tests train a small model on.
const TABLE: &str = "a,b,y\n1,2,p\n3,4,q\n1.5,2,p\n3.5,4.2,q\n1,2.2,p\n3,4.1,q\n\
                     1.1,2,p\n3.3,4,q\n1,2.1,p\n3,4.4,q\n";

#[test]
fn data_the_model_does_not_fit_is_one_line_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name);
    let (data, model) = (p("t.csv"), p("t.mdw"));
    fs::write(&data, TABLE).unwrap();
    let args = [
        "train",
        "--data",
        s(&data),
        "--epochs",
        "2",
        "--out",
        s(&model),
    ];
    assert_success(&run(&args));
    let before = fs::read(&model).unwrap();
    let predict = |input: &Path| run(&["predict", "--model", s(&model), s(input)]);

    fs::write(p("nan.csv"), "1,2\n5,nan\n").unwrap();
    let out = predict(&p("nan.csv"));
    assert_one_line_error(
        &out,
        &["nan.csv", "line 2", "column 2", "not a finite number"],
    );
    fs::write(p("empty.csv"), "").unwrap();
    assert_one_line_error(&predict(&p("empty.csv")), &["empty.csv", "no rows"]);

    write_npy(&p("wide.npy"), &[2, 3], &[1f32; 6]);
    let out = predict(&p("wide.npy"));
    assert_one_line_error(&out, &["wide.npy", "[3]", "the model takes 2 values"]);
    write_npy(&p("inf.npy"), &[2, 2], &[1f32, 2.0, 3.0, f32::INFINITY]);
    let out = predict(&p("inf.npy"));
    assert_one_line_error(&out, &["inf.npy", "example 2 value 2", "not finite"]);

    // Training on a non-finite NumPy feature.
    let (x, y) = (p("bad_x.npy"), p("bad_y.npy"));
    let mut values = [1f32; 20];
    values[7] = f32::NAN;
    write_npy(&x, &[10, 2], &values);
    write_npy(&y, &[10], &[0i64, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
    let out = run(&["train", "--data", s(&x), "--out", s(&model)]);
    assert_one_line_error(&out, &["bad_x.npy", "example 4 feature 2", "NaN"]);

    // A test class the model was not trained on, to score or to bundle.
    fs::write(p("unknown.csv"), "a,b,y\n1,2,z\n3,4,p\n").unwrap();
    let unknown = p("unknown.csv");
    let test = ["--data", s(&data), "--test", s(&unknown)];
    let out = run(&[&["eval", "--model", s(&model)][..], &test].concat());
    assert_one_line_error(
        &out,
        &["unknown.csv", "class `z`", "training classes (p, q)"],
    );
    let bundle = p("b.bin");
    let export = [
        "export",
        "--firmware",
        "--model",
        s(&model),
        "--out",
        s(&bundle),
    ];
    let out = run(&[&export[..], &test].concat());
    assert_one_line_error(&out, &["unknown.csv", "class `z`"]);
    assert!(!bundle.exists());
    assert_eq!(
        fs::read(&model).unwrap(),
        before,
        "the model is left as it was"
    );
}
