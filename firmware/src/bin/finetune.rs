//! Fine-tuning on the chip: the bundle's model adapts to digits written off-centre (every
//! digit shifted right and down, as a user who writes in the corner of the box would),
//! a style it was not trained on. Only the output layer is trained (Adam); the layers
//! below stay in flash and are read in place, so RAM holds only the trained layer, its
//! optimizer state and the scratch the core sizes for a trainable tail. Prints held-out
//! accuracy on shifted test digits before and after, the RAM against what full training
//! of the same network would need, the cost per step and the digest of the trained layer
//! (`microdense replay-chip --program finetune` replays the same steps on the PC); writes
//! the fine-tuned model to the host (`finetune.mdw`, see src/report.rs); exits 0 when the
//! held-out accuracy rose and the loss fell.
#![no_std]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![no_main]

use microdense::Blob;
use microdense::{rng::Rng, sizes, Adam, Trainer};
use microdense_firmware::bundle::{
    PIXELS, TEST_COUNT, TEST_LABELS, TRAIN_COUNT, TRAIN_IMAGES, TRAIN_LABELS, TRAIN_PIXELS,
};
use microdense_firmware::inference::Shape;
use microdense_firmware::meter::Meter;
use microdense_firmware::report::{self, Score, Steps, Trained};
use microdense_firmware::{board, buffer, hprintln, KiB};
#[cfg(all(target_arch = "arm", not(feature = "rtt")))]
use panic_semihosting as _;

/// The new style: every digit moved this many pixels right and down.
const SHIFT: (usize, usize) = (4, 3);
const SIDE: usize = 28;
const BATCH: usize = 8;
const EPOCHS: usize = 4;
const SEED: u64 = 7;
/// Whether the bundle's training digits are full 28x28 ones (the STM32F405's bundle) or
/// 14x14 (the LM3S6965's, whose 192 KiB of program flash cannot also hold a compiled-in
/// model, so that board's model comes from the WEIGHTS region, and whose 64 KiB of RAM
/// takes smaller buffers).
const FULL: bool = TRAIN_PIXELS == PIXELS;
/// Adam's rate: the LM3S6965's small model trains a 170-parameter layer, which takes a
/// larger step.
const ADAM: Adam = Adam::new(if FULL { 0.002 } else { 0.02 });
/// Room for the trained layer (256 → 10 takes 2570 parameters), its Adam state and the
/// tail's training scratch; the program checks the model fits.
const MAX_TRAINED: usize = if FULL { 3072 } else { 512 };
const MAX_SCRATCH: usize = if FULL { 6 * 1024 } else { 2560 };
/// The Adam state and the training scratch share one buffer, which holds the int8 blob
/// once training is over (the tutorial's network takes 37 KiB in int8, 784-16-10 13 KiB).
const STATE: usize = 2 * MAX_TRAINED + 2;
const WORK: usize = STATE + MAX_SCRATCH;

/// The model and the held-out digits: with full-resolution digits the usual model
/// (WEIGHTS, else compiled in) and the 28x28 test digits; otherwise (see [`FULL`]) the
/// model in WEIGHTS and the bundle's 14x14 copies of the test digits (read at 28x28,
/// like the training ones).
fn model_and_test_digits() -> Option<(Blob<'static>, &'static [u8])> {
    use microdense_firmware::bundle::{HELDOUT_IMAGES, TEST_IMAGES};
    use microdense_firmware::weights::{read, Stored};
    if FULL {
        let (blob, _) = microdense_firmware::inference::choose_model()?;
        return Some((blob, &TEST_IMAGES[..]));
    }
    match read() {
        Ok(Stored::Model(blob)) => Some((blob, &HELDOUT_IMAGES[..])),
        Ok(Stored::Erased) => {
            hprintln!(
                "error: load a 784-input model into WEIGHTS, e.g. \
                 MICRODENSE_WEIGHTS=../target/model-small.mdw cargo lm3s6965 run --release --bin finetune"
            );
            None
        }
        Err(e) => {
            hprintln!("error: WEIGHTS region: {e}");
            None
        }
    }
}

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    microdense_firmware::start();
    let buffers = Buffers {
        trained: buffer!([f32; MAX_TRAINED] = [0.0; MAX_TRAINED]),
        work: buffer!([f32; WORK] = [0.0; WORK]),
        batch: buffer!([f32; BATCH * PIXELS] = [0.0; BATCH * PIXELS]),
        order: buffer!([u32; TRAIN_COUNT] = [0; TRAIN_COUNT]),
    };
    report::run_and_exit(buffers, run)
}

struct Buffers {
    trained: &'static mut [f32],
    /// The Adam state ([`STATE`] values), then the training scratch.
    work: &'static mut [f32],
    batch: &'static mut [f32],
    order: &'static mut [u32],
}

/// A digit in the new style as network input: shifted by [`SHIFT`] (zeros enter at the
/// top and left), then `pixel / 255` as the host reads pixels. `pixels` is 28x28, or a
/// 2x2-pooled 14x14 digit (the LM3S6965 bundle's training digits), read back at 28x28.
fn shifted(pixels: &[u8], x: &mut [f32]) {
    let (dx, dy) = SHIFT;
    let pooled = pixels.len() * 4 == SIDE * SIDE;
    for (k, x) in x.iter_mut().enumerate() {
        let (r, c) = (k / SIDE, k % SIDE);
        let p = match (r.checked_sub(dy), c.checked_sub(dx)) {
            (Some(r), Some(c)) if pooled => pixels.get(r / 2 * SIDE / 2 + c / 2),
            (Some(r), Some(c)) => pixels.get(r * SIDE + c),
            _ => None,
        };
        *x = f32::from(p.copied().unwrap_or(0)) / 255.0;
    }
}

/// Held-out accuracy and mean loss on the shifted test digits
/// (`digits`: `TEST_COUNT` of them, 28x28 or 14x14).
fn evaluate(
    trainer: &mut Trainer,
    (frozen, trained): (&[f32], &[f32]),
    digits: &[u8],
    batch: &mut [f32],
) -> Result<Score, microdense::Error> {
    let (mut right, mut loss) = (0, 0.0f32);
    let size = digits.len() / TEST_COUNT.max(1);
    let images = digits.chunks(BATCH * size);
    for (pixels, labels) in images.zip(TEST_LABELS.chunks(BATCH)) {
        let inputs = &mut batch[..labels.len() * PIXELS];
        for (p, x) in pixels
            .chunks_exact(size)
            .zip(inputs.chunks_exact_mut(PIXELS))
        {
            shifted(p, x);
        }
        let (l, r) = trainer.evaluate_split(frozen, trained, inputs, labels)?;
        (loss, right) = (loss + l * labels.len() as f32, right + r);
    }
    Ok(Score {
        right,
        loss: loss / TEST_COUNT.max(1) as f32,
    })
}

fn run(meter: &Meter, b: Buffers) -> Result<bool, microdense::Error> {
    hprintln!("microdense on-chip fine-tuning on {}", board::NAME);
    hprintln!("cost meter: {meter}");
    let digits_ok = PIXELS == SIDE * SIDE && (TRAIN_PIXELS == PIXELS || 4 * TRAIN_PIXELS == PIXELS);
    if !digits_ok || TRAIN_COUNT == 0 || TEST_COUNT == 0 {
        hprintln!(
            "error: fine-tuning needs 28x28 test digits and 28x28 or 14x14 training digits; \
             the bundle has {TRAIN_COUNT} training digits of {TRAIN_PIXELS} pixels and \
             {TEST_COUNT} test digits of {PIXELS}"
        );
        return Ok(false);
    }
    let Some((blob, test_digits)) = model_and_test_digits() else {
        return Ok(false);
    };
    let t = blob.topology().clone();
    hprintln!("model: {}", Shape(&t));
    let Some(params) = blob.params() else {
        hprintln!("error: the model is not an f32 blob readable in place");
        return Ok(false);
    };
    let (input, layers) = (t.input(), t.layers());
    let first = layers.len() - 1;
    let trained_len = sizes::tail_params_len(input, layers, first);
    let scratch_len = sizes::tail_train_scratch_len(input, layers, BATCH, first);
    let state_len = sizes::tail_optimizer_len(input, layers, first, true);
    if trained_len > b.trained.len() || scratch_len > MAX_SCRATCH {
        hprintln!(
            "error: the output layer needs {trained_len} parameters and {scratch_len} scratch \
             values; this program has room for {MAX_TRAINED} and {MAX_SCRATCH}"
        );
        return Ok(false);
    }
    let (frozen, original) = params.split_at(params.len() - trained_len);
    let trained = &mut b.trained[..trained_len];
    trained.copy_from_slice(original);
    let f32s = |n: usize| KiB(4 * n);
    let full = sizes::train_scratch_len(input, layers, BATCH)
        + sizes::params_len(input, layers)
        + sizes::adam_len(input, layers);
    hprintln!(
        "training layer {first} only ({trained_len} params, Adam lr {}), batch {BATCH}, {EPOCHS} epochs \
         over {TRAIN_COUNT} {}digits shifted by {SHIFT:?}; frozen: {} in flash, used in place",
        ADAM.lr,
        if TRAIN_PIXELS == PIXELS { "" } else { "14x14 (read at 28x28) " },
        f32s(frozen.len()),
    );
    hprintln!(
        "RAM for training: trained params {}, Adam state {}, scratch {}: {} (all layers: {})",
        f32s(trained_len),
        f32s(state_len),
        f32s(scratch_len),
        f32s(trained_len + state_len + scratch_len),
        f32s(full),
    );
    let (state, scratch) = b.work.split_at_mut(STATE);
    let (state, scratch) = (&mut state[..state_len], &mut scratch[..scratch_len]);
    let mut trainer = Trainer::tail(&t, BATCH, first, ADAM, scratch, state)?;
    let before = evaluate(&mut trainer, (frozen, trained), test_digits, b.batch)?;
    hprintln!("held-out shifted digits before: {before}");

    for (i, o) in b.order.iter_mut().enumerate() {
        *o = i as u32;
    }
    let mut rng = Rng::new(SEED);
    let mut labels = [0u8; BATCH];
    let mut done = Steps::new(BATCH);
    for epoch in 1..=EPOCHS {
        rng.shuffle(b.order);
        let (mut epoch_loss, mut steps) = (0.0f32, 0);
        for chunk in b.order.chunks(BATCH) {
            let inputs = b.batch.chunks_exact_mut(PIXELS);
            for ((&k, x), y) in chunk.iter().zip(inputs).zip(&mut labels) {
                let k = k as usize;
                shifted(&TRAIN_IMAGES[k * TRAIN_PIXELS..(k + 1) * TRAIN_PIXELS], x);
                *y = TRAIN_LABELS[k];
            }
            let n = chunk.len();
            let start = meter.now();
            let loss = trainer.step_split(frozen, trained, &b.batch[..n * PIXELS], &labels[..n])?;
            done.took(meter, start, n);
            (epoch_loss, steps) = (epoch_loss + loss, steps + 1);
        }
        let score = evaluate(&mut trainer, (frozen, trained), test_digits, b.batch)?;
        hprintln!(
            "epoch {epoch}: training loss {:.4} (mean); held-out {score}",
            epoch_loss / steps as f32,
        );
    }
    let after = evaluate(&mut trainer, (frozen, trained), test_digits, b.batch)?;
    hprintln!("held-out shifted digits after: {after}");
    let model = Trained {
        topology: &t,
        frozen,
        trained,
        file: c"finetune.mdw",
    };
    report::results(meter, &done, &model);
    let kept = keep(&t, (frozen, trained), b.work, b.batch)?;
    Ok(report::verdict(
        (before, after),
        kept,
        "FAIL: it did not adapt",
    ))
}

/// What the chip learned, kept: the f32 blob's digest, the int8 blob quantized on the chip
/// (calibrated on the training digits in the new style, in order), and, on the STM32F405
/// with a flash controller, the f32 blob written into WEIGHTS (src/keep.rs, src/flash.rs).
/// tests/tests/chip_replay.rs replays this on the PC. False when quantization failed.
fn keep(
    t: &microdense::Topology,
    (frozen, trained): (&[f32], &[f32]),
    work: &mut [f32],
    floats: &mut [f32],
) -> Result<bool, microdense::Error> {
    use microdense::int8::Parts;
    use microdense_firmware::keep;
    let parts = Parts { frozen, trained };
    let (len, crc) = keep::f32_blob_digest(t, parts)?;
    hprintln!("trained f32 blob: {len} bytes, header CRC-32 {crc:#010x}");
    let digit = |k: usize, x: &mut [f32]| {
        shifted(&TRAIN_IMAGES[k * TRAIN_PIXELS..(k + 1) * TRAIN_PIXELS], x)
    };
    match keep::quantize(t, parts, TRAIN_COUNT, digit, floats, keep::as_bytes(work)) {
        Ok(int8) => hprintln!(
            "int8 on the chip: calibrated on {TRAIN_COUNT} shifted training digits; \
             blob {} bytes, header CRC-32 {:#010x}",
            int8.len(),
            keep::digest(int8)
        ),
        Err(e) => {
            hprintln!("int8 on the chip: failed: {e}");
            return Ok(false);
        }
    }
    if microdense_firmware::bundle::BOARD.as_bytes() == b"stm32f405" {
        keep_in_flash(t, parts, len)?;
    }
    Ok(true)
}

/// The STM32F405: the trained f32 blob into the WEIGHTS slot not in use (src/flash.rs).
fn keep_in_flash(
    t: &microdense::Topology,
    parts: microdense::int8::Parts,
    len: usize,
) -> Result<(), microdense::Error> {
    use microdense::store;
    use microdense_firmware::{flash, weights};
    if !flash::present() {
        hprintln!("flash: not written: no flash controller answers (qemu emulates none)");
        return Ok(());
    }
    if let Err(e) = store::check_fits(&weights::slots(), len) {
        hprintln!("flash: not written: a WEIGHTS slot is too small: {e}");
        return Ok(());
    }
    let all = [parts.frozen, parts.trained];
    let header = microdense::format::f32_header(t, &all)?;
    match flash::keep(len, |o, buf| store::f32_blob_bytes(&header, &all, o, buf)) {
        Ok(w) => hprintln!(
            "flash: kept in WEIGHTS slot {} (generation {}): {} bytes, CRC-32 {:#010x} read back",
            w.slot,
            w.generation,
            w.len,
            w.crc
        ),
        Err(e) => hprintln!("flash: not written: {e}; the old model stays"),
    }
    Ok(())
}
