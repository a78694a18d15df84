//! `train --optimizer adam` on a small synthetic IDX set.
mod common;

use std::fs;

use common::*;

#[test]
fn adam_learns_the_toy_set_deterministically() {
    let data = toy_data();
    let (a, b) = (data.path().join("a.mdw"), data.path().join("b.mdw"));
    let args = [
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--beta2",
        "0.99",
        "--epochs",
        "20",
        "--activation",
        "relu",
    ];
    let out = train_small(data.path(), &a, &args);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Adam (beta1 0.9, beta2 0.99, epsilon 0.0000001)"),
        "{text}"
    );
    let acc_line = text.lines().find(|l| l.starts_with("test")).unwrap();
    let acc: f64 = acc_line.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(acc > 0.9, "toy set not learned with Adam: {acc_line}");
    train_small(data.path(), &b, &args);
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
    // The SGD run of the same settings is another model.
    let c = data.path().join("c.mdw");
    train_small(data.path(), &c, &args[2..]);
    assert_ne!(fs::read(&a).unwrap(), fs::read(&c).unwrap());
}

#[test]
fn adam_refuses_sgd_settings() {
    let data = toy_data();
    let out = microdense()
        .args([
            "train",
            "--quiet",
            "--optimizer",
            "adam",
            "--momentum",
            "0.9",
        ])
        .arg("--data")
        .arg(data.path())
        .arg("--out")
        .arg(data.path().join("m.mdw"))
        .output()
        .unwrap();
    assert_one_line_error(&out, &["--momentum", "Adam"]);
    assert!(!data.path().join("m.mdw").exists());
}
