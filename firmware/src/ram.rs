//! RAM use, from cortex-m-rt's linker symbols: statics (.data, .bss, .uninit) are what
//! lies below `_stack_end`; the stack's peak is found through the paint (0xCCCCCCCC) that
//! cortex-m-rt's `paint-stack` feature lays over the free RAM at reset.
use core::ptr::addr_of;

use crate::KiB;

extern "C" {
    static _ram_start: u32;
    static _ram_end: u32;
    static _stack_end: u32;
    static _stack_start: u32;
}

const PAINT: u32 = 0xCCCC_CCCC;

fn symbol(s: *const u32) -> usize {
    s as usize
}

/// Size of the RAM region in memory.x.
pub fn total() -> usize {
    symbol(addr_of!(_ram_end)) - symbol(addr_of!(_ram_start))
}

/// Bytes taken by statics.
pub fn statics() -> usize {
    symbol(addr_of!(_stack_end)) - symbol(addr_of!(_ram_start))
}

/// Deepest the stack has reached so far, in bytes.
pub fn stack_peak() -> usize {
    let (low, top) = (symbol(addr_of!(_stack_end)), symbol(addr_of!(_stack_start)));
    let mut at = low;
    // SAFETY: reads of the RAM between the statics and the stack top, which is mapped
    // and word-aligned (cortex-m-rt aligns both symbols).
    while at < top && unsafe { core::ptr::read_volatile(at as *const u32) } == PAINT {
        at += 4;
    }
    top - at
}

/// Prints the RAM line both programs end with: in use, of the total, statics and stack.
pub fn report() {
    crate::hprintln!(
        "RAM: {} of {}: statics {}, stack peak {}",
        KiB(statics() + stack_peak()),
        KiB(total()),
        KiB(statics()),
        KiB(stack_peak())
    );
}
