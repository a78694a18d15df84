//! Inference on every bundled digit, checked against the host's logits bit for bit.
//!
//! The model is the blob in the WEIGHTS flash region when one is there and valid, else the
//! compiled-in one; f32 or int8 (the blob's element type decides: an int8 model runs
//! integer-only, SMLAD on a Cortex-M4). Prints label, firmware and host prediction per
//! digit, then accuracy and the cost per inference; exits 0 when every logit equals the
//! host's (or, for a model from WEIGHTS that the bundle has no logits for, when it ran),
//! 1 otherwise.
#![no_std]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![no_main]

use microdense::{argmax, Blob, ElementType, Network};
use microdense_firmware::features::{self, Scaling};
use microdense_firmware::inference::{open, report, run_int8, Int8Buffers, Tally};
use microdense_firmware::meter::{self, Meter};
use microdense_firmware::{board, buffer, bundle, exit, hprintln, to_input, Aligned, INT8_SCRATCH};
#[cfg(all(target_arch = "arm", not(feature = "rtt")))]
use panic_semihosting as _;

/// The static buffers of both paths.
struct Buffers {
    scratch: &'static mut [f32],
    input: &'static mut [f32],
    int8: Int8Buffers,
}

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    microdense_firmware::start();
    let b = Buffers {
        scratch: buffer!([f32; 2 * board::MAX_UNITS] = [0.0; 2 * board::MAX_UNITS]),
        input: buffer!([f32; bundle::PIXELS] = [0.0; bundle::PIXELS]),
        int8: Int8Buffers {
            scratch: buffer!([u32; INT8_SCRATCH] = [0; INT8_SCRATCH]),
            // Word-aligned: the core then reads the input four values at a time.
            input: &mut buffer!(Aligned<[i8; bundle::PIXELS]> = Aligned([0; bundle::PIXELS])).0,
            out: buffer!([i32; bundle::CLASSES] = [0; bundle::CLASSES]),
        },
    };
    let ok = match meter::take() {
        Some(m) => run(m, b),
        None => false,
    };
    exit(ok)
}

fn run(meter: Meter, mut b: Buffers) -> bool {
    let Some((blob, comparable)) = open("demo", &meter) else {
        return false;
    };
    let tally = match blob.element_type() {
        ElementType::F32 => run_f32(&meter, &blob, comparable, b.scratch, b.input),
        ElementType::Int8 => run_int8(&meter, &blob, comparable, &mut b.int8),
    };
    match tally {
        Some(tally) => report(&meter, blob.topology(), &tally, comparable),
        None => false,
    }
}

/// The f32 path: `pixel / 255` (or, for raw feature rows, the model's stored scaling)
/// through core's f32 network, logits compared as bits.
fn run_f32(
    meter: &Meter,
    blob: &Blob<'static>,
    comparable: bool,
    scratch: &mut [f32],
    input: &mut [f32],
) -> Option<Tally> {
    let t = blob.topology();
    let Some(params) = blob.params() else {
        hprintln!("error: the model's parameters are not 4-byte aligned in flash");
        return None;
    };
    let needed = t.infer_scratch_len(1);
    if needed > scratch.len() {
        hprintln!(
            "error: the model's widest layer needs {needed} scratch values, this firmware has {} (board::MAX_UNITS)",
            scratch.len()
        );
        return None;
    }
    let net = Network::new(t.clone(), params)
        .map_err(|e| hprintln!("error: {e}"))
        .ok()?;
    let scaling = raw_scaling(blob)?;
    let mut raw = [0.0f32; features::WIDTH];
    hprintln!("digit  label  firmware  host  logits");
    let mut tally = Tally::default();
    for i in 0..bundle::TEST_COUNT {
        let start;
        // On the constant, so that a build links only its own kind of test input.
        let logits = if bundle::RAW_FEATURES {
            let s = scaling.as_ref()?;
            features::test_row(i, &mut raw);
            start = meter.now();
            net.logits_raw(&s.view(), &raw, input, scratch)
        } else {
            to_input(bundle::test_image(i), input);
            start = meter.now();
            net.logits(input, scratch)
        }
        .map_err(|e| hprintln!("error: digit {i}: {e}"))
        .ok()?;
        tally.cost(meter.since(start));
        let label = usize::from(bundle::TEST_LABELS[i]);
        let mine = argmax(logits);
        tally.right += usize::from(mine == label);
        if comparable {
            let (mut same, mut worst) = (true, 0.0f32);
            for (k, z) in logits.iter().enumerate() {
                let host = bundle::host_logit(i, k);
                same &= z.to_bits() == host.to_bits();
                worst = worst.max((z - host).abs());
            }
            let host_says = argmax_host(i);
            tally.host_right += usize::from(host_says == label);
            tally.identical += usize::from(same);
            if same {
                hprintln!("{i:5}  {label:5}  {mine:8}  {host_says:4}  identical");
            } else {
                hprintln!("{i:5}  {label:5}  {mine:8}  {host_says:4}  differ by up to {worst:e}");
            }
        } else {
            hprintln!("{i:5}  {label:5}  {mine:8}     -  -");
        }
    }
    Some(tally)
}

fn argmax_host(i: usize) -> usize {
    let mut z = [0.0f32; bundle::CLASSES];
    for (k, v) in z.iter_mut().enumerate() {
        *v = bundle::host_logit(i, k);
    }
    argmax(&z)
}

/// For a raw-feature bundle, the model's stored scaling (`Some(None)` for pixels;
/// `None` after printing why a raw-feature model cannot run).
fn raw_scaling(blob: &Blob<'_>) -> Option<Option<Scaling>> {
    if !bundle::RAW_FEATURES {
        return Some(None);
    }
    match Scaling::of(blob) {
        Some(s) => Some(Some(s)),
        None => {
            hprintln!("error: raw feature rows, but the model stores no input scaling for them");
            None
        }
    }
}
