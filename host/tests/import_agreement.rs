//! Imported ONNX and TFLite models against the reference runtimes' outputs committed in
//! tests/fixtures/import (scripts/import-fixtures/make.py: onnxruntime; TFLite's reference
//! kernels). f32: probabilities within 1e-5 and the same class on every input; int8: the
//! last layer's integers equal LiteRT's, every one.
//!
//! Inputs are rows of the shared datasets, named by index in the fixtures: optdigits rows
//! (features / 16) at $MICRODENSE_DATA/../tabular, MNIST t10k images (pixels / 255) at
//! $MICRODENSE_DATA. Skipped, loudly, without them.
use std::io::Write;
use std::path::{Path, PathBuf};

use microdense_host::data::idx::{self, Split, DATA_ENV};
use microdense_host::model::onnx::import_onnx;
use microdense_host::model::tflite::{import_tflite, Imported};
use microdense_host::model::Model;
use serde_json::Value;

/// Largest |Δ| of a probability allowed between microdense and the reference (f32).
const F32_TOLERANCE: f32 = 1e-5;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import")
}

fn expected(part: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(format!("expected-{part}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
}

/// The float inputs of a fixture's dataset, `rows` of them; `None` (after saying why)
/// without the data.
fn inputs(test: &str, dataset: &str, rows: usize) -> Option<Vec<Vec<f32>>> {
    let Some(mnist) = std::env::var_os(DATA_ENV).filter(|d| !d.is_empty()) else {
        skip(
            test,
            &format!("{DATA_ENV} not set (MNIST and ../tabular beside it)"),
        );
        return None;
    };
    let mnist = PathBuf::from(mnist);
    match dataset {
        "optdigits" => {
            let path = mnist.join("../tabular/optdigits-8x8.csv");
            let Ok(text) = std::fs::read_to_string(&path) else {
                skip(test, &format!("{} not readable", path.display()));
                return None;
            };
            let rows: Vec<Vec<f32>> = text
                .lines()
                .skip(1)
                .take(rows)
                .map(|l| {
                    l.split(',')
                        .take(64)
                        .map(|v| v.trim().parse::<f32>().unwrap() / 16.0)
                        .collect()
                })
                .collect();
            Some(rows)
        }
        "mnist-t10k" => {
            let Ok(set) = idx::load_split(&mnist, Split::Test) else {
                skip(test, &format!("no MNIST test set in {}", mnist.display()));
                return None;
            };
            Some(
                (0..rows)
                    .map(|i| microdense_host::data::scaled(set.image(i)).collect())
                    .collect(),
            )
        }
        other => panic!("unknown dataset {other}"),
    }
}

fn f32_rows(v: &Value) -> Vec<Vec<f32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

fn i32_rows(v: &Value) -> Vec<Vec<i32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap() as i32)
                .collect()
        })
        .collect()
}

fn argmax(v: &[f32]) -> usize {
    microdense::argmax(v)
}

/// Softmax probabilities of an f32 model on each input.
fn probabilities(model: &Model, xs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let net = model.network();
    let mut scratch = vec![0.0; microdense::sizes::infer_scratch_len(model.topology.layers(), 1)];
    xs.iter()
        .map(|x| {
            let mut p = net.logits(x, &mut scratch).unwrap().to_vec();
            microdense::loss::softmax_in_place(&mut p);
            p
        })
        .collect()
}

/// Max |Δ| and the number of inputs whose class differs; asserts both.
fn compare_f32(name: &str, got: &[Vec<f32>], want: &[Vec<f32>]) {
    assert_eq!(got.len(), want.len(), "{name}");
    let mut worst = 0.0f32;
    let mut classes = 0;
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.len(), w.len(), "{name}");
        for (a, b) in g.iter().zip(w) {
            worst = worst.max((a - b).abs());
        }
        classes += usize::from(argmax(g) != argmax(w));
    }
    println!(
        "{name}: {} inputs, max |Δ| {worst:.3e}, disagreeing classes {classes}",
        got.len()
    );
    assert!(worst <= F32_TOLERANCE, "{name}: max |Δ| {worst}");
    assert_eq!(classes, 0, "{name}: disagreeing classes");
}

#[test]
fn onnx_models_agree_with_onnxruntime() {
    for entry in expected("onnx")["models"].as_array().unwrap() {
        let name = entry["model"].as_str().unwrap();
        let rows = entry["rows"].as_u64().unwrap() as usize;
        let Some(xs) = inputs(
            "onnx_models_agree_with_onnxruntime",
            entry["dataset"].as_str().unwrap(),
            rows,
        ) else {
            return;
        };
        let path = fixtures().join(name);
        let (model, _) = import_onnx(&path, &std::fs::read(&path).unwrap()).unwrap();
        compare_f32(
            name,
            &probabilities(&model, &xs),
            &f32_rows(&entry["probs"]),
        );
    }
}

/// q = clamp(floor(x / s + 0.5) + zp) in f64, as the fixture script; and its checksum.
fn quantize(x: &[f32], scale: f32, zp: i32) -> Vec<i8> {
    x.iter()
        .map(|&v| {
            ((f64::from(v) / f64::from(scale) + 0.5).floor() + f64::from(zp)).clamp(-128.0, 127.0)
                as i8
        })
        .collect()
}

fn checksum(rows: &[Vec<i8>]) -> i64 {
    rows.iter()
        .flatten()
        .enumerate()
        .map(|(i, &q)| i64::from(q) * (i as i64 % 251 + 1))
        .sum()
}

#[test]
fn tflite_models_agree_with_litert_reference_kernels() {
    for entry in expected("tflite")["models"].as_array().unwrap() {
        let name = entry["model"].as_str().unwrap();
        let rows = entry["rows"].as_u64().unwrap() as usize;
        let Some(xs) = inputs(
            "tflite_models_agree_with_litert_reference_kernels",
            entry["dataset"].as_str().unwrap(),
            rows,
        ) else {
            return;
        };
        let path = fixtures().join(name);
        match import_tflite(&path, &std::fs::read(&path).unwrap()).unwrap() {
            Imported::F32(model) => {
                compare_f32(
                    name,
                    &probabilities(&model, &xs),
                    &f32_rows(&entry["probs"]),
                );
            }
            Imported::Int8(model) => {
                let net = model.network();
                let input = net.input_params();
                assert_eq!(
                    input.scale,
                    entry["input_scale"].as_f64().unwrap() as f32,
                    "{name}"
                );
                assert_eq!(
                    i64::from(input.zero_point),
                    entry["input_zero_point"].as_i64().unwrap()
                );
                let qs: Vec<Vec<i8>> = xs
                    .iter()
                    .map(|x| quantize(x, input.scale, input.zero_point))
                    .collect();
                assert_eq!(
                    checksum(&qs),
                    entry["input_checksum"].as_i64().unwrap(),
                    "{name}: inputs"
                );
                let want = i32_rows(&entry["logits_q"]);
                let finals = i32_rows(&entry["output_q"]);
                let zp = net
                    .layer(net.topology().layers().len() - 1)
                    .unwrap()
                    .output()
                    .zero_point;
                let mut scratch = vec![0u32; net.scratch_len()];
                let mut out = vec![0i32; net.topology().outputs()];
                let (mut differing, mut classes) = (0, 0);
                for ((q, w), f) in qs.iter().zip(&want).zip(&finals) {
                    net.logits(q, &mut scratch, &mut out).unwrap();
                    let ours: Vec<i32> = out.iter().map(|&y| y + zp).collect();
                    differing += ours.iter().zip(w).filter(|(a, b)| a != b).count();
                    // LiteRT's int8 softmax: its first largest entry against our logits'.
                    let best = f.iter().max().unwrap();
                    let litert = f.iter().position(|v| v == best).unwrap();
                    classes += usize::from(microdense::int8::argmax_i32(&out) != litert);
                }
                println!(
                    "{name}: {} inputs × {} logits, differing integers {differing}; class differs from LiteRT's int8 softmax output on {classes}",
                    qs.len(),
                    out.len()
                );
                assert_eq!(differing, 0, "{name}: integers differing from LiteRT");
            }
        }
    }
}
