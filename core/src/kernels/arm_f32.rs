//! The 16-wide accumulation for Cortex-M4F-class FPUs in assembly: the compiler loads
//! the weights one register at a time, while `vldm` loads eight in one instruction.
//! `vmla` rounds the product before adding (it is not fused), so the sums are bit for bit
//! those of the portable loop; the firmware's parity check with the host proves it.
use core::arch::asm;

/// As `dense::accumulate` with W = 16 (same contract).
#[inline(always)]
pub(crate) fn accumulate16(
    out: &mut [f32],
    rows: &[f32],
    units: usize,
    values: &[f32],
    found: &[u8],
) {
    let n = values.len().min(found.len());
    if n == 0 {
        return;
    }
    debug_assert!(out.len() >= 16);
    // SAFETY: reads 16 floats from `out`, `n` entries of `values` and `found`, and the
    // rows they name (in bounds per the caller's contract); writes the 16 sums back.
    // Every register it changes is declared.
    unsafe {
        asm!(
            "vldmia {acc}, {{s0-s15}}",
            "2:",
            "ldrb {k}, [{found}], #1",
            "vldmia {vals}!, {{s16}}",
            "mla {p}, {k}, {stride}, {rows}",
            "vldmia {p}!, {{s24-s31}}",
            "vmla.f32 s0, s16, s24",
            "vmla.f32 s1, s16, s25",
            "vmla.f32 s2, s16, s26",
            "vmla.f32 s3, s16, s27",
            "vmla.f32 s4, s16, s28",
            "vmla.f32 s5, s16, s29",
            "vmla.f32 s6, s16, s30",
            "vmla.f32 s7, s16, s31",
            "vldmia {p}, {{s24-s31}}",
            "vmla.f32 s8, s16, s24",
            "vmla.f32 s9, s16, s25",
            "vmla.f32 s10, s16, s26",
            "vmla.f32 s11, s16, s27",
            "vmla.f32 s12, s16, s28",
            "vmla.f32 s13, s16, s29",
            "vmla.f32 s14, s16, s30",
            "vmla.f32 s15, s16, s31",
            "subs {n}, {n}, #1",
            "bne 2b",
            "vstmia {acc}, {{s0-s15}}",
            acc = in(reg) out.as_mut_ptr(),
            rows = in(reg) rows.as_ptr(),
            stride = in(reg) units * 4,
            vals = inout(reg) values.as_ptr() => _,
            found = inout(reg) found.as_ptr() => _,
            n = inout(reg) n => _,
            k = out(reg) _,
            p = out(reg) _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d4") _, out("d5") _, out("d6") _, out("d7") _,
            out("d8") _, out("d12") _, out("d13") _, out("d14") _, out("d15") _,
            options(nostack),
        );
    }
}

/// As `dense::accumulate` with W = 8 (same contract): a narrow rest such as 10 classes.
#[inline(always)]
pub(crate) fn accumulate8(
    out: &mut [f32],
    rows: &[f32],
    units: usize,
    values: &[f32],
    found: &[u8],
) {
    let n = values.len().min(found.len());
    if n == 0 {
        return;
    }
    debug_assert!(out.len() >= 8);
    // SAFETY: as in `accumulate16`, with 8 floats.
    unsafe {
        asm!(
            "vldmia {acc}, {{s0-s7}}",
            "2:",
            "ldrb {k}, [{found}], #1",
            "vldmia {vals}!, {{s16}}",
            "mla {p}, {k}, {stride}, {rows}",
            "vldmia {p}, {{s24-s31}}",
            "vmla.f32 s0, s16, s24",
            "vmla.f32 s1, s16, s25",
            "vmla.f32 s2, s16, s26",
            "vmla.f32 s3, s16, s27",
            "vmla.f32 s4, s16, s28",
            "vmla.f32 s5, s16, s29",
            "vmla.f32 s6, s16, s30",
            "vmla.f32 s7, s16, s31",
            "subs {n}, {n}, #1",
            "bne 2b",
            "vstmia {acc}, {{s0-s7}}",
            acc = in(reg) out.as_mut_ptr(),
            rows = in(reg) rows.as_ptr(),
            stride = in(reg) units * 4,
            vals = inout(reg) values.as_ptr() => _,
            found = inout(reg) found.as_ptr() => _,
            n = inout(reg) n => _,
            k = out(reg) _,
            p = out(reg) _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d8") _, out("d12") _, out("d13") _, out("d14") _, out("d15") _,
            options(nostack),
        );
    }
}
