//! Thumb-2 pieces the Cortex-M3 and M4 share: what their chunk assembly works on
//! ([`ChunkIo`]) and the list of a hidden layer's non-zero
//! input pairs, two (M3) or four (M4) words per iteration with CBZ and STRD (the compiled loop took about
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

/// Two words of [`gather_pairs`]: LDRD, their halves into the sum, each listed (STRD)
/// unless zero, with its offset.
macro_rules! two_words {
    () => {
        concat!(
            "ldrd r2, r3, [{src}], #8\n",
            add_halves!("r2"),
            "\n",
            add_halves!("r3"),
            "\n",
            "cbz r2, 4f\n",
            "strd r2, {off}, [{dst}], #8\n",
            "4:\n",
            "add {off}, {off}, {row}\n",
            "cbz r3, 5f\n",
            "strd r3, {off}, [{dst}], #8\n",
            "5:\n",
            "add {off}, {off}, {row}"
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
    // On the Cortex-M4 four words per iteration (a count of 4k + 2 enters at the second
    // two); the M3 keeps two, for flash (`demo-int8` within 49 KiB on the LM3S6965).
    #[cfg(microdense_dsp)]
    asm!(
        "cmp {src}, {end}",
        "beq 3f",
        "cmp {half}, #0",
        "bne 6f",
        "2:",
        two_words!(),
        "6:",
        two_words!(),
        "cmp {src}, {end}",
        "bne 2b",
        "3:",
        src = inout(reg) pairs => _,
        end = in(reg) end,
        half = in(reg) u32::from(n % 4 == 2),
        dst = inout(reg) dst,
        off = inout(reg) 0u32 => _,
        row = in(reg) row,
        ones = inout(reg) 0x0001_0001u32 => _,
        sum = inout(reg) sum,
        out("r2") _,
        out("r3") _,
        options(nostack),
    );
    #[cfg(not(microdense_dsp))]
    asm!(
        "cmp {src}, {end}",
        "beq 3f",
        "2:",
        two_words!(),
        "cmp {src}, {end}",
        "bne 2b",
        "3:",
        src = inout(reg) pairs => _,
        end = in(reg) end,
        dst = inout(reg) dst,
        off = inout(reg) 0u32 => _,
        row = in(reg) row,
        // The M3's scratch.
        ones = inout(reg) 0x0001_0001u32 => _,
        sum = inout(reg) sum,
        out("r2") _,
        out("r3") _,
        options(nostack),
    );
    ((dst as usize - list as usize) / 8, sum)
}

/// What the chunk assembly of the Cortex-M4 (`arm_dsp`) and M3 (`arm_v7m`) works on (the
/// field order is the assembly's: LDM and LDRD take neighbours); `chunks6_hidden`
/// advances the pointers as it goes.
#[repr(C)]
pub(crate) struct ChunkIo {
    /// i32 multipliers, six per chunk.
    pub multipliers: *const u8,
    /// u8 shifts (at most 31), six per chunk.
    pub shifts: *const u8,
    /// i16 outputs, six per chunk: the int8 values minus the zero point.
    pub out: *mut i16,
    /// i32 biases, six per chunk (4-aligned).
    pub biases: *const u8,
    pub zp: i32,
    /// The gathered list (as `kernels::int8::gather_bytes` leaves it).
    pub list: *const u32,
    /// The weights plus the current chunk's column offset (4-aligned).
    pub base: *const u8,
    /// Where the last whole chunk's outputs end.
    pub end: *mut i16,
    /// 128 × the listed inputs' sum (wrapping), for the even columns' correction.
    pub sum128: i32,
    /// Whether the list's count is 2 more than a multiple of 4 (the Cortex-M4 loop's entry
    /// point).
    pub half: u32,
    /// Where `sums` stores its accumulators (six i32s, 4-aligned).
    pub acc: *mut i32,
    /// The lower bound of a hidden layer's outputs (the Cortex-M3's `chunks6_hidden`).
    pub low: i32,
}
