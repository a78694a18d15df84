//! The int8 kernels' assembly against the portable definition on edge cases, on every
//! Cortex-M core with its own loop and requantization: a hand-made int8 model
//! (784-26-36-10: relu and linear hidden layers with whole chunks of six and a 2-wide
//! rest) whose per-unit parameters take the extremes: multipliers 0, 1, 2^30 (rounding
//! ties) and i32::MAX with shifts 0, 1, 30 and 31 at every position of a chunk, biases i32::MIN and i32::MAX (wrapping
//! accumulators) and random ones of every size, weights −128..=127, zero points at both
//! ends; random, blank and all-white images. `demo` on the micro:bit (Cortex-M0: the
//! Thumb-1 loop and requantization), the LM3S6965 (M3) and the STM32F405 (M4: SMLAD and
//! SMMLAR) must reproduce the host's i32 outputs bit for bit. Needs qemu-system-arm and
//! the three thumb targets, not MNIST; a missing one skips loudly.
use std::path::PathBuf;

use microdense::int8::{write_int8_blob, Int8Layer, QuantParams, PIXEL_INPUT};
use microdense::rng::Rng;
use microdense::sizes::int8_blob_len;
use microdense::{Activation, Layer, Topology};
use microdense_host::model::bundle::write_bundle_for;
use microdense_host::model::{AnyModel, QuantModel};
use microdense_tests::{
    build_firmware, qemu, skip, target_installed, work, Board, LM3S6965, STM32F405,
};

const MICROBIT: Board = Board { name: "microbit" };
const DIGITS: usize = 24;

/// Per-unit parameters of one layer: every other unit (so each of a chunk's six
/// positions gets several) one of the extreme (multiplier, shift) pairs in turn, the others
/// edge values or random ones.
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
        let (m, s) = match j % 2 {
            0 => pairs[(j / 2 + turn) % pairs.len()],
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
    let shape = [
        Layer::new(26, Activation::Relu),
        Layer::new(36, Activation::Linear),
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
            zero_point: 127,
        },
        QuantParams {
            scale: 0.01,
            zero_point: 0,
        },
    ];
    let mut parts = Vec::new();
    for (i, out) in outputs.iter().enumerate() {
        let (fan_in, units) = (topology.fan_in(i), shape[i].units);
        let (b, m, s) = unit_params(&mut rng, units, 3 * i);
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

#[test]
fn assembly_kernels_match_the_portable_ones_on_extreme_parameters() {
    let test = "firmware int8 edge cases";
    if !std::process::Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        skip(test, format_args!("qemu-system-arm not found"));
        return;
    }
    let boards = [&MICROBIT, &LM3S6965, &STM32F405];
    if let Some(t) = boards
        .iter()
        .map(|b| b.target())
        .find(|t| !target_installed(t))
    {
        skip(
            test,
            format_args!("rust target {t} not installed (rustup target add {t})"),
        );
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
    for board in boards {
        // The int8 demo's cargo folder (firmware_int8.rs), rebuilt with this bundle.
        let elf = build_firmware(
            board,
            &bundle,
            &work().join("cargo-int8"),
            &["--release", "--bin", "demo"],
            "release",
        )
        .join("demo");
        let (code, out) = qemu(board, &elf, None);
        assert!(
            out.contains(&format!(
                "logits bit-identical to the host's: {DIGITS}/{DIGITS} digits"
            )),
            "{}:\n{out}",
            board.name
        );
        assert!(out.contains("verdict: PASS"), "{}:\n{out}", board.name);
        assert_eq!(code, Some(0), "{}:\n{out}", board.name);
    }
}
