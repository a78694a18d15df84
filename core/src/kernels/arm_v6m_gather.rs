//! The Cortex-M0 gathers of the int8 kernel (Armv6-M, Thumb-1): the same lists as
//! `gather_pairs` and `gather_bytes` build, an entry stored with one STM, and the listed
//! inputs' sum that the offset coding needs, added as they go (a Rust pass over the list
//! took about 2,000 instructions an inference). The compiled loops took about 26
//! instructions per hidden pair and 24 per quad of inputs (an `Option` per slot, the count
//! and offset spilled); these take 7 per blank hidden pair and 11 per listed one, 6 per
//! blank quad and about 15 per listed input pair.
use core::arch::asm;

/// Lists each non-zero word of `pairs` (`len` words) as (word, its pair's offset: k ·
/// `row`) at `list`; returns the entries written and the sum of their i16 halves
/// (wrapping).
///
/// # Safety
/// `pairs` holds `len` words; `list` has room for `2 · len` words; both 4-aligned.
#[inline(always)]
pub(crate) unsafe fn pairs(
    pairs: *const u32,
    len: usize,
    row: u32,
    list: *mut u32,
) -> (usize, i32) {
    let end: *mut u32;
    let sum: i32;
    // r0 the words, r1 the list, r2 the sum, r3 a word, r4 scratch, r5 the offset; the
    // end and `row` in r8 and r9 (CMP and ADD take high registers; Rust's operands may
    // not), so that the sum fits in the low ones (r6 and r7 are LLVM's).
    asm!(
        "mov r8, r2",
        "mov r9, r4",
        "movs r2, #0",
        "cmp r0, r8",
        "beq 3f",
        "2:",
        "ldm r0!, {{r3}}",
        "cmp r3, #0",
        "beq 4f",
        "stm r1!, {{r3, r5}}",
        "sxth r4, r3",
        "adds r2, r2, r4",
        "asrs r4, r3, #16",
        "adds r2, r2, r4",
        "4:",
        "add r5, r9",
        "cmp r0, r8",
        "bne 2b",
        "3:",
        inout("r0") pairs => _,
        inout("r1") list => end,
        inout("r2") pairs.add(len) => sum,
        out("r3") _,
        inout("r4") row => _,
        inout("r5") 0u32 => _,
        out("r8") _,
        out("r9") _,
        options(nostack),
    );
    ((end as usize - list as usize) / 8, sum)
}

/// Lists the pairs of the `quads` words of int8 inputs at `x` (four inputs a word,
/// little-endian) not both at the zero point `zp`: (inputs minus `zp` as the i16 halves
/// of a word, the pair's offset k · `row`) at `list`; returns the entries written and the
/// sum of their inputs minus `zp` (wrapping). `blank` is `zp`'s byte four times.
///
/// # Safety
/// `x` holds `quads` words; `list` has room for `4 · quads` words; both 4-aligned.
#[inline(always)]
pub(crate) unsafe fn bytes(
    x: *const u32,
    quads: usize,
    zp: i32,
    blank: u32,
    row: u32,
    list: *mut u32,
) -> (usize, i32) {
    let end: *mut u32;
    let sum: i32;
    // r0 inputs, r1 zp, r2 list, r3 the word, r4 and r6 an entry's halves, r5 the offset,
    // r7 the word XOR blank; r8 the end, r9 row, r10 blank, r11 2·row, r12 the sum (each
    // half added before it is packed). r6 and r7 (LLVM's base and frame pointers) are
    // saved around the loop.
    asm!(
        "mov r8, r3",
        "mov r9, r4",
        "mov r10, r5",
        "adds r4, r4, r4",
        "mov r11, r4",
        "movs r5, #0",
        "mov r12, r5",
        "cmp r0, r8",
        "beq 3f",
        "push {{r6, r7}}",
        "2:",
        "ldm r0!, {{r3}}",
        "cmp r3, r10",
        "beq 5f",
        "mov r7, r10",
        "eors r7, r3",
        // Inputs 0 and 1: listed unless both are at the zero point.
        "lsls r4, r7, #16",
        "beq 4f",
        "sxtb r4, r3",
        "subs r4, r4, r1",
        "add r12, r4",
        "uxth r4, r4",
        "lsls r6, r3, #16",
        "asrs r6, r6, #24",
        "subs r6, r6, r1",
        "add r12, r6",
        "lsls r6, r6, #16",
        "orrs r4, r6",
        "stm r2!, {{r4, r5}}",
        "4:",
        // Inputs 2 and 3, one row pair further.
        "lsrs r7, r7, #16",
        "beq 5f",
        "lsls r4, r3, #8",
        "asrs r4, r4, #24",
        "subs r4, r4, r1",
        "add r12, r4",
        "uxth r4, r4",
        "asrs r6, r3, #24",
        "subs r6, r6, r1",
        "add r12, r6",
        "lsls r6, r6, #16",
        "orrs r4, r6",
        "mov r6, r5",
        "add r6, r9",
        "stm r2!, {{r4, r6}}",
        "5:",
        "add r5, r11",
        "cmp r0, r8",
        "bne 2b",
        "pop {{r6, r7}}",
        "3:",
        "mov r3, r12",
        inout("r0") x => _,
        in("r1") zp,
        inout("r2") list => end,
        inout("r3") x.add(quads) => sum,
        inout("r4") row => _,
        inout("r5") blank => _,
        out("r8") _,
        out("r9") _,
        out("r10") _,
        out("r11") _,
        out("r12") _,
    );
    ((end as usize - list as usize) / 8, sum)
}
