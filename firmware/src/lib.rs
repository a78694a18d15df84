//! microdense on a Cortex-M: what the `demo` and `train` programs share.
//!
//! Output goes to the host over semihosting; [`exit`] ends the qemu run with the
//! program's verdict as its exit code (a panic prints and exits 1, see panic-semihosting).
#![no_std]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod board;
pub mod features;
pub mod flash;
pub mod inference;
pub mod keep;
pub mod meter;
pub mod out;
pub mod ram;
pub mod report;
pub mod weights;

/// The firmware bundle (layout: core's `microdense::bundle`), embedded by build.rs, which
/// generates these items into OUT_DIR/bundle.rs, included here:
///
/// - `BOARD: &str`: the board this build is for (its folder under boards/);
/// - `ROWS`, `COLS`, `PIXELS` (= ROWS·COLS, the model's input), `CLASSES` (its outputs):
///   the test digits' shape;
/// - `TEST_COUNT`: test digits, each with the host's logits; `TRAIN_COUNT`: training
///   digits;
/// - `TRAIN_ROWS`, `TRAIN_COLS`, `TRAIN_PIXELS`: a training (and held-out) digit on this
///   board, pooled per board.toml's `train.pool`;
/// - `MODEL_LEN` and `MODEL: Aligned<[u8; MODEL_LEN]>`: the compiled-in model blob
///   (link section `.model`);
/// - `TEST_IMAGES: [u8; TEST_COUNT * PIXELS]`, `TEST_LABELS: [u8; TEST_COUNT]`,
///   `HOST_LOGITS: [u8; TEST_COUNT * CLASSES * 4]` (little-endian f32 for an f32 model,
///   i32 for an int8 one), `TRAIN_IMAGES: [u8; TRAIN_COUNT * TRAIN_PIXELS]`,
///   `TRAIN_LABELS: [u8; TRAIN_COUNT]`, `HELDOUT_IMAGES: &[u8; TEST_COUNT * TRAIN_PIXELS]`
///   (the test digits at training resolution), all in `.digits.*` link sections;
/// - `TEST_IMAGES_RLE` and `TEST_IMAGES_RLE_AT: [u32; TEST_COUNT + 1]`: the test digits
///   run-length coded, and where each digit's code starts (see [`bundle::test_image_int8`]);
/// - `RAW_FEATURES: bool` and `TEST_FEATURES`: whether the bundle is a raw-feature one (a
///   CSV model's, version 2) and its test rows, `PIXELS` little-endian f32 each (empty in
///   a pixel bundle, whose `TEST_IMAGES` are then the digits; in a raw-feature bundle they
///   are blank and `TRAIN_COUNT` is 0). See [`features`].
pub mod bundle {
    include!(concat!(env!("OUT_DIR"), "/bundle.rs"));

    /// Pixels of test digit `i` (full resolution, the model's input).
    pub fn test_image(i: usize) -> &'static [u8] {
        TEST_IMAGES.get(i * PIXELS..(i + 1) * PIXELS).unwrap_or(&[])
    }

    /// Test digit `i` as an int8 model's input (`pixel − 128`), decoded from the
    /// run-length coded copy (`TEST_IMAGES_RLE`; `demo-int8` uses it to save flash).
    pub fn test_image_int8(i: usize, out: &mut [i8]) {
        let (start, end) = match (TEST_IMAGES_RLE_AT.get(i), TEST_IMAGES_RLE_AT.get(i + 1)) {
            (Some(&s), Some(&e)) => (s as usize, e as usize),
            _ => (0, 0),
        };
        let mut code = TEST_IMAGES_RLE.get(start..end).unwrap_or(&[]).iter();
        let mut pixels = out.iter_mut();
        while let (Some(&zeros), Some(&n)) = (code.next(), code.next()) {
            for q in pixels.by_ref().take(usize::from(zeros)) {
                *q = -128;
            }
            // The code first: zip stops on it without taking another pixel.
            for (&p, q) in code.by_ref().take(usize::from(n)).zip(pixels.by_ref()) {
                *q = (p ^ 0x80) as i8;
            }
        }
        for q in pixels {
            *q = -128;
        }
    }

    /// The host's logit `k` for test digit `i` (NaN when out of range), for an f32 model.
    pub fn host_logit(i: usize, k: usize) -> f32 {
        f32::from_bits(host_word(i, k).unwrap_or(f32::NAN.to_bits()))
    }

    /// The host's i32 output `k` for test digit `i`, for an int8 model (`None` out of
    /// range).
    pub fn host_int8_logit(i: usize, k: usize) -> Option<i32> {
        host_word(i, k).map(|w| w as i32)
    }

    fn host_word(i: usize, k: usize) -> Option<u32> {
        let at = 4 * (i * CLASSES + k);
        HOST_LOGITS
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

// Re-exported so the binaries print through one path.
#[cfg(all(target_arch = "arm", not(feature = "rtt")))]
pub use cortex_m_semihosting::hprintln;
/// `hprintln!` over RTT: a line on channel 0 (`format_args!`, so names in the string
/// work as with semihosting's).
#[cfg(feature = "rtt")]
#[macro_export]
macro_rules! hprintln {
    ($($arg:tt)*) => {
        $crate::rtt_line(format_args!($($arg)*))
    };
}

/// One line to RTT channel 0 (for [`hprintln!`]).
#[cfg(feature = "rtt")]
pub fn rtt_line(args: core::fmt::Arguments) {
    rtt_target::print_impl::write_fmt(0, args);
    rtt_target::print_impl::write_str(0, "\n");
}

/// First thing in every program's `main`: the RTT channel (feature `rtt`), and the stack
/// painted where the start-up code does not ([`ram::paint`]).
#[inline(always)]
pub fn start() {
    #[cfg(feature = "rtt")]
    rtt_target::rtt_init_print!(rtt_target::ChannelMode::BlockIfFull);
    ram::paint();
}
#[cfg(target_arch = "riscv32")]
pub use semihosting::println as hprintln;

/// A `&'static mut` to a buffer in a `static` of its own, for a program's `main` (which
/// runs once and takes each buffer once): `buffer!([f32; 8] = [0.0; 8])`.
#[macro_export]
macro_rules! buffer {
    ($ty:ty = $init:expr) => {{
        static mut BUFFER: $ty = $init;
        // SAFETY: `main` runs once, and this is its only reference to BUFFER.
        unsafe { &mut *core::ptr::addr_of_mut!(BUFFER) }
    }};
}

/// Scratch words for any int8 model the demos take: layer inputs up to the digit size or
/// the widest layer, layers up to `board::MAX_UNITS`.
pub const INT8_SCRATCH: usize = microdense::sizes::int8_scratch_bound(
    if bundle::PIXELS > board::MAX_UNITS {
        bundle::PIXELS
    } else {
        board::MAX_UNITS
    },
    board::MAX_UNITS,
);

/// Data whose start is 32-byte aligned: `include_bytes!` alone guarantees nothing, and
/// the core uses a blob's parameters in place only when they are 4-byte aligned.
#[repr(C, align(32))]
pub struct Aligned<T: ?Sized>(pub T);

/// A digit's pixels as network input, exactly as the host does it: `pixel / 255.0`.
pub fn to_input(pixels: &[u8], x: &mut [f32]) {
    for (x, &p) in x.iter_mut().zip(pixels) {
        *x = f32::from(p) / 255.0;
    }
}

/// Bytes of program flash in use: vector table, code, constants, the compiled-in model and
/// digits, and the initial values of `.data` (linker symbols from sections.x).
pub fn flash_used() -> usize {
    extern "C" {
        static _flash_origin: u8;
        static _flash_used_end: u8;
    }
    let (start, end) = (
        core::ptr::addr_of!(_flash_origin) as usize,
        core::ptr::addr_of!(_flash_used_end) as usize,
    );
    end - start
}

/// Ends the program: qemu exits 0 when `ok`, 1 otherwise.
#[cfg(target_arch = "riscv32")]
pub fn exit(ok: bool) -> ! {
    semihosting::process::exit(if ok { 0 } else { 1 })
}

/// Ends the program over RTT: nothing to exit to, so it waits (the verdict is printed).
#[cfg(feature = "rtt")]
pub fn exit(_ok: bool) -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

/// A panic over RTT: its message, then [`exit`].
#[cfg(feature = "rtt")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("{info}");
    exit(false)
}

/// Ends the program: qemu exits 0 when `ok`, 1 otherwise.
#[cfg(all(target_arch = "arm", not(feature = "rtt")))]
pub fn exit(ok: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Without a debugger attached (real hardware run standalone) there is nothing to exit to.
    loop {
        cortex_m::asm::wfi();
    }
}

/// The interrupt part of the vector table (cortex-m-rt's "device" feature): the board's
/// interrupt lines, none of which the programs enable, all to the default handler.
#[cfg(target_arch = "arm")]
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
pub static __INTERRUPTS: [unsafe extern "C" fn(); board::IRQS] = {
    extern "C" {
        fn DefaultHandler();
    }
    [DefaultHandler; board::IRQS]
};

/// A fault (a bad address, say) ends the run with exit code 1 instead of hanging qemu
/// until its timeout.
#[cfg(target_arch = "arm")]
#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    // Without core::fmt, which a small program may not otherwise link.
    out::Line::new()
        .s("hard fault at pc ")
        .hex(frame.pc())
        .end();
    exit(false)
}

/// An exception (a bad address, an illegal instruction) ends the run with exit code 1.
#[cfg(target_arch = "riscv32")]
#[export_name = "ExceptionHandler"]
fn exception(_: &riscv_rt::TrapFrame) -> ! {
    out::Line::new()
        .s("exception at pc ")
        .hex(riscv::register::mepc::read() as u32)
        .end();
    exit(false)
}

/// The RP2040's second-stage bootloader, which the boot ROM runs from the first 256 bytes
/// of flash (boards/pico/memory.x places `.boot2` there).
#[cfg(feature = "rp2040-boot2")]
#[link_section = ".boot2"]
#[used]
static BOOT2: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// `a / b` as a percentage with one decimal, for printing without floats.
pub struct Percent(pub usize, pub usize);

impl core::fmt::Display for Percent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let tenths = (self.0 * 1000 + self.1 / 2) / self.1.max(1);
        write!(f, "{}.{}%", tenths / 10, tenths % 10)
    }
}

/// A byte count in KiB with one decimal.
pub struct KiB(pub usize);

impl core::fmt::Display for KiB {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let tenths = (self.0 * 10 + 512) / 1024;
        write!(f, "{}.{} KiB", tenths / 10, tenths % 10)
    }
}
