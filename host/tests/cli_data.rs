//! Datasets other than IDX through the CLI: CSV (the shared Iris and 8×8 digits), NumPy
//! and image folders the tests write, the model's stored scaling and class names, and
//! `predict`; every bad input is one line naming the file.
mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{assert_one_line_error, assert_success, microdense, write_npy};
use npyz::WriterBuilder;

/// The shared tabular data: $MICRODENSE_TABULAR, else `tabular` beside $MICRODENSE_DATA
/// (the MNIST folder), else `../shared/data/tabular` from the repository.
fn tabular(test: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("MICRODENSE_TABULAR").map(PathBuf::from),
        std::env::var_os("MICRODENSE_DATA").map(|d| PathBuf::from(d).join("../tabular")),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/tabular")),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("iris.csv").is_file());
    if found.is_none() {
        let _ = writeln!(
            std::io::stderr(), // past the harness's capture
            "SKIPPED: {test}: iris.csv not found in $MICRODENSE_TABULAR, $MICRODENSE_DATA/../tabular \
             or ../shared/data/tabular"
        );
    }
    found
}

fn run(args: &[&str]) -> std::process::Output {
    microdense().args(args).output().unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert_success(out);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn iris_trains_with_defaults_and_the_model_keeps_scaling_and_names() {
    let Some(dir) = tabular("iris_trains_with_defaults") else {
        return;
    };
    let iris = dir.join("iris.csv");
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("iris.mdw");
    let out = run(&["train", "--data", s(&iris), "--out", s(&model), "--json"]);
    let v = json(&out);
    let acc = v["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.8, "iris test accuracy {acc}");
    assert_eq!(v["test_samples"], 30, "20% of 150, stratified");
    assert!(v["test_data"].as_str().unwrap().contains("20% held out"));
    // Version 2 with the scaling and the class names.
    let bytes = fs::read(&model).unwrap();
    assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), 2);

    // eval scores the same held-out split, from the stored scaling alone.
    let e = json(&run(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&iris),
        "--json",
    ]));
    assert_eq!(e["accuracy"], v["test_accuracy"]);

    // predict: raw rows, class names, from a file and from stdin; the same answers.
    let rows = tmp.path().join("rows.csv");
    fs::write(&rows, "5.1,3.5,1.4,0.2\n6.7,3.1,5.6,2.4\n").unwrap();
    let p = json(&run(&["predict", "--model", s(&model), s(&rows), "--json"]));
    assert_eq!(p[0]["top"][0]["name"], "setosa");
    assert_eq!(p[1]["top"][0]["name"], "virginica");
    let piped = microdense()
        .args(["predict", "--model", s(&model), "-", "--csv", "-k", "1"])
        .write_stdin("5.1,3.5,1.4,0.2,setosa\n")
        .output()
        .unwrap();
    assert_success(&piped);
    let text = stdout(&piped);
    assert!(
        text.starts_with("input,class,probability\nstdin#1,setosa,"),
        "{text}"
    );

    // int8: quantized from the same data, the scaling folded into its input.
    let q = tmp.path().join("iris8.mdw");
    let qj = json(&run(&[
        "quantize",
        "--model",
        s(&model),
        "--data",
        s(&iris),
        "--out",
        s(&q),
        "--json",
    ]));
    assert!(
        qj["int8"]["accuracy"].as_f64().unwrap() >= acc - 0.1,
        "{qj}"
    );
    let p8 = json(&run(&["predict", "--model", s(&q), s(&rows), "--json"]));
    assert_eq!(p8[0]["top"][0]["name"], "setosa");
    let e8 = json(&run(&[
        "eval",
        "--model",
        s(&q),
        "--data",
        s(&iris),
        "--json",
    ]));
    assert_eq!(e8["accuracy"], qj["int8"]["accuracy"]);

    // TF.js gets the scaling as a note beside the model.
    let tfjs = tmp.path().join("tfjs");
    assert_success(&run(&["export-tfjs", s(&model), "--out", s(&tfjs)]));
    let note: serde_json::Value =
        serde_json::from_slice(&fs::read(tfjs.join("preprocessing.json")).unwrap()).unwrap();
    assert_eq!(note["scaling"], "standard");
    assert_eq!(note["classes"][2], "virginica");
    assert_eq!(note["offset"].as_array().unwrap().len(), 4);
    // A firmware bundle holds raw test rows (the chip scales them: tests/tests/csv_chip.rs
    // runs one); it has no training rows, and the data must fit the model.
    let bundle = tmp.path().join("b.bin");
    let export = |extra: &[&str]| {
        let mut args = vec![
            "export",
            "--model",
            s(&model),
            "--firmware",
            "--out",
            s(&bundle),
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let out = export(&["--data", s(&iris), "--train-digits", "5"]);
    assert_one_line_error(&out, &["iris.mdw", "raw features", "--train-digits 5"]);
    let digits = dir.join("optdigits-8x8.csv");
    let out = export(&["--data", s(&digits)]);
    assert_one_line_error(&out, &["iris.mdw", "4 inputs", "64 values"]);
    assert!(!bundle.exists());
    let out = export(&["--data", s(&iris), "--digits", "7"]);
    assert_success(&out);
    assert!(stdout(&out).contains("7 raw test rows"), "{}", stdout(&out));
    let bytes = fs::read(&bundle).unwrap();
    let view = microdense_host::model::bundle::read_bundle(&bytes).unwrap();
    assert_eq!(
        (view.test_values.len(), view.train_labels.len()),
        (7 * 4, 0)
    );

    // A row of the wrong width, and a model of the wrong width for the data.
    fs::write(&rows, "1,2,3\n").unwrap();
    let out = run(&["predict", "--model", s(&model), s(&rows)]);
    assert_one_line_error(&out, &["rows.csv", "line 1", "3 values", "4 features"]);
    let out = run(&["eval", "--model", s(&model), "--data", s(&digits)]);
    assert_one_line_error(&out, &["iris.mdw", "4 inputs", "64 values"]);
}

#[test]
fn digits_8x8_learn_well_and_splits_are_seeded() {
    let Some(dir) = tabular("digits_8x8_learn_well") else {
        return;
    };
    let digits = dir.join("optdigits-8x8.csv");
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("d.mdw");
    let args = ["train", "--data", s(&digits), "--out", s(&model), "--json"];
    let v = json(&run(&args));
    assert!(
        v["test_accuracy"].as_f64().unwrap() > 0.93,
        "{}",
        v["test_accuracy"]
    );
    assert_eq!(v["test_samples"], 359);
    // Another split seed scores other examples; the label column chosen by name.
    let w = json(&run(&[
        &args[..],
        &["--split-seed", "2", "--label", "digit"],
    ]
    .concat()));
    assert_ne!(w["per_class"], v["per_class"]);
}

/// A 3-feature, 3-class table whose features have very different scales.
fn table(n: usize) -> (Vec<f32>, Vec<u8>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..n {
        let c = (i % 3) as u8;
        let j = (i * 7 % 11) as f32 / 11.0;
        x.extend([
            1000.0 + 500.0 * f32::from(c) + 50.0 * j,
            0.01 * j,
            0.001 * f32::from(c) + 0.0002 * j,
        ]);
        y.push(c);
    }
    (x, y)
}

#[test]
fn numpy_pairs_and_archives_train_and_predict() {
    let tmp = tempfile::tempdir().unwrap();
    let (x, y) = table(150);
    let (xp, yp) = (
        tmp.path().join("x_train.npy"),
        tmp.path().join("y_train.npy"),
    );
    write_npy(&xp, &[150, 3], &x);
    write_npy(
        &yp,
        &[150],
        &y.iter().map(|&c| i64::from(c)).collect::<Vec<_>>(),
    );
    let model = tmp.path().join("m.mdw");
    let v = json(&run(&[
        "train",
        "--data",
        s(&xp),
        "--out",
        s(&model),
        "--json",
    ]));
    assert!(
        v["test_accuracy"].as_f64().unwrap() > 0.9,
        "{}",
        v["test_accuracy"]
    );
    // Raw rows in an .npy: the stored standardization makes them usable.
    let rows = tmp.path().join("rows.npy");
    write_npy(&rows, &[2, 3], &x[..6]);
    let p = json(&run(&["predict", "--model", s(&model), s(&rows), "--json"]));
    assert_eq!(
        (
            p[0]["top"][0]["class"].clone(),
            p[1]["top"][0]["class"].clone()
        ),
        (0.into(), 1.into())
    );

    // An .npz with named arrays, and --scaling min-max.
    let npz = tmp.path().join("d.npz");
    {
        let mut z = npyz::npz::NpzWriter::create(&npz).unwrap();
        let opts = npyz::zip::write::FileOptions::default();
        let mut w = z
            .array::<f32>("feat", opts)
            .unwrap()
            .default_dtype()
            .shape(&[150, 3])
            .begin_nd()
            .unwrap();
        w.extend(x.iter().copied()).unwrap();
        w.finish().unwrap();
        let mut w = z
            .array::<u8>("lab", opts)
            .unwrap()
            .default_dtype()
            .shape(&[150])
            .begin_nd()
            .unwrap();
        w.extend(y.iter().copied()).unwrap();
        w.finish().unwrap();
    }
    let out = run(&["train", "--data", s(&npz), "--out", s(&model)]);
    assert_one_line_error(&out, &["d.npz", "no arrays x/y", "feat, lab"]);
    let v = json(&run(&[
        "train",
        "--data",
        s(&npz),
        "--arrays",
        "feat,lab",
        "--scaling",
        "min-max",
        "--out",
        s(&model),
        "--json",
    ]));
    assert!(v["test_accuracy"].as_f64().unwrap() > 0.9);
}

#[test]
fn image_folders_train_and_any_size_picture_is_predicted() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shapes");
    // Two classes of 8×8 pictures: a bar on the left or on the right.
    for (class, col) in [("left", 1u32), ("right", 6)] {
        fs::create_dir_all(root.join(class)).unwrap();
        for k in 0..20u32 {
            let img = image::GrayImage::from_fn(8, 8, |x, y| {
                let on = x == col || (x == col + 1 && y % 2 == 0);
                image::Luma([if on {
                    200 + (k % 50) as u8
                } else {
                    (k * 3 % 20) as u8
                }])
            });
            img.save(root.join(class).join(format!("{k}.png"))).unwrap();
        }
    }
    let model = tmp.path().join("m.mdw");
    let v = json(&run(&[
        "train",
        "--data",
        s(&root),
        "--out",
        s(&model),
        "--json",
        "--epochs",
        "30",
    ]));
    assert!(
        v["test_accuracy"].as_f64().unwrap() >= 0.85,
        "{}",
        v["test_accuracy"]
    );
    // An 8×8 picture is used as it is; the class is named by its folder.
    let pic = tmp.path().join("p.png");
    fs::copy(root.join("right").join("3.png"), &pic).unwrap();
    let p = json(&run(&["predict", "--model", s(&model), s(&pic), "--json"]));
    assert_eq!(p[0]["top"][0]["name"], "right");

    // Mixed sizes are refused, naming both files.
    image::GrayImage::new(9, 8)
        .save(root.join("left").join("odd.png"))
        .unwrap();
    let out = run(&["train", "--data", s(&root), "--out", s(&model)]);
    assert_one_line_error(&out, &["odd.png", "9x8", "all images must be one size"]);
}

#[test]
fn bad_tables_are_one_line_and_replace_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m.mdw");
    fs::write(&model, b"keep").unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        ("empty.csv", "", &["empty.csv", "empty file"]),
        (
            "ragged.csv",
            "a,b,y\n1,2,p\n1,2,q\n3,q\n",
            &["ragged.csv", "line 4", "2 columns"],
        ),
        (
            "cell.csv",
            "a,b,y\n1,2,p\n1,x7,q\n",
            &["cell.csv", "line 3", "column 2 (b)", "`x7`"],
        ),
        (
            "nan.csv",
            "a,b,y\n1,2,p\n1,nan,q\n",
            &["nan.csv", "line 3", "not a finite number"],
        ),
        (
            "inf.csv",
            "1,2,p\n1,-inf,q\n",
            &["inf.csv", "line 2", "not a finite number"],
        ),
        (
            "one.csv",
            "a,b,y\n1,2,p\n3,4,p\n",
            &["one.csv", "only one class"],
        ),
    ];
    for (name, text, want) in cases {
        let p = tmp.path().join(name);
        fs::write(&p, text).unwrap();
        let out = run(&["train", "--data", s(&p), "--out", s(&model)]);
        assert_one_line_error(&out, want);
    }
    let p = tmp.path().join("ok.csv");
    fs::write(&p, "a,b,y\n1,2,p\n3,4,q\n").unwrap();
    let out = run(&[
        "train",
        "--data",
        s(&p),
        "--label",
        "species",
        "--out",
        s(&model),
    ]);
    assert_one_line_error(&out, &["ok.csv", "no column named `species`"]);
    let out = run(&["train", "--data", s(&p), "--label", "7", "--out", s(&model)]);
    assert_one_line_error(&out, &["ok.csv", "no label column 7"]);
    let x = tmp.path().join("x.npy");
    write_npy(&x, &[2, 1], &[1u64, 2]);
    write_npy(&tmp.path().join("y.npy"), &[2], &[0u8, 1]);
    let out = run(&["train", "--data", s(&x), "--out", s(&model)]);
    assert_one_line_error(&out, &["x.npy", "unsupported dtype"]);
    write_npy(&x, &[2, 1, 1, 1], &[1f32, 2.0]);
    let out = run(&["train", "--data", s(&x), "--out", s(&model)]);
    assert_one_line_error(&out, &["x.npy", "N×F or N×H×W"]);
    assert_eq!(fs::read(&model).unwrap(), b"keep", "nothing replaced");
    // --lr -1 is read as a number and refused as one.
    let out = run(&["train", "--data", s(&p), "--lr", "-1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("must be positive") && !err.contains("unexpected argument"),
        "{err}"
    );
}

#[test]
fn a_diverging_run_keeps_the_model_already_there_and_plots_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("t.csv");
    let (x, y) = table(60);
    let mut text = String::from("a,b,c,y\n");
    for (r, c) in x.chunks(3).zip(&y) {
        text.push_str(&format!("{},{},{},{c}\n", r[0], r[1], r[2]));
    }
    fs::write(&p, text).unwrap();
    let model = tmp.path().join("m.mdw");
    let plot = tmp.path().join("curves.svg");
    let out = run(&[
        "train",
        "--data",
        s(&p),
        "--out",
        s(&model),
        "--plot",
        s(&plot),
    ]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("curves.svg: loss per batch"),
        "{}",
        stdout(&out)
    );
    assert!(plot.is_file());
    let before = fs::read(&model).unwrap();
    let out = run(&["train", "--data", s(&p), "--out", s(&model), "--lr", "1e30"]);
    assert_one_line_error(&out, &["m.mdw", "diverged", "left as it was"]);
    assert_eq!(fs::read(&model).unwrap(), before);
    // A new path gets the last finite model, as before.
    let fresh = tmp.path().join("new.mdw");
    let out = run(&["train", "--data", s(&p), "--out", s(&fresh), "--lr", "1e30"]);
    assert_one_line_error(&out, &["new.mdw", "diverged", "saved the last model"]);
    assert!(fresh.is_file());
}

#[test]
fn predict_takes_idx_files_and_pictures_of_any_size_for_pixel_models() {
    let data = common::toy_data(); // 4×4 toy digits, IDX: a version-1 model of pixels
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m.mdw");
    common::train_small(data.path(), &model, &["--epochs", "3"]);
    let (images, _) = common::paths(data.path(), microdense_host::data::idx::Split::Test, false);
    let p = json(&run(&[
        "predict",
        "--model",
        s(&model),
        s(&images),
        "--json",
        "-k",
        "2",
    ]));
    assert_eq!(p.as_array().unwrap().len(), 100);
    assert_eq!(p[0]["top"].as_array().unwrap().len(), 2);
    let (p0, p1) = (
        p[0]["top"][0]["probability"].as_f64().unwrap(),
        p[0]["top"][1]["probability"].as_f64().unwrap(),
    );
    assert!(p0 >= p1 && p0 <= 1.0, "{p0} {p1}");
    // A 40×30 picture, dark ink on white: brought to 4×4 and answered.
    let pic = tmp.path().join("drawn.png");
    image::GrayImage::from_fn(40, 30, |x, _| image::Luma([if x < 10 { 0 } else { 255 }]))
        .save(&pic)
        .unwrap();
    let out = run(&["predict", "--model", s(&model), s(&pic)]);
    assert_success(&out);
    assert!(
        stdout(&out).starts_with(&format!("{}: ", s(&pic))),
        "{}",
        stdout(&out)
    );
    // A model of scaled features takes no pictures.
    let csv = tmp.path().join("t.csv");
    fs::write(
        &csv,
        "a,b,y\n1,2,p\n3,4,q\n1,2.5,p\n3,4.5,q\n1,2,p\n3,4,q\n",
    )
    .unwrap();
    let m2 = tmp.path().join("m2.mdw");
    assert_success(&run(&[
        "train",
        "--data",
        s(&csv),
        "--out",
        s(&m2),
        "--test-split",
        "0.34",
    ]));
    let out = run(&["predict", "--model", s(&m2), s(&pic)]);
    assert_one_line_error(&out, &["drawn.png", "not pixels"]);
}
