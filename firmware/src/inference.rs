//! What the demo programs share: choosing the model (the WEIGHTS region or the
//! compiled-in one), the int8 path, and the closing report.
use microdense::{int8::argmax_i32, int8::Int8Network, Blob, Topology};

use crate::meter::{Meter, Ratio};
use crate::{bundle, hprintln, ram, weights, KiB, Percent};

/// `784-32-10 (relu, softmax)`.
pub struct Shape<'a>(pub &'a Topology);

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

/// Chooses the model: a valid blob in WEIGHTS, else the compiled-in one; `None` after
/// printing why there is none.
pub fn choose_model() -> Option<(Blob<'static>, bool)> {
    let compiled = Blob::parse(&bundle::MODEL.0)
        .map_err(|e| {
            hprintln!("error: compiled-in model: {e}");
        })
        .ok()?;
    let (at, size) = (weights::address(), weights::region().len());
    match weights::read() {
        Ok(weights::Stored::Erased) => {
            hprintln!(
                "WEIGHTS region {at:#010x} ({}): erased, using the compiled-in model",
                KiB(size)
            );
            Some((compiled, true))
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
            Some((blob, same))
        }
        Err(e) => {
            hprintln!("error: WEIGHTS region {at:#010x} holds an invalid model: {e}");
            None
        }
    }
}

/// Prints the program's and the meter's lines, chooses the model and checks it fits the
/// bundled digits: `(model, whether the bundle's host logits are for it)`, or `None`
/// after printing why not.
pub fn open(program: &str, meter: &Meter) -> Option<(Blob<'static>, bool)> {
    hprintln!("microdense {program} on {}", crate::board::NAME);
    hprintln!("cost meter: {meter}");
    let (blob, comparable) = choose_model()?;
    let t = blob.topology();
    hprintln!(
        "model: {}, {}, {} multiply-adds per inference",
        Shape(t),
        blob.element_type().name(),
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
        return None;
    }
    if !comparable {
        hprintln!("the bundle's host logits are for the compiled-in model: predictions only");
    }
    if bundle::TEST_COUNT == 0 {
        hprintln!("error: the bundle has no test digits (export with --digits N)");
        return None;
    }
    Some((blob, comparable))
}

/// Counts over the bundled digits.
#[derive(Default)]
pub struct Tally {
    pub right: usize,
    pub host_right: usize,
    pub identical: usize,
    pub total: u64,
    pub least: u64,
    pub most: u64,
}

impl Tally {
    pub fn cost(&mut self, cost: u64) {
        if self.total == 0 {
            self.least = u64::MAX;
        }
        self.total += cost;
        self.least = self.least.min(cost);
        self.most = self.most.max(cost);
    }
}

/// The int8 path: `pixel − 128` (raw feature rows: the model's scaling folded into its
/// input quantization) through core's integer network; its i32 outputs must equal the
/// host's exactly.
/// Buffers of the int8 path.
pub struct Int8Buffers {
    /// At least the model's `scratch_len()` words.
    pub scratch: &'static mut [u32],
    /// The digit's int8 input (word-aligned: the core then reads four values at a time).
    pub input: &'static mut [i8],
    pub out: &'static mut [i32],
}

pub fn run_int8(
    meter: &Meter,
    blob: &Blob<'static>,
    comparable: bool,
    b: &mut Int8Buffers,
) -> Option<Tally> {
    let net = Int8Network::new(blob)
        .map_err(|e| hprintln!("error: {e}"))
        .ok()?;
    let scaling = if bundle::RAW_FEATURES {
        let Some(s) = crate::features::Scaling::of(blob) else {
            hprintln!("error: raw feature rows, but the model stores no input scaling for them");
            return None;
        };
        Some(s)
    } else {
        None
    };
    if scaling.is_none() && net.input_params() != microdense::int8::PIXEL_INPUT {
        hprintln!("error: the int8 model's input is not quantized as pixel - 128 (scale 1/255)");
        return None;
    }
    let needed = net.scratch_len();
    if needed > b.scratch.len() {
        hprintln!(
            "error: the int8 model needs {needed} scratch words, this firmware has {} (board::MAX_UNITS)",
            b.scratch.len()
        );
        return None;
    }
    hprintln!("digit  label  firmware  host  outputs");
    let mut tally = Tally::default();
    let mut raw = [0.0f32; crate::features::WIDTH];
    for i in 0..bundle::TEST_COUNT {
        if bundle::RAW_FEATURES {
            // The stored scaling folded into the input quantization (core's quantize_raw).
            crate::features::test_row(i, &mut raw);
            if let Err(e) = net.quantize_raw(&scaling.as_ref()?.view(), &raw, b.input) {
                hprintln!("error: row {i}: {e}");
                return None;
            }
        } else {
            microdense::int8::pixels_to_int8(bundle::test_image(i), b.input);
        }
        let start = meter.now();
        if let Err(e) = net.logits(b.input, b.scratch, b.out) {
            hprintln!("error: digit {i}: {e}");
            return None;
        }
        tally.cost(meter.since(start));
        let y = &*b.out;
        let label = usize::from(bundle::TEST_LABELS[i]);
        let mine = argmax_i32(y);
        tally.right += usize::from(mine == label);
        if comparable {
            let mut host = [0i32; bundle::CLASSES];
            let mut worst = 0u32;
            for (k, h) in host.iter_mut().enumerate() {
                *h = bundle::host_int8_logit(i, k).unwrap_or(i32::MIN);
                worst = worst.max(y[k].abs_diff(*h));
            }
            let host_says = argmax_i32(&host);
            tally.host_right += usize::from(host_says == label);
            tally.identical += usize::from(worst == 0);
            if worst == 0 {
                hprintln!("{i:5}  {label:5}  {mine:8}  {host_says:4}  identical");
            } else {
                hprintln!("{i:5}  {label:5}  {mine:8}  {host_says:4}  differ by up to {worst}");
            }
        } else {
            hprintln!("{i:5}  {label:5}  {mine:8}     -  -");
        }
    }
    Some(tally)
}

/// Accuracy, agreement with the host, cost per inference, RAM; returns the verdict
/// (every logit identical, or no host logits to compare with).
pub fn report(meter: &Meter, t: &Topology, tally: &Tally, comparable: bool) -> bool {
    let n = bundle::TEST_COUNT;
    hprintln!(
        "accuracy: firmware {}/{n} ({})",
        tally.right,
        Percent(tally.right, n)
    );
    if comparable {
        hprintln!(
            "accuracy: host     {}/{n} ({})",
            tally.host_right,
            Percent(tally.host_right, n)
        );
        hprintln!(
            "logits bit-identical to the host's: {}/{n} digits",
            tally.identical
        );
    }
    let mean = tally.total / n.max(1) as u64;
    // Per multiply-add of the dense layers as written; the core may skip some (zero
    // inputs), so this is the cost per nominal multiply-add.
    hprintln!(
        "cost per inference: {mean} {unit} (min {}, max {}), {} {unit} per multiply-add ({} per inference)",
        tally.least,
        tally.most,
        Ratio(mean, t.macs() as u64),
        t.macs(),
        unit = meter.unit()
    );
    ram::report();
    let ok = !comparable || tally.identical == n;
    hprintln!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    ok
}
