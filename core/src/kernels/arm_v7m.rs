//! The Cortex-M3 loop (Armv7-M without the DSP extension): no SMLAD, so two instructions
//! per multiply-add (LDRSB with an immediate offset, MLA), six accumulators in registers
//! over the whole list, where the compiler's loop spilled them.
use core::arch::asm;

/// Adds every listed pair's products into the first `width` accumulators (the even
/// columns' as `w + 128`: `kernels::int8::undo_offset` corrects them): six here
/// (the 4- and 2-wide rest of a layer takes the portable loop); false for other widths.
///
/// # Safety
/// The list contract of `kernels::int8::accumulate`.
#[inline(always)]
pub(crate) unsafe fn accumulate(
    base: *const u8,
    list: *const u32,
    width: usize,
    acc: &mut [i32; 6],
) -> bool {
    if width == 6 {
        six(base, list, acc);
    }
    width == 6
}

#[inline(always)]
unsafe fn six(base: *const u8, list: *const u32, acc: &mut [i32; 6]) {
    let [mut a0, mut a1, mut a2, mut a3, mut a4, mut a5] = *acc;
    asm!(
        "2:",
        "ldrd {x0}, {p}, [{list}], #8",
        "cmp {x0}, #0",
        "beq 3f",
        "add {p}, {base}, {p}",
        "asr {x1}, {x0}, #16",
        "sxth {x0}, {x0}",
        "ldrb {t}, [{p}]",
        "mla {a0}, {t}, {x0}, {a0}",
        "ldrb {t}, [{p}, #2]",
        "mla {a0}, {t}, {x1}, {a0}",
        "ldrsb {t}, [{p}, #1]",
        "mla {a1}, {t}, {x0}, {a1}",
        "ldrsb {t}, [{p}, #3]",
        "mla {a1}, {t}, {x1}, {a1}",
        "ldrb {t}, [{p}, #4]",
        "mla {a2}, {t}, {x0}, {a2}",
        "ldrb {t}, [{p}, #6]",
        "mla {a2}, {t}, {x1}, {a2}",
        "ldrsb {t}, [{p}, #5]",
        "mla {a3}, {t}, {x0}, {a3}",
        "ldrsb {t}, [{p}, #7]",
        "mla {a3}, {t}, {x1}, {a3}",
        "ldrb {t}, [{p}, #8]",
        "mla {a4}, {t}, {x0}, {a4}",
        "ldrb {t}, [{p}, #10]",
        "mla {a4}, {t}, {x1}, {a4}",
        "ldrsb {t}, [{p}, #9]",
        "mla {a5}, {t}, {x0}, {a5}",
        "ldrsb {t}, [{p}, #11]",
        "mla {a5}, {t}, {x1}, {a5}",
        "b 2b",
        "3:",
        list = inout(reg) list => _,
        base = in(reg) base,
        x0 = out(reg) _,
        x1 = out(reg) _,
        p = out(reg) _,
        t = out(reg) _,
        a0 = inout(reg) a0,
        a1 = inout(reg) a1,
        a2 = inout(reg) a2,
        a3 = inout(reg) a3,
        a4 = inout(reg) a4,
        a5 = inout(reg) a5,
        options(nostack, readonly),
    );
    *acc = [a0, a1, a2, a3, a4, a5];
}
