//! The TF.js subcommands end to end: a model goes out as model.json + weights and comes
//! back bit for bit; bad input is a one-line error that leaves the output alone.
mod common;

use std::fs;

use common::microdense;
use microdense::{Activation, Init, Topology};
use microdense_host::model::{mlp, Model};

fn saved_model(dir: &std::path::Path) -> std::path::PathBuf {
    let topology: Topology = mlp(16, &[6, 5], Activation::Tanh, 4).unwrap();
    let path = dir.join("m.mdw");
    Model::init(topology, Init::GlorotNormal, 9)
        .save(&path)
        .unwrap();
    path
}

#[test]
fn export_then_import_gives_back_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = saved_model(dir.path());
    let web = dir.path().join("web");
    microdense()
        .arg("export-tfjs")
        .arg(&model)
        .arg("--out")
        .arg(&web)
        .assert()
        .success();
    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(web.join("model.json")).unwrap()).unwrap();
    assert_eq!(json["format"], "layers-model");
    let back = dir.path().join("back.mdw");
    microdense()
        .arg("import-tfjs")
        .arg(web.join("model.json"))
        .arg("--out")
        .arg(&back)
        .assert()
        .success();
    assert_eq!(fs::read(&model).unwrap(), fs::read(&back).unwrap());
}

#[test]
fn a_bad_model_json_is_one_line_and_keeps_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = saved_model(dir.path());
    let before = fs::read(&out).unwrap();
    let json = dir.path().join("model.json");
    fs::write(&json, b"{ not json").unwrap();
    let result = microdense()
        .arg("import-tfjs")
        .arg(&json)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&result.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("error:") && lines[0].contains("model.json"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
    assert_eq!(fs::read(&out).unwrap(), before);
}
