//! The Cortex-M4 loop: SXTB16 and SMLAD (Armv7E-M DSP extension), two list entries per
//! iteration, and whole chunks of a hidden layer in one piece of assembly. Weights are
//! of `WeightCoding::EvenOffset`: three instructions per four multiply-adds.
use core::arch::asm;

/// Adds every listed pair's products into the first `width` (6, 4 or 2) accumulators,
/// the even ones as the raw weight words give them (`kernels::int8::undo_offset`
/// corrects them); always true (every width has its loop).
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
    let [a0, a1, a2, a3, a4, a5] = acc;
    match width {
        6 => six(base, list, [a0, a1, a2, a3, a4, a5]),
        4 => four(base, list, [a0, a1, a2, a3]),
        _ => two(base, list, [a0, a1]),
    }
    true
}

/// What [`chunks6_hidden`] works on; it advances the pointers as it goes.
#[repr(C)]
pub(crate) struct ChunkIo {
    /// i32 biases, six per chunk (4-aligned).
    pub biases: *const u8,
    /// i32 multipliers, six per chunk.
    pub multipliers: *const u8,
    /// u8 shifts (at most 31), six per chunk.
    pub shifts: *const u8,
    /// i16 outputs, six per chunk: the int8 values minus the zero point.
    pub out: *mut i16,
    pub zp: i32,
    /// The gathered list (as [`accumulate`] takes it).
    pub list: *const u32,
    /// The weights plus the current chunk's column offset.
    pub base: *const u8,
    /// Chunks to do, at least 1.
    pub chunks: u32,
    /// 128 × the listed inputs' sum (wrapping), for the even columns' correction.
    pub sum128: i32,
    /// Whether the list's count is 2 more than a multiple of 4 (the loop's entry point).
    pub half: u32,
}

/// One list entry of six outputs, the inputs in register `$x` and the offset in r10
/// (loaded by the previous entry): ADD, LDM of the 12 weight bytes, per weight word
/// SMLAD of the raw word (the even column, plus 256 × the odd one and the offset, undone
/// by `kernels::int8::undo_offset`), SXTB16 (ROR 8, in place) and SMLAD (the odd
/// column); then LDRD of the next entry.
macro_rules! entry6 {
    ($x:literal) => {
        concat!(
            "add r10, {base}, r10\n",
            "ldm r10, {{r8, r9, r10}}\n",
            "smlad {a0}, r8, ",
            $x,
            ", {a0}\n",
            "sxtb16 r8, r8, ror #8\n",
            "smlad {a1}, r8, ",
            $x,
            ", {a1}\n",
            "smlad {a2}, r9, ",
            $x,
            ", {a2}\n",
            "sxtb16 r9, r9, ror #8\n",
            "smlad {a3}, r9, ",
            $x,
            ", {a3}\n",
            "smlad {a4}, r10, ",
            $x,
            ", {a4}\n",
            "sxtb16 r10, r10, ror #8\n",
            "smlad {a5}, r10, ",
            $x,
            ", {a5}\n",
            "ldrd ",
            $x,
            ", r10, [{list}], #8"
        )
    };
}

/// Whole chunks of six outputs of a hidden layer, one after the other: per chunk the
/// biases into six accumulators, the loop of [`six`], the correction of
/// `kernels::int8::undo_offset` (with `io.sum128`), then per output the
/// requantization and store of `requantize` and `<i16 as Output>::store` (RELU: the
/// clamp's lower bound is the zero point, else −128), with nothing spilled between.
///
/// # Safety
/// For every chunk, the list contract of `kernels::int8::accumulate` for `io.base` (advanced by 12 bytes a chunk)
/// and `io.list`; `io`'s arrays hold six values per chunk, the biases 4-aligned, the
/// shifts at most 31.
#[inline(always)]
pub(crate) unsafe fn chunks6_hidden<const RELU: bool>(io: &mut ChunkIo) {
    macro_rules! chunks {
        ($(($acc:literal, $one:literal, $set_one:literal)),*) => {
            asm!(
                "push {{{io}}}",
                "4:",
                // Biases; the list and this chunk's weights.
                "ldr r10, [{io}]",
                "ldrd {a0}, {a1}, [r10]",
                "ldrd {a2}, {a3}, [r10, #8]",
                "ldrd {a4}, {a5}, [r10, #16]",
                // 256 × the odd biases into the even ones (undone below with the sums).
                "add {a0}, {a0}, {a1}, lsl #8",
                "add {a2}, {a2}, {a3}, lsl #8",
                "add {a4}, {a4}, {a5}, lsl #8",
                "add r10, r10, #24",
                "str r10, [{io}]",
                "ldr {list}, [{io}, #20]",
                "ldr {base}, [{io}, #24]",
                "ldr r9, [{io}, #36]",
                // The products (as `six`, `io` holding the inputs), four entries per
                // iteration: a count of 4k + 2 enters at the second half.
                "ldrd {io}, r10, [{list}], #8",
                "cmp {io}, #0",
                "beq 3f",
                "cmp r9, #0",
                "bne 5f",
                "2:",
                entry6!("{io}"),
                entry6!("{io}"),
                "5:",
                entry6!("{io}"),
                entry6!("{io}"),
                "cmp {io}, #0",
                "bne 2b",
                "3:",
                // The even columns' sums (`kernels::int8::undo_offset`): minus 256 × the
                // odd neighbour (its bias included, added above) and 128 · Σx.
                "ldr r8, [sp]",
                "ldr {t}, [r8, #32]",
                "sub {a0}, {a0}, {a1}, lsl #8",
                "sub {a0}, {a0}, {t}",
                "sub {a2}, {a2}, {a3}, lsl #8",
                "sub {a2}, {a2}, {t}",
                "sub {a4}, {a4}, {a5}, lsl #8",
                "sub {a4}, {a4}, {t}",
                // Requantization: base = multipliers, list = shifts, io = out, t = zp.
                "ldr r9, [r8, #24]",
                "add r9, r9, #12",
                "str r9, [r8, #24]",
                "ldr {base}, [r8, #4]",
                "ldr {list}, [r8, #8]",
                "ldr {io}, [r8, #12]",
                "ldr {t}, [r8, #16]",
                // The first output's accumulator then holds the 1 of the others'
                // rounding terms `(1 << s) >> 1`.
                "mov r10, #1",
                $(
                    "ldr r8, [{base}], #4",
                    "ldrb r9, [{list}], #1",
                    concat!("lsl r10, ", $one, ", r9"),
                    "lsr r10, r10, #1",
                    concat!("smmlar r10, {", $acc, "}, r8, r10"),
                    "asr r10, r10, r9",
                    "add r10, r10, {t}",
                    "ssat r10, #8, r10",
                    relu_clamp!(),
                    "sub r10, r10, {t}",
                    "strh r10, [{io}], #2",
                    $set_one,
                )*
                // Store the advanced pointers; next chunk.
                "ldr r8, [sp]",
                "str {base}, [r8, #4]",
                "str {list}, [r8, #8]",
                "str {io}, [r8, #12]",
                "mov {io}, r8",
                "ldr r9, [r8, #28]",
                "subs r9, r9, #1",
                "str r9, [r8, #28]",
                "bne 4b",
                "pop {{{io}}}",
                io = inout(reg) io as *mut ChunkIo => _,
                list = out(reg) _,
                base = out(reg) _,
                t = out(reg) _,
                out("r8") _,
                out("r9") _,
                out("r10") _,
                a0 = out(reg) _,
                a1 = out(reg) _,
                a2 = out(reg) _,
                a3 = out(reg) _,
                a4 = out(reg) _,
                a5 = out(reg) _,
            )
        };
    }
    if RELU {
        macro_rules! relu_clamp {
            () => {
                "cmp r10, {t}\n it lt\n movlt r10, {t}"
            };
        }
        chunks!(
            ("a0", "r10", "mov {a0}, #1"),
            ("a1", "{a0}", ""),
            ("a2", "{a0}", ""),
            ("a3", "{a0}", ""),
            ("a4", "{a0}", ""),
            ("a5", "{a0}", "")
        );
    } else {
        macro_rules! relu_clamp {
            () => {
                ""
            };
        }
        chunks!(
            ("a0", "r10", "mov {a0}, #1"),
            ("a1", "{a0}", ""),
            ("a2", "{a0}", ""),
            ("a3", "{a0}", ""),
            ("a4", "{a0}", ""),
            ("a5", "{a0}", "")
        );
    }
}

/// Six accumulators: per entry one LDRD (inputs, offset), one ADD, one LDM of the
/// 12 weight bytes, then per weight word SMLAD (the raw word: the even column, plus 256 ×
/// the odd one and the offset, undone by the caller), SXTB16 (ROR 8, in place) and SMLAD
/// (the odd column); two entries per loop iteration.
#[inline(always)]
unsafe fn six(base: *const u8, list: *const u32, acc: [&mut i32; 6]) {
    let [r0, r1, r2, r3, r4, r5] = acc;
    let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5) = (*r0, *r1, *r2, *r3, *r4, *r5);
    asm!(
        "ldrd {x}, r10, [{list}], #8",
        "cmp {x}, #0",
        "beq 3f",
        "2:",
        entry6!("{x}"),
        entry6!("{x}"),
        "cmp {x}, #0",
        "bne 2b",
        "3:",
        list = inout(reg) list => _,
        base = in(reg) base,
        x = out(reg) _,
        out("r8") _,
        out("r9") _,
        out("r10") _,
        a0 = inout(reg) a0,
        a1 = inout(reg) a1,
        a2 = inout(reg) a2,
        a3 = inout(reg) a3,
        a4 = inout(reg) a4,
        a5 = inout(reg) a5,
        options(nostack, readonly),
    );
    (*r0, *r1, *r2, *r3, *r4, *r5) = (a0, a1, a2, a3, a4, a5);
}

/// Four accumulators: LDRD of the 8 weight bytes.
#[inline(always)]
unsafe fn four(base: *const u8, list: *const u32, acc: [&mut i32; 4]) {
    let [r0, r1, r2, r3] = acc;
    let (mut a0, mut a1, mut a2, mut a3) = (*r0, *r1, *r2, *r3);
    asm!(
        "ldrd {x}, r10, [{list}], #8",
        "cmp {x}, #0",
        "beq 3f",
        "2:",
        "add r10, {base}, r10",
        "ldrd r8, r9, [r10]",
        "smlad {a0}, r8, {x}, {a0}",
        "sxtb16 r8, r8, ror #8",
        "smlad {a1}, r8, {x}, {a1}",
        "smlad {a2}, r9, {x}, {a2}",
        "sxtb16 r9, r9, ror #8",
        "smlad {a3}, r9, {x}, {a3}",
        "ldrd {x}, r10, [{list}], #8",
        "add r10, {base}, r10",
        "ldrd r8, r9, [r10]",
        "smlad {a0}, r8, {x}, {a0}",
        "sxtb16 r8, r8, ror #8",
        "smlad {a1}, r8, {x}, {a1}",
        "smlad {a2}, r9, {x}, {a2}",
        "sxtb16 r9, r9, ror #8",
        "smlad {a3}, r9, {x}, {a3}",
        "ldrd {x}, r10, [{list}], #8",
        "cmp {x}, #0",
        "bne 2b",
        "3:",
        list = inout(reg) list => _,
        base = in(reg) base,
        x = out(reg) _,
        out("r8") _,
        out("r9") _,
        out("r10") _,
        a0 = inout(reg) a0,
        a1 = inout(reg) a1,
        a2 = inout(reg) a2,
        a3 = inout(reg) a3,
        options(nostack, readonly),
    );
    (*r0, *r1, *r2, *r3) = (a0, a1, a2, a3);
}

/// Two accumulators: one LDR (register offset) of the 4 weight bytes.
#[inline(always)]
unsafe fn two(base: *const u8, list: *const u32, acc: [&mut i32; 2]) {
    let [r0, r1] = acc;
    let (mut a0, mut a1) = (*r0, *r1);
    asm!(
        "ldrd {x}, {p}, [{list}], #8",
        "cmp {x}, #0",
        "beq 3f",
        "2:",
        "ldr {w}, [{base}, {p}]",
        "smlad {a0}, {w}, {x}, {a0}",
        "sxtb16 {w}, {w}, ror #8",
        "smlad {a1}, {w}, {x}, {a1}",
        "ldrd {x}, {p}, [{list}], #8",
        "ldr {w}, [{base}, {p}]",
        "smlad {a0}, {w}, {x}, {a0}",
        "sxtb16 {w}, {w}, ror #8",
        "smlad {a1}, {w}, {x}, {a1}",
        "ldrd {x}, {p}, [{list}], #8",
        "cmp {x}, #0",
        "bne 2b",
        "3:",
        list = inout(reg) list => _,
        base = in(reg) base,
        x = out(reg) _,
        p = out(reg) _,
        w = out(reg) _,
        a0 = inout(reg) a0,
        a1 = inout(reg) a1,
        options(nostack, readonly),
    );
    (*r0, *r1) = (a0, a1);
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
/// halfwords): per word not blank, SXTB16 twice, SSUB16 twice and PKHBT/PKHTB give both
/// pairs minus the zero point, each listed (STRD) unless zero, with its rows' offset
/// (`row` bytes per pair). Returns the entries written from `list` and their inputs' sum
/// (one SMLAD with (1, 1) per pair; a zero pair adds 0).
///
/// # Safety
/// `words` is 4-aligned and holds `n` words; `list` is 4-aligned with room for `4 · n`.
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
    asm!(
        "cmp {src}, {end}",
        "beq 5f",
        "1:",
        "ldr r2, [{src}], #4",
        "cmp r2, {blank}",
        "beq 4f",
        "sxtb16 {e0}, r2",
        "sxtb16 r3, r2, ror #8",
        "ssub16 {e0}, {e0}, {zp2}",
        "ssub16 r3, r3, {zp2}",
        "pkhbt r2, {e0}, r3, lsl #16",
        "pkhtb r3, r3, {e0}, asr #16",
        "smlad {sum}, r2, {ones}, {sum}",
        "smlad {sum}, r3, {ones}, {sum}",
        "cbz r2, 2f",
        "strd r2, {off}, [{dst}], #8",
        "2:",
        "add {off}, {off}, {row}",
        "cbz r3, 3f",
        "strd r3, {off}, [{dst}], #8",
        "3:",
        "add {off}, {off}, {row}",
        "cmp {src}, {end}",
        "bne 1b",
        "b 5f",
        "4:",
        "add {off}, {off}, {row}, lsl #1",
        "cmp {src}, {end}",
        "bne 1b",
        "5:",
        src = inout(reg) words => _,
        end = in(reg) end,
        dst = inout(reg) dst,
        off = inout(reg) 0u32 => _,
        row = in(reg) row,
        blank = in(reg) blank,
        zp2 = in(reg) zp2,
        ones = in(reg) 0x0001_0001u32,
        sum = inout(reg) sum,
        e0 = out(reg) _,
        out("r2") _,
        out("r3") _,
        options(nostack),
    );
    ((dst as usize - list as usize) / 8, sum)
}
