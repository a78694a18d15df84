//! A CSV model on the chip, end to end, through the CLI's own commands (run in-process):
//! Iris (`$MICRODENSE_DATA/../tabular/iris.csv`) → `train` → `quantize` → `export
//! --firmware` (raw feature rows, the model's scaling applied on the chip) → `demo` and
//! `demo-int8` in qemu on the STM32F405 and the LM3S6965, whose every logit must equal the
//! host's → `predict` on the same raw rows gives the classes the chip printed. Four qemu
//! runs in all (f32 and int8 on each board). Needs the tabular data beside MNIST, qemu and
//! the thumb targets; each missing one skips loudly.
use std::path::{Path, PathBuf};

use clap::Parser;
use microdense_host::cli::Cli;
use microdense_host::model::bundle::read_bundle;
use microdense_host::model::AnyModel;
use microdense_host::predict::{predict, read_inputs};
use microdense_tests::{
    build_firmware, firmware_prerequisites, predictions, qemu, work, Board, LM3S6965, STM32F405,
};

const ROWS: usize = 30;

/// The CLI, in-process: `microdense ARGS...`.
fn microdense(args: &[&str]) {
    let cli = Cli::try_parse_from(std::iter::once("microdense").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    if let Err(e) = microdense_host::commands::run(cli) {
        panic!("microdense {args:?}: {e:#}");
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Builds `bin` (`demo` in release, `demo-int8` in the small profile) for `board` with
/// `bundle`, runs it in qemu, and checks the verdict and that each printed row's class is
/// the host's; returns the firmware's classes.
fn on_chip(board: &Board, bundle: &Path, bin: &str) -> Vec<usize> {
    let (args, profile, dir): (&[&str], _, _) = match bin {
        "demo" => (&["--release", "--bin", "demo"], "release", "cargo-int8"),
        _ => (
            &["--profile", "small", "--bin", "demo-int8"],
            "small",
            "cargo-int8-slim",
        ),
    };
    // The int8 tests' target folders: the dependencies are built there already.
    let elf = build_firmware(board, bundle, &work().join(dir), args, profile).join(bin);
    let (code, out) = qemu(board, &elf, None);
    assert_eq!(code, Some(0), "{} {bin}:\n{out}", board.name);
    assert!(out.contains("verdict: PASS"), "{out}");
    let line = format!("logits bit-identical to the host's: {ROWS}/{ROWS}");
    assert!(out.contains(&line), "{out}");
    let bytes = std::fs::read(bundle).unwrap();
    let view = read_bundle(&bytes).unwrap();
    let rows = predictions(&out);
    assert_eq!(rows.len(), ROWS, "{out}");
    rows.iter()
        .enumerate()
        .map(|(i, &(row, label, firmware, host))| {
            assert_eq!((row, label), (i, usize::from(view.test_labels[i])));
            assert_eq!(host, Some(view.host_prediction(i)), "row {i}");
            assert_eq!(firmware, view.host_prediction(i), "row {i}");
            firmware
        })
        .collect()
}

/// `predict`'s best class for each raw row of `csv`.
fn predicted(model: &Path, csv: &Path) -> Vec<usize> {
    let model = AnyModel::load(model).unwrap();
    let width = model.topology().input();
    let inputs = read_inputs(s(csv), width, model.input().as_ref()).unwrap();
    predict(&model, &inputs, 1)
        .unwrap()
        .iter()
        .map(|p| p.top[0].class)
        .collect()
}

#[test]
fn iris_from_csv_to_both_chips_bit_exact_and_predict_agrees() {
    let test = "iris_from_csv_to_both_chips";
    let Some(mnist) = firmware_prerequisites(test) else {
        return;
    };
    let iris: PathBuf = mnist.join("../tabular/iris.csv");
    if !iris.is_file() {
        let at = iris.display();
        microdense_tests::skip(
            test,
            format_args!("no {at} (the tabular data beside MNIST)"),
        );
        return;
    }
    let dir = work().join("csv");
    std::fs::create_dir_all(&dir).unwrap();
    let (model, int8) = (dir.join("iris.mdw"), dir.join("iris-int8.mdw"));
    let (bundle, bundle8) = (dir.join("iris.bin"), dir.join("iris-int8.bin"));
    let data = ["--data", s(&iris)];
    microdense(&[&["train", "--quiet", "--out", s(&model)][..], &data].concat());
    microdense(
        &[
            &["quantize", "--model", s(&model), "--out", s(&int8)][..],
            &data,
        ]
        .concat(),
    );
    let rows = ROWS.to_string();
    for (m, b) in [(&model, &bundle), (&int8, &bundle8)] {
        let export = ["export", "--firmware", "--model", s(m), "--digits", &rows];
        microdense(&[&export[..], &data, &["--out", s(b)]].concat());
    }

    // The raw rows as a CSV, exactly as bundled (Display of an f32 reads back the same).
    let bytes = std::fs::read(&bundle).unwrap();
    let view = read_bundle(&bytes).unwrap();
    assert_eq!(view.test_values.len(), ROWS * 4);
    let csv = dir.join("rows.csv");
    let text: String = view
        .test_values
        .chunks_exact(4)
        .map(|r| format!("{},{},{},{}\n", r[0], r[1], r[2], r[3]))
        .collect();
    std::fs::write(&csv, text).unwrap();
    let (want, want8) = (predicted(&model, &csv), predicted(&int8, &csv));
    // The held-out rows are learnable: the chip is not agreeing on noise.
    let right = want
        .iter()
        .zip(view.test_labels)
        .filter(|(p, &l)| **p == usize::from(l))
        .count();
    assert!(right >= ROWS * 8 / 10, "f32 host right on {right}/{ROWS}");

    for board in [STM32F405, LM3S6965] {
        assert_eq!(on_chip(&board, &bundle, "demo"), want, "{} f32", board.name);
    }
    // int8: `demo` on the Cortex-M4, the slim `demo-int8` on the Cortex-M3.
    assert_eq!(on_chip(&STM32F405, &bundle8, "demo"), want8, "int8 demo");
    assert_eq!(
        on_chip(&LM3S6965, &bundle8, "demo-int8"),
        want8,
        "int8 demo-int8"
    );
}
