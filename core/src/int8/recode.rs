//! Bringing an int8 blob of element type 1 ([`WeightCoding::Signed`], written before the
//! offset coding) to type 2 in place: the same model, the bytes today's writer would
//! write (the host does this on load, so what it exports runs the chips' fast loops).
use super::layout::{section_of, weight_offset, WeightCoding};
use crate::format::{seal, ELEMENT, HEADER_LEN};
use crate::{Blob, Error};

/// Recodes the int8 blob at the start of `bytes` from element type 1 to 2 (even columns
/// XOR 0x80, padding included; header code; CRC over the same bytes as before). Returns
/// whether it changed anything: false for a type-2 blob; an f32 blob is
/// [`Error::ElementType`], and bytes that do not parse are left alone with their error.
pub fn recode_signed(bytes: &mut [u8]) -> Result<bool, Error> {
    let (topology, len) = {
        let blob = Blob::parse(bytes)?;
        match blob.int8_coding() {
            None => return Err(Error::ElementType),
            Some(WeightCoding::EvenOffset) => return Ok(false),
            Some(WeightCoding::Signed) => (blob.topology().clone(), blob.len()),
        }
    };
    let (header, rest) = bytes.split_at_mut(HEADER_LEN);
    let body = rest.get_mut(..len - HEADER_LEN).unwrap_or(&mut []);
    let layers = topology.layers();
    for i in 0..layers.len() {
        let s = section_of(topology.input(), layers, i);
        for r in 0..2 * s.pairs {
            for j in (0..s.cols).step_by(2) {
                if let Some(b) = body.get_mut(s.weights + weight_offset(&s, r, j)) {
                    *b ^= 0x80;
                }
            }
        }
    }
    header[ELEMENT] = WeightCoding::EvenOffset.code();
    seal(header, body);
    Ok(true)
}
