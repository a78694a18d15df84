//! int8 models on the chip, end to end: the tutorial's network trained and quantized here
//! with the host library, bundled with the host's i32 outputs, and run in qemu-system-arm
//! by `demo` on both boards (SMLAD assembly on the Cortex-M4, the portable loop on the
//! Cortex-M3) and by the slim `demo-int8` on the LM3S6965. Every output must equal the
//! host's exactly; the Cortex-M4 must take at most one instruction per multiply-add; the
//! whole `demo-int8` must fit 49 KiB of flash and 8 KiB of RAM (48 KiB until the
//! Cortex-M3 assembly kernel and TFLite's requantization rule added about 0.5 KiB of code). A relu int8 model in the
//! WEIGHTS region replaces the compiled-in one; a corrupt one, or an f32 one for
//! `demo-int8`, ends the run with exit code 1. Needs MNIST (MICRODENSE_DATA),
//! qemu-system-arm and the thumb targets; each missing one skips loudly.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use microdense::int8::argmax_i32;
use microdense_host::data::idx::{load_split, Dataset, Split};
use microdense_host::model::bundle::{read_bundle, write_bundle_for};
use microdense_host::model::quantize::{calibrate, calibration_indices, quantize};
use microdense_host::model::{AnyModel, Model, QuantModel};
use microdense_host::train::{train, TrainConfig};
use microdense_tests::{
    assert_predictions_match, build_firmware, firmware_prerequisites, number_after, predictions,
    qemu, work, Board, LM3S6965, STM32F405,
};

/// Digits in the bundle `demo` runs, and in the slim one `demo-int8` runs (flash).
const TEST_DIGITS: usize = 40;
const SLIM_DIGITS: usize = 3;

fn quantized(model: &Model, train_set: &Dataset) -> QuantModel {
    let indices = calibration_indices(train_set.len(), 1000);
    quantize(model, &calibrate(model, train_set, &indices).unwrap())
        .unwrap()
        .model
}

struct Fixture {
    /// The tutorial's network in int8, TEST_DIGITS digits: for `demo`.
    bundle: PathBuf,
    /// The same model, SLIM_DIGITS digits: for `demo-int8`.
    slim_bundle: PathBuf,
    /// Another int8 model (784-16-10 relu) for the WEIGHTS region, the host's predictions
    /// for the bundled digits, and the same blob corrupted.
    relu_model: PathBuf,
    relu_predictions: Vec<usize>,
    corrupt_model: PathBuf,
    /// An f32 model, which `demo-int8` refuses.
    f32_model: PathBuf,
}

fn fixture(data: &Path) -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let train_set = load_split(data, Split::Train).expect("MNIST train set");
        let test_set = load_split(data, Split::Test).expect("MNIST test set");
        let dir = work().join("int8");
        std::fs::create_dir_all(&dir).unwrap();

        let cfg = TrainConfig {
            val_every: 0,
            ..TrainConfig::tutorial()
        };
        let tutorial = train(&cfg, &train_set, None, &mut |_| {}).unwrap().model;
        let q = AnyModel::Int8(quantized(&tutorial, &train_set));
        let images: Vec<&[u8]> = (0..TEST_DIGITS).map(|i| test_set.image(i)).collect();
        let labels = &test_set.labels[..TEST_DIGITS];
        let bundle = dir.join("bundle-int8.bin");
        write_bundle_for(&bundle, &q, &images, labels, &[], &[]).unwrap();
        let slim_bundle = dir.join("bundle-int8-slim.bin");
        write_bundle_for(
            &slim_bundle,
            &q,
            &images[..SLIM_DIGITS],
            &labels[..SLIM_DIGITS],
            &[],
            &[],
        )
        .unwrap();

        let small = microdense_tests::small_relu_model(&train_set);
        let relu = quantized(&small, &train_set);
        let relu_predictions = images
            .iter()
            .map(|img| argmax_i32(&relu.logits(img).unwrap()))
            .collect();
        let relu_model = dir.join("model-relu-int8.mdw");
        relu.save(&relu_model).unwrap();
        let mut corrupt = relu.bytes().to_vec();
        corrupt[microdense::format::HEADER_LEN + 2000] ^= 0x10;
        let corrupt_model = dir.join("model-relu-int8-corrupt.mdw");
        std::fs::write(&corrupt_model, &corrupt).unwrap();
        let f32_model = dir.join("model-relu-f32.mdw");
        small.save(&f32_model).unwrap();
        Fixture {
            bundle,
            slim_bundle,
            relu_model,
            relu_predictions,
            corrupt_model,
            f32_model,
        }
    })
}

/// `demo` (release) for `board` with the int8 bundle; returns its ELF.
fn demo(board: &Board, fx: &Fixture) -> PathBuf {
    static BUILT: [OnceLock<PathBuf>; 2] = [OnceLock::new(), OnceLock::new()];
    let k = usize::from(board.name == LM3S6965.name);
    BUILT[k]
        .get_or_init(|| {
            let dir = work().join("cargo-int8");
            build_firmware(
                board,
                &fx.bundle,
                &dir,
                &["--release", "--bin", "demo"],
                "release",
            )
            .join("demo")
        })
        .clone()
}

/// `demo-int8` (profile `small`) for the LM3S6965 with the slim bundle.
fn demo_int8(fx: &Fixture) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = work().join("cargo-int8-slim");
            let args = ["--profile", "small", "--bin", "demo-int8"];
            build_firmware(&LM3S6965, &fx.slim_bundle, &dir, &args, "small").join("demo-int8")
        })
        .clone()
}

/// Exit 0, every output identical, the table's predictions the host's.
fn assert_parity(out: &str, code: Option<i32>, bundle: &Path, digits: usize) {
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("erased, using the compiled-in model"), "{out}");
    assert!(
        out.contains(&format!(
            "logits bit-identical to the host's: {digits}/{digits} digits"
        )),
        "{out}"
    );
    assert!(out.contains("verdict: PASS"), "{out}");
    let bytes = std::fs::read(bundle).unwrap();
    let view = read_bundle(&bytes).unwrap();
    assert_predictions_match(out, &view, digits);
}

#[test]
fn demo_runs_int8_models_bit_for_bit_on_both_boards() {
    let Some(data) = firmware_prerequisites("firmware int8 demo") else {
        return;
    };
    let fx = fixture(&data);
    for board in [&STM32F405, &LM3S6965] {
        let (code, out) = qemu(board, &demo(board, fx), None);
        assert_parity(&out, code, &fx.bundle, TEST_DIGITS);
        assert!(
            out.contains("model: 784-32-256-10 (linear, linear, softmax), 36138 params, int8"),
            "{out}"
        );
        let per_mac = number_after(&out, "cost per inference: ").unwrap() / 35_840.0;
        if board.name == STM32F405.name {
            // SMLAD: at most one instruction per (nominal) multiply-add.
            assert!(
                per_mac <= 1.0,
                "{per_mac} instructions per multiply-add:\n{out}"
            );
        }
    }
}

#[test]
fn demo_int8_fits_49_kib_of_flash_and_8_kib_of_ram_on_the_lm3s6965() {
    let Some(data) = firmware_prerequisites("firmware demo-int8") else {
        return;
    };
    let fx = fixture(&data);
    let (code, out) = qemu(&LM3S6965, &demo_int8(fx), None);
    assert_parity(&out, code, &fx.slim_bundle, SLIM_DIGITS);
    let flash = number_after(&out, "flash: ").unwrap();
    let ram = number_after(&out, "RAM: ").unwrap();
    assert!(flash <= 49.0, "flash {flash} KiB:\n{out}");
    assert!(ram <= 8.0, "RAM {ram} KiB:\n{out}");
}

#[test]
fn an_int8_model_in_the_weights_region_replaces_the_compiled_in_one() {
    let Some(data) = firmware_prerequisites("firmware int8 weights region") else {
        return;
    };
    let fx = fixture(&data);
    let runs = [
        (&STM32F405, demo(&STM32F405, fx), TEST_DIGITS),
        (&LM3S6965, demo(&LM3S6965, fx), TEST_DIGITS),
        (&LM3S6965, demo_int8(fx), SLIM_DIGITS),
    ];
    for (board, elf, digits) in runs {
        let (code, out) = qemu(board, &elf, Some(&fx.relu_model));
        assert_eq!(code, Some(0), "{}:\n{out}", board.name);
        assert!(out.contains("instead of the compiled-in model"), "{out}");
        assert!(out.contains("model: 784-16-10"), "{out}");
        let rows = predictions(&out);
        assert_eq!(rows.len(), digits, "{out}");
        for (i, (_, _, firmware, host)) in rows.into_iter().enumerate() {
            assert_eq!(firmware, fx.relu_predictions[i], "digit {i}");
            assert_eq!(host, None);
        }

        let (code, out) = qemu(board, &elf, Some(&fx.corrupt_model));
        assert_eq!(code, Some(1), "{}:\n{out}", board.name);
        assert!(out.contains("holds an invalid model"), "{out}");
        assert!(!out.contains("verdict: PASS"), "{out}");
    }
    let (code, out) = qemu(&LM3S6965, &demo_int8(fx), Some(&fx.f32_model));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("error: not an int8 model"), "{out}");
}
