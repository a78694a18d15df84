//! Counting the work a piece of code does.
//!
//! On a real chip the DWT cycle counter gives cycles. Under qemu it reads 0, and SysTick
//! is what counts: with `-icount shift=0` qemu advances its virtual clock 1 ns per
//! instruction (it counts instructions, not cycles), so SysTick ticks are proportional to
//! instructions. The ratio depends on the board's modelled clock, so it is calibrated
//! at start-up on a loop of known length (two instructions per iteration).
//!
//! On RISC-V the `minstret` counter counts retired instructions, on a chip as under qemu
//! (whose `-icount` makes it exact).
#[cfg(target_arch = "arm")]
use cortex_m::peripheral::{syst::SystClkSource, DCB, DWT, SYST};

/// SysTick's counter is 24 bits wide: one span must stay under 2^24 ticks (about 10^8
/// instructions at qemu's 168 MHz netduinoplus2 clock).
#[cfg(target_arch = "arm")]
const SYST_MASK: u32 = 0x00FF_FFFF;
/// Calibration loop lengths: the difference is 2 × 1,000,000 instructions.
#[cfg(target_arch = "arm")]
const SHORT: u32 = 1_000_000;
#[cfg(target_arch = "arm")]
const LONG: u32 = 2_000_000;

enum Source {
    /// Not on Armv6-M (Cortex-M0/M0+), which has no cycle counter.
    #[cfg(target_arch = "arm")]
    #[cfg_attr(armv6m, allow(dead_code))]
    Cycles,
    /// RISC-V's `minstret`.
    #[cfg(target_arch = "riscv32")]
    Retired,
    /// `ticks` SysTick ticks were measured for `instructions` instructions: `q8` is
    /// instructions per tick in 1/256ths (no 64-bit division needed afterwards; a small
    /// program saves the code of one).
    #[cfg(target_arch = "arm")]
    Instructions {
        ticks: u32,
        instructions: u32,
        q8: u32,
    },
}

pub struct Meter {
    source: Source,
}

/// Starts the DWT cycle counter; whether it runs (under qemu it reads 0).
#[cfg(all(target_arch = "arm", not(armv6m)))]
fn start_cycles(dcb: &mut DCB, dwt: &mut DWT) -> bool {
    dcb.enable_trace();
    if !DWT::has_cycle_counter() {
        return false;
    }
    dwt.enable_cycle_counter();
    let before = DWT::cycle_count();
    spin(100);
    DWT::cycle_count() != before
}

/// Armv6-M (Cortex-M0/M0+) has no cycle counter: `Source::Cycles` is never chosen.
#[cfg(all(target_arch = "arm", armv6m))]
fn start_cycles(_: &mut DCB, _: &mut DWT) -> bool {
    false
}

#[cfg(all(target_arch = "arm", not(armv6m)))]
fn cycles() -> u32 {
    DWT::cycle_count()
}

#[cfg(all(target_arch = "arm", armv6m))]
fn cycles() -> u32 {
    0
}

/// A reading to measure from.
#[derive(Clone, Copy)]
pub struct Stamp(u32);

/// Runs `n` (≥ 1) iterations of a two-instruction loop.
#[cfg(target_arch = "arm")]
#[inline(always)]
fn spin(n: u32) {
    // SAFETY: register-only loop, no memory or stack use.
    unsafe {
        core::arch::asm!(
            "1:",
            "subs {n}, {n}, #1",
            "bne 1b",
            n = inout(reg) n.max(1) => _,
            options(nomem, nostack),
        );
    }
}

/// The meter of this chip, once (the Cortex-M peripherals it takes are singletons).
#[cfg(target_arch = "arm")]
pub fn take() -> Option<Meter> {
    cortex_m::Peripherals::take().map(|p| Meter::new(p.SYST, p.DCB, p.DWT))
}

/// The meter of this chip: `minstret`.
#[cfg(target_arch = "riscv32")]
pub fn take() -> Option<Meter> {
    Some(Meter {
        source: Source::Retired,
    })
}

#[cfg(target_arch = "riscv32")]
fn retired() -> u32 {
    riscv::register::minstret::read() as u32
}

impl Meter {
    /// Starts the DWT cycle counter if it runs, else SysTick (free-running on the
    /// processor clock) with calibration.
    #[cfg(target_arch = "arm")]
    pub fn new(mut syst: SYST, mut dcb: DCB, mut dwt: DWT) -> Self {
        if start_cycles(&mut dcb, &mut dwt) {
            return Meter {
                source: Source::Cycles,
            };
        }
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(SYST_MASK);
        syst.clear_current();
        syst.enable_counter();
        let mut meter = Meter {
            source: Source::Instructions {
                ticks: 1,
                instructions: 1,
                q8: 256,
            },
        };
        let (short, long) = {
            let time = |n: u32| {
                let t = meter.now();
                spin(n);
                meter.ticks_since(t)
            };
            (time(SHORT), time(LONG))
        };
        let ticks = long.saturating_sub(short).max(1);
        let instructions = 2 * (LONG - SHORT); // 2,000,000: times 256 fits a u32
        meter.source = Source::Instructions {
            ticks,
            instructions,
            q8: (instructions * 256 + ticks / 2) / ticks,
        };
        meter
    }

    pub fn now(&self) -> Stamp {
        match self.source {
            #[cfg(target_arch = "riscv32")]
            Source::Retired => Stamp(retired()),
            #[cfg(target_arch = "arm")]
            Source::Cycles => Stamp(cycles()),
            #[cfg(target_arch = "arm")]
            Source::Instructions { .. } => Stamp(SYST::get_current()),
        }
    }

    fn ticks_since(&self, start: Stamp) -> u32 {
        match self.source {
            #[cfg(target_arch = "riscv32")]
            Source::Retired => retired().wrapping_sub(start.0),
            #[cfg(target_arch = "arm")]
            Source::Cycles => cycles().wrapping_sub(start.0),
            #[cfg(target_arch = "arm")]
            // SysTick counts down.
            Source::Instructions { .. } => start.0.wrapping_sub(SYST::get_current()) & SYST_MASK,
        }
    }

    /// Work since `start`, in [`Meter::unit`]s.
    pub fn since(&self, start: Stamp) -> u64 {
        let ticks = u64::from(self.ticks_since(start));
        match self.source {
            #[cfg(target_arch = "riscv32")]
            Source::Retired => ticks,
            #[cfg(target_arch = "arm")]
            Source::Cycles => ticks,
            #[cfg(target_arch = "arm")]
            Source::Instructions { q8, .. } => (ticks * u64::from(q8) + 128) >> 8,
        }
    }

    /// The [`Display`](core::fmt::Display) text, without `core::fmt`.
    pub fn describe(&self, line: &mut crate::out::Line) {
        match self.source {
            #[cfg(target_arch = "riscv32")]
            Source::Retired => line.s("minstret (instructions retired)"),
            #[cfg(target_arch = "arm")]
            Source::Cycles => line.s("DWT cycle counter"),
            #[cfg(target_arch = "arm")]
            Source::Instructions {
                ticks,
                instructions,
                ..
            } => line
                .s("SysTick under qemu -icount: ")
                .u(ticks)
                .s(" ticks per ")
                .u(instructions)
                .s(" instructions (calibrated; one tick = ")
                .ratio(instructions / 100, ticks / 100, 2)
                .s(" instructions)"),
        };
    }

    pub fn unit(&self) -> &'static str {
        match self.source {
            #[cfg(target_arch = "arm")]
            Source::Cycles => "cycles",
            #[cfg(target_arch = "arm")]
            Source::Instructions { .. } => "instructions",
            #[cfg(target_arch = "riscv32")]
            Source::Retired => "instructions",
        }
    }
}

/// How the figures are obtained, in one line.
impl core::fmt::Display for Meter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.source {
            #[cfg(target_arch = "riscv32")]
            Source::Retired => write!(f, "minstret (instructions retired)"),
            #[cfg(target_arch = "arm")]
            Source::Cycles => write!(f, "DWT cycle counter"),
            #[cfg(target_arch = "arm")]
            Source::Instructions {
                ticks,
                instructions,
                ..
            } => write!(
                f,
                "SysTick under qemu -icount: {ticks} ticks per {instructions} instructions \
                 (calibrated; one tick = {} instructions)",
                Ratio(u64::from(instructions), u64::from(ticks))
            ),
        }
    }
}

/// `a / b` with two decimals.
pub struct Ratio(pub u64, pub u64);

impl core::fmt::Display for Ratio {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let hundredths = (self.0 * 100 + self.1 / 2) / self.1.max(1);
        write!(f, "{}.{:02}", hundredths / 100, hundredths % 100)
    }
}
