//! microdense on a Cortex-M: what the `demo` and `train` programs share.
//!
//! Output goes to the host over semihosting; [`exit`] ends the qemu run with the
//! program's verdict as its exit code (a panic prints and exits 1, see panic-semihosting).
#![no_std]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod board;
pub mod meter;
pub mod ram;
pub mod weights;

/// The firmware bundle, embedded by build.rs (see there and host/src/bundle.rs).
pub mod bundle {
    include!(concat!(env!("OUT_DIR"), "/bundle.rs"));

    /// Pixels of test digit `i` (full resolution, the model's input).
    pub fn test_image(i: usize) -> &'static [u8] {
        TEST_IMAGES.get(i * PIXELS..(i + 1) * PIXELS).unwrap_or(&[])
    }

    /// The host's logit `k` for test digit `i` (NaN when out of range).
    pub fn host_logit(i: usize, k: usize) -> f32 {
        let at = 4 * (i * CLASSES + k);
        match HOST_LOGITS.get(at..at + 4) {
            Some(b) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            None => f32::NAN,
        }
    }
}

// Re-exported so the binaries print through one path.
pub use cortex_m_semihosting::hprintln;

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

/// Ends the program: qemu exits 0 when `ok`, 1 otherwise.
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

/// A fault (a bad address, say) ends the run with exit code 1 instead of hanging qemu
/// until its timeout.
#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    hprintln!("hard fault at pc {:#010x}", frame.pc());
    exit(false)
}

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
