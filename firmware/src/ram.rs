//! RAM use, from cortex-m-rt's linker symbols: statics (.data, .bss, .uninit) are what
//! lies below `_stack_end`; the stack's peak is found through the paint (0xCCCCCCCC) that
//! cortex-m-rt's `paint-stack` feature lays over the free RAM at reset ([`paint`] on
//! RISC-V, where riscv-rt does not; a RISC-V board's memory.x names the same symbols).
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

/// Paints the free stack below the caller's frame (RISC-V; cortex-m-rt paints at reset,
/// so this is nothing on a Cortex-M). [`crate::start`] calls it.
#[inline(always)]
pub fn paint() {
    #[cfg(target_arch = "riscv32")]
    {
        let sp: usize;
        // SAFETY: reads the stack pointer.
        unsafe { core::arch::asm!("mv {}, sp", out(reg) sp, options(nomem, nostack)) };
        let mut at = symbol(addr_of!(_stack_end));
        // Below the caller's frame, with room for this loop's own.
        while at + 64 < sp {
            // SAFETY: free RAM between the statics and the live stack, word-aligned.
            unsafe { core::ptr::write_volatile(at as *mut u32, PAINT) };
            at += 4;
        }
    }
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
