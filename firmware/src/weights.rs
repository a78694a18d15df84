//! The WEIGHTS flash region (memory.x): a model blob written apart from the program
//! (qemu `-device loader`, or `probe-rs download` on a board), so a deployed device gets a
//! new model without reflashing its code.
use core::ops::Range;
use core::ptr::addr_of;
use microdense::{store, Blob, Error};

extern "C" {
    static _weights_start: u8;
    static _weights_end: u8;
}

/// Start address of the region.
pub fn address() -> usize {
    addr_of!(_weights_start) as usize
}

/// The whole region.
pub fn region() -> &'static [u8] {
    // SAFETY: memory.x maps WEIGHTS to flash, which is readable for the program's life;
    // only src/flash.rs writes it, into a slot not in use, through its controller.
    unsafe {
        let end = addr_of!(_weights_end) as usize;
        core::slice::from_raw_parts(address() as *const u8, end - address())
    }
}

/// What the region holds.
pub enum Stored {
    /// Nothing written: every byte 0xFF (erased flash) or zero (qemu's blank flash).
    Erased,
    Model(Blob<'static>),
}

/// The region's two halves: the slots of `microdense::store` (a chip that keeps what it
/// learned writes the one not in use; a blob loaded at the region's start is in the first,
/// or, larger than a half, the whole region).
pub fn slots() -> [Range<usize>; 2] {
    let half = region().len() / 2;
    [0..half, half..2 * half]
}

/// Reads the region: erased, a valid blob (the newer slot's, else one at the start), or
/// the core's error for what is there.
pub fn read() -> Result<Stored, Error> {
    let bytes = region();
    if let Some(kept) = store::active(bytes, &slots()) {
        return Ok(Stored::Model(kept.blob));
    }
    if bytes.iter().all(|&b| b == 0xFF || b == 0) {
        return Ok(Stored::Erased);
    }
    Blob::parse(bytes).map(Stored::Model)
}
