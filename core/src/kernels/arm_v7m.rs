//! The Cortex-M3's int8 assembly (Armv7-M without the DSP extension): no SMLAD, so two
//! instructions per multiply-add (LDRB/LDRSB with an immediate offset, MLA), six
//! accumulators in registers over the whole list; the requantization by SMLAL. The same
//! pieces as the Cortex-M4's `arm_dsp`, driven by `kernels::int8_thumb2`: a hidden layer's
//! whole chunks of six with their requantization in one piece ([`chunks6_hidden`]),
//! every other chunk by [`sums`] and [`outputs_hidden`] or
//! [`outputs_last`]. Weights are of `WeightCoding::EvenOffset`: the even columns' bytes
//! are read unsigned (LDRB) as `w + 128`, corrected after the loop with `io.sum128`.
use core::arch::asm;

pub(crate) use super::arm_thumb2::ChunkIo;

/// One list entry's products for the accumulators r0..: (column offset, LDRB for the
/// even columns' `w + 128` or LDRSB for the odd ones, accumulator) per column. The entry
/// is in r8 (inputs) and r10 (its rows' offset), the weights in r12, the list in r11:
/// ADD, ASR and SXTH split the inputs into r8 (x0) and r9 (x1), two loads and two MLAs
/// per column (scratch lr), then LDRD of the next entry.
macro_rules! entry {
    ($(($o0:literal, $o1:literal, $ld:literal, $a:literal)),*) => {
        concat!(
            "add r10, r12, r10\n",
            "asr r9, r8, #16\n",
            "sxth r8, r8\n",
            $(
                $ld, " lr, [r10, #", $o0, "]\n",
                "mla ", $a, ", lr, r8, ", $a, "\n",
                $ld, " lr, [r10, #", $o1, "]\n",
                "mla ", $a, ", lr, r9, ", $a, "\n",
            )*
            "ldrd r8, r10, [r11], #8"
        )
    };
}

macro_rules! entry6 {
    () => {
        entry!(
            ("0", "2", "ldrb", "r0"),
            ("1", "3", "ldrsb", "r1"),
            ("4", "6", "ldrb", "r2"),
            ("5", "7", "ldrsb", "r3"),
            ("8", "10", "ldrb", "r4"),
            ("9", "11", "ldrsb", "r5")
        )
    };
}

macro_rules! entry4 {
    () => {
        entry!(
            ("0", "2", "ldrb", "r0"),
            ("1", "3", "ldrsb", "r1"),
            ("4", "6", "ldrb", "r2"),
            ("5", "7", "ldrsb", "r3")
        )
    };
}

macro_rules! entry2 {
    () => {
        entry!(("0", "2", "ldrb", "r0"), ("1", "3", "ldrsb", "r1"))
    };
}

/// The list's loop (the list in r11, the weights in r12): the first entry, then
/// `$entry` (which ends loading the next one) until an entry's inputs are 0.
macro_rules! list_loop {
    ($entry:expr) => {
        concat!(
            "ldrd r8, r10, [r11], #8\n",
            "cmp r8, #0\n",
            "beq 3f\n",
            "2:\n",
            $entry,
            "\n",
            "cmp r8, #0\n",
            "bne 2b\n",
            "3:"
        )
    };
}

/// The six-wide list loop as a function of its own, one copy for [`chunks6_hidden`] and
/// [`sums`] (called by BL, for flash): accumulators r0–r5, the list in r11 (advanced),
/// the weights in r12; r8–r10 scratch, lr saved.
#[unsafe(naked)]
unsafe extern "C" fn list6() {
    core::arch::naked_asm!("push {{lr}}", list_loop!(entry6!()), "pop {{pc}}")
}

/// The core's requantization (`requantize`) of the accumulator `$acc` into r10: the
/// multiplier and shift from `$m` and `$sh` (advanced) into r8 and r9, then SMLAL adds the
/// product to `(2^31 >> (32 − s)) · 2^32 + 2^31` (`$lo` the low word): the rounding term
/// `(1 << s) >> 1` of the shift already in the high word beside the 2^31 of the high
/// word's own rounding, so the high word is `t + ((1 << s) >> 1)`, wrapping as
/// `requantize` (LSR by a register shifts 32 to 0, as `s = 0` needs); ASR by `s`.
macro_rules! requant {
    ($acc:literal, $m:literal, $sh:literal, $lo:literal) => {
        concat!(
            "ldr r8, [",
            $m,
            "], #4\n",
            "ldrb r9, [",
            $sh,
            "], #1\n",
            "mov ",
            $lo,
            ", #0x80000000\n",
            "rsb r10, r9, #32\n",
            "lsr r10, ",
            $lo,
            ", r10\n",
            "smlal ",
            $lo,
            ", r10, ",
            $acc,
            ", r8\n",
            "asr r10, r10, r9\n"
        )
    };
}

/// A hidden layer's clamp and store of r10 (`<i16 as Output>::store`):
/// `clamp(y + $zp, −128, 127)` (SSAT), at least `$low`, minus `$zp`, to `$out` (advanced).
macro_rules! store_hidden {
    ($zp:literal, $low:literal, $out:literal) => {
        concat!(
            "add r10, r10, ",
            $zp,
            "\n",
            "ssat r10, #8, r10\n",
            "cmp r10, ",
            $low,
            "\n",
            "it lt\n",
            "movlt r10, ",
            $low,
            "\n",
            "sub r10, r10, ",
            $zp,
            "\n",
            "strh r10, [",
            $out,
            "], #2\n"
        )
    };
}

/// [`requant`] and [`store_hidden`] of the accumulator `$acc` in [`chunks6_hidden`]
/// (multipliers in r11, shifts in r12, outputs in lr, the low word in `{t}`).
macro_rules! output6 {
    ($acc:literal, $zp:literal, $low:literal) => {
        concat!(
            requant!($acc, "r11", "r12", "{t}"),
            store_hidden!($zp, $low, "lr")
        )
    };
}

/// Whole chunks of six outputs of a hidden layer, one after the other: per chunk the
/// biases into r0–r5, the list's loop ([`list6`]), the even columns' correction
/// (`io.sum128`), then per output the requantization, clamp and store of
/// [`outputs_hidden`] (zero point `io.zp`, lower bound `io.low`), with nothing spilled
/// between.
///
/// # Safety
/// For every chunk, the list contract of `kernels::int8::accumulate` for `io.base`
/// (advanced by 12 bytes a chunk) and `io.list`; `io`'s arrays hold six values per chunk
/// up to `io.end` (at least one chunk), the biases 4-aligned; the shifts at most 31.
#[inline(always)]
pub(crate) unsafe fn chunks6_hidden(io: &mut ChunkIo) {
    // Fixed registers: accumulators r0–r5; in the loop r8–r12 and lr as in `list6`; in
    // the requantization the multipliers in r11, the shifts in r12, the outputs in lr
    // (one LDM and one STM of `io`'s fields), `t` the product's low word. The stack:
    // the zero point and the lower bound (into r8 and `t` for the first two outputs, r0
    // and r1 for the others), `io`.
    asm!(
        "push {{{t}}}",
        "ldr r8, [{t}, #16]",
        "ldr r9, [{t}, #44]",
        "push {{r8, r9}}",
        "4:",
        "ldr r10, [{t}, #12]",
        "ldm r10!, {{r0, r1, r2, r3, r4, r5}}",
        "str r10, [{t}, #12]",
        "ldrd r11, r12, [{t}, #20]",
        "bl {list6}",
        "ldr r8, [{t}, #32]",
        "sub r0, r0, r8",
        "sub r2, r2, r8",
        "sub r4, r4, r8",
        // The next chunk's weights; multipliers, shifts and outputs.
        "add r12, r12, #12",
        "str r12, [{t}, #24]",
        "ldm {t}, {{r11, r12, lr}}",
        requant!("r0", "r11", "r12", "{t}"),
        "ldrd r8, {t}, [sp]",
        store_hidden!("r8", "{t}", "lr"),
        requant!("r1", "r11", "r12", "{t}"),
        "ldrd r8, {t}, [sp]",
        store_hidden!("r8", "{t}", "lr"),
        "ldrd r0, r1, [sp]",
        output6!("r2", "r0", "r1"),
        output6!("r3", "r0", "r1"),
        output6!("r4", "r0", "r1"),
        output6!("r5", "r0", "r1"),
        // Store the advanced pointers; next chunk.
        "ldr {t}, [sp, #8]",
        "stm {t}, {{r11, r12, lr}}",
        "ldr r9, [{t}, #28]",
        "cmp lr, r9",
        "bne 4b",
        "add sp, sp, #12",
        t = inout(reg) io as *mut ChunkIo => _,
        list6 = sym list6,
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
    );
}

/// The sums of one chunk of `W` (6, 4 or 2) outputs, stored at `io.acc`: `W` biases from
/// `io.biases`, every listed pair's products through the weights at `io.base`, then the
/// even columns' correction (`io.sum128`).
///
/// # Safety
/// `io.biases` holds `W` i32s (4-aligned; past the layer's last bias they are only read,
/// into accumulators whose outputs are not stored); `io.list` is a gathered list
/// (4-aligned, an even count of entries, then the sentinel) whose every offset plus
/// `io.base` is readable for `2 · W` bytes; `io.acc` holds six i32s (4-aligned).
#[inline(always)]
pub(crate) unsafe fn sums<const W: usize>(io: &ChunkIo) {
    macro_rules! sums {
        ($load:literal, $loop:expr, $undo:literal, $store:literal $(, $sym:ident)?) => {
            asm!(
                "ldr r10, [{t}, #12]",
                $load,
                "ldrd r11, r12, [{t}, #20]",
                $loop,
                "ldr r8, [{t}, #32]",
                $undo,
                "ldr r8, [{t}, #40]",
                $store,
                t = in(reg) io as *const ChunkIo,
                $($sym = sym $sym,)?
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
            )
        };
    }
    match W {
        6 => sums!(
            "ldm r10, {{r0, r1, r2, r3, r4, r5}}",
            "bl {list6}",
            "sub r0, r0, r8\n sub r2, r2, r8\n sub r4, r4, r8",
            "stm r8, {{r0, r1, r2, r3, r4, r5}}",
            list6
        ),
        4 => sums!(
            "ldm r10, {{r0, r1, r2, r3}}",
            list_loop!(entry4!()),
            "sub r0, r0, r8\n sub r2, r2, r8",
            "stm r8, {{r0, r1, r2, r3}}"
        ),
        _ => sums!(
            "ldrd r0, r1, [r10]",
            list_loop!(entry2!()),
            "sub r0, r0, r8",
            "strd r0, r1, [r8]"
        ),
    }
}

/// Requantizes `acc`'s first `n` (at least 1) values by `m`'s multipliers and `sh`'s
/// shifts ([`requant`], the core's rule) and stores them as a hidden layer does
/// ([`store_hidden`]: `clamp(y + zp, −128, 127)`, at least `low`, minus `zp`).
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
        "ldr {a}, [{acc}], #4",
        requant!("{a}", "{m}", "{sh}", "{lo}"),
        store_hidden!("{zp}", "{low}", "{out}"),
        "subs {n}, {n}, #1",
        "bne 2b",
        acc = inout(reg) acc => _,
        n = inout(reg) n => _,
        m = inout(reg) m => _,
        sh = inout(reg) sh => _,
        out = inout(reg) out => _,
        zp = in(reg) zp,
        low = in(reg) low,
        a = out(reg) _,
        lo = out(reg) _,
        out("r8") _,
        out("r9") _,
        out("r10") _,
        options(nostack),
    );
}

/// As [`outputs_hidden`] for the output layer (zero point 0): each `y` within
/// `low..=high`, as i32s.
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
        "ldr lr, [{acc}], #4",
        requant!("lr", "r11", "r12", "{lo}"),
        "cmp r10, {low}",
        "it lt",
        "movlt r10, {low}",
        "cmp r10, {high}",
        "it gt",
        "movgt r10, {high}",
        "str r10, [{out}], #4",
        "subs {n}, {n}, #1",
        "bne 2b",
        acc = inout(reg) acc => _,
        n = inout(reg) n => _,
        inout("r11") m => _,
        inout("r12") sh => _,
        out = inout(reg) out => _,
        low = in(reg) low,
        high = in(reg) high,
        lo = out(reg) _,
        out("r8") _,
        out("r9") _,
        out("r10") _,
        out("lr") _,
        options(nostack),
    );
}
