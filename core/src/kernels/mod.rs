//! All hot loops of the core, beside the code that drives them: the f32 dense kernels
//! ([`dense`]: forward, gradients, backprop) with their Cortex-M4F assembly ([`arm_f32`]),
//! the non-zero gathering they share ([`sparse`]), and the int8 layer kernel ([`int8`])
//! with its assembly loops: Armv7E-M DSP (`arm_dsp`), Cortex-M3 (`arm_v7m`) and Cortex-M0
//! (`arm_v6m`), one per core and the same contract.
//! Network, training and int8 runtime code check lengths and call these.
//!
//! On x86-64 the f32 kernels are compiled twice (`multiversion!`): as is and with AVX2,
//! chosen at run time, so one portable binary still uses the wide registers where the CPU
//! has them. Both copies compile the very same loop bodies; Rust never fuses a multiply
//! and an add on its own, so both compute bit-identical results (and so do a Cortex-M and
//! a PC).

#[cfg(microdense_dsp)]
mod arm_dsp;
#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
mod arm_f32;
#[cfg(microdense_thumb2)]
mod arm_thumb2;
#[cfg(microdense_thumb1)]
mod arm_v6m;
#[cfg(microdense_thumb1)]
mod arm_v6m_gather;
#[cfg(microdense_thumb1)]
mod arm_v6m_requant;
#[cfg(all(microdense_thumb2, not(microdense_dsp)))]
mod arm_v7m;
pub(crate) mod dense;
pub(crate) mod int8;
#[cfg(microdense_thumb2)]
mod int8_thumb2;
pub(crate) mod sparse;
#[cfg(target_arch = "x86_64")]
mod x86_sparse;
#[cfg(all(test, target_arch = "x86_64"))]
mod x86_testing;
#[cfg(target_arch = "x86_64")]
mod x86_tiled;

/// Defines `fn name(args)` twice over the same body: as is, and compiled with AVX2, and
/// calls the AVX2 one when the CPU has it. Arguments are plain slices and numbers.
macro_rules! multiversion {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        pub(crate) fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn wide($($arg: $ty),*) {
                    body($($arg),*)
                }
                if $crate::kernels::avx2() {
                    // SAFETY: avx2() checked that the CPU and the OS support AVX2.
                    return unsafe { wide($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2() -> bool {
    use core::sync::atomic::{AtomicU8, Ordering};
    // 0: not yet checked, 1: absent, 2: present.
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let found = detect();
            STATE.store(if found { 2 } else { 1 }, Ordering::Relaxed);
            found
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
    // Miri cannot run CPUID (inline assembly): under it, the portable loops are checked.
    if cfg!(miri) {
        return false;
    }
    let basic = __cpuid(1);
    let (osxsave, avx) = (basic.ecx & (1 << 27) != 0, basic.ecx & (1 << 28) != 0);
    if !(osxsave && avx) {
        return false;
    }
    // SAFETY: OSXSAVE is set, so XGETBV exists. The OS must save the YMM state.
    let xcr0 = unsafe { _xgetbv(0) };
    xcr0 & 0b110 == 0b110 && __cpuid_count(7, 0).ebx & (1 << 5) != 0
}

/// Whether the wide (AVX2) loops are in use on this machine: for reports.
pub fn wide_loops() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx2()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The widest block of outputs kept in registers: eight AVX registers on x86-64 (enough
/// independent sums to hide the adder's latency), sixteen floats elsewhere (a Cortex-M4F
/// has 32 single-precision registers).
pub(crate) const WIDEST: usize = if cfg!(target_arch = "x86_64") { 64 } else { 16 };

/// The block width to use with `left` outputs to go: the widest that fits. On x86-64 a
/// narrow rest (such as 10 classes) is one exact-width block, so its sums run side by
/// side instead of in separate passes, each waiting on its own adder.
#[inline(always)]
pub(crate) fn block_width(left: usize) -> usize {
    match left {
        _ if left >= WIDEST => WIDEST,
        32.. if WIDEST >= 32 => 32,
        16.. => 16,
        _ if cfg!(target_arch = "x86_64") => left,
        8.. => 8,
        4.. => 4,
        // The Cortex-M4F has a two-column loop in assembly (the rest of 10 classes).
        2.. if cfg!(all(target_arch = "arm", target_abi = "eabihf")) => 2,
        _ => 1,
    }
}

/// `$f::<W>(args)` with the const `W` equal to `$width`, one of [`block_width`]'s values.
#[cfg(target_arch = "x86_64")]
macro_rules! with_width {
    ($width:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $width {
            64 => $f::<64>($($arg),*),
            32 => $f::<32>($($arg),*),
            16 => $f::<16>($($arg),*),
            15 => $f::<15>($($arg),*),
            14 => $f::<14>($($arg),*),
            13 => $f::<13>($($arg),*),
            12 => $f::<12>($($arg),*),
            11 => $f::<11>($($arg),*),
            10 => $f::<10>($($arg),*),
            9 => $f::<9>($($arg),*),
            8 => $f::<8>($($arg),*),
            7 => $f::<7>($($arg),*),
            6 => $f::<6>($($arg),*),
            5 => $f::<5>($($arg),*),
            4 => $f::<4>($($arg),*),
            3 => $f::<3>($($arg),*),
            2 => $f::<2>($($arg),*),
            _ => $f::<1>($($arg),*),
        }
    };
}

#[cfg(not(target_arch = "x86_64"))]
macro_rules! with_width {
    ($width:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $width {
            16 => $f::<16>($($arg),*),
            8 => $f::<8>($($arg),*),
            4 => $f::<4>($($arg),*),
            2 => $f::<2>($($arg),*),
            _ => $f::<1>($($arg),*),
        }
    };
}
pub(crate) use with_width;
