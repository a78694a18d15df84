//! A model imported from a `.tflite` file on the chip: the full-integer MNIST model of the
//! import fixtures (Keras → TFLite int8, per-channel weights), imported with TFLite's
//! requantization rule, bundled with the first digits of the MNIST test set and run by
//! `demo` in qemu on both boards. The chip's integers must equal the host's, and the
//! host's (plus the output zero point) LiteRT's reference kernels' from the fixture: so
//! the chip gives LiteRT's integers. Needs MNIST (MICRODENSE_DATA), qemu-system-arm and
//! the thumb targets; each missing one skips loudly.
use microdense_host::data::idx::{load_split, Split};
use microdense_host::model::bundle::{read_bundle, write_bundle_for};
use microdense_host::model::tflite::{import_tflite, Imported};
use microdense_host::model::AnyModel;
use microdense_tests::{
    assert_predictions_match, build_firmware, firmware_prerequisites, qemu, root, work, LM3S6965,
    STM32F405,
};

const DIGITS: usize = 40;

#[test]
fn imported_tflite_int8_model_gives_litert_integers_on_both_boards() {
    let Some(data) = firmware_prerequisites("firmware imported tflite model") else {
        return;
    };
    let fixtures = root().join("host/tests/fixtures/import");
    let path = fixtures.join("mnist-int8.tflite");
    let Imported::Int8(model) = import_tflite(&path, &std::fs::read(&path).unwrap()).unwrap()
    else {
        panic!("mnist-int8.tflite did not import as int8");
    };
    // Its input is the firmware's pixel quantization (p − 128 at scale 1/255).
    assert_eq!(
        model.network().input_params(),
        microdense::int8::PIXEL_INPUT
    );
    let test_set = load_split(&data, Split::Test).expect("MNIST test set");
    let images: Vec<&[u8]> = (0..DIGITS).map(|i| test_set.image(i)).collect();

    // Host = LiteRT, on these digits.
    let text = std::fs::read_to_string(fixtures.join("expected-tflite.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entry = expected["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "mnist-int8.tflite")
        .unwrap();
    let net = model.network();
    let zp = net
        .layer(net.topology().layers().len() - 1)
        .unwrap()
        .output()
        .zero_point;
    for (i, image) in images.iter().enumerate() {
        let host: Vec<i64> = model
            .logits(image)
            .unwrap()
            .iter()
            .map(|&y| i64::from(y + zp))
            .collect();
        let litert: Vec<i64> = entry["logits_q"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(host, litert, "digit {i}: host vs LiteRT");
    }

    let dir = work().join("import");
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = dir.join("bundle-tflite-int8.bin");
    let labels = &test_set.labels[..DIGITS];
    write_bundle_for(&bundle, &AnyModel::Int8(model), &images, labels, &[], &[]).unwrap();
    let bytes = std::fs::read(&bundle).unwrap();
    let view = read_bundle(&bytes).unwrap();
    for board in [&STM32F405, &LM3S6965] {
        let elf = build_firmware(
            board,
            &bundle,
            &work().join("cargo-int8"),
            &["--release", "--bin", "demo"],
            "release",
        )
        .join("demo");
        let (code, out) = qemu(board, &elf, None);
        assert_eq!(code, Some(0), "{out}");
        assert!(
            out.contains(&format!(
                "logits bit-identical to the host's: {DIGITS}/{DIGITS} digits"
            )),
            "{out}"
        );
        assert!(out.contains("verdict: PASS"), "{out}");
        assert_predictions_match(&out, &view, DIGITS);
    }
}
