//! The WEIGHTS flash region (memory.x): a model blob written apart from the program
//! (qemu `-device loader`, or `probe-rs download` on a board), so a deployed device gets a
//! new model without reflashing its code.
use core::ptr::addr_of;
use microdense::{Blob, Error};

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
    // SAFETY: memory.x maps WEIGHTS to flash, which is readable for the program's life
    // and never written while it runs.
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

/// Reads the region: erased, a valid blob, or the core's error for what is there.
pub fn read() -> Result<Stored, Error> {
    let bytes = region();
    if bytes.iter().all(|&b| b == 0xFF || b == 0) {
        return Ok(Stored::Erased);
    }
    Blob::parse(bytes).map(Stored::Model)
}
