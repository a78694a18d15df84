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

/// As `dense::accumulate` with W = 2 (same contract): the last two of 10 classes, which
/// the compiled loop would take one column per pass.
#[inline(always)]
pub(crate) fn accumulate2(
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
    debug_assert!(out.len() >= 2);
    // SAFETY: as in `accumulate16`, with 2 floats.
    unsafe {
        asm!(
            "vldmia {acc}, {{s0-s1}}",
            "2:",
            "ldrb {k}, [{found}], #1",
            "vldmia {vals}!, {{s16}}",
            "mla {p}, {k}, {stride}, {rows}",
            "vldmia {p}, {{s24-s25}}",
            "vmla.f32 s0, s16, s24",
            "vmla.f32 s1, s16, s25",
            "subs {n}, {n}, #1",
            "bne 2b",
            "vstmia {acc}, {{s0-s1}}",
            acc = in(reg) out.as_mut_ptr(),
            rows = in(reg) rows.as_ptr(),
            stride = in(reg) units * 4,
            vals = inout(reg) values.as_ptr() => _,
            found = inout(reg) found.as_ptr() => _,
            n = inout(reg) n => _,
            k = out(reg) _,
            p = out(reg) _,
            out("d0") _, out("d8") _, out("d12") _,
            options(nostack),
        );
    }
}

/// Where the gradient sums start: +0.0, as the portable loop's.
static ZEROS: [f32; 16] = [0.0; 16];

/// Plain SGD (no momentum) on one row of a layer's weights, straight from the batch:
/// for each block of 16 columns (then one of 8) while that many are left, the gradient
/// `g = Σ_n values[n]·deltas[found[n]·units + column..]` summed in order from +0.0 (as
/// `sum_block`), then `w ← w − lr·(g + λ·w)` operation by operation as `Sgd::update`
/// computes it (`vmla`/`vmls` round the product before the sum, as the compiled
/// portable loops do). Returns the columns done; the caller does the rest. `row` is the
/// row's `units` weights, `deltas` the batch's deltas, `units` each.
///
/// # Safety
/// Every sample listed in `found` has its `units` deltas inside `deltas`.
pub(crate) unsafe fn sgd_row(
    row: &mut [f32],
    deltas: &[f32],
    units: usize,
    values: &[f32],
    found: &[u8],
    lr: f32,
    weight_decay: f32,
) -> usize {
    let n = values.len().min(found.len());
    debug_assert!(found
        .iter()
        .all(|&s| (usize::from(s) + 1) * units <= deltas.len()));
    if row.len() < units {
        return 0;
    }
    let mut column = 0;
    while units - column >= 8 {
        let wide = units - column >= 16;
        let w = row[column..].as_mut_ptr();
        let d = deltas[column..].as_ptr();
        // SAFETY: the row has `units` floats, so 16 (8) from `column` are in it; every
        // listed sample's deltas lie inside `deltas` (the caller's contract), 16 (8) of
        // them from `column`; `n` entries of `values` and `found` are read. Every
        // register it changes is declared.
        unsafe {
            if wide {
                asm!(
                        "vldmia {z}, {{s0-s15}}",
                        "cmp {n}, #0",
                        "beq 3f",
                        "2:",
                        "ldrb {k}, [{found}], #1",
                        "vldmia {vals}!, {{s16}}",
                        "mla {p}, {k}, {stride}, {d}",
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
                        "3:",
                        "vmov s24, {wd}",
                        "vmov s25, {lr}",
                        "vldmia {w}, {{s16-s23}}",
                "vmla.f32 s0, s24, s16",
                "vmla.f32 s1, s24, s17",
                "vmla.f32 s2, s24, s18",
                "vmla.f32 s3, s24, s19",
                "vmla.f32 s4, s24, s20",
                "vmla.f32 s5, s24, s21",
                "vmla.f32 s6, s24, s22",
                "vmla.f32 s7, s24, s23",
                "vmls.f32 s16, s25, s0",
                "vmls.f32 s17, s25, s1",
                "vmls.f32 s18, s25, s2",
                "vmls.f32 s19, s25, s3",
                "vmls.f32 s20, s25, s4",
                "vmls.f32 s21, s25, s5",
                "vmls.f32 s22, s25, s6",
                "vmls.f32 s23, s25, s7",
                        "vstmia {w}!, {{s16-s23}}",
                        "vldmia {w}, {{s16-s23}}",
                "vmla.f32 s8, s24, s16",
                "vmla.f32 s9, s24, s17",
                "vmla.f32 s10, s24, s18",
                "vmla.f32 s11, s24, s19",
                "vmla.f32 s12, s24, s20",
                "vmla.f32 s13, s24, s21",
                "vmla.f32 s14, s24, s22",
                "vmla.f32 s15, s24, s23",
                "vmls.f32 s16, s25, s8",
                "vmls.f32 s17, s25, s9",
                "vmls.f32 s18, s25, s10",
                "vmls.f32 s19, s25, s11",
                "vmls.f32 s20, s25, s12",
                "vmls.f32 s21, s25, s13",
                "vmls.f32 s22, s25, s14",
                "vmls.f32 s23, s25, s15",
                        "vstmia {w}, {{s16-s23}}",
                        z = in(reg) ZEROS.as_ptr(),
                        w = inout(reg) w => _,
                        d = in(reg) d,
                        stride = in(reg) units * 4,
                        vals = inout(reg) values.as_ptr() => _,
                        found = inout(reg) found.as_ptr() => _,
                        n = inout(reg) n => _,
                        k = out(reg) _,
                        p = out(reg) _,
                        wd = in(reg) weight_decay.to_bits(),
                        lr = in(reg) lr.to_bits(),
                        out("d0") _, out("d1") _, out("d2") _, out("d3") _,
                        out("d4") _, out("d5") _, out("d6") _, out("d7") _,
                        out("d8") _, out("d9") _, out("d10") _, out("d11") _,
                        out("d12") _, out("d13") _, out("d14") _, out("d15") _,
                        options(nostack),
                    );
            } else {
                asm!(
                        "vldmia {z}, {{s0-s7}}",
                        "cmp {n}, #0",
                        "beq 3f",
                        "2:",
                        "ldrb {k}, [{found}], #1",
                        "vldmia {vals}!, {{s16}}",
                        "mla {p}, {k}, {stride}, {d}",
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
                        "3:",
                        "vmov s24, {wd}",
                        "vmov s25, {lr}",
                        "vldmia {w}, {{s16-s23}}",
                "vmla.f32 s0, s24, s16",
                "vmla.f32 s1, s24, s17",
                "vmla.f32 s2, s24, s18",
                "vmla.f32 s3, s24, s19",
                "vmla.f32 s4, s24, s20",
                "vmla.f32 s5, s24, s21",
                "vmla.f32 s6, s24, s22",
                "vmla.f32 s7, s24, s23",
                "vmls.f32 s16, s25, s0",
                "vmls.f32 s17, s25, s1",
                "vmls.f32 s18, s25, s2",
                "vmls.f32 s19, s25, s3",
                "vmls.f32 s20, s25, s4",
                "vmls.f32 s21, s25, s5",
                "vmls.f32 s22, s25, s6",
                "vmls.f32 s23, s25, s7",
                        "vstmia {w}, {{s16-s23}}",
                        z = in(reg) ZEROS.as_ptr(),
                        w = in(reg) w,
                        d = in(reg) d,
                        stride = in(reg) units * 4,
                        vals = inout(reg) values.as_ptr() => _,
                        found = inout(reg) found.as_ptr() => _,
                        n = inout(reg) n => _,
                        k = out(reg) _,
                        p = out(reg) _,
                        wd = in(reg) weight_decay.to_bits(),
                        lr = in(reg) lr.to_bits(),
                        out("d0") _, out("d1") _, out("d2") _, out("d3") _,
                        out("d8") _, out("d9") _, out("d10") _, out("d11") _,
                        out("d12") _, out("d13") _, out("d14") _, out("d15") _,
                        options(nostack),
                    );
            }
        }
        column += if wide { 16 } else { 8 };
    }
    column
}

/// `sparse::dot` (the input gradient's `W[i] · d`) with the same association: eight lane
/// sums over whole chunks of eight, the tail summed apart from +0.0, then
/// `((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)) + tail`; `vldm` loads eight
/// floats of each side at once.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (chunks, rest) = (n / 8, n % 8);
    let sum: u32;
    // SAFETY: reads the first 8·chunks + rest = n floats of `a` and `b`. Every register
    // it changes is declared.
    unsafe {
        asm!(
            "vldmia {z}, {{s0-s8}}",
            "cmp {chunks}, #0",
            "beq 3f",
            "2:",
            "vldmia {a}!, {{s16-s23}}",
            "vldmia {b}!, {{s24-s31}}",
            "vmla.f32 s0, s16, s24",
            "vmla.f32 s1, s17, s25",
            "vmla.f32 s2, s18, s26",
            "vmla.f32 s3, s19, s27",
            "vmla.f32 s4, s20, s28",
            "vmla.f32 s5, s21, s29",
            "vmla.f32 s6, s22, s30",
            "vmla.f32 s7, s23, s31",
            "subs {chunks}, {chunks}, #1",
            "bne 2b",
            "3:",
            "cmp {rest}, #0",
            "beq 5f",
            "4:",
            "vldmia {a}!, {{s16}}",
            "vldmia {b}!, {{s24}}",
            "vmla.f32 s8, s16, s24",
            "subs {rest}, {rest}, #1",
            "bne 4b",
            "5:",
            "vadd.f32 s0, s0, s4",
            "vadd.f32 s1, s1, s5",
            "vadd.f32 s0, s0, s1",
            "vadd.f32 s2, s2, s6",
            "vadd.f32 s3, s3, s7",
            "vadd.f32 s2, s2, s3",
            "vadd.f32 s0, s0, s2",
            "vadd.f32 s0, s0, s8",
            "vmov {sum}, s0",
            z = in(reg) ZEROS.as_ptr(),
            a = inout(reg) a.as_ptr() => _,
            b = inout(reg) b.as_ptr() => _,
            chunks = inout(reg) chunks => _,
            rest = inout(reg) rest => _,
            sum = out(reg) sum,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _, out("d4") _,
            out("d8") _, out("d9") _, out("d10") _, out("d11") _,
            out("d12") _, out("d13") _, out("d14") _, out("d15") _,
            options(nostack, readonly),
        );
    }
    f32::from_bits(sum)
}
