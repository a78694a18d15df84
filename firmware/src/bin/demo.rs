//! Inference on every bundled digit, checked against the host's logits bit for bit.
//!
//! The model is the blob in the WEIGHTS flash region when one is there and valid, else the
//! compiled-in one. Prints label, firmware and host prediction per digit, then accuracy
//! and the cost per inference; exits 0 when every logit equals the host's (or, for a
//! model from WEIGHTS that the bundle has no logits for, when it ran), 1 otherwise.
#![no_std]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![no_main]

use cortex_m_rt::entry;
use microdense::{argmax, Blob, Network, Topology};
use microdense_firmware::meter::{Meter, Ratio};
use microdense_firmware::{board, bundle, exit, hprintln, ram, to_input, weights, KiB, Percent};
use panic_semihosting as _;

#[entry]
fn main() -> ! {
    static mut SCRATCH: [f32; 2 * board::MAX_UNITS] = [0.0; 2 * board::MAX_UNITS];
    static mut INPUT: [f32; bundle::PIXELS] = [0.0; bundle::PIXELS];

    let ok = match cortex_m::Peripherals::take() {
        Some(p) => run(Meter::new(p.SYST, p.DCB, p.DWT), SCRATCH, INPUT),
        None => false,
    };
    exit(ok)
}

/// `784-32-10 (relu, softmax)`.
struct Shape<'a>(&'a Topology);

impl core::fmt::Display for Shape<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0.input())?;
        for l in self.0.layers() {
            write!(f, "-{}", l.units)?;
        }
        for (i, l) in self.0.layers().iter().enumerate() {
            let sep = if i == 0 { " (" } else { ", " };
            write!(f, "{sep}{}", l.activation.name())?;
        }
        write!(f, "), {} params", self.0.params_len())
    }
}

/// Chooses the model: a valid blob in WEIGHTS, else the compiled-in one. `Err` has been
/// printed.
fn choose_model() -> Result<(Blob<'static>, bool), ()> {
    let compiled = Blob::parse(&bundle::MODEL.0).map_err(|e| {
        hprintln!("error: compiled-in model: {e}");
    })?;
    let (at, size) = (weights::address(), weights::region().len());
    match weights::read() {
        Ok(weights::Stored::Erased) => {
            hprintln!(
                "WEIGHTS region {at:#010x} ({}): erased, using the compiled-in model",
                KiB(size)
            );
            Ok((compiled, true))
        }
        Ok(weights::Stored::Model(blob)) => {
            let same = weights::region().get(..blob.len()) == Some(&bundle::MODEL.0[..]);
            hprintln!(
                "WEIGHTS region {at:#010x} ({}): valid blob of {}, using it{}",
                KiB(size),
                KiB(blob.len()),
                if same {
                    " (same as the compiled-in model)"
                } else {
                    " instead of the compiled-in model"
                }
            );
            Ok((blob, same))
        }
        Err(e) => {
            hprintln!("error: WEIGHTS region {at:#010x} holds an invalid model: {e}");
            Err(())
        }
    }
}

fn run(meter: Meter, scratch: &mut [f32], input: &mut [f32]) -> bool {
    hprintln!("microdense demo on {}", board::NAME);
    hprintln!("cost meter: {meter}");

    let Ok((blob, comparable)) = choose_model() else {
        return false;
    };
    let t = blob.topology().clone();
    hprintln!(
        "model: {}, {} multiply-adds per inference",
        Shape(&t),
        t.macs()
    );
    if t.input() != bundle::PIXELS || t.outputs() != bundle::CLASSES {
        hprintln!(
            "error: the model maps {} inputs to {} classes; the bundled digits need {} to {}",
            t.input(),
            t.outputs(),
            bundle::PIXELS,
            bundle::CLASSES
        );
        return false;
    }
    let Some(params) = blob.params() else {
        hprintln!("error: the model's parameters are not 4-byte aligned in flash");
        return false;
    };
    let needed = t.infer_scratch_len(1);
    if needed > scratch.len() {
        hprintln!(
            "error: the model's widest layer needs {needed} scratch values, this firmware has {} (board::MAX_UNITS)",
            scratch.len()
        );
        return false;
    }
    let net = match Network::new(t.clone(), params) {
        Ok(n) => n,
        Err(e) => {
            hprintln!("error: {e}");
            return false;
        }
    };
    if !comparable {
        hprintln!("the bundle's host logits are for the compiled-in model: predictions only");
    }

    let n = bundle::TEST_COUNT;
    if n == 0 {
        hprintln!("error: the bundle has no test digits (export with --digits N)");
        return false;
    }
    hprintln!("digit  label  firmware  host  logits");
    let (mut right, mut host_right, mut identical) = (0, 0, 0);
    let (mut total, mut least, mut most) = (0u64, u64::MAX, 0u64);
    for i in 0..n {
        to_input(bundle::test_image(i), input);
        let start = meter.now();
        let logits = match net.logits(input, scratch) {
            Ok(z) => z,
            Err(e) => {
                hprintln!("error: digit {i}: {e}");
                return false;
            }
        };
        let cost = meter.since(start);
        (total, least, most) = (total + cost, least.min(cost), most.max(cost));
        let label = usize::from(bundle::TEST_LABELS[i]);
        let mine = argmax(logits);
        right += usize::from(mine == label);
        if comparable {
            let (mut same, mut worst) = (true, 0.0f32);
            for (k, z) in logits.iter().enumerate() {
                let host = bundle::host_logit(i, k);
                same &= z.to_bits() == host.to_bits();
                worst = worst.max((z - host).abs());
            }
            let host_says = argmax_host(i);
            host_right += usize::from(host_says == label);
            identical += usize::from(same);
            if same {
                hprintln!("{i:5}  {label:5}  {mine:8}  {host_says:4}  identical");
            } else {
                hprintln!("{i:5}  {label:5}  {mine:8}  {host_says:4}  differ by up to {worst:e}");
            }
        } else {
            hprintln!("{i:5}  {label:5}  {mine:8}     -  -");
        }
    }

    hprintln!("accuracy: firmware {right}/{n} ({})", Percent(right, n));
    if comparable {
        hprintln!(
            "accuracy: host     {host_right}/{n} ({})",
            Percent(host_right, n)
        );
        hprintln!("logits bit-identical to the host's: {identical}/{n} digits");
    }
    let mean = total / n as u64;
    // Per multiply-add of the dense layers as written; the core may skip some (zero
    // inputs), so this is the cost per nominal multiply-add.
    hprintln!(
        "cost per inference: {mean} {unit} (min {least}, max {most}), {} {unit} per multiply-add ({} per inference)",
        Ratio(mean, t.macs() as u64),
        t.macs(),
        unit = meter.unit()
    );
    hprintln!(
        "RAM: {} of {}: statics {}, stack peak {}",
        KiB(ram::statics() + ram::stack_peak()),
        KiB(ram::total()),
        KiB(ram::statics()),
        KiB(ram::stack_peak())
    );
    let ok = !comparable || identical == n;
    hprintln!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    ok
}

fn argmax_host(i: usize) -> usize {
    let mut z = [0.0f32; bundle::CLASSES];
    for (k, v) in z.iter_mut().enumerate() {
        *v = bundle::host_logit(i, k);
    }
    argmax(&z)
}
