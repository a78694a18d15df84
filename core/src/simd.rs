//! Runtime choice of the x86-64 AVX2 build of the hot loops, so one portable binary still
//! uses the wide registers where the CPU has them. The AVX2 copies compile the very same
//! loop bodies; Rust never fuses a multiply and an add on its own, so both copies compute
//! bit-identical results (and so do a Cortex-M and a PC).

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
                if $crate::simd::avx2() {
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
