//! Keeping a model in flash across resets: a chip writes the blob it trained into its
//! WEIGHTS region without ever leaving the region without a whole, verified model. The
//! scheme (docs/flash-store.md) and its checks are here, chip-independent and tested on
//! a PC against a simulated flash; a chip supplies only erase and program ([`Flash`]).
//!
//! The region holds two slots, each a whole number of erase sectors. A slot holds a blob
//! at its start (where a programmer or qemu's loader puts one at the region's start) and,
//! after it (at the next multiple of 4), a 16-byte record: `MDSL`, a generation, the
//! blob's length and its CRC-32. A write goes to the slot that does not hold the model in
//! use, in this order:
//! 1. erase the slot;
//! 2. program the blob except its first word (the magic `MDNS`), then the record;
//! 3. read the slot back and compare its CRC with the source's;
//! 4. program the magic: only now is the slot a blob (the commit);
//! 5. clear the old slot's magic to zero (flash bits go 1 → 0 without an erase).
//!
//! A reset at any point leaves the old model in use until step 4 (step 5 when the old
//! one was loaded by a programmer), and the new one after it: a slot counts only when its bytes parse as a blob ([`crate::Blob::parse`], whose
//! CRC covers every byte) and its record agrees. Between steps 4 and 5 both slots are
//! blobs: the higher generation wins. A blob with no record was loaded by a programmer
//! and is newer than anything the chip wrote (the chip clears slots it leaves).
use core::ops::Range;

use crate::format::{Blob, CRC};
use crate::Error;

/// The record's first four bytes.
pub const RECORD_MAGIC: [u8; 4] = *b"MDSL";
/// Bytes of the record after a blob.
pub const RECORD_LEN: usize = 16;

/// CRC-32 (ISO-HDLC, as zip and the weights format use) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    crate::format::crc32_parts(&[bytes])
}

/// CRC-32 of the `len` bytes that `fill(offset, buf)` produces (as for [`write`]), a
/// chunk at a time: a blob's digest without the blob in one buffer.
pub fn crc32_of(len: usize, mut fill: impl FnMut(usize, &mut [u8])) -> u32 {
    let mut digest = CRC.digest();
    let mut chunk = [0u8; 64];
    let mut offset = 0;
    while offset < len {
        let n = chunk.len().min(len - offset);
        fill(offset, &mut chunk[..n]);
        digest.update(&chunk[..n]);
        offset += n;
    }
    digest.finalize()
}

/// A chip's flash controller over the WEIGHTS region. Offsets are from the region's
/// start.
pub trait Flash {
    /// The region as it reads now.
    fn region(&self) -> &[u8];
    /// Erases `range` (a slot: whole sectors) to 0xFF.
    fn erase(&mut self, range: Range<usize>) -> Result<(), StoreError>;
    /// Programs the little-endian `word` at `offset` (a multiple of 4). Flash can only
    /// clear bits: the result reads `old & word`.
    fn program(&mut self, offset: usize, word: u32) -> Result<(), StoreError>;
}

/// What went wrong writing a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The blob and its record do not fit a slot.
    TooLarge {
        /// Bytes needed (blob, padding, record).
        needed: usize,
        /// Bytes in a slot.
        slot: usize,
    },
    /// The model in the region spans both slots (a large blob loaded by a programmer):
    /// writing either slot would destroy it before the new one is complete.
    Spanning,
    /// The flash controller reported an error (its status bits).
    Controller(u32),
    /// A slot read back differs from what was written (`slot`: 0 or 1).
    Verify {
        /// The slot.
        slot: usize,
    },
    /// The slots do not lie in the region, or overlap.
    Layout,
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            StoreError::TooLarge { needed, slot } => write!(
                f,
                "the blob and its record take {needed} bytes; a slot holds {slot}"
            ),
            StoreError::Spanning => write!(
                f,
                "the model in the region spans both slots; writing would destroy it first"
            ),
            StoreError::Controller(status) => {
                write!(f, "the flash controller reported status {status:#x}")
            }
            StoreError::Verify { slot } => {
                write!(f, "slot {slot} reads back different from what was written")
            }
            StoreError::Layout => write!(f, "the slots do not fit the region"),
        }
    }
}

/// The model a slot holds.
#[derive(Clone, Debug)]
pub struct Stored<'a> {
    /// 0 or 1.
    pub slot: usize,
    /// Its record's generation; `None` for a blob loaded by a programmer.
    pub generation: Option<u32>,
    /// The blob.
    pub blob: Blob<'a>,
}

/// What [`write`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// The slot now in use.
    pub slot: usize,
    /// Its generation.
    pub generation: u32,
    /// The blob's length and CRC-32, as read back from flash.
    pub len: usize,
    /// CRC-32 of the blob's bytes.
    pub crc: u32,
}

fn record_at(len: usize) -> usize {
    len.next_multiple_of(4)
}

fn word_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The model in slot `k` of `slots` (two ranges of `region`), if its bytes are a blob
/// and its record, when it has one, agrees.
fn slot<'a>(region: &'a [u8], slots: &[Range<usize>; 2], k: usize) -> Option<Stored<'a>> {
    let bytes = region.get(slots.get(k)?.clone())?;
    let blob = Blob::parse(bytes).ok()?;
    let len = blob.len();
    let at = record_at(len);
    let record = bytes.get(at..at + RECORD_LEN)?;
    let generation = match record[..4] == RECORD_MAGIC {
        false => None,
        true => {
            let agrees = word_at(record, 8) == Some(len as u32)
                && word_at(record, 12) == Some(crc32(&bytes[..len]));
            if !agrees {
                return None;
            }
            word_at(record, 4)
        }
    };
    Some(Stored {
        slot: k,
        generation,
        blob,
    })
}

/// The model in use: the slot holding a blob, or, if both do, the newer (a blob without
/// a record first, then the higher generation). `None` when neither slot holds one (the
/// region may still hold a blob larger than a slot, loaded by a programmer: read it with
/// [`crate::Blob::parse`]).
pub fn active<'a>(region: &'a [u8], slots: &[Range<usize>; 2]) -> Option<Stored<'a>> {
    match (slot(region, slots, 0), slot(region, slots, 1)) {
        (Some(a), Some(b)) => {
            let rank = |s: &Stored| s.generation.map_or(u64::MAX, u64::from);
            Some(if rank(&b) > rank(&a) { b } else { a })
        }
        (a, b) => a.or(b),
    }
}

/// Writes the blob of `len` bytes that `fill(offset, buf)` produces (it fills `buf` with
/// the blob's bytes from `offset`; it is called more than once for the same bytes) into
/// the slot not in use, by the steps in the module's documentation; returns what is now
/// in use. The old model stays in use until the new one is complete and verified.
pub fn write<F: Flash>(
    flash: &mut F,
    slots: &[Range<usize>; 2],
    len: usize,
    mut fill: impl FnMut(usize, &mut [u8]),
) -> Result<Written, StoreError> {
    let region = flash.region().len();
    let [a, b] = slots;
    let fits = |s: &Range<usize>| s.start <= s.end && s.end <= region;
    if !(fits(a) && fits(b)) || (a.start < b.end && b.start < a.end) {
        return Err(StoreError::Layout);
    }
    let now = active(flash.region(), slots).map(|s| (s.slot, s.generation));
    let (target, generation) = match now {
        Some((k, g)) => (1 - k, g.map_or(1, |g| g.wrapping_add(1))),
        None if Blob::parse(flash.region()).is_ok() => return Err(StoreError::Spanning),
        None => (0, 1),
    };
    let range = slots[target].clone();
    let needed = record_at(len) + RECORD_LEN;
    if needed > range.len() || len < 4 {
        return Err(StoreError::TooLarge {
            needed,
            slot: range.len(),
        });
    }
    let at = range.start;
    flash.erase(range.clone())?;
    // The blob but its magic, a word at a time (the last one padded with 0xFF), and the
    // source's CRC on the way.
    let mut digest = CRC.digest();
    let mut chunk = [0u8; 64];
    let mut offset = 0;
    while offset < len {
        let n = chunk.len().min(len - offset);
        fill(offset, &mut chunk[..n]);
        digest.update(&chunk[..n]);
        chunk[n..].fill(0xFF);
        for (k, w) in chunk[..n.next_multiple_of(4)].chunks_exact(4).enumerate() {
            let o = offset + 4 * k;
            if o > 0 {
                flash.program(at + o, u32::from_le_bytes([w[0], w[1], w[2], w[3]]))?;
            }
        }
        offset += n;
    }
    let crc = digest.finalize();
    let r = at + record_at(len);
    let magic = u32::from_le_bytes(RECORD_MAGIC);
    for (k, word) in [magic, generation, len as u32, crc].into_iter().enumerate() {
        flash.program(r + 4 * k, word)?;
    }
    // Read back before the commit: everything but the magic, which still reads erased.
    let mut head = [0u8; 4];
    fill(0, &mut head);
    let back = flash.region().get(at..at + len);
    let same = back.is_some_and(|bytes| {
        let mut digest = CRC.digest();
        digest.update(&head);
        digest.update(&bytes[4..]);
        bytes[..4] == [0xFF; 4] && digest.finalize() == crc
    });
    if !same {
        return Err(StoreError::Verify { slot: target });
    }
    flash.program(at, u32::from_le_bytes(head))?;
    match slot(flash.region(), slots, target) {
        Some(s) if s.generation == Some(generation) => {}
        _ => return Err(StoreError::Verify { slot: target }),
    }
    // The old slot is no longer a blob: a programmer's blob there would otherwise win.
    if let Some((old, _)) = now {
        flash.program(slots[old].start, 0)?;
    }
    Ok(Written {
        slot: target,
        generation,
        len,
        crc,
    })
}

/// The bytes of the f32 blob made of `header` (from [`crate::format::f32_header`]) and
/// `parts` (little-endian values), from `offset`, into `buf`: the `fill` for [`write`]
/// of a model whose parameters are in two parts.
pub fn f32_blob_bytes(header: &[u8], parts: &[&[f32]], offset: usize, buf: &mut [u8]) {
    for (k, out) in buf.iter_mut().enumerate() {
        let at = offset + k;
        *out = match at.checked_sub(header.len()) {
            None => header.get(at).copied().unwrap_or(0xFF),
            Some(p) => value_byte(parts, p),
        };
    }
}

fn value_byte(parts: &[&[f32]], mut at: usize) -> u8 {
    for part in parts {
        match part.get(at / 4) {
            Some(v) => return v.to_le_bytes()[at % 4],
            None => at -= 4 * part.len(),
        }
    }
    0xFF
}

/// Why a write would be refused, for callers that check first: `Ok` when `len` bytes
/// and their record fit a slot of `slots`.
pub fn check_fits(slots: &[Range<usize>; 2], len: usize) -> Result<(), Error> {
    let smaller = slots[0].len().min(slots[1].len());
    match record_at(len) + RECORD_LEN <= smaller {
        true => Ok(()),
        false => Err(Error::BufferLength {
            buffer: crate::Buffer::Blob,
            expected: record_at(len) + RECORD_LEN,
            actual: smaller,
        }),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::format::{f32_header, write_blob, HEADER_LEN};
    use crate::{Activation, Layer, Topology};
    use std::vec;
    use std::vec::Vec;

    /// NOR flash: erase sets 0xFF, program ANDs; `fail_after` cuts the power after that
    /// many programmed words (every later operation fails and changes nothing).
    struct Mock {
        bytes: Vec<u8>,
        sector: usize,
        programmed: usize,
        fail_after: Option<usize>,
    }

    impl Flash for Mock {
        fn region(&self) -> &[u8] {
            &self.bytes
        }
        fn erase(&mut self, range: Range<usize>) -> Result<(), StoreError> {
            assert!(
                range.start.is_multiple_of(self.sector) && range.end.is_multiple_of(self.sector)
            );
            if self.fail_after.is_some_and(|n| self.programmed >= n) {
                return Err(StoreError::Controller(1));
            }
            self.bytes[range].fill(0xFF);
            Ok(())
        }
        fn program(&mut self, offset: usize, word: u32) -> Result<(), StoreError> {
            assert_eq!(offset % 4, 0);
            if self.fail_after.is_some_and(|n| self.programmed >= n) {
                return Err(StoreError::Controller(1));
            }
            for (b, w) in self.bytes[offset..offset + 4]
                .iter_mut()
                .zip(word.to_le_bytes())
            {
                *b &= w;
            }
            self.programmed += 1;
            Ok(())
        }
    }

    const SECTOR: usize = 1024;
    const SLOTS: [Range<usize>; 2] = [0..SECTOR, SECTOR..2 * SECTOR];

    fn model(units: usize, bias: f32) -> (Topology, Vec<f32>, Vec<u8>) {
        let layers = [Layer::new(units, Activation::Softmax)];
        let t = Topology::new(6, &layers).unwrap();
        let params: Vec<f32> = (0..t.params_len()).map(|i| i as f32 * 0.5 + bias).collect();
        let mut blob = vec![0u8; HEADER_LEN + 4 * params.len()];
        write_blob(&t, &params, &mut blob).unwrap();
        (t, params, blob)
    }

    fn bytes_of(blob: &[u8]) -> impl FnMut(usize, &mut [u8]) + '_ {
        |offset, buf: &mut [u8]| buf.copy_from_slice(&blob[offset..offset + buf.len()])
    }

    fn blank(fill: u8) -> Mock {
        Mock {
            bytes: vec![fill; 2 * SECTOR],
            sector: SECTOR,
            programmed: 0,
            fail_after: None,
        }
    }

    #[test]
    fn writes_alternate_slots_and_the_newest_is_in_use() {
        let mut flash = blank(0);
        assert!(active(flash.region(), &SLOTS).is_none());
        let mut last: Option<usize> = None;
        for round in 0..5u32 {
            let (_, _, blob) = model(3 + round as usize % 2, round as f32);
            let w = write(&mut flash, &SLOTS, blob.len(), bytes_of(&blob)).unwrap();
            assert_eq!(w.slot, round as usize % 2);
            assert_eq!(
                (w.generation, w.len, w.crc),
                (round + 1, blob.len(), crc32(&blob))
            );
            let now = active(flash.region(), &SLOTS).unwrap();
            assert_eq!((now.slot, now.generation), (w.slot, Some(round + 1)));
            assert_eq!(&flash.bytes[SLOTS[w.slot].start..][..blob.len()], &blob[..]);
            // The slot left is no blob any more.
            if let Some(old) = last {
                assert!(Blob::parse(&flash.bytes[SLOTS[old].clone()]).is_err());
            }
            last = Some(w.slot);
        }
    }

    #[test]
    fn a_blob_loaded_by_a_programmer_is_used_and_kept_until_the_new_one_is_complete() {
        let (_, _, old) = model(3, 1.0);
        let (_, _, new) = model(4, 2.0);
        let mut loaded = blank(0xFF);
        loaded.bytes[..old.len()].copy_from_slice(&old);
        let s = active(loaded.region(), &SLOTS).unwrap();
        assert_eq!((s.slot, s.generation), (0, None));
        // Power cut after every possible number of programmed words: until the commit
        // the programmer's model is in use, afterwards the new one; never neither.
        let words = (new.len() - 1) / 4 + RECORD_LEN / 4 + 2;
        let mut saw_new = false;
        for cut in 0..=words {
            let mut flash = Mock {
                fail_after: Some(cut),
                ..Mock {
                    bytes: loaded.bytes.clone(),
                    ..blank(0)
                }
            };
            let result = write(&mut flash, &SLOTS, new.len(), bytes_of(&new));
            let s = active(flash.region(), &SLOTS).unwrap();
            let in_use = &flash.bytes[SLOTS[s.slot].start..][..s.blob.len()];
            if in_use == &new[..] {
                saw_new = true;
                assert_eq!(s.slot, 1);
            } else {
                assert!(!saw_new, "cut {cut}: back to the old model");
                assert_eq!(in_use, &old[..], "cut {cut}");
                assert!(result.is_err());
            }
            if result.is_ok() {
                assert!(saw_new && Blob::parse(&flash.bytes[SLOTS[0].clone()]).is_err());
            }
        }
        assert!(saw_new);
        // A second model loaded by the programmer over slot 0 is newer than slot 1's.
        let mut flash = blank(0xFF);
        flash.bytes[..old.len()].copy_from_slice(&old);
        write(&mut flash, &SLOTS, new.len(), bytes_of(&new)).unwrap();
        flash.bytes[..SECTOR].fill(0xFF);
        flash.bytes[..old.len()].copy_from_slice(&old);
        assert_eq!(active(flash.region(), &SLOTS).unwrap().slot, 0);
    }

    #[test]
    fn flash_that_does_not_take_the_write_fails_verification_and_keeps_the_old_model() {
        /// qemu's flash: a ROM that ignores erase and program.
        struct Rom(Vec<u8>);
        impl Flash for Rom {
            fn region(&self) -> &[u8] {
                &self.0
            }
            fn erase(&mut self, _: Range<usize>) -> Result<(), StoreError> {
                Ok(())
            }
            fn program(&mut self, _: usize, _: u32) -> Result<(), StoreError> {
                Ok(())
            }
        }
        let (_, _, old) = model(3, 1.0);
        let (_, _, new) = model(3, 5.0);
        let mut rom = Rom(vec![0; 2 * SECTOR]);
        rom.0[..old.len()].copy_from_slice(&old);
        let got = write(&mut rom, &SLOTS, new.len(), bytes_of(&new));
        assert_eq!(got, Err(StoreError::Verify { slot: 1 }));
        assert_eq!(active(rom.region(), &SLOTS).unwrap().slot, 0);
    }

    #[test]
    fn refuses_what_does_not_fit_and_a_model_spanning_both_slots() {
        let mut flash = blank(0xFF);
        let (_, _, big) = model(40, 0.0); // 96 + 4·280 bytes: more than a slot
        assert!(big.len() > SECTOR && big.len() < 2 * SECTOR);
        let got = write(&mut flash, &SLOTS, big.len(), bytes_of(&big));
        assert!(matches!(got, Err(StoreError::TooLarge { .. })), "{got:?}");
        assert!(check_fits(&SLOTS, big.len()).is_err());
        flash.bytes[..big.len()].copy_from_slice(&big);
        let (_, _, small) = model(3, 0.0);
        assert!(check_fits(&SLOTS, small.len()).is_ok());
        let got = write(&mut flash, &SLOTS, small.len(), bytes_of(&small));
        assert_eq!(got, Err(StoreError::Spanning));
        assert_eq!(&flash.bytes[..big.len()], &big[..]);
        let overlapping = [0..SECTOR, SECTOR / 2..2 * SECTOR];
        let got = write(&mut blank(0), &overlapping, small.len(), bytes_of(&small));
        assert_eq!(got, Err(StoreError::Layout));
    }

    #[test]
    fn a_model_in_two_parts_is_written_as_its_joined_blob() {
        let (t, params, blob) = model(4, 0.25);
        let (frozen, trained) = params.split_at(10);
        let header = f32_header(&t, &[frozen, trained]).unwrap();
        let mut joined = vec![0u8; blob.len() + 3];
        f32_blob_bytes(&header, &[frozen, trained], 0, &mut joined);
        assert_eq!(&joined[..blob.len()], &blob[..]);
        assert_eq!(&joined[blob.len()..], &[0xFF; 3]);
        let mut flash = blank(0);
        let parts = [frozen, trained];
        let fill = |o: usize, buf: &mut [u8]| f32_blob_bytes(&header, &parts, o, buf);
        assert_eq!(crc32_of(blob.len(), fill), crc32(&blob));
        let w = write(&mut flash, &SLOTS, blob.len(), fill).unwrap();
        assert_eq!(w.crc, crc32(&blob));
        assert!(f32_header(&t, &[frozen]).is_err());
    }
}
