//! On-chip training is bit-exact with the PC: on every board that trains in CI, the
//! firmware's `train` (and on the STM32F405 and LM3S6965 `finetune`) runs in qemu, prints
//! the digest of its trained weights and writes the trained model back over semihosting;
//! the host replays the same steps (`microdense_host::chip`) and must get the same digest
//! and the same bits, parameter for parameter (a difference names the first layer and
//! index). The written model is then scored by `microdense eval` on the digits the chip
//! scored (same count of right answers as the chip printed) and exported by
//! `microdense export-tfjs` (its weights file holds the model's bytes). `finetune` also
//! quantizes its model to int8 on the chip: the blob's length and CRC must be those of
//! `microdense quantize`'s bytes for the replayed model and the same calibration digits.
//!
//! The firmware is built as CI builds it (`cargo <board> build --release` in firmware/,
//! with each board's default bundle), so after .ci/run's firmware steps nothing is
//! rebuilt here. Needs those bundles (scripts/bundles.sh), MNIST (a small model
//! for the LM3S6965's WEIGHTS region), qemu and the boards' targets; each missing one
//! skips loudly.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use microdense::format::header_crc;
use microdense_host::chip::{
    bundle_model, first_difference, held_out_digits, replay, trained_digits, BoardSetup, Digits,
    Program,
};
use microdense_host::data::idx::{load_split, write_images, write_labels, Dataset, Images, Split};
use microdense_host::model::bundle::read_bundle;
use microdense_host::model::quantize::{calibrate, quantize};
use microdense_host::model::Model;
use microdense_tests::{
    mnist_dir, number_after, root, run_with_timeout, skip, target_installed, work, Board,
    BUILD_TIMEOUT, QEMU_TIMEOUT,
};

/// The boards whose `train` runs in CI (.ci/run), and whether `finetune` runs there too.
const BOARDS: [(&str, bool); 7] = [
    ("stm32f405", true),
    ("lm3s6965", true),
    ("mps2-an500", false),
    ("mps2-an505", false),
    ("mps3-an547", false),
    ("microbit", false),
    ("qemu-riscv32", false),
];

/// A board's default bundle (board.toml `[bundle] path`, relative to firmware/).
fn default_bundle(board: &Board) -> PathBuf {
    let d = board.description();
    let path = d["bundle"]["path"].as_str().expect("[bundle] path");
    root().join("firmware").join(path)
}

/// `cargo <board> build --release --bin …` in firmware/, as .ci/run builds.
fn build(board: &Board, bins: &[&str]) -> PathBuf {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
    cmd.current_dir(root().join("firmware"))
        .args([board.name, "build", "--release"])
        .env_remove("MICRODENSE_BUNDLE")
        .env_remove("CARGO_TARGET_DIR");
    for bin in bins {
        cmd.args(["--bin", bin]);
    }
    let (code, text) = run_with_timeout(cmd, BUILD_TIMEOUT);
    assert_eq!(code, Some(0), "{}: build failed:\n{text}", board.name);
    root()
        .join("firmware/target")
        .join(board.target())
        .join("release")
}

/// Runs `elf` in qemu (the runner script) with `out` as its folder and `weights` in the
/// WEIGHTS region; returns its output after checking it passed.
fn run(board: &Board, elf: &Path, weights: Option<&Path>, out: &Path) -> String {
    let mut cmd = Command::new(root().join("firmware/qemu-run.sh"));
    cmd.arg(elf)
        .env("MICRODENSE_BOARD", board.name)
        .env("MICRODENSE_OUT", out)
        .env_remove("MICRODENSE_WEIGHTS");
    if let Some(w) = weights {
        cmd.env("MICRODENSE_WEIGHTS", w);
    }
    let (code, text) = run_with_timeout(cmd, QEMU_TIMEOUT);
    eprintln!("--- {} {} ---\n{text}", board.name, elf.display());
    assert_eq!(
        code,
        Some(0),
        "{}: {} failed:\n{text}",
        board.name,
        elf.display()
    );
    assert!(text.contains("verdict: PASS"), "{text}");
    text
}

/// The chip's `digest: CRC-32 0x… of the N trained parameters after S steps` line.
fn chip_digest(out: &str) -> (u32, usize, usize) {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("digest: CRC-32 0x"))
        .unwrap_or_else(|| panic!("no digest line:\n{out}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let crc = u32::from_str_radix(words[0], 16).unwrap();
    let (params, steps) = (words[3].parse().unwrap(), words[7].parse().unwrap());
    (crc, params, steps)
}

/// The `microdense` CLI of this build: beside the test's own folder (target/<profile>/),
/// where `cargo test --workspace` builds it; built here when missing (a lone `cargo test
/// -p microdense-tests`), with --workspace so that no crate's features change.
fn microdense_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        let bin = profile_dir.join("microdense");
        if !bin.is_file() {
            let mut cmd = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
            cmd.current_dir(root()).args(["build", "--workspace"]);
            if profile_dir.ends_with("release") {
                cmd.arg("--release");
            }
            let (code, text) = run_with_timeout(cmd, BUILD_TIMEOUT);
            assert_eq!(code, Some(0), "building microdense:\n{text}");
        }
        bin
    })
    .clone()
}

/// Runs the `microdense` CLI with `args`.
fn microdense(args: &[&str]) -> String {
    let mut cmd = Command::new(microdense_bin());
    cmd.current_dir(root()).args(args);
    let (code, text) = run_with_timeout(cmd, QEMU_TIMEOUT);
    assert_eq!(code, Some(0), "microdense {args:?}:\n{text}");
    text
}

/// `digits` as a dataset (inputs pixel / 255, as the programs feed them).
fn dataset(digits: &Digits) -> Dataset {
    Dataset {
        images: Images {
            count: digits.labels.len(),
            rows: digits.rows,
            cols: digits.cols,
            pixels: digits.pixels.clone(),
        },
        labels: digits.labels.clone(),
    }
}

/// Writes `digits` as an IDX test set in `dir` (for `microdense eval --data dir`).
fn write_test_set(dir: &Path, digits: &Digits) {
    std::fs::create_dir_all(dir).unwrap();
    let set = dataset(digits);
    write_images(&dir.join("t10k-images-idx3-ubyte"), &set.images).unwrap();
    write_labels(&dir.join("t10k-labels-idx1-ubyte"), &set.labels).unwrap();
}

/// (length, header CRC-32) of the int8 blob `microdense quantize`'s library makes of
/// `model` calibrated on all of `digits`, in order.
fn host_int8(model: &Model, digits: &Digits) -> (usize, u32) {
    let set = dataset(digits);
    let indices: Vec<usize> = (0..set.len()).collect();
    let ranges = calibrate(model, &set, &indices).unwrap();
    let bytes = quantize(model, &ranges).unwrap().model.bytes().to_vec();
    (bytes.len(), header_crc(&bytes).unwrap())
}

/// The chip's `int8 on the chip: calibrated on K …; blob N bytes, header CRC-32 0x…` line.
fn chip_int8(out: &str) -> (usize, usize, u32) {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("int8 on the chip: calibrated on "))
        .unwrap_or_else(|| panic!("no on-chip int8 line:\n{out}"));
    let count = line.split(' ').next().unwrap().parse().unwrap();
    let len = line
        .split("blob ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let crc = line.rsplit("0x").next().unwrap().trim();
    let crc = u32::from_str_radix(crc, 16).unwrap();
    (count, len.parse().unwrap(), crc)
}

/// Checks one program's run on `board`: digest, bits, eval and export of the written model.
fn check(
    board: &Board,
    program: Program,
    elf: &Path,
    weights: Option<&Path>,
    dir: &Path,
) -> String {
    let bundle_path = default_bundle(board);
    let out = run(board, elf, weights, dir);
    let (crc, params, steps) = chip_digest(&out);

    let bytes = std::fs::read(&bundle_path).unwrap();
    let bundle = read_bundle(&bytes).unwrap();
    let setup = BoardSetup::read(board.name, &root().join("firmware/boards")).unwrap();
    let weights_model = weights.map(|w| Model::load(w).unwrap());
    let r = replay(program, &bundle, &setup, weights_model.as_ref()).unwrap();
    let what = format!("{} {program:?}", board.name);
    assert_eq!((r.steps, r.trained().len()), (steps, params), "{what}");

    let file = dir.join(match program {
        Program::Train => "train.mdw",
        Program::Finetune => "finetune.mdw",
    });
    let chip = Model::load(&file).unwrap();
    assert_eq!(chip.topology, r.model.topology, "{what}");
    if let Some(d) = first_difference(&r.model.topology, &chip.params, &r.model.params) {
        panic!("{what}: the chip's weights differ from the replay's, first at {d}");
    }
    assert_eq!(crc, r.digest(), "{what}: digest");

    // finetune quantizes what it learned to int8 on the chip: the bytes `microdense
    // quantize` makes of the replayed model with the same calibration digits, and not
    // those of the model it started from.
    let mut int8 = String::new();
    if program == Program::Finetune {
        let digits = trained_digits(program, &bundle, &setup);
        let (count, len, chip_crc) = chip_int8(&out);
        assert_eq!(count, digits.labels.len(), "{what}: calibration digits");
        let host = host_int8(&r.model, &digits);
        assert_eq!(
            (len, chip_crc),
            host,
            "{what}: int8 bytes differ from the host's"
        );
        let start = match weights_model {
            Some(ref m) => m.clone(),
            None => bundle_model(&bundle).unwrap(),
        };
        assert_ne!(
            host_int8(&start, &digits),
            host,
            "{what}: int8 of the untrained model"
        );
        int8 = format!(", int8 blob {len} bytes CRC {chip_crc:#010x} equal to the host's");
    }

    // `microdense eval` on the digits the chip scored gets the chip's count.
    let held_out = held_out_digits(program, &bundle, &setup);
    let data = dir.join(format!("held-out-{program:?}"));
    write_test_set(&data, &held_out);
    let (data_s, file_s) = (data.to_str().unwrap(), file.to_str().unwrap());
    let json = microdense(&["eval", "--data", data_s, "--model", file_s, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let confusion = report["confusion"].as_array().unwrap();
    let right: u64 = (0..confusion.len())
        .map(|k| confusion[k][k].as_u64().unwrap())
        .sum();
    let after = match program {
        Program::Train => "held-out after training: accuracy ",
        Program::Finetune => "held-out shifted digits after: accuracy ",
    };
    let chip_right = number_after(&out, after).unwrap_or_else(|| panic!("no `{after}`:\n{out}"));
    assert_eq!(
        right as f64, chip_right,
        "{what}: eval of the written model\n{json}"
    );
    assert_eq!(
        report["samples"].as_u64(),
        Some(held_out.labels.len() as u64)
    );

    // `microdense export-tfjs` turns it into TF.js files holding the same weights.
    let tfjs = dir.join(format!("tfjs-{program:?}"));
    microdense(&["export-tfjs", file_s, "--out", tfjs.to_str().unwrap()]);
    let weights_bin = std::fs::read(tfjs.join("model.weights.bin")).unwrap();
    let expected: Vec<u8> = chip.params.iter().flat_map(|p| p.to_le_bytes()).collect();
    assert_eq!(weights_bin, expected, "{what}: TF.js weights");
    assert!(tfjs.join("model.json").is_file());
    format!(
        "{what}: {} trained parameters, {steps} steps, digest {crc:#010x} equal, \
         written model bit-identical, eval {right}/{} as on the chip{int8}",
        params,
        held_out.labels.len()
    )
}

/// A 784-16-10 relu model for the LM3S6965's WEIGHTS region (its finetune's model).
fn small_model(data: &Path, dir: &Path) -> PathBuf {
    let train_set = load_split(data, Split::Train).expect("MNIST train set");
    let model = microdense_tests::small_relu_model(&train_set);
    let path = dir.join("model-small.mdw");
    model.save(&path).unwrap();
    path
}

fn qemu_installed(board: &Board) -> bool {
    let d = board.description();
    let qemu = d
        .get("qemu")
        .and_then(|q| q.as_str())
        .unwrap_or("qemu-system-arm");
    Command::new(qemu)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn chip_training_equals_the_host_replay_bit_for_bit() {
    let test = "chip training digest";
    let Some(data) = mnist_dir(test) else {
        return;
    };
    let boards: Vec<Board> = BOARDS.iter().map(|&(name, _)| Board { name }).collect();
    for b in &boards {
        let bundle = default_bundle(b);
        if !bundle.is_file() {
            let at = bundle.display();
            skip(
                test,
                format_args!("no bundle at {at} (scripts/bundles.sh makes it)"),
            );
            return;
        }
        if !target_installed(&b.target()) || !qemu_installed(b) {
            let (name, target) = (b.name, b.target());
            skip(
                test,
                format_args!(
                    "{name} needs the rust target {target} and its qemu (scripts/setup.sh)"
                ),
            );
            return;
        }
    }
    let dir = work().join("chip-replay");
    std::fs::create_dir_all(&dir).unwrap();
    let small = small_model(&data, &dir);
    let mut verdicts = Vec::new();
    for (b, &(_, finetunes)) in boards.iter().zip(&BOARDS) {
        let bins: &[&str] = if finetunes {
            &["train", "finetune"]
        } else {
            &["train"]
        };
        let elfs = build(b, bins);
        let out = dir.join(b.name);
        std::fs::create_dir_all(&out).unwrap();
        verdicts.push(check(b, Program::Train, &elfs.join("train"), None, &out));
        if finetunes {
            // The LM3S6965's finetune takes its model from WEIGHTS (finetune.rs).
            let weights = (b.name == "lm3s6965").then_some(small.as_path());
            let elf = elfs.join("finetune");
            verdicts.push(check(b, Program::Finetune, &elf, weights, &out));
        }
    }
    eprintln!("{}", verdicts.join("\n"));
}
