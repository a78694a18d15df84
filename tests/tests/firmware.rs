//! The firmware end to end: a model trained here with the core, exported with the host's
//! bundle writer, built for each board (its own CARGO_TARGET_DIR under target/), and run in
//! qemu-system-arm. Checks the verdicts, that the printed predictions are the host's, that
//! the WEIGHTS flash region is used (a new model) or refused (a corrupt one, exit 1), and
//! that on-chip training learns. Needs MNIST (MICRODENSE_DATA), qemu-system-arm and the
//! thumb targets; each missing one skips loudly (CI has them all).
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use microdense::{Activation, Init, Layer, Network, Sgd, Topology, Trainer};
use microdense_host::data::idx::{load_split, Dataset, Split};
use microdense_host::data::scaled;
use microdense_host::model::bundle::{read_bundle, write_bundle};
use microdense_tests::{
    assert_predictions_match, build_firmware, firmware_prerequisites as prerequisites, predictions,
    qemu, root, run_with_timeout, target_installed, work, Board, BOARDS, BUILD_TIMEOUT,
};

const TEST_DIGITS: usize = 40;
const TRAIN_DIGITS: usize = 300;

/// A 784-`hidden`-10 relu net trained with the core on the first `n` training digits.
fn train(data: &Dataset, hidden: usize, n: usize, seed: u64) -> (Topology, Vec<f32>) {
    let layers = [
        Layer::new(hidden, Activation::Relu),
        Layer::new(10, Activation::Softmax),
    ];
    let t = Topology::new(784, &layers).unwrap();
    let mut net = Network::new(t.clone(), vec![0.0f32; t.params_len()]).unwrap();
    net.init(Init::GlorotNormal, seed);
    let batch = 32;
    let mut scratch = vec![0.0f32; t.train_scratch_len(batch)];
    let mut trainer = Trainer::new(&t, batch, Sgd::new(0.1), &mut scratch, &mut []).unwrap();
    let mut x = vec![0.0f32; batch * 784];
    for start in (0..n).step_by(batch) {
        let idx: Vec<usize> = (start..(start + batch).min(n)).collect();
        for (k, &i) in idx.iter().enumerate() {
            for (x, v) in x[k * 784..(k + 1) * 784]
                .iter_mut()
                .zip(scaled(data.image(i)))
            {
                *x = v;
            }
        }
        let labels: Vec<u8> = idx.iter().map(|&i| data.label(i)).collect();
        trainer
            .step(&mut net, &x[..idx.len() * 784], &labels)
            .unwrap();
    }
    let (t, params) = net.into_parts();
    (t, params)
}

fn blob(t: &Topology, params: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; microdense::format::HEADER_LEN + 4 * params.len()];
    microdense::format::write_blob(t, params, &mut out).unwrap();
    out
}

/// The bundle (model A) and, for the WEIGHTS region, another valid model (B) with the
/// host's predictions for the bundled digits, and B corrupted.
struct Fixture {
    bundle: PathBuf,
    other_model: PathBuf,
    other_predictions: Vec<usize>,
    corrupt_model: PathBuf,
}

fn fixture(data: &Path) -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let train_set = load_split(data, Split::Train).expect("MNIST train set");
        let test_set = load_split(data, Split::Test).expect("MNIST test set");
        let dir = work();
        std::fs::create_dir_all(&dir).unwrap();
        // Small enough for the LM3S6965's flash too, so one bundle serves both boards.
        let (t, params) = train(&train_set, 16, 12_000, 1);
        let images: Vec<&[u8]> = (0..TEST_DIGITS).map(|i| test_set.image(i)).collect();
        let train_images: Vec<&[u8]> = (0..TRAIN_DIGITS).map(|i| train_set.image(i)).collect();
        let bundle = dir.join("bundle.bin");
        write_bundle(
            &bundle,
            &t,
            &params,
            &images,
            &test_set.labels[..TEST_DIGITS],
            &train_images,
            &train_set.labels[..TRAIN_DIGITS],
        )
        .unwrap();

        // Model B: another topology, small enough for the LM3S6965's 64 KiB region.
        let (tb, pb) = train(&train_set, 12, 6_000, 2);
        let net = Network::new(tb.clone(), &pb[..]).unwrap();
        let mut scratch = vec![0.0f32; tb.infer_scratch_len(1)];
        let other_predictions = (0..TEST_DIGITS)
            .map(|i| {
                let x: Vec<f32> = images[i].iter().map(|&p| f32::from(p) / 255.0).collect();
                net.predict(&x, &mut scratch).unwrap()
            })
            .collect();
        let b = blob(&tb, &pb);
        let other_model = dir.join("model-b.mdw");
        std::fs::write(&other_model, &b).unwrap();
        let mut corrupt = b.clone();
        corrupt[microdense::format::HEADER_LEN + 1000] ^= 0x10;
        let corrupt_model = dir.join("model-b-corrupt.mdw");
        std::fs::write(&corrupt_model, &corrupt).unwrap();
        Fixture {
            bundle,
            other_model,
            other_predictions,
            corrupt_model,
        }
    })
}

/// Builds both programs for `board` with the fixture's bundle; returns the ELF folder.
fn build(board: &Board, bundle: &Path) -> PathBuf {
    static BUILT: [OnceLock<PathBuf>; 2] = [OnceLock::new(), OnceLock::new()];
    let k = BOARDS.iter().position(|b| b.name == board.name).unwrap();
    BUILT[k]
        .get_or_init(|| {
            let target_dir = work().join("cargo");
            build_firmware(
                board,
                bundle,
                &target_dir,
                &["--release", "--bins"],
                "release",
            )
        })
        .clone()
}

#[test]
fn demo_matches_the_host_bit_for_bit_on_both_boards() {
    let Some(data) = prerequisites("firmware demo") else {
        return;
    };
    let fx = fixture(&data);
    let bytes = std::fs::read(&fx.bundle).unwrap();
    let view = read_bundle(&bytes).unwrap();
    for board in &BOARDS {
        let (code, out) = qemu(board, &build(board, &fx.bundle).join("demo"), None);
        assert_eq!(code, Some(0), "{}: demo failed:\n{out}", board.name);
        assert!(out.contains("erased, using the compiled-in model"), "{out}");
        assert!(
            out.contains(&format!(
                "logits bit-identical to the host's: {TEST_DIGITS}/{TEST_DIGITS} digits"
            )),
            "{out}"
        );
        assert!(out.contains("verdict: PASS"), "{out}");
        assert!(out.contains("cost per inference: "), "{out}");
        assert_predictions_match(&out, &view, TEST_DIGITS);
    }
}

#[test]
fn a_corrupt_blob_in_the_weights_region_exits_1_with_the_core_error() {
    let Some(data) = prerequisites("firmware weights region (corrupt)") else {
        return;
    };
    let fx = fixture(&data);
    for board in &BOARDS {
        let elf = build(board, &fx.bundle).join("demo");
        let (code, out) = qemu(board, &elf, Some(&fx.corrupt_model));
        assert_eq!(code, Some(1), "{}:\n{out}", board.name);
        assert!(
            out.contains("holds an invalid model: CRC mismatch"),
            "{out}"
        );
        assert!(!out.contains("verdict: PASS"), "{out}");
    }
}

#[test]
fn a_new_model_in_the_weights_region_replaces_the_compiled_in_one() {
    let Some(data) = prerequisites("firmware weights region (new model)") else {
        return;
    };
    let fx = fixture(&data);
    for board in &BOARDS {
        let elf = build(board, &fx.bundle).join("demo");
        let (code, out) = qemu(board, &elf, Some(&fx.other_model));
        assert_eq!(code, Some(0), "{}:\n{out}", board.name);
        assert!(out.contains("instead of the compiled-in model"), "{out}");
        assert!(out.contains("model: 784-12-10 (relu, softmax)"), "{out}");
        let rows = predictions(&out);
        assert_eq!(rows.len(), TEST_DIGITS, "{out}");
        for (i, (_, _, firmware, host)) in rows.into_iter().enumerate() {
            assert_eq!(firmware, fx.other_predictions[i], "digit {i}");
            assert_eq!(host, None);
        }
    }
}

#[test]
fn on_chip_training_learns() {
    let Some(data) = prerequisites("firmware on-chip training") else {
        return;
    };
    let fx = fixture(&data);
    for board in &BOARDS {
        let (code, out) = qemu(board, &build(board, &fx.bundle).join("train"), None);
        assert_eq!(code, Some(0), "{}: train failed:\n{out}", board.name);
        assert!(out.contains("verdict: PASS"), "{out}");
        let accuracy = |when: &str| -> usize {
            let line = out
                .lines()
                .find(|l| l.starts_with(&format!("held-out {when} training: accuracy ")))
                .unwrap_or_else(|| panic!("no held-out {when} line:\n{out}"));
            let right = line
                .split("accuracy ")
                .nth(1)
                .unwrap()
                .split('/')
                .next()
                .unwrap();
            right.parse().unwrap()
        };
        assert!(
            accuracy("after") > accuracy("before") + TEST_DIGITS / 4,
            "{out}"
        );
    }
}

#[test]
fn a_missing_bundle_fails_the_build_naming_the_export_command() {
    if !target_installed(&BOARDS[0].target()) {
        microdense_tests::skip(
            "firmware missing bundle",
            format_args!("rustup target add thumbv7em-none-eabihf"),
        );
        return;
    }
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
    cmd.current_dir(root().join("firmware"))
        .args(["build", "--release"])
        .env("CARGO_TARGET_DIR", work().join("cargo-missing"))
        .env("MICRODENSE_BUNDLE", work().join("no-such-bundle.bin"));
    let (code, out) = run_with_timeout(cmd, BUILD_TIMEOUT);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("no firmware bundle at"), "{out}");
    assert!(
        out.contains("cargo run --release -p microdense-host -- export --model"),
        "{out}"
    );
}
