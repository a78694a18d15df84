//! The STM32F405's flash controller (RM0090 §3), driving core's two-slot store
//! (`microdense::store`, docs/flash-store.md): the WEIGHTS region is sectors 10 and 11
//! (128 KiB each), one slot each ([`crate::weights::slots`], the region's halves). Only erase-sector and program-word live here; the
//! scheme and its checks are in the core, tested on the PC against a simulated flash.
//!
//! qemu's STM32F405 (netduinoplus2) does not emulate the controller: its flash is a ROM
//! and the registers at 0x4002_3C00 are an unimplemented device that reads 0. [`present`]
//! tells the two apart by the LOCK bit, which the real controller reads as set from
//! reset until unlocked (and this module locks it again after each write).
use core::ops::Range;
use core::ptr::{read_volatile, write_volatile};

use microdense::store::{self, Flash, StoreError, Written};

const BASE: usize = 0x4002_3C00;
const ACR: usize = BASE;
const KEYR: usize = BASE + 0x04;
const SR: usize = BASE + 0x0C;
const CR: usize = BASE + 0x10;
const KEYS: [u32; 2] = [0x4567_0123, 0xCDEF_89AB];
// SR: BSY, and the error flags (PGSERR, PGPERR, PGAERR, WRPERR, OPERR), cleared by
// writing 1s.
const BSY: u32 = 1 << 16;
const ERRORS: u32 = 0xF2;
// CR: program, sector erase, sector number at bits 3..7, 32-bit parallelism (needs a
// 2.7–3.6 V supply), start, lock.
const PG: u32 = 1;
const SER: u32 = 1 << 1;
const PSIZE_32: u32 = 2 << 8;
const STRT: u32 = 1 << 16;
const LOCK: u32 = 1 << 31;
// ACR: data cache enable and reset (a cached line of a sector just erased is stale).
const DCEN: u32 = 1 << 10;
const DCRST: u32 = 1 << 12;
/// WEIGHTS starts at sector 10; each sector there is 128 KiB.
const FIRST_SECTOR: usize = 10;
const SECTOR: usize = 128 * 1024;

fn read(reg: usize) -> u32 {
    // SAFETY: a flash interface register (RM0090 §3.9), always readable.
    unsafe { read_volatile(reg as *const u32) }
}

fn write(reg: usize, value: u32) {
    // SAFETY: as `read`; the values written are the sequences RM0090 §3.6 gives.
    unsafe { write_volatile(reg as *mut u32, value) }
}

/// Whether a flash controller answers: LOCK reads set while no write is under way.
pub fn present() -> bool {
    read(CR) & LOCK != 0
}

/// The unlocked controller; locks it again when dropped.
struct Controller;

impl Controller {
    fn unlock() -> Self {
        // The keys only while locked: a key written to an unlocked controller is a wrong
        // sequence, which locks CR until the next reset (RM0090 §3.5.1).
        if read(CR) & LOCK != 0 {
            for key in KEYS {
                write(KEYR, key);
            }
        }
        write(SR, ERRORS); // flags left by an earlier operation
        Controller
    }

    /// Waits for the operation under way, clears PG/SER and returns its error flags.
    fn finish(&self) -> Result<(), StoreError> {
        while read(SR) & BSY != 0 {}
        write(CR, read(CR) & !(PG | SER));
        let errors = read(SR) & ERRORS;
        write(SR, errors);
        let acr = read(ACR);
        if acr & DCEN != 0 {
            write(ACR, acr & !DCEN);
            write(ACR, (acr & !DCEN) | DCRST);
            write(ACR, acr);
        }
        match errors {
            0 => Ok(()),
            e => Err(StoreError::Controller(e)),
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        write(CR, read(CR) | LOCK);
    }
}

impl Flash for Controller {
    fn region(&self) -> &[u8] {
        crate::weights::region()
    }

    fn erase(&mut self, range: Range<usize>) -> Result<(), StoreError> {
        if range.start % SECTOR != 0 || range.end % SECTOR != 0 {
            return Err(StoreError::Layout);
        }
        for sector in range.start / SECTOR..range.end / SECTOR {
            let snb = ((FIRST_SECTOR + sector) as u32) << 3;
            write(CR, SER | snb | PSIZE_32);
            write(CR, SER | snb | PSIZE_32 | STRT);
            self.finish()?;
        }
        Ok(())
    }

    fn program(&mut self, offset: usize, word: u32) -> Result<(), StoreError> {
        write(CR, PG | PSIZE_32);
        let at = crate::weights::address() + offset;
        // SAFETY: a word-aligned address inside WEIGHTS (the store's offsets are), in
        // flash the controller now programs; nothing reads it until `finish` returns.
        unsafe { write_volatile(at as *mut u32, word) };
        self.finish()
    }
}

/// Writes the `len`-byte blob `fill` produces into the slot not in use (see
/// `microdense::store::write`): the old model stays until the new one is verified.
pub fn keep(len: usize, fill: impl FnMut(usize, &mut [u8])) -> Result<Written, StoreError> {
    let mut controller = Controller::unlock();
    store::write(&mut controller, &crate::weights::slots(), len, fill)
}
