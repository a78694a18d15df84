//! The int8 kernels' assembly against the portable definition on edge cases, on every
//! Cortex-M core with its own loop and requantization: a hand-made int8 model
//! (784-29-33-10: relu and linear hidden layers, whole chunks of six and last chunks of 5
//! and 3 outputs) whose per-unit parameters take the extremes: multipliers 0, 1, 2^30 (rounding
//! ties) and i32::MAX with shifts 0, 1, 30 and 31 at every position of a chunk, biases i32::MIN and i32::MAX (wrapping
//! accumulators) and random ones of every size, weights −128..=127, zero points −37, −128
//! and 0; random, blank and all-white images. `demo` on the micro:bit (Cortex-M0: the
//! Thumb-1 loop and requantization), the LM3S6965 (M3) and the STM32F405 (M4: SMLAD and
//! SMMLAR) must reproduce the host's i32 outputs bit for bit. Needs qemu-system-arm and
//! the three thumb targets, not MNIST; a missing one skips loudly.
//!
//! The pixel models' inputs are all at zero point −128; a model of raw features
//! (optdigits, standardized) has another one, which the input gather subtracts: its raw
//! rows run on the three cores too (needs the tabular data beside MNIST).
use std::path::{Path, PathBuf};

use clap::Parser;
use microdense::int8::{write_int8_blob, Int8Layer, QuantParams, PIXEL_INPUT};
use microdense::rng::Rng;
use microdense::sizes::int8_blob_len;
use microdense::{Activation, Layer, Topology};
use microdense_host::cli::Cli;
use microdense_host::model::bundle::write_bundle_for;
use microdense_host::model::{AnyModel, QuantModel};
use microdense_tests::{
    build_firmware, qemu, skip, target_installed, work, Board, LM3S6965, STM32F405,
};

const MICROBIT: Board = Board { name: "microbit" };
/// The Cortex-M0, M3 and M4: each its own int8 loop and requantization.
const BOARDS: [&Board; 3] = [&MICROBIT, &LM3S6965, &STM32F405];
const DIGITS: usize = 24;

/// Per-unit parameters of one layer: every other unit (so each of a chunk's six
/// positions gets several) one of the extreme (multiplier, shift) pairs in turn, the others
/// edge values or random ones; but the odd units of a last chunk of fewer than six take
/// moderate ones (their outputs rarely saturate), so that their requantization's rounding
/// shows in the outputs.
fn unit_params(rng: &mut Rng, units: usize, turn: usize) -> (Vec<i32>, Vec<i32>, Vec<u8>) {
    let pairs = [
        (1, 0), // a·1 < 0 rounds to 0 with a carry out: the shift must not add it
        (0, 0),
        (i32::MAX, 0),
        (1 << 30, 1), // ties in both roundings
        (i32::MAX, 31),
        (1, 31),
        ((1 << 30) + 1, 30),
    ];
    let edge_m = [0, 1, 1 << 30, i32::MAX, i32::MAX - 1, (1 << 30) + 1];
    let edge_s = [0u8, 1, 30, 31];
    let edge_b = [i32::MIN, i32::MAX, -1, 0, 1, i32::MIN + 1];
    let mut biases = Vec::new();
    let mut multipliers = Vec::new();
    let mut shifts = Vec::new();
    for j in 0..units {
        let moderate = j % 2 == 1 && j >= units / 6 * 6;
        let (m, s) = match j % 2 {
            0 => pairs[(j / 2 + turn) % pairs.len()],
            _ if moderate => (
                (1 << 30) + rng.below(1 << 30) as i32,
                6 + rng.below(9) as u8,
            ),
            _ => (
                match rng.below(3) {
                    0 => edge_m[rng.below(edge_m.len())],
                    _ => (1 << 30) + rng.below(1 << 30) as i32,
                },
                match rng.below(3) {
                    0 => edge_s[rng.below(edge_s.len())],
                    _ => rng.below(32) as u8,
                },
            ),
        };
        multipliers.push(m);
        shifts.push(s);
        biases.push(match rng.below(4) {
            _ if moderate => rng.below(20_001) as i32 - 10_000,
            0 => edge_b[rng.below(edge_b.len())],
            1 => rng.next_u64() as i32,
            2 => (rng.next_u64() as i32) >> rng.below(31),
            _ => rng.below(20_001) as i32 - 10_000,
        });
    }
    (biases, multipliers, shifts)
}

/// Weights over the whole int8 range, with the extremes often.
fn weights(rng: &mut Rng, n: usize) -> Vec<i8> {
    (0..n)
        .map(|_| match rng.below(8) {
            0 => -128,
            1 => 127,
            2 => 0,
            _ => rng.next_u64() as i8,
        })
        .collect()
}

fn model() -> QuantModel {
    // Whole chunks of six and last chunks of 5 (six wide) and 3 (four wide) outputs: relu
    // with its own zero point, linear at zero point −128 (the Cortex-M4's one-USAT clamp);
    // the output layer 6 + 4.
    let shape = [
        Layer::new(29, Activation::Relu),
        Layer::new(33, Activation::Linear),
        Layer::new(10, Activation::Softmax),
    ];
    let topology = Topology::new(784, &shape).unwrap();
    let mut rng = Rng::new(0x5eed_0e0e);
    let outputs = [
        QuantParams {
            scale: 0.05,
            zero_point: -37,
        },
        QuantParams {
            scale: 0.1,
            zero_point: -128,
        },
        QuantParams {
            scale: 0.01,
            zero_point: 0,
        },
    ];
    // Where each layer starts in the extreme pairs: a rounding tie (2^30, 1), whose outputs
    // vary, falls on the six-wide chunks' fifth output (units 28 and 4 of the first and last
    // layers), which multipliers 0 or 1 with shift 0 would hide.
    let turns = [3, 3, 1];
    let mut parts = Vec::new();
    for (i, out) in outputs.iter().enumerate() {
        let (fan_in, units) = (topology.fan_in(i), shape[i].units);
        let (b, m, s) = unit_params(&mut rng, units, turns[i]);
        parts.push((weights(&mut rng, fan_in * units), b, m, s, *out));
    }
    let layers: Vec<Int8Layer> = parts
        .iter()
        .map(|(w, b, m, s, output)| Int8Layer {
            weights: w,
            biases: b,
            multipliers: m,
            shifts: s,
            output: *output,
        })
        .collect();
    let mut blob = vec![0u8; int8_blob_len(784, &shape)];
    let n = write_int8_blob(&topology, PIXEL_INPUT, &layers, &mut blob).unwrap();
    blob.truncate(n);
    QuantModel::from_bytes(&PathBuf::from("edges.mdw"), &blob).unwrap()
}

/// Random images (a third of the pixels blank), one blank and one all white.
fn images() -> Vec<Vec<u8>> {
    let mut rng = Rng::new(77);
    let mut images: Vec<Vec<u8>> = (0..DIGITS - 2)
        .map(|_| {
            (0..784)
                .map(|_| match rng.below(3) {
                    0 => 0,
                    _ => rng.next_u64() as u8,
                })
                .collect()
        })
        .collect();
    images.push(vec![0; 784]);
    images.push(vec![255; 784]);
    images
}

/// Whether qemu and the three boards' targets are there (else a loud skip).
fn prerequisites(test: &str) -> bool {
    if !std::process::Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        skip(test, format_args!("qemu-system-arm not found"));
        return false;
    }
    if let Some(t) = BOARDS
        .iter()
        .map(|b| b.target())
        .find(|t| !target_installed(t))
    {
        skip(
            test,
            format_args!("rust target {t} not installed (rustup target add {t})"),
        );
        return false;
    }
    true
}

/// `demo` with `bundle` on every board: all `rows` outputs the host's, bit for bit.
fn on_every_board(bundle: &Path, rows: usize) {
    // One test at a time: both rebuild the same ELFs.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    for board in BOARDS {
        // The int8 demo's cargo folder (firmware_int8.rs), rebuilt with this bundle.
        let elf = build_firmware(
            board,
            bundle,
            &work().join("cargo-int8"),
            &["--release", "--bin", "demo"],
            "release",
        )
        .join("demo");
        let (code, out) = qemu(board, &elf, None);
        assert!(
            out.contains(&format!(
                "logits bit-identical to the host's: {rows}/{rows} digits"
            )),
            "{}:\n{out}",
            board.name
        );
        assert!(out.contains("verdict: PASS"), "{}:\n{out}", board.name);
        assert_eq!(code, Some(0), "{}:\n{out}", board.name);
    }
}

#[test]
fn assembly_kernels_match_the_portable_ones_on_extreme_parameters() {
    if !prerequisites("firmware int8 edge cases") {
        return;
    }
    let dir = work().join("int8-edges");
    std::fs::create_dir_all(&dir).unwrap();
    let q = model();
    let images = images();
    let refs: Vec<&[u8]> = images.iter().map(|i| i.as_slice()).collect();
    let labels: Vec<u8> = (0..DIGITS).map(|i| (i % 10) as u8).collect();
    // The host's outputs must not be degenerate: some saturate, some do not.
    let logits: Vec<Vec<i32>> = refs.iter().map(|i| q.logits(i).unwrap()).collect();
    let distinct: std::collections::BTreeSet<i32> = logits.iter().flatten().copied().collect();
    assert!(distinct.len() > 20, "{logits:?}");
    let bundle = dir.join("bundle-int8-edges.bin");
    write_bundle_for(&bundle, &AnyModel::Int8(q), &refs, &labels, &[], &[]).unwrap();
    on_every_board(&bundle, DIGITS);
}

#[test]
fn raw_features_with_their_own_input_zero_point_match_too() {
    let test = "firmware int8 raw features";
    if !prerequisites(test) {
        return;
    }
    let Some(mnist) = microdense_tests::mnist_dir(test) else {
        return;
    };
    let csv = mnist.join("../tabular/optdigits-8x8.csv");
    if !csv.is_file() {
        let at = csv.display();
        skip(
            test,
            format_args!("no {at} (the tabular data beside MNIST)"),
        );
        return;
    }
    let dir = work().join("int8-edges");
    std::fs::create_dir_all(&dir).unwrap();
    let (model, int8, bundle) = (
        dir.join("optdigits.mdw"),
        dir.join("optdigits-int8.mdw"),
        dir.join("optdigits-int8.bin"),
    );
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let data = ["--data".to_string(), s(&csv)];
    let run = |args: &[String]| {
        let cli = Cli::try_parse_from(
            std::iter::once("microdense".to_string()).chain(args.iter().cloned()),
        )
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        microdense_host::commands::run(cli).unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
    };
    let args = |a: &[&str]| -> Vec<String> {
        a.iter()
            .map(|x| x.to_string())
            .chain(data.iter().cloned())
            .collect()
    };
    run(&args(&[
        "train",
        "--quiet",
        "--epochs",
        "20",
        "--out",
        &s(&model),
    ]));
    run(&args(&[
        "quantize",
        "--model",
        &s(&model),
        "--out",
        &s(&int8),
    ]));
    let q = QuantModel::load(&int8).unwrap();
    let zp = q.network().input_params().zero_point;
    assert_ne!(
        zp, -128,
        "the point is an input zero point other than the pixels'"
    );
    run(&args(&[
        "export",
        "--firmware",
        "--model",
        &s(&int8),
        "--digits",
        "30",
        "--out",
        &s(&bundle),
    ]));
    on_every_board(&bundle, 30);
}
