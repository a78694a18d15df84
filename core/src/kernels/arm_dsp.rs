//! The Cortex-M4's int8 assembly (Armv7E-M DSP extension: SXTB16, SMLAD, SMMLAR): the
//! list's loop at three instructions per four multiply-adds, four list entries per
//! iteration (a count of 4k + 2 enters halfway), for whole chunks of six outputs of a
//! hidden layer with their requantization ([`chunks6_hidden`]) and for any other chunk
//! ([`sums`], then [`outputs_hidden`] or [`outputs_last`]); `kernels::int8_thumb2` drives
//! them. Weights are of `WeightCoding::EvenOffset`.
use core::arch::asm;

pub(crate) use super::arm_thumb2::ChunkIo;

/// One list entry of six outputs in the fixed registers of [`chunks6_hidden`] and [`sums`]
/// (inputs in lr, the entry's offset in r10 as the previous entry loaded it, the weights
/// in r12, the list in r11, accumulators r0–r5): ADD, LDM of the 12 weight bytes, per
/// weight word SMLAD of the raw word (the even column, plus 256 × the odd one and
/// 128 × the inputs, undone after the loop), SXTB16 (ROR 8, in place) and SMLAD (the odd
/// column); then LDRD of the next entry.
macro_rules! entry6 {
    () => {
        concat!(
            "add r10, r12, r10\n",
            "ldm r10, {{r8, r9, r10}}\n",
            "smlad r0, r8, lr, r0\n",
            "sxtb16 r8, r8, ror #8\n",
            "smlad r1, r8, lr, r1\n",
            "smlad r2, r9, lr, r2\n",
            "sxtb16 r9, r9, ror #8\n",
            "smlad r3, r9, lr, r3\n",
            "smlad r4, r10, lr, r4\n",
            "sxtb16 r10, r10, ror #8\n",
            "smlad r5, r10, lr, r5\n",
            "ldrd lr, r10, [r11], #8"
        )
    };
}

/// As [`entry6`] for four outputs (r0–r3): LDRD of the 8 weight bytes.
macro_rules! entry4 {
    () => {
        concat!(
            "add r10, r12, r10\n",
            "ldrd r8, r9, [r10]\n",
            "smlad r0, r8, lr, r0\n",
            "sxtb16 r8, r8, ror #8\n",
            "smlad r1, r8, lr, r1\n",
            "smlad r2, r9, lr, r2\n",
            "sxtb16 r9, r9, ror #8\n",
            "smlad r3, r9, lr, r3\n",
            "ldrd lr, r10, [r11], #8"
        )
    };
}

/// As [`entry6`] for two outputs (r0, r1): one LDR (register offset) of the 4 weight bytes.
macro_rules! entry2 {
    () => {
        concat!(
            "ldr r8, [r12, r10]\n",
            "smlad r0, r8, lr, r0\n",
            "sxtb16 r8, r8, ror #8\n",
            "smlad r1, r8, lr, r1\n",
            "ldrd lr, r10, [r11], #8"
        )
    };
}

/// `(1 << s) >> 1` for every shift `s`: the rounding term of `requantize`, one load.
static ROUND: [u32; 32] = {
    let mut t = [0u32; 32];
    let mut s = 1;
    while s < 32 {
        t[s] = 1 << (s - 1);
        s += 1;
    }
    t
};

/// How [`chunks6_hidden`] clamps and stores a requantized `y` (see
/// `<i16 as Output>::store`).
pub(crate) mod clamp {
    /// `clamp(y + zp, −128, 127) − zp` (SSAT).
    pub(crate) const LINEAR: u8 = 0;
    /// As [`LINEAR`], and at least 0 (relu: the lower bound is the zero point).
    pub(crate) const RELU: u8 = 1;
    /// Zero point −128 (relu or not): `clamp(y, 0, 255)`, one USAT.
    pub(crate) const ZP_MIN: u8 = 2;
}

/// Whole chunks of six outputs of a hidden layer, one after the other: per chunk the
/// biases into six accumulators, the list's loop ([`entry6`]), the correction of
/// `kernels::int8::undo_offset` (with `io.sum128`), then per output the
/// requantization and store of `requantize` and `<i16 as Output>::store` (as
/// [`clamp`]`::CLAMP` says), with nothing spilled between.
///
/// # Safety
/// For every chunk, the list contract of `kernels::int8::accumulate` for `io.base` (advanced by 12 bytes a chunk)
/// and `io.list`; `io`'s arrays hold six values per chunk, the biases 4-aligned, the
/// shifts at most 31; for [`clamp::ZP_MIN`] `io.zp` is −128.
#[inline(always)]
pub(crate) unsafe fn chunks6_hidden<const CLAMP: u8>(io: &mut ChunkIo) {
    // Fixed registers: accumulators r0–r5 (the biases by one LDM); in the loop the
    // inputs in lr, the list in r11, the weights in r12; in the requantization the
    // multipliers in r11, the shifts in r12, the outputs in lr (one LDM and one STM of
    // `io`'s fields). `t` holds `io` until the requantization takes it for the zero point
    // (or the table). The stack: `io`, the loop's entry point, the table.
    macro_rules! chunks {
        ($table:literal, $(($acc:literal, $round:expr, $after:literal)),*) => {
            asm!(
                // The loop's entry point, the same for every chunk: the exit for an
                // empty list, else the first or (a count of 4k + 2) the second half.
                // (Each ADR word-aligned: LLVM's offset assumes it, the core aligns PC.)
                "push {{r10}}",
                "ldr r8, [{t}, #20]",
                "ldr r8, [r8]",
                ".p2align 2",
                "adr r10, 3f",
                "cmp r8, #0",
                "beq 6f",
                ".p2align 2",
                "adr r10, 2f",
                "ldr r8, [{t}, #36]",
                "cmp r8, #0",
                "beq 6f",
                ".p2align 2",
                "adr r10, 5f",
                "6:",
                "orr r10, r10, #1",
                "push {{r10}}",
                "push {{{t}}}",
                "4:",
                // Biases (256 × the odd ones into the even ones, undone below with the
                // sums); the list and this chunk's weights; into the loop.
                "ldr r10, [{t}, #12]",
                "ldm r10!, {{r0, r1, r2, r3, r4, r5}}",
                "str r10, [{t}, #12]",
                "add r0, r0, r1, lsl #8",
                "add r2, r2, r3, lsl #8",
                "add r4, r4, r5, lsl #8",
                "ldrd r11, r12, [{t}, #20]",
                "ldrd lr, r10, [r11], #8",
                "ldr pc, [sp, #4]",
                // The products, four entries per iteration.
                "2:",
                entry6!(),
                entry6!(),
                "5:",
                entry6!(),
                entry6!(),
                "cmp lr, #0",
                "bne 2b",
                "3:",
                // The even columns' sums (`kernels::int8::undo_offset`): minus 256 × the
                // odd neighbour (its bias included, added above) and 128 · Σx.
                "ldr r8, [{t}, #32]",
                "sub r0, r0, r1, lsl #8",
                "sub r0, r0, r8",
                "sub r2, r2, r3, lsl #8",
                "sub r2, r2, r8",
                "sub r4, r4, r5, lsl #8",
                "sub r4, r4, r8",
                // The next chunk's weights; multipliers, shifts and outputs.
                "add r12, r12, #12",
                "str r12, [{t}, #24]",
                "ldm {t}, {{r11, r12, lr}}",
                $table,
                $(
                    "ldr r8, [r11], #4",
                    "ldrb r9, [r12], #1",
                    $round,
                    concat!("smmlar r10, ", $acc, ", r8, r10"),
                    "asr r10, r10, r9",
                    store!(),
                    "strh r10, [lr], #2",
                    $after,
                )*
                // Store the advanced pointers; next chunk.
                "ldr {t}, [sp]",
                "stm {t}, {{r11, r12, lr}}",
                "ldr r9, [{t}, #28]",
                "cmp lr, r9",
                "bne 4b",
                "add sp, sp, #12",
                t = inout(reg) io as *mut ChunkIo => _,
                inout("r10") ROUND.as_ptr() => _,
                out("r0") _,
                out("r1") _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                out("r8") _,
                out("r9") _,
                out("r11") _,
                out("r12") _,
                out("lr") _,
            )
        };
    }
    // The rounding term `(1 << s) >> 1` of the shift in r9, into r10: from the table
    // (in `$t`; for the first output, while every other register is taken, the table's
    // address goes through r10 itself).
    macro_rules! from_table {
        ($t:literal) => {
            concat!("ldr r10, [", $t, ", r9, lsl #2]")
        };
    }
    macro_rules! general {
        () => {
            chunks!(
                "ldr {t}, [{t}, #16]",
                (
                    "r0",
                    "ldr r10, [sp, #8]\n ldr r10, [r10, r9, lsl #2]",
                    "ldr r0, [sp, #8]"
                ),
                ("r1", from_table!("r0"), ""),
                ("r2", from_table!("r0"), ""),
                ("r3", from_table!("r0"), ""),
                ("r4", from_table!("r0"), ""),
                ("r5", from_table!("r0"), "")
            )
        };
    }
    match CLAMP {
        clamp::ZP_MIN => {
            macro_rules! store {
                () => {
                    "usat r10, #8, r10"
                };
            }
            chunks!(
                "ldr {t}, [sp, #8]",
                ("r0", from_table!("{t}"), ""),
                ("r1", from_table!("{t}"), ""),
                ("r2", from_table!("{t}"), ""),
                ("r3", from_table!("{t}"), ""),
                ("r4", from_table!("{t}"), ""),
                ("r5", from_table!("{t}"), "")
            );
        }
        clamp::RELU => {
            macro_rules! store {
                () => {
                    "add r10, r10, {t}\n ssat r10, #8, r10\n cmp r10, {t}\n it lt\n movlt r10, {t}\n sub r10, r10, {t}"
                };
            }
            general!();
        }
        _ => {
            macro_rules! store {
                () => {
                    "add r10, r10, {t}\n ssat r10, #8, r10\n sub r10, r10, {t}"
                };
            }
            general!();
        }
    }
}

/// The sums of one chunk of `W` (6, 4 or 2) outputs, stored at `io.acc`: `W` biases from
/// `io.biases`, every listed pair's products through the weights at `io.base` (the loop of
/// [`chunks6_hidden`], `W` wide), then the even columns' correction (256 × the odd
/// neighbour's gain, its bias included, and `io.sum128`).
///
/// # Safety
/// `io.biases` holds `W` i32s (4-aligned; past the layer's last bias they are only read,
/// into accumulators whose outputs are not stored); `io.list` is a gathered list
/// (4-aligned, an even count of entries, then the sentinel) whose every offset plus
/// `io.base` is readable for `2 · W` bytes and 4-aligned; `io.acc` holds six i32s.
#[inline(always)]
pub(crate) unsafe fn sums<const W: usize>(io: &ChunkIo) {
    macro_rules! sums {
        ($load:literal, $entry:expr, $undo:literal, $store:literal) => {
            asm!(
                "ldr r10, [{t}, #12]",
                $load,
                "ldrd r11, r12, [{t}, #20]",
                "ldr r9, [{t}, #36]",
                "ldrd lr, r10, [r11], #8",
                "cmp lr, #0",
                "beq 3f",
                "cmp r9, #0",
                "bne 5f",
                "2:",
                $entry,
                $entry,
                "5:",
                $entry,
                $entry,
                "cmp lr, #0",
                "bne 2b",
                "3:",
                "ldr r8, [{t}, #32]",
                $undo,
                "ldr r8, [{t}, #40]",
                $store,
                t = in(reg) io as *const ChunkIo,
                out("r0") _,
                out("r1") _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                out("r8") _,
                out("r9") _,
                out("r10") _,
                out("r11") _,
                out("r12") _,
                out("lr") _,
                options(nostack),
            )
        };
    }
    match W {
        6 => sums!(
            "ldm r10, {{r0, r1, r2, r3, r4, r5}}\n add r0, r0, r1, lsl #8\n add r2, r2, r3, lsl #8\n add r4, r4, r5, lsl #8",
            entry6!(),
            "sub r0, r0, r1, lsl #8\n sub r0, r0, r8\n sub r2, r2, r3, lsl #8\n sub r2, r2, r8\n sub r4, r4, r5, lsl #8\n sub r4, r4, r8",
            "stm r8, {{r0, r1, r2, r3, r4, r5}}"
        ),
        4 => sums!(
            "ldm r10, {{r0, r1, r2, r3}}\n add r0, r0, r1, lsl #8\n add r2, r2, r3, lsl #8",
            entry4!(),
            "sub r0, r0, r1, lsl #8\n sub r0, r0, r8\n sub r2, r2, r3, lsl #8\n sub r2, r2, r8",
            "stm r8, {{r0, r1, r2, r3}}"
        ),
        _ => sums!(
            "ldrd r0, r1, [r10]\n add r0, r0, r1, lsl #8",
            entry2!(),
            "sub r0, r0, r1, lsl #8\n sub r0, r0, r8",
            "strd r0, r1, [r8]"
        ),
    }
}

/// Requantizes `acc`'s first `n` (at least 1) values by `m`'s multipliers and `sh`'s
/// shifts (`requantize`, the core's rule) and stores them as a hidden layer does
/// (`<i16 as Output>::store`): `clamp(y + zp, −128, 127)`, at least `low`, minus `zp`.
///
/// # Safety
/// `acc`, `m` (i32s, any alignment), `sh` (at most 31) and `out` hold `n` values.
#[inline(always)]
pub(crate) unsafe fn outputs_hidden(
    acc: *const i32,
    n: usize,
    m: *const u8,
    sh: *const u8,
    out: *mut i16,
    zp: i32,
    low: i32,
) {
    asm!(
        "2:",
        "ldr r8, [{acc}], #4",
        "ldr r9, [{m}], #4",
        "ldrb r10, [{sh}], #1",
        "ldr r12, [{round}, r10, lsl #2]",
        "smmlar r12, r8, r9, r12",
        "asr r12, r12, r10",
        "add r12, r12, {zp}",
        "ssat r12, #8, r12",
        "cmp r12, {low}",
        "it lt",
        "movlt r12, {low}",
        "sub r12, r12, {zp}",
        "strh r12, [{out}], #2",
        "subs {n}, {n}, #1",
        "bne 2b",
        acc = inout(reg) acc => _,
        n = inout(reg) n => _,
        m = inout(reg) m => _,
        sh = inout(reg) sh => _,
        out = inout(reg) out => _,
        round = in(reg) ROUND.as_ptr(),
        zp = in(reg) zp,
        low = in(reg) low,
        out("r8") _,
        out("r9") _,
        out("r10") _,
        out("r12") _,
        options(nostack),
    );
}

/// As [`outputs_hidden`] for the output layer (zero point 0): `y` within `low..=high`,
/// as i32s.
///
/// # Safety
/// As [`outputs_hidden`].
#[inline(always)]
pub(crate) unsafe fn outputs_last(
    acc: *const i32,
    n: usize,
    m: *const u8,
    sh: *const u8,
    out: *mut i32,
    low: i32,
    high: i32,
) {
    asm!(
        "2:",
        "ldr r8, [{acc}], #4",
        "ldr r9, [{m}], #4",
        "ldrb r10, [{sh}], #1",
        "ldr r12, [{round}, r10, lsl #2]",
        "smmlar r12, r8, r9, r12",
        "asr r12, r12, r10",
        "cmp r12, {low}",
        "it lt",
        "movlt r12, {low}",
        "cmp r12, {high}",
        "it gt",
        "movgt r12, {high}",
        "str r12, [{out}], #4",
        "subs {n}, {n}, #1",
        "bne 2b",
        acc = inout(reg) acc => _,
        n = inout(reg) n => _,
        m = inout(reg) m => _,
        sh = inout(reg) sh => _,
        out = inout(reg) out => _,
        round = in(reg) ROUND.as_ptr(),
        low = in(reg) low,
        high = in(reg) high,
        out("r8") _,
        out("r9") _,
        out("r10") _,
        out("r12") _,
        options(nostack),
    );
}

/// The sum of the inputs of `count` (even) list entries: one SMLAD with (1, 1) each.
///
/// # Safety
/// `list` is 4-aligned and holds `count` entries of two words.
#[inline(always)]
pub(crate) unsafe fn list_sum(list: *const u32, count: usize) -> i32 {
    let mut sum = 0i32;
    if count >= 2 {
        asm!(
            "mov {ones}, #0x10001",
            "2:",
            "ldm {list}!, {{r8, r9, r10, r12}}",
            "smlad {sum}, r8, {ones}, {sum}",
            "smlad {sum}, r10, {ones}, {sum}",
            "subs {n}, {n}, #2",
            "bhi 2b",
            list = inout(reg) list => _,
            n = inout(reg) count => _,
            ones = out(reg) _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r12") _,
            sum = inout(reg) sum,
            options(nostack, readonly),
        );
    }
    sum
}

/// The list of `kernels::int8::gather_bytes` for `n` words of int8 inputs at `words`
/// (four inputs each; `blank` is four zero points, `zp2` the zero point in both
/// halfwords): per word not blank, SXTAB16 twice (the bytes added to minus the zero point)
/// and PKHBT/PKHTB give both pairs minus the zero point, each listed (STRD) unless zero,
/// with its rows' offset (`row` bytes per pair, from the word's index by one MLA, so a
/// blank word costs 5: LDR, CMP, BNE, ADDS, BNE). Returns the entries written from `list`
/// and their inputs' sum (one SMLAD with (1, 1) per pair; a zero pair adds 0).
///
/// # Safety
/// `words` is 4-aligned and holds `n` words; `list` is 4-aligned with room for `4 · n`;
/// `row` is even.
#[inline(always)]
pub(crate) unsafe fn gather_bytes(
    words: *const u32,
    n: usize,
    blank: u32,
    zp2: u32,
    row: u32,
    list: *mut u32,
) -> (usize, i32) {
    let end = words.add(n);
    let mut dst = list;
    let mut sum = 0i32;
    // Minus the zero point in both halfwords (SXTAB16 adds each sign-extended byte to it;
    // the results lie in -255..=255, as SSUB16's did).
    let nzp2 = u32::from((zp2 as u16).wrapping_neg()) * 0x0001_0001;
    // The words are read at `end` + idx, idx from -4n up to 0 (ADDS sets the loop's flag);
    // word k's first pair is at 2k · row = (idx + 4n) · row / 2 (row is even).
    let idx = (4 * n as u32).wrapping_neg();
    let base = (n as u32).wrapping_mul(2 * row);
    asm!(
        "cmp {idx}, #0",
        "beq 5f",
        "1:",
        "ldr r2, [{end}, {idx}]",
        "cmp r2, {blank}",
        "bne 2f",
        "adds {idx}, {idx}, #4",
        "bne 1b",
        "b 5f",
        "2:",
        "sxtab16 {e0}, {nzp2}, r2",
        "sxtab16 r3, {nzp2}, r2, ror #8",
        "pkhbt r2, {e0}, r3, lsl #16",
        "pkhtb r3, r3, {e0}, asr #16",
        "smlad {sum}, r2, {ones}, {sum}",
        "smlad {sum}, r3, {ones}, {sum}",
        "mla {e0}, {idx}, {rowh}, {base}",
        "cbz r2, 3f",
        "strd r2, {e0}, [{dst}], #8",
        "3:",
        "add {e0}, {e0}, {rowh}, lsl #1",
        "cbz r3, 4f",
        "strd r3, {e0}, [{dst}], #8",
        "4:",
        "adds {idx}, {idx}, #4",
        "bne 1b",
        "5:",
        end = in(reg) end,
        idx = inout(reg) idx => _,
        base = in(reg) base,
        rowh = in(reg) row / 2,
        dst = inout(reg) dst,
        blank = in(reg) blank,
        nzp2 = in(reg) nzp2,
        ones = in(reg) 0x0001_0001u32,
        sum = inout(reg) sum,
        e0 = out(reg) _,
        out("r2") _,
        out("r3") _,
        options(nostack),
    );
    ((dst as usize - list as usize) / 8, sum)
}
