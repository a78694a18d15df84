//! Cortex-M0 requantization (Armv6-M, Thumb-1), the same integers as
//! `requantize_by_byte` (the core's rule) and `Sink::put` compute: a hidden layer's
//! chunks of six from biases to int8 outputs in one piece of assembly (with `arm_v6m`'s
//! six-wide loop), and any 1..=6 accumulators of the other chunks.
//!
//! Thumb-1 has no 32×32→64 multiply: the rounded high word `(a·m + 2^31) >> 32` is built
//! from four 16×16-bit products, a signed and an unsigned half of `a` (`a = ah·2^16 + al`,
//! `ah` arithmetic) times the halves of `m` (`0 ≤ m < 2^31`, so `mh < 2^15`):
//!
//! ```text
//! a·m = ah·mh·2^32 + (ah·ml + al·mh)·2^16 + al·ml
//! ```
//!
//! `al·ml` is the low word (unsigned); each middle term is shifted into it with ADDS and
//! its upper part carried into `ah·mh` with ADCS (`ah·ml` signed, so its upper part by
//! ASRS; `al·mh` by LSRS); the `2^31` of the rounding only carries bit 31 of the final
//! low word (LSRS #32, ADCS). The rounding shift `(t + 2^(s−1)) >> s` is ASRS by `s`
//! plus the carry (the last bit shifted out) with C cleared first, which `s = 0` leaves
//! alone. The compiled code took about 97 instructions per output (spilling the
//! products); this takes 31.

use super::arm_v6m::entry6;
use core::arch::asm;

/// The arithmetic of one output, from the accumulator in r3 and the multiplier in r4 to
/// the clamped result in r3, the shift loaded by `$shift` (an LDRB into r6): r3 is `a`,
/// `ah`, then the high word `t` and the result; r4 `m`, `ml`, then `ah·ml`; r5 `al`, then
/// `al·mh`; r6 `mh`, then scratch; r7 the low word. r8 and r9 hold the bounds.
macro_rules! requant_one {
    ($($shift:expr),*) => {
        concat!(
            "uxth r5, r3\n",
            "asrs r3, r3, #16\n",
            "lsrs r6, r4, #16\n",
            "uxth r4, r4\n",
            "mov r7, r5\n",
            "muls r7, r4, r7\n", // al·ml
            "muls r5, r6, r5\n", // al·mh
            "muls r4, r3, r4\n", // ah·ml
            "muls r3, r6, r3\n", // ah·mh
            "lsls r6, r4, #16\n",
            "asrs r4, r4, #16\n",
            "adds r7, r7, r6\n",
            "adcs r3, r4\n",
            "lsls r6, r5, #16\n",
            "lsrs r5, r5, #16\n",
            "adds r7, r7, r6\n",
            "adcs r3, r5\n",
            // + 2^31: the carry out of the low word is its bit 31.
            "lsrs r7, r7, #32\n",
            "adcs r3, r7\n",
            $($shift, "\n",)*
            // (t + 2^(s−1)) >> s = (t >> s) + the last bit shifted out; s = 0 keeps C,
            // cleared by the ADDS of zeros.
            "adds r7, r7, r7\n",
            "asrs r3, r6\n",
            "adcs r3, r7\n",
            "cmp r3, r8\n",
            "ble 5f\n",
            "mov r3, r8\n",
            "5:\n",
            "cmp r3, r9\n",
            "bge 6f\n",
            "mov r3, r9\n",
            "6:\n",
        )
    };
}

/// Every whole chunk of six outputs of a hidden layer in one piece of assembly, so that
/// the accumulators stay in registers from the biases to the requantization: per chunk
/// the biases (the even ones less `extra`, the offset coding's correction: see
/// `arm_v6m::accumulate`), the products of every listed pair (`arm_v6m`'s six-wide loop),
/// then each accumulator requantized with its multiplier and shift (at most 31: the
/// core's rule), clamped to `lo..=hi` and stored as an i16 at `out`. With `hi = 127 − zp`
/// and `lo = max(−128, low) − zp` that is `Sink::put` for a hidden layer: `y + zp`
/// clamped to `low..=127`, minus `zp` (no overflow: `|y| ≤ 2^30 + 1`, `zp` an int8 value).
/// Chunk c reads the weights at `weights + 12·c` plus each listed offset.
///
/// # Safety
/// `chunks ≥ 1`; `biases` and `multipliers` hold `6 · chunks` i32s and are 4-aligned;
/// `shifts` holds `6 · chunks` bytes; `out` has room for `6 · chunks` i16s and is
/// 2-aligned; `weights + 12·c` (c < `chunks`) and `list` meet the list contract of
/// `kernels::int8::accumulate` for a width of 6.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn hidden_chunks(
    weights: *const u8,
    list: *const u32,
    biases: *const u8,
    extra: i32,
    multipliers: *const u8,
    shifts: *const u8,
    out: *mut i16,
    (hi, lo): (i32, i32),
    chunks: usize,
) {
    // What does not fit in registers, read and advanced through r0: biases, weights,
    // list, extra, multipliers, shifts, out, hi, lo, chunks left, then two slots for
    // accumulators 0 and 1 while r8 and r9 hold the bounds.
    let mut frame = [
        biases as u32,
        weights as u32,
        list as u32,
        extra as u32,
        multipliers as u32,
        shifts as u32,
        out as u32,
        hi as u32,
        lo as u32,
        chunks as u32,
        0,
        0,
    ];
    // One output: the accumulator by `$acc`, the multiplier and shift at immediate
    // offsets, the result stored through `out`.
    macro_rules! output {
        ($acc:literal, $m:literal, $s:literal, $o:literal) => {
            concat!(
                $acc,
                "\n",
                "ldr r4, [r1, #",
                $m,
                "]\n",
                requant_one!(concat!("ldrb r6, [r2, #", $s, "]")),
                "ldr r6, [r0, #24]\n",
                "strh r3, [r6, #",
                $o,
                "]\n",
            )
        };
    }
    asm!(
        // r6 and r7 (LLVM's base and frame pointers) are saved around the block; the
        // frame's address stays at [sp].
        "push {{r0, r6, r7}}",
        "7:",
        "ldr r0, [sp]",
        "ldr r1, [r0, #0]",
        "ldr r2, [r0, #12]",
        "ldr r3, [r1, #0]",
        "subs r3, r3, r2",
        "mov r8, r3",
        "ldr r3, [r1, #4]",
        "mov r9, r3",
        "ldr r3, [r1, #8]",
        "subs r3, r3, r2",
        "mov r10, r3",
        "ldr r3, [r1, #12]",
        "mov r11, r3",
        "ldr r3, [r1, #16]",
        "subs r3, r3, r2",
        "mov r12, r3",
        "ldr r3, [r1, #20]",
        "mov lr, r3",
        "adds r1, #24",
        "str r1, [r0, #0]",
        "ldr r6, [r0, #4]",
        "adds r6, #12",
        "str r6, [r0, #4]",
        "subs r6, #12",
        "ldr r5, [r0, #8]",
        // The list, two entries per iteration (as `arm_v6m`'s `six`).
        "ldm r5!, {{r0, r1}}",
        "cmp r0, #0",
        "beq 3f",
        "2:",
        entry6!(),
        "ldm r5!, {{r0, r1}}",
        entry6!(),
        "ldm r5!, {{r0, r1}}",
        "cmp r0, #0",
        "bne 2b",
        "3:",
        // Accumulators 0 and 1 to the frame, the bounds to r8 and r9.
        "ldr r0, [sp]",
        "mov r3, r8",
        "str r3, [r0, #40]",
        "mov r3, r9",
        "str r3, [r0, #44]",
        "ldr r3, [r0, #28]",
        "mov r8, r3",
        "ldr r3, [r0, #32]",
        "mov r9, r3",
        "ldr r1, [r0, #16]",
        "ldr r2, [r0, #20]",
        output!("ldr r3, [r0, #40]", "0", "0", "0"),
        output!("ldr r3, [r0, #44]", "4", "1", "2"),
        output!("mov r3, r10", "8", "2", "4"),
        output!("mov r3, r11", "12", "3", "6"),
        output!("mov r3, r12", "16", "4", "8"),
        output!("mov r3, lr", "20", "5", "10"),
        "adds r1, #24",
        "str r1, [r0, #16]",
        "adds r2, #6",
        "str r2, [r0, #20]",
        "ldr r3, [r0, #24]",
        "adds r3, #12",
        "str r3, [r0, #24]",
        "ldr r3, [r0, #36]",
        "subs r3, #1",
        "str r3, [r0, #36]",
        // The chunk is further back than a conditional branch reaches.
        "beq 8f",
        "b 7b",
        "8:",
        "pop {{r0, r6, r7}}",
        inout("r0") frame.as_mut_ptr() => _,
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

/// The six little-endian i32s at `biases` (two LDM/STM pairs: the compiled copy was a
/// library call or a bounds-checked loop).
///
/// # Safety
/// `biases` holds six i32s and is 4-aligned.
#[inline(always)]
pub(crate) unsafe fn biases6(biases: *const u8) -> [i32; 6] {
    let mut acc = core::mem::MaybeUninit::<[i32; 6]>::uninit();
    asm!(
        "ldm {b}!, {{r3, r4, r5}}",
        "stm {a}!, {{r3, r4, r5}}",
        "ldm {b}!, {{r3, r4, r5}}",
        "stm {a}!, {{r3, r4, r5}}",
        a = inout(reg) acc.as_mut_ptr() => _,
        b = inout(reg) biases => _,
        out("r3") _,
        out("r4") _,
        out("r5") _,
        options(nostack, preserves_flags),
    );
    // SAFETY: the two STMs wrote all six.
    acc.assume_init()
}

/// The first `n` (1..=6) accumulators of `acc` requantized as [`hidden_chunks`] does, each
/// result clamped to `lo..=hi` and stored at `out` as an i16 (`WIDE` false: a hidden
/// layer's chunk of two or four) or an i32 (`WIDE`: the output layer, where the core's
/// rule has zero point 0 and `lo..=hi` is `low..=high` itself).
///
/// # Safety
/// `1 ≤ n ≤ 6`; `multipliers` holds `n` i32s and is 4-aligned; `shifts` holds `n` bytes,
/// each at most 31; `out` has room for `n` values and is aligned for them.
#[inline(always)]
pub(crate) unsafe fn outputs<const WIDE: bool>(
    acc: &[i32; 6],
    n: usize,
    multipliers: *const u8,
    shifts: *const u8,
    out: *mut u8,
    hi: i32,
    lo: i32,
) {
    let bounds = [hi, lo];
    macro_rules! outputs {
        ($store:literal) => {
            asm!(
                "mov r10, r3",
                "mov r11, r5",
                "ldr r3, [r4]",
                "mov r8, r3",
                "ldr r3, [r4, #4]",
                "mov r9, r3",
                "push {{r6, r7}}",
                "2:",
                "ldm r0!, {{r3}}",
                "ldm r1!, {{r4}}",
                requant_one!("ldrb r6, [r2]", "adds r2, r2, #1"),
                "mov r6, r10",
                $store,
                "mov r10, r6",
                "cmp r0, r11",
                "bne 2b",
                "pop {{r6, r7}}",
                inout("r0") acc.as_ptr() => _,
                inout("r1") multipliers => _,
                inout("r2") shifts => _,
                inout("r3") out => _,
                inout("r4") bounds.as_ptr() => _,
                inout("r5") acc.as_ptr().add(n) => _,
                out("r8") _,
                out("r9") _,
                out("r10") _,
                out("r11") _,
            )
        };
    }
    if WIDE {
        outputs!("stm r6!, {{r3}}");
    } else {
        outputs!("strh r3, [r6]\nadds r6, r6, #2");
    }
}
