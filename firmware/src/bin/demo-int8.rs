//! The int8 demo on its own: `demo`'s int8 path without the f32 one and without
//! `core::fmt` (it prints through `out`), for boards with little flash. Runs the int8
//! model (the WEIGHTS region's when valid, else the compiled-in one) on every bundled
//! digit and checks its i32 outputs against the host's; prints the same table and summary
//! as `demo`, plus the flash in use. With the tutorial's network (784-32-256-10, 37.7 KiB
//! in int8) and a couple of digits the whole program fits the LM3S6965 in 48 KiB of
//! flash and 8 KiB of RAM. Exits 0 when every output equals the host's (or it ran a model
//! the bundle has no outputs for), 1 otherwise, an f32 model included.
#![no_std]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![no_main]

use microdense::{int8::argmax_i32, int8::Int8Network, int8::PIXEL_INPUT, Blob, ElementType};
use microdense_firmware::features::{self, Scaling};
use microdense_firmware::meter::{self, Meter};
use microdense_firmware::out::Line;
use microdense_firmware::weights;
use microdense_firmware::{board, buffer, bundle, exit, flash_used, ram, Aligned, INT8_SCRATCH};

struct Buffers {
    scratch: &'static mut [u32],
    /// Word-aligned: the core then reads the input four values at a time.
    input: &'static mut [i8],
    out: &'static mut [i32],
}

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    microdense_firmware::start();
    let b = Buffers {
        scratch: buffer!([u32; INT8_SCRATCH] = [0; INT8_SCRATCH]),
        input: &mut buffer!(Aligned<[i8; bundle::PIXELS]> = Aligned([0; bundle::PIXELS])).0,
        out: buffer!([i32; bundle::CLASSES] = [0; bundle::CLASSES]),
    };
    let ok = match meter::take() {
        Some(m) => run(&m, b),
        None => false,
    };
    exit(ok)
}

/// No `core::fmt` here either: a panic (there is none in the core) says so and exits 1.
/// (On RISC-V the `semihosting` crate's handler prints it.)
#[cfg(all(target_arch = "arm", not(feature = "rtt")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    Line::new().s("panic").end();
    exit(false)
}

fn error(what: &str) -> bool {
    Line::new().s("error: ").s(what).end();
    false
}

/// The WEIGHTS region's model when one was written there, else the compiled-in one, and
/// whether the bundle's host outputs are for it (one parse either way: flash is short).
fn choose_model() -> Option<(Blob<'static>, bool)> {
    let region = weights::region();
    let erased = region.iter().all(|&b| b == 0xFF || b == 0);
    let compiled: &'static [u8] = &bundle::MODEL.0;
    let bytes = if erased { compiled } else { region };
    let mut l = Line::new();
    l.s("WEIGHTS region ")
        .hex(weights::address() as u32)
        .s(" (")
        .kib(region.len())
        .s("): ");
    let Ok(blob) = Blob::parse(bytes) else {
        l.s(if erased {
            "erased; the compiled-in model is invalid"
        } else {
            "holds an invalid model"
        })
        .end();
        return None;
    };
    // The same model as the compiled-in one: the same bytes over the blob's length.
    let same = erased
        || (blob.len() == compiled.len() && region.iter().zip(compiled).all(|(a, b)| a == b));
    l.s(if erased {
        "erased, using the compiled-in model"
    } else if same {
        "valid blob, using it (same as the compiled-in model)"
    } else {
        "valid blob, using it instead of the compiled-in model"
    })
    .end();
    Some((blob, same))
}

fn run(meter: &Meter, b: Buffers) -> bool {
    Line::new()
        .s("microdense int8 demo on ")
        .s(board::NAME)
        .end();
    Line::new().s("cost meter: ").s(meter.unit()).end();
    let Some((blob, comparable)) = choose_model() else {
        return false;
    };
    let t = blob.topology();
    let mut l = Line::new();
    l.s("model: ").u(t.input() as u32);
    for layer in t.layers() {
        l.s("-").u(layer.units as u32);
    }
    l.s(", ")
        .s(blob.element_type().name())
        .s(", ")
        .u(t.macs() as u32)
        .s(" multiply-adds per inference")
        .end();
    if blob.element_type() != ElementType::Int8 {
        return error("not an int8 model");
    }
    if t.input() != bundle::PIXELS || t.outputs() != bundle::CLASSES {
        return error("model and digits differ in size");
    }
    let Ok(net) = Int8Network::new(&blob) else {
        return error("not an int8 model");
    };
    // Raw feature rows: the model's stored scaling, folded into the input quantization.
    let scaling = if bundle::RAW_FEATURES {
        match Scaling::of(&blob) {
            Some(s) => Some(s),
            None => return error("raw feature rows, but the model stores no input scaling"),
        }
    } else {
        None
    };
    let input = net.input_params();
    let pixels = input.scale.to_bits() == PIXEL_INPUT.scale.to_bits()
        && input.zero_point == PIXEL_INPUT.zero_point;
    if !(pixels || scaling.is_some()) || net.scratch_len() > b.scratch.len() {
        return error("input not pixel - 128, or model too wide");
    }
    let n = bundle::TEST_COUNT;
    if n == 0 {
        return error("no test digits");
    }
    if !comparable {
        Line::new()
            .s("host outputs are for the compiled-in model: predictions only")
            .end();
    }
    Line::new()
        .s("flash: ")
        .kib(flash_used())
        .s(" in use (code, model and digits)")
        .end();

    Line::new().s("digit  label  firmware  host  outputs").end();
    let (mut right, mut host_right, mut identical) = (0u32, 0u32, 0u32);
    let (mut total, mut least, mut most) = (0u32, u32::MAX, 0u32);
    let mut raw = [0.0f32; features::WIDTH];
    for i in 0..n {
        // On the constant, so that a build links only its own kind of test input.
        if bundle::RAW_FEATURES {
            let Some(s) = &scaling else {
                return error("no input scaling");
            };
            features::test_row(i, &mut raw);
            if net.quantize_raw(&s.view(), &raw, b.input).is_err() {
                return error("row scaling");
            }
        } else {
            bundle::test_image_int8(i, b.input);
        }
        let start = meter.now();
        if net.logits(b.input, b.scratch, b.out).is_err() {
            return error("inference");
        }
        let cost = meter.since(start) as u32;
        (total, least, most) = (total + cost, least.min(cost), most.max(cost));
        let label = usize::from(bundle::TEST_LABELS[i]);
        let mine = argmax_i32(b.out);
        right += u32::from(mine == label);
        let mut l = Line::new();
        l.n(i as u32, 5).n(label as u32, 7).n(mine as u32, 10);
        if comparable {
            let mut host = [0i32; bundle::CLASSES];
            let mut same = true;
            for (k, h) in host.iter_mut().enumerate() {
                *h = bundle::host_int8_logit(i, k).unwrap_or(i32::MIN);
                same &= b.out[k] == *h;
            }
            let host_says = argmax_i32(&host);
            host_right += u32::from(host_says == label);
            identical += u32::from(same);
            l.n(host_says as u32, 6)
                .s(if same { "  identical" } else { "  differ" });
        } else {
            l.s("     -  -");
        }
        l.end();
    }

    let n = n as u32;
    Line::new()
        .s("accuracy: firmware ")
        .u(right)
        .s("/")
        .u(n)
        .s(" (")
        .ratio(right * 100, n, 1)
        .s("%)")
        .end();
    if comparable {
        Line::new()
            .s("accuracy: host     ")
            .u(host_right)
            .s("/")
            .u(n)
            .s(" (")
            .ratio(host_right * 100, n, 1)
            .s("%)")
            .end();
        Line::new()
            .s("logits bit-identical to the host's: ")
            .u(identical)
            .s("/")
            .u(n)
            .s(" digits")
            .end();
    }
    let (mean, macs) = (total / n, t.macs() as u32);
    Line::new()
        .s("cost per inference: ")
        .u(mean)
        .s(" ")
        .s(meter.unit())
        .s(" (min ")
        .u(least)
        .s(", max ")
        .u(most)
        .s("), ")
        .ratio(mean, macs, 2)
        .s(" ")
        .s(meter.unit())
        .s(" per multiply-add (")
        .u(macs)
        .s(" per inference)")
        .end();
    Line::new()
        .s("RAM: ")
        .kib(ram::statics() + ram::stack_peak())
        .s(" of ")
        .kib(ram::total())
        .s(": statics ")
        .kib(ram::statics())
        .s(", stack peak ")
        .kib(ram::stack_peak())
        .end();
    let ok = !comparable || identical == n;
    Line::new()
        .s("verdict: ")
        .s(if ok { "PASS" } else { "FAIL" })
        .end();
    ok
}
