//! On-chip quantization, byte for byte: the `finetune` firmware fine-tunes a model's
//! output layer (Adam) on shifted training digits, then quantizes the result to int8 on
//! the chip, calibrating on those digits, and prints the length and header CRC-32 of both
//! its trained f32 blob and its int8 blob. Here the PC
//! 1. replays the chip's training with the core (same model, digits, shift, batches, Adam
//!    rate, shuffle seed) and writes the f32 blob: its length and CRC must be the chip's,
//!    so the replayed weights are the chip's, bit for bit (short of a CRC-32 collision);
//! 2. quantizes that model with the host's own quantizer (`microdense quantize`'s
//!    library: `calibrate` then `quantize`) calibrated on the same shifted digits: the
//!    int8 blob's length and CRC must be the chip's, so the chip wrote the very bytes
//!    `microdense quantize` writes;
//! 3. checks the int8 blob of the model *before* fine-tuning differs, so a chip that
//!    skipped training or quantized the wrong weights fails step 2.
//!
//! On the STM32F405 (the tutorial's shape, compiled in; 28x28 training digits) and the
//! LM3S6965 (784-16-10 in WEIGHTS; 14x14 digits read at 28x28). Needs MNIST, qemu-system-arm and the
//! thumb targets; each missing one skips loudly.
use std::path::Path;

use microdense::format::{header_crc, write_blob, HEADER_LEN};
use microdense::rng::Rng;
use microdense::{sizes, Activation, Adam, Init, Layer, Network, Sgd, Topology, Trainer};
use microdense_host::data::examples::Examples;
use microdense_host::data::idx::{load_split, Dataset, Split};
use microdense_host::data::scaled;
use microdense_host::model::bundle::write_bundle;
use microdense_host::model::quantize::{calibrate, quantize};
use microdense_host::model::Model;
use microdense_tests::{
    build_firmware, firmware_prerequisites, qemu, work, Board, LM3S6965, STM32F405,
};

// The firmware's pooling of training digits, the very code its build runs.
#[allow(dead_code)]
#[path = "../../firmware/build/digits.rs"]
mod digits;

// The finetune program's set-up (firmware/src/bin/finetune.rs).
const SHIFT: (usize, usize) = (4, 3);
const BATCH: usize = 8;
const EPOCHS: usize = 4;
const SEED: u64 = 7;
const TEST_DIGITS: usize = 40;
const TRAIN_DIGITS: usize = 300;

/// A digit in the chip's new style, as finetune.rs's `shifted` makes it.
fn shifted(pixels: &[u8], x: &mut [f32]) {
    let (dx, dy) = SHIFT;
    let pooled = pixels.len() * 4 == 28 * 28;
    for (k, x) in x.iter_mut().enumerate() {
        let (r, c) = (k / 28, k % 28);
        let p = match (r.checked_sub(dy), c.checked_sub(dx)) {
            (Some(r), Some(c)) if pooled => pixels.get(r / 2 * 14 + c / 2),
            (Some(r), Some(c)) => pixels.get(r * 28 + c),
            _ => None,
        };
        *x = f32::from(p.copied().unwrap_or(0)) / 255.0;
    }
}

/// Calibration inputs for the host's quantizer: the shifted training digits.
struct Digits(Vec<f32>);

impl Examples for Digits {
    fn len(&self) -> usize {
        self.0.len() / 784
    }
    fn input_size(&self) -> usize {
        784
    }
    fn gather(&self, indices: &[usize], xs: &mut Vec<f32>, labels: &mut Vec<u8>) {
        xs.clear();
        labels.clear();
        for &i in indices {
            xs.extend_from_slice(&self.0[i * 784..(i + 1) * 784]);
            labels.push(0);
        }
    }
    fn label(&self, _: usize) -> u8 {
        0
    }
}

/// The chip's training replayed: returns the fine-tuned parameters.
fn replay(t: &Topology, params: &[f32], digits: &[f32], labels: &[u8], lr: f32) -> Vec<f32> {
    let (input, layers) = (t.input(), t.layers());
    let first = layers.len() - 1;
    let trained_len = sizes::tail_params_len(input, layers, first);
    let mut scratch = vec![0.0f32; sizes::tail_train_scratch_len(input, layers, BATCH, first)];
    let mut state = vec![0.0f32; sizes::tail_optimizer_len(input, layers, first, true)];
    let (frozen, original) = params.split_at(params.len() - trained_len);
    let mut trained = original.to_vec();
    let mut trainer =
        Trainer::tail(t, BATCH, first, Adam::new(lr), &mut scratch, &mut state).unwrap();
    let mut order: Vec<u32> = (0..labels.len() as u32).collect();
    let mut rng = Rng::new(SEED);
    let mut x = vec![0.0f32; BATCH * 784];
    for _ in 0..EPOCHS {
        rng.shuffle(&mut order);
        for chunk in order.chunks(BATCH) {
            let mut y = Vec::new();
            for (k, &i) in chunk.iter().enumerate() {
                let i = i as usize;
                x[k * 784..(k + 1) * 784].copy_from_slice(&digits[i * 784..(i + 1) * 784]);
                y.push(labels[i]);
            }
            let n = chunk.len();
            trainer
                .step_split(frozen, &mut trained, &x[..n * 784], &y)
                .unwrap();
        }
    }
    [frozen, &trained[..]].concat()
}

/// A network of `layers` trained with the core (SGD) on MNIST's first 6000 digits.
fn pretrained(data: &Dataset, layers: &[Layer]) -> (Topology, Vec<f32>) {
    let t = Topology::new(784, layers).unwrap();
    let mut net = Network::new(t.clone(), vec![0.0f32; t.params_len()]).unwrap();
    net.init(Init::GlorotNormal, 3);
    let mut scratch = vec![0.0f32; t.train_scratch_len(32)];
    let mut trainer = Trainer::new(&t, 32, Sgd::new(0.05), &mut scratch, &mut []).unwrap();
    for start in (0..6000).step_by(32) {
        let xs: Vec<f32> = (start..start + 32)
            .flat_map(|i| scaled(data.image(i)).collect::<Vec<f32>>())
            .collect();
        let ys: Vec<u8> = (start..start + 32).map(|i| data.label(i)).collect();
        trainer.step(&mut net, &xs, &ys).unwrap();
    }
    let params = net.params().to_vec();
    (t, params)
}

/// (length, header CRC) of the int8 blob the host's quantizer makes of `params`.
fn host_int8(t: &Topology, params: &[f32], calibration: &Digits) -> (usize, u32) {
    let model = Model {
        topology: t.clone(),
        params: params.to_vec(),
        input: None,
    };
    let indices: Vec<usize> = (0..calibration.len()).collect();
    let ranges = calibrate(&model, calibration, &indices).unwrap();
    let q = quantize(&model, &ranges).unwrap();
    let bytes = q.model.bytes();
    (bytes.len(), header_crc(bytes).unwrap())
}

/// (length, header CRC) from the chip's line starting `prefix`.
fn reported(out: &str, prefix: &str) -> (usize, u32) {
    let line = out
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line:\n{out}"));
    let len = line.split(" bytes").next().unwrap();
    let len = len.rsplit(' ').next().unwrap().parse().unwrap();
    let crc = line.rsplit("0x").next().unwrap();
    (len, u32::from_str_radix(crc.trim(), 16).unwrap())
}

#[test]
fn the_chip_quantizes_its_fine_tuned_model_to_the_hosts_int8_bytes() {
    let Some(data) = firmware_prerequisites("on-chip quantization") else {
        return;
    };
    let train_set = load_split(&data, Split::Train).expect("MNIST train set");
    let test_set = load_split(&data, Split::Test).expect("MNIST test set");
    let dir = work().join("finetune");
    std::fs::create_dir_all(&dir).unwrap();
    // Training digits from 50 000 on: digits the models were not trained on.
    let train_images: Vec<&[u8]> = (0..TRAIN_DIGITS)
        .map(|i| train_set.image(50_000 + i))
        .collect();
    let train_labels: Vec<u8> = (0..TRAIN_DIGITS)
        .map(|i| train_set.label(50_000 + i))
        .collect();
    let test_images: Vec<&[u8]> = (0..TEST_DIGITS).map(|i| test_set.image(i)).collect();
    // Each board's model, as in CI: the tutorial's shape on the STM32F405 (compiled in,
    // Adam rate 0.002 for its 2570-parameter output layer); a 784-16-10 relu model in
    // WEIGHTS on the LM3S6965 (rate 0.02 for its 170 parameters).
    use Activation::{Linear, Relu, Softmax};
    let tutorial = [
        Layer::new(32, Linear),
        Layer::new(256, Linear),
        Layer::new(10, Softmax),
    ];
    let small = [Layer::new(16, Relu), Layer::new(10, Softmax)];
    let boards: [(&Board, &[Layer], usize, f32, bool); 2] = [
        (&STM32F405, &tutorial, 1, 0.002, false),
        (&LM3S6965, &small, 2, 0.02, true),
    ];
    for (board, layers, pool, lr, in_weights) in boards {
        let (t, params) = pretrained(&train_set, layers);
        let bundle = dir.join(format!("bundle-{}.bin", board.name));
        write_bundle(
            &bundle,
            &t,
            &params,
            &test_images,
            &test_set.labels[..TEST_DIGITS],
            &train_images,
            &train_labels,
        )
        .unwrap();
        let mut blob = vec![0u8; HEADER_LEN + 4 * params.len()];
        write_blob(&t, &params, &mut blob).unwrap();
        let model_file = dir.join(format!("model-{}.mdw", board.name));
        std::fs::write(&model_file, &blob).unwrap();
        let digits: Vec<f32> = train_images
            .iter()
            .flat_map(|d| {
                let pixels = digits::pool(d, 28, 28, pool);
                let mut x = vec![0.0f32; 784];
                shifted(&pixels, &mut x);
                x
            })
            .collect();
        let tuned = replay(&t, &params, &digits, &train_labels, lr);
        let mut f32_blob = vec![0u8; blob.len()];
        write_blob(&t, &tuned, &mut f32_blob).unwrap();
        let host_f32 = (f32_blob.len(), header_crc(&f32_blob).unwrap());
        let calibration = Digits(digits);
        let host = host_int8(&t, &tuned, &calibration);
        let untrained = host_int8(&t, &params, &calibration);

        let elves = build_firmware(
            board,
            &bundle,
            &work().join("cargo-finetune"),
            &["--release", "--bin", "finetune"],
            "release",
        );
        let weights = in_weights.then_some(Path::new(&model_file));
        let (code, out) = qemu(board, &elves.join("finetune"), weights);
        let chip_f32 = reported(&out, "trained f32 blob: ");
        let chip = reported(&out, "int8 on the chip: ");
        eprintln!(
            "{}: f32 blob {} bytes, CRC {:#010x} chip / {:#010x} host replay; \
             int8 blob {} bytes, CRC {:#010x} chip / {:#010x} host quantize \
             ({:#010x} before fine-tuning)",
            board.name, chip_f32.0, chip_f32.1, host_f32.1, chip.0, chip.1, host.1, untrained.1
        );
        assert_eq!(chip_f32, host_f32, "{}: trained weights differ", board.name);
        assert_eq!(chip, host, "{}: int8 bytes differ", board.name);
        assert_ne!(
            untrained, host,
            "{}: fine-tuning changed nothing",
            board.name
        );
        assert_eq!(code, Some(0), "{}: finetune failed:\n{out}", board.name);
        assert!(
            out.contains(&format!(
                "calibrated on {TRAIN_DIGITS} shifted training digits"
            )),
            "{out}"
        );
    }
}
