//! The Cortex-M3 loop (Armv7-M without the DSP extension): no SMLAD, so two instructions
//! per multiply-add (LDRSB with an immediate offset, MLA), six accumulators in registers
//! over the whole list, where the compiler's loop spilled them.
use core::arch::asm;

/// The loop for the accumulators `$a` (`acc[$i]`) whose column's bytes for the inputs x0
/// and x1 are at offsets `$o0` and `$o1` of an entry's rows, loaded by `$ld` (LDRB for
/// the even columns' `w + 128`, LDRSB for the odd ones): per entry LDRD, CMP, BEQ, ADD,
/// ASR, SXTH, then per column two loads and two MLAs; B back.
macro_rules! columns {
    ($base:expr, $list:expr, $acc:expr,
     [$(($a:ident, $i:literal, $ld:literal, $o0:literal, $o1:literal)),*]) => {{
        let acc: &mut [i32; 6] = $acc;
        $(let mut $a = acc[$i];)*
        asm!(
            "2:",
            "ldrd {x0}, {p}, [{list}], #8",
            "cmp {x0}, #0",
            "beq 3f",
            "add {p}, {base}, {p}",
            "asr {x1}, {x0}, #16",
            "sxth {x0}, {x0}",
            $(
                concat!($ld, " {t}, [{p}, #", $o0, "]"),
                concat!("mla {", stringify!($a), "}, {t}, {x0}, {", stringify!($a), "}"),
                concat!($ld, " {t}, [{p}, #", $o1, "]"),
                concat!("mla {", stringify!($a), "}, {t}, {x1}, {", stringify!($a), "}"),
            )*
            "b 2b",
            "3:",
            list = inout(reg) $list => _,
            base = in(reg) $base,
            x0 = out(reg) _,
            x1 = out(reg) _,
            p = out(reg) _,
            t = out(reg) _,
            $($a = inout(reg) $a,)*
            options(nostack, readonly),
        );
        $(acc[$i] = $a;)*
    }};
}

/// Adds every listed pair's products into the first `width` (6, 4 or 2) accumulators
/// (the even columns' as `w + 128`: `kernels::int8::undo_offset` corrects them); always
/// true (every width has its loop).
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
    match width {
        6 => columns!(
            base,
            list,
            acc,
            [
                (a0, 0, "ldrb", "0", "2"),
                (a1, 1, "ldrsb", "1", "3"),
                (a2, 2, "ldrb", "4", "6"),
                (a3, 3, "ldrsb", "5", "7"),
                (a4, 4, "ldrb", "8", "10"),
                (a5, 5, "ldrsb", "9", "11")
            ]
        ),
        4 => columns!(
            base,
            list,
            acc,
            [
                (a0, 0, "ldrb", "0", "2"),
                (a1, 1, "ldrsb", "1", "3"),
                (a2, 2, "ldrb", "4", "6"),
                (a3, 3, "ldrsb", "5", "7")
            ]
        ),
        _ => columns!(
            base,
            list,
            acc,
            [(a0, 0, "ldrb", "0", "2"), (a1, 1, "ldrsb", "1", "3")]
        ),
    }
    true
}
