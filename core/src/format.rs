//! The weights format: a 96-byte little-endian header, then the payload, then nothing.
//! See docs/weights-format.md. Reading and writing work on caller buffers, no allocation;
//! the payload starts at a multiple of 32 bytes so a blob in flash is used in place.
//!
//! Layering: this module writes and checks the header and CRC; for int8 payloads it asks
//! [`crate::int8`]'s layout (the payload length) and validation (the semantic checks),
//! which depend on nothing here, while the int8 writer builds on `split_blob` and
//! `seal`: no module calls back into one that calls it.
use crate::int8::{layout::int8_payload_len, validation, WeightCoding};
use crate::sizes::{MAX_DIM, MAX_LAYERS};
use crate::{Activation, Buffer, Error, Layer, Topology};
use heapless::Vec;

/// The first four bytes of every blob.
pub const MAGIC: [u8; 4] = *b"MDNS";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Version 2: version 1 followed by an input section (scaling, class names; see
/// [`crate::scaling::InputSection`]), its length at header byte 80, covered by the CRC.
pub const FORMAT_VERSION_2: u16 = 2;
/// Header bytes before the payload.
pub const HEADER_LEN: usize = 96;

// Bit by bit, no lookup table: 1 KiB less flash on a chip, and a blob is checked once.
pub(crate) const CRC: crc::Crc<u32, crc::NoTable> =
    crc::Crc::<u32, crc::NoTable>::new(&crc::CRC_32_ISO_HDLC);
// Byte offsets inside the header.
const VERSION: usize = 4;
pub(crate) const ELEMENT: usize = 6;
const DEPTH: usize = 7;
const INPUT: usize = 8;
const PAYLOAD: usize = 12;
const LAYERS: usize = 16; // MAX_LAYERS entries of (units u32, activation u8, 3 zero bytes)
const RESERVED: usize = LAYERS + 8 * MAX_LAYERS; // zero up to CRC_AT
pub(crate) const SECTION_LEN: usize = RESERVED; // version 2: the input section's length (u32)
const CRC_AT: usize = HEADER_LEN - 4;

/// How the payload's numbers are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ElementType {
    /// IEEE-754 binary32, little-endian.
    F32 = 0,
    /// Quantized: int8 weights and activations, i32 biases and requantization
    /// multipliers (see [`crate::int8::Int8Network`] and docs/weights-format.md). Stored
    /// as code 2 (or, in older blobs, 1): the codes of [`WeightCoding`].
    Int8 = 1,
}

impl ElementType {
    /// Bytes per weight.
    pub const fn size(self) -> usize {
        match self {
            ElementType::F32 => 4,
            ElementType::Int8 => 1,
        }
    }

    /// The element type stored as `code`, if any.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(ElementType::F32),
            1 | 2 => Some(ElementType::Int8),
            _ => None,
        }
    }

    /// The code writers store: int8 as [`WeightCoding::EvenOffset`].
    pub const fn code(self) -> u8 {
        match self {
            ElementType::F32 => 0,
            ElementType::Int8 => WeightCoding::EvenOffset.code(),
        }
    }

    /// Its name in reports ("f32", "int8").
    pub const fn name(self) -> &'static str {
        match self {
            ElementType::F32 => "f32",
            ElementType::Int8 => "int8",
        }
    }

    /// Payload bytes a topology needs in this element type.
    pub fn payload_len(self, topology: &Topology) -> usize {
        match self {
            ElementType::F32 => 4 * topology.params_len(),
            ElementType::Int8 => int8_payload_len(topology.input(), topology.layers()),
        }
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        b.copy_from_slice(src);
    }
    u32::from_le_bytes(b)
}

fn crc_of(header: &[u8], payload: &[u8]) -> u32 {
    crc32_parts(&[header.get(..CRC_AT).unwrap_or(&[]), payload])
}

/// CRC-32 of `parts` laid end to end: the one copy of the CRC loop in a chip's flash
/// (blobs, `crate::store`).
#[inline(never)]
pub(crate) fn crc32_parts(parts: &[&[u8]]) -> u32 {
    let mut digest = CRC.digest();
    for part in parts {
        digest.update(part);
    }
    digest.finalize()
}

/// The CRC field of a blob's header (`bytes` starts with the header): a digest of every
/// other byte of the blob, so two blobs of one length with equal fields are, short of a
/// CRC collision, the same bytes. `None` when `bytes` is shorter than a header.
pub fn header_crc(bytes: &[u8]) -> Option<u32> {
    bytes.get(CRC_AT..HEADER_LEN).map(|_| u32_at(bytes, CRC_AT))
}

/// Writes `params` for `topology` as a blob at the start of `out`; returns its length.
pub fn write_blob(topology: &Topology, params: &[f32], out: &mut [u8]) -> Result<usize, Error> {
    let count = topology.params_len();
    if params.len() != count {
        return Err(Error::BufferLength {
            buffer: Buffer::Params,
            expected: count,
            actual: params.len(),
        });
    }
    let (header, payload) = split_blob(topology, ElementType::F32, out)?;
    for (dst, p) in payload.chunks_exact_mut(4).zip(params) {
        dst.copy_from_slice(&p.to_le_bytes());
    }
    Ok(seal(header, payload))
}

/// Checks `out` holds a blob of `element` for `topology`, writes its header (all but the
/// CRC) and returns (header, payload) for the caller to fill and [`seal`].
pub(crate) fn split_blob<'o>(
    topology: &Topology,
    element: ElementType,
    out: &'o mut [u8],
) -> Result<(&'o mut [u8], &'o mut [u8]), Error> {
    let payload_len = element.payload_len(topology);
    let total = HEADER_LEN + payload_len;
    if out.len() < total {
        return Err(Error::BufferLength {
            buffer: Buffer::Blob,
            expected: total,
            actual: out.len(),
        });
    }
    let (header, payload) = out[..total].split_at_mut(HEADER_LEN);
    write_header(topology, element, payload_len, header);
    Ok((header, payload))
}

/// Writes a header (all but the CRC) for a payload of `payload_len` bytes.
fn write_header(topology: &Topology, element: ElementType, payload_len: usize, header: &mut [u8]) {
    header.fill(0);
    header[..4].copy_from_slice(&MAGIC);
    header[VERSION..VERSION + 2].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[ELEMENT] = element.code();
    header[DEPTH] = topology.layers().len() as u8;
    header[INPUT..INPUT + 4].copy_from_slice(&(topology.input() as u32).to_le_bytes());
    header[PAYLOAD..PAYLOAD + 4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    for (entry, layer) in header[LAYERS..RESERVED]
        .chunks_exact_mut(8)
        .zip(topology.layers())
    {
        entry[..4].copy_from_slice(&(layer.units as u32).to_le_bytes());
        entry[4] = layer.activation.code();
    }
}

/// The header of the f32 blob of `topology` whose parameters are `parts` laid end to end
/// (a chip's frozen layers in flash, then its trained ones in RAM), without joining them:
/// the blob is this header, then each part's values as little-endian bytes.
pub fn f32_header(topology: &Topology, parts: &[&[f32]]) -> Result<[u8; HEADER_LEN], Error> {
    let count: usize = parts.iter().map(|p| p.len()).sum();
    if count != topology.params_len() {
        return Err(Error::BufferLength {
            buffer: Buffer::Params,
            expected: topology.params_len(),
            actual: count,
        });
    }
    let mut header = [0u8; HEADER_LEN];
    write_header(topology, ElementType::F32, 4 * count, &mut header);
    let mut digest = CRC.digest();
    digest.update(&header[..CRC_AT]);
    for v in parts.iter().flat_map(|p| p.iter()) {
        digest.update(&v.to_le_bytes());
    }
    let crc = digest.finalize();
    header[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
    Ok(header)
}

/// Stores the CRC of a filled blob; returns the blob's length.
pub(crate) fn seal(header: &mut [u8], payload: &[u8]) -> usize {
    // `payload` is the payload and, in version 2, the input section after it.
    let crc = crc_of(header, payload);
    header[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
    HEADER_LEN + payload.len()
}

/// Turns the blob in `out[..blob_len]` and the `section_len` bytes written after it into
/// a version-2 blob: version, section length and a CRC that covers the section too.
pub(crate) fn seal_v2(out: &mut [u8], blob_len: usize, section_len: usize) -> usize {
    let (header, rest) = out.split_at_mut(HEADER_LEN);
    header[VERSION..VERSION + 2].copy_from_slice(&FORMAT_VERSION_2.to_le_bytes());
    header[SECTION_LEN..SECTION_LEN + 4].copy_from_slice(&(section_len as u32).to_le_bytes());
    seal(header, &rest[..blob_len - HEADER_LEN + section_len]);
    blob_len + section_len
}

/// A validated blob borrowed from the caller's bytes (a file, or flash).
#[derive(Clone, Debug)]
pub struct Blob<'a> {
    topology: Topology,
    element: ElementType,
    /// The header's element type code.
    code: u8,
    payload: &'a [u8],
    section: &'a [u8],
}

impl<'a> Blob<'a> {
    /// Validates header, sizes and CRC. Bytes after the blob are ignored (a flash region
    /// is larger than the blob in it); [`Blob::len`] tells where it ends.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let truncated = |needed| Error::Truncated {
            needed,
            actual: bytes.len(),
        };
        if bytes.len() < 4 || u32_at(bytes, 0) != u32::from_le_bytes(MAGIC) {
            // Too short to tell is still "not ours" unless it starts like ours.
            return Err(if bytes.len() < 4 && MAGIC.starts_with(bytes) {
                truncated(HEADER_LEN)
            } else {
                Error::BadMagic
            });
        }
        let header = bytes.get(..HEADER_LEN).ok_or(truncated(HEADER_LEN))?;
        let version = u16::from_le_bytes([header[VERSION], header[VERSION + 1]]);
        if version != FORMAT_VERSION && version != FORMAT_VERSION_2 {
            return Err(Error::UnsupportedVersion(version));
        }
        let section_len = if version == FORMAT_VERSION_2 {
            u32_at(header, SECTION_LEN) as usize
        } else {
            0
        };
        let code = header[ELEMENT];
        let element = ElementType::from_code(code).ok_or(Error::UnknownElementType(code))?;
        let depth = usize::from(header[DEPTH]);
        if depth == 0 {
            return Err(Error::NoLayers);
        }
        if depth > MAX_LAYERS {
            return Err(Error::TooManyLayers(depth));
        }
        let mut layers: Vec<Layer, MAX_LAYERS> = Vec::new();
        for (k, entry) in header[LAYERS..RESERVED].chunks_exact(8).enumerate() {
            let units = u32_at(entry, 0) as usize;
            let used = k < depth;
            if !used {
                if entry.iter().any(|&b| b != 0) {
                    return Err(Error::ReservedNotZero);
                }
                continue;
            }
            if entry[5..].iter().any(|&b| b != 0) {
                return Err(Error::ReservedNotZero);
            }
            let activation =
                Activation::from_code(entry[4]).ok_or(Error::UnknownActivation(entry[4]))?;
            if units > MAX_DIM {
                return Err(Error::TooLarge);
            }
            layers
                .push(Layer::new(units, activation))
                .map_err(|_| Error::TooManyLayers(depth))?;
        }
        let reserved = if version == FORMAT_VERSION_2 {
            SECTION_LEN + 4
        } else {
            RESERVED
        };
        if header[reserved..CRC_AT].iter().any(|&b| b != 0) {
            return Err(Error::ReservedNotZero);
        }
        let input = u32_at(header, INPUT) as usize;
        let topology = Topology::new(input, &layers)?;
        if element == ElementType::Int8 {
            validation::check_activations(&topology)?;
        }
        let expected = element.payload_len(&topology);
        let declared = u32_at(header, PAYLOAD) as usize;
        if declared != expected {
            return Err(Error::PayloadLength {
                header: declared,
                topology: expected,
            });
        }
        if section_len > MAX_DIM * 16 {
            return Err(Error::InputSection("longer than any input section can be"));
        }
        let end = HEADER_LEN + expected + section_len;
        let covered = bytes.get(HEADER_LEN..end).ok_or(truncated(end))?;
        let (payload, section) = covered.split_at(expected);
        let (stored, computed) = (u32_at(header, CRC_AT), crc_of(header, covered));
        if stored != computed {
            return Err(Error::CrcMismatch { stored, computed });
        }
        if let Some(coding) = WeightCoding::from_code(code) {
            validation::validate(&topology, payload, coding)?;
        }
        // A version-2 input section is checked when it is read (`input_section`): firmware
        // that runs the network on scaled inputs never links its checks.
        Ok(Blob {
            topology,
            element,
            code,
            payload,
            section,
        })
    }

    /// The topology in the header.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// How the payload's numbers are stored.
    pub fn element_type(&self) -> ElementType {
        self.element
    }

    /// How an int8 blob's weight bytes are stored (`None` for f32).
    pub fn int8_coding(&self) -> Option<WeightCoding> {
        match self.element {
            ElementType::Int8 => WeightCoding::from_code(self.code),
            ElementType::F32 => None,
        }
    }

    /// The payload's bytes (layout per element type: docs/weights-format.md).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Bytes the blob occupies, header (and input section) included.
    pub fn len(&self) -> usize {
        HEADER_LEN + self.payload.len() + self.section.len()
    }

    /// The input scaling and class names of a version-2 blob (`None` for version 1),
    /// checked as docs/weights-format.md lists.
    pub fn input_section(&self) -> Result<Option<crate::scaling::InputSection<'a>>, Error> {
        if self.section.is_empty() {
            return Ok(None);
        }
        crate::scaling::InputSection::parse(self.section, &self.topology).map(Some)
    }

    /// Whether the blob carries no payload (a parsed blob always has one: every
    /// topology has parameters).
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// The parameters in place, without copying: `None` when the bytes are not 4-aligned
    /// (or on a big-endian target), in which case use [`Blob::copy_params`].
    pub fn params(&self) -> Option<&'a [f32]> {
        if cfg!(target_endian = "big") || self.element != ElementType::F32 {
            return None;
        }
        bytemuck::try_cast_slice(self.payload).ok()
    }

    /// Decodes the parameters into `out` (exactly `topology().params_len()` long).
    pub fn copy_params(&self, out: &mut [f32]) -> Result<(), Error> {
        if self.element != ElementType::F32 {
            return Err(Error::ElementType);
        }
        let expected = self.topology.params_len();
        if out.len() != expected {
            return Err(Error::BufferLength {
                buffer: Buffer::Params,
                expected,
                actual: out.len(),
            });
        }
        for (p, b) in out.iter_mut().zip(self.payload.chunks_exact(4)) {
            *p = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Activation::*;

    const LAYERS3: [Layer; 2] = [Layer::new(3, Tanh), Layer::new(2, Softmax)];
    const LEN: usize = crate::sizes::blob_len(4, &LAYERS3);

    /// A valid blob in a 4-aligned buffer.
    #[repr(C, align(32))]
    struct Aligned([u8; LEN + 32]);

    fn sample() -> (Topology, [f32; 23], Aligned) {
        let t = Topology::new(4, &LAYERS3).unwrap();
        let params: [f32; 23] = core::array::from_fn(|i| i as f32 * 0.25 - 2.0);
        let mut buf = Aligned([0xAA; LEN + 32]);
        assert_eq!(write_blob(&t, &params, &mut buf.0).unwrap(), LEN);
        (t, params, buf)
    }

    /// Re-seals a modified header with a fresh CRC, to reach the checks behind the CRC.
    fn reseal(bytes: &mut [u8]) {
        let (header, rest) = bytes.split_at_mut(HEADER_LEN);
        let payload_len = u32_at(header, PAYLOAD) as usize;
        let crc = crc_of(header, &rest[..payload_len.min(rest.len())]);
        header[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn round_trip_in_place_and_copied() {
        let (t, params, buf) = sample();
        let blob = Blob::parse(&buf.0).unwrap();
        assert_eq!(blob.topology(), &t);
        assert_eq!(blob.len(), LEN);
        assert!(!blob.is_empty() && blob.payload().len() == 4 * 23);
        assert_eq!(blob.params().unwrap(), &params);
        let mut copy = [0.0f32; 23];
        blob.copy_params(&mut copy).unwrap();
        assert_eq!(copy, params);
        assert!(blob.copy_params(&mut [0.0; 22]).is_err());
        // Misaligned bytes still parse; in-place use declines, copying works.
        let blob = Blob::parse(&buf.0[..LEN]).unwrap();
        assert!(blob.params().is_some());
        // An aligned buffer, so that one byte in is misaligned on every platform (miri too).
        let mut shifted = Aligned([0; LEN + 32]);
        shifted.0[1..=LEN].copy_from_slice(&buf.0[..LEN]);
        let blob = Blob::parse(&shifted.0[1..=LEN]).unwrap();
        assert!(blob.params().is_none());
        blob.copy_params(&mut copy).unwrap();
        assert_eq!(copy, params);
    }

    #[test]
    fn write_checks_lengths() {
        let (t, params, _) = sample();
        let mut small = [0u8; LEN - 1];
        assert!(matches!(
            write_blob(&t, &params, &mut small),
            Err(Error::BufferLength {
                buffer: Buffer::Blob,
                ..
            })
        ));
        assert!(write_blob(&t, &params[..22], &mut [0u8; LEN]).is_err());
    }

    #[test]
    fn each_corruption_has_its_error() {
        let (_, _, good) = sample();
        let good = &good.0[..LEN];
        let edit = |f: &dyn Fn(&mut [u8]), seal: bool| {
            let mut b = [0u8; LEN];
            b.copy_from_slice(good);
            f(&mut b);
            if seal {
                reseal(&mut b);
            }
            Blob::parse(&b).map(|_| ())
        };
        assert_eq!(edit(&|b| b[0] = b'X', false), Err(Error::BadMagic));
        assert_eq!(
            Blob::parse(b"MD").map(|_| ()),
            Err(Error::Truncated {
                needed: 96,
                actual: 2
            })
        );
        assert_eq!(
            Blob::parse(b"").map(|_| ()),
            Err(Error::Truncated {
                needed: 96,
                actual: 0
            })
        );
        assert_eq!(Blob::parse(b"PK\x03\x04").map(|_| ()), Err(Error::BadMagic));
        assert_eq!(
            Blob::parse(&good[..50]).map(|_| ()),
            Err(Error::Truncated {
                needed: 96,
                actual: 50
            })
        );
        assert_eq!(
            Blob::parse(&good[..LEN - 1]).map(|_| ()),
            Err(Error::Truncated {
                needed: LEN,
                actual: LEN - 1
            })
        );
        assert_eq!(
            edit(&|b| b[VERSION] = 9, false),
            Err(Error::UnsupportedVersion(9))
        );
        assert_eq!(
            edit(&|b| b[ELEMENT] = 7, false),
            Err(Error::UnknownElementType(7))
        );
        // Read as int8, this f32 blob's tanh layer is refused first (int8 models run
        // linear, relu and softmax layers), then its length (the int8 payload differs).
        assert_eq!(
            edit(&|b| b[ELEMENT] = 1, false),
            Err(Error::Int8Activation(3))
        );
        assert_eq!(
            edit(
                &|b| {
                    b[ELEMENT] = 1;
                    b[LAYERS + 4] = 1;
                },
                false
            ),
            Err(Error::PayloadLength {
                header: 92,
                topology: crate::sizes::int8_payload_len(
                    4,
                    &[Layer::new(3, Relu), Layer::new(2, Softmax)]
                )
            })
        );
        assert_eq!(edit(&|b| b[DEPTH] = 0, false), Err(Error::NoLayers));
        assert_eq!(edit(&|b| b[DEPTH] = 9, false), Err(Error::TooManyLayers(9)));
        assert_eq!(
            edit(&|b| b[LAYERS + 4] = 42, false),
            Err(Error::UnknownActivation(42))
        );
        assert_eq!(
            edit(&|b| b[LAYERS + 4] = 4, false),
            Err(Error::SoftmaxNotLast)
        );
        assert_eq!(
            edit(&|b| b[RESERVED + 2] = 1, false),
            Err(Error::ReservedNotZero)
        );
        assert_eq!(
            edit(&|b| b[LAYERS + 8 * 3] = 1, false),
            Err(Error::ReservedNotZero)
        );
        // Absurd dimensions: no overflow, an error.
        assert_eq!(
            edit(&|b| b[INPUT..INPUT + 4].fill(0xFF), false),
            Err(Error::TooLarge)
        );
        assert_eq!(
            edit(&|b| b[LAYERS..LAYERS + 4].fill(0xFF), false),
            Err(Error::TooLarge)
        );
        assert_eq!(
            edit(
                &|b| {
                    b[INPUT..INPUT + 4].copy_from_slice(&(MAX_DIM as u32).to_le_bytes());
                    b[LAYERS..LAYERS + 4].copy_from_slice(&(MAX_DIM as u32).to_le_bytes());
                },
                false
            ),
            Err(Error::TooLarge)
        );
        assert_eq!(edit(&|b| b[INPUT] = 0, false), Err(Error::ZeroSize));
        // Sizes that disagree with the topology.
        assert_eq!(
            edit(&|b| b[INPUT] = 5, false),
            Err(Error::PayloadLength {
                header: 92,
                topology: 104
            })
        );
        // A flipped payload bit or header bit is caught by the CRC.
        assert!(matches!(
            edit(&|b| b[HEADER_LEN + 7] ^= 1, false),
            Err(Error::CrcMismatch { .. })
        ));
        assert!(matches!(
            edit(&|b| b[CRC_AT] ^= 1, false),
            Err(Error::CrcMismatch { .. })
        ));
        // Valid after resealing an unchanged blob: the checks above are not CRC artefacts.
        assert_eq!(edit(&|_| {}, true), Ok(()));
    }

    #[test]
    fn no_panic_on_arbitrary_bytes() {
        let (_, _, good) = sample();
        let mut rng = crate::rng::Rng::new(3);
        let mut b = [0u8; LEN];
        for round in 0..20_000 {
            b.copy_from_slice(&good.0[..LEN]);
            for _ in 0..1 + round % 4 {
                let at = rng.below(LEN);
                b[at] = rng.next_u64() as u8;
            }
            if round % 2 == 0 {
                reseal(&mut b);
            }
            let cut = if round % 5 == 0 {
                rng.below(LEN + 1)
            } else {
                LEN
            };
            if let Ok(blob) = Blob::parse(&b[..cut]) {
                assert!(blob.len() <= cut);
            }
        }
    }
}
