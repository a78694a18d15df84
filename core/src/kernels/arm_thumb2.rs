//! Thumb-2 pieces the Cortex-M3 and M4 share: the list of a hidden layer's non-zero
//! input pairs, two words per iteration with CBZ and STRD (the compiled loop took about
//! 11 instructions per pair, this one 4.5), summing the inputs as it goes (one SMLAD a
//! word on the Cortex-M4, SXTH and two ADDs on the M3).
use core::arch::asm;

/// Adds the two i16 halves of `$w` to `{sum}` (a zero word adds 0).
#[cfg(microdense_dsp)]
macro_rules! add_halves {
    ($w:literal) => {
        concat!("smlad {sum}, ", $w, ", {ones}, {sum}")
    };
}
#[cfg(not(microdense_dsp))]
macro_rules! add_halves {
    ($w:literal) => {
        concat!(
            "sxth {ones}, ",
            $w,
            "\n",
            "add {sum}, {sum}, {ones}\n",
            "add {sum}, {sum}, ",
            $w,
            ", asr #16"
        )
    };
}

/// Lists the non-zero words among the `n` (even) words at `pairs` as entries (word,
/// k · `row` for word k) from `list`; returns how many and their halves' sum.
///
/// # Safety
/// `pairs` is 4-aligned and holds `n` words; `list` is 4-aligned with room for `2 · n`.
#[inline(always)]
pub(crate) unsafe fn gather_pairs(
    pairs: *const u32,
    n: usize,
    row: u32,
    list: *mut u32,
) -> (usize, i32) {
    let end = pairs.add(n);
    let mut dst = list;
    let mut sum = 0i32;
    asm!(
        "cmp {src}, {end}",
        "beq 3f",
        "2:",
        "ldrd r2, r3, [{src}], #8",
        add_halves!("r2"),
        add_halves!("r3"),
        "cbz r2, 4f",
        "strd r2, {off}, [{dst}], #8",
        "4:",
        "add {off}, {off}, {row}",
        "cbz r3, 5f",
        "strd r3, {off}, [{dst}], #8",
        "5:",
        "add {off}, {off}, {row}",
        "cmp {src}, {end}",
        "bne 2b",
        "3:",
        src = inout(reg) pairs => _,
        end = in(reg) end,
        dst = inout(reg) dst,
        off = inout(reg) 0u32 => _,
        row = in(reg) row,
        // (1, 1) for SMLAD, or the M3's scratch.
        ones = inout(reg) 0x0001_0001u32 => _,
        sum = inout(reg) sum,
        out("r2") _,
        out("r3") _,
        options(nostack),
    );
    ((dst as usize - list as usize) / 8, sum)
}
