//! The input scaling a model carries: raw sensor values to network inputs, the same
//! bits on a PC and a chip. In a version-2 blob it is the input section after the
//! payload, with the class names (docs/weights-format.md).
use crate::error::{Buffer, Error};
use crate::{Blob, Topology};

/// Per-feature scaling `x' = (x - offset[j]) / divisor[j]`, in f32. A division, not a
/// multiplication by the reciprocal: pixels over 255 then give the same bits as the
/// `p / 255.0` the IDX data path has always used.
#[derive(Debug, Clone, Copy)]
pub struct InputScaling<'a> {
    /// Subtracted from each feature (a mean, a minimum, or 0).
    pub offset: &'a [f32],
    /// What each feature is then divided by (positive).
    pub divisor: &'a [f32],
}

impl InputScaling<'_> {
    /// Features per example.
    pub fn width(&self) -> usize {
        self.offset.len()
    }

    /// Scales `raw` (whole examples, end to end) into `out` of the same length.
    pub fn apply(&self, raw: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let w = self.offset.len();
        if self.divisor.len() != w || raw.len().checked_rem(w) != Some(0) {
            return Err(Error::BufferLength {
                buffer: Buffer::Inputs,
                expected: w,
                actual: raw.len(),
            });
        }
        if out.len() != raw.len() {
            return Err(Error::BufferLength {
                buffer: Buffer::Output,
                expected: raw.len(),
                actual: out.len(),
            });
        }
        for (o, r) in out.chunks_exact_mut(w).zip(raw.chunks_exact(w)) {
            for (((y, &x), &m), &d) in o.iter_mut().zip(r).zip(self.offset).zip(self.divisor) {
                *y = scale(x, m, d);
            }
        }
        Ok(())
    }

    /// Checks the scaling is one pair per input of a network taking `input` values.
    pub(crate) fn check_width(&self, input: usize) -> Result<(), Error> {
        let w = self.offset.len();
        if w != input || self.divisor.len() != w {
            return Err(Error::BufferLength {
                buffer: Buffer::Inputs,
                expected: input,
                actual: w.min(self.divisor.len()),
            });
        }
        Ok(())
    }

    /// Raw value `x` of feature `j` scaled: [`InputScaling::apply`]'s arithmetic for one
    /// value (`x` itself past the width, which the callers rule out).
    #[inline]
    pub(crate) fn scale_one(&self, j: usize, x: f32) -> f32 {
        match (self.offset.get(j), self.divisor.get(j)) {
            (Some(&m), Some(&d)) => scale(x, m, d),
            _ => x,
        }
    }
}

#[inline]
fn scale(x: f32, offset: f32, divisor: f32) -> f32 {
    (x - offset) / divisor
}

/// What a stored scaling was computed as (only informative: applying it is the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ScalingKind {
    /// Raw values as they are (offset 0, divisor 1).
    None = 0,
    /// Mean and standard deviation of the training set.
    Standard = 1,
    /// Minimum and range of the training set.
    MinMax = 2,
    /// Pixels 0…255 to 0…1.
    Pixels = 3,
}

impl ScalingKind {
    /// The kind stored as `code`, if known.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(ScalingKind::None),
            1 => Some(ScalingKind::Standard),
            2 => Some(ScalingKind::MinMax),
            3 => Some(ScalingKind::Pixels),
            _ => None,
        }
    }
}

const FIXED: usize = 4;
const MAX_NAME: usize = 255;

/// Bytes of an input section for `input` features and class names of these lengths
/// (none: no names), padded to a multiple of 4.
pub fn input_section_len(input: usize, name_lens: impl Iterator<Item = usize>) -> usize {
    let names: usize = name_lens.map(|n| 1 + n).sum();
    (FIXED + 8 * input + names).next_multiple_of(4)
}

/// Appends an input section to the f32 or int8 blob in `out[..blob_len]` and makes it
/// a version-2 blob; returns the new length. `names` is empty or one per output.
pub fn add_input_section(
    out: &mut [u8],
    blob_len: usize,
    kind: ScalingKind,
    scaling: InputScaling<'_>,
    names: &[&str],
) -> Result<usize, Error> {
    let blob = Blob::parse(out.get(..blob_len).unwrap_or(&[]))?;
    let t = blob.topology().clone();
    if blob.len() != blob_len || !matches!(blob.input_section(), Ok(None)) {
        return Err(Error::InputSection("not a version-1 blob to extend"));
    }
    let input = t.input();
    if scaling.offset.len() != input || scaling.divisor.len() != input {
        return Err(Error::BufferLength {
            buffer: Buffer::Inputs,
            expected: input,
            actual: scaling.offset.len().min(scaling.divisor.len()),
        });
    }
    if !names.is_empty() && names.len() != t.outputs() {
        return Err(Error::InputSection("class names must be one per output"));
    }
    if names.iter().any(|n| n.len() > MAX_NAME) {
        return Err(Error::InputSection("a class name is longer than 255 bytes"));
    }
    let len = input_section_len(input, names.iter().map(|n| n.len()));
    let end = blob_len + len;
    let Some(section) = out.get_mut(blob_len..end) else {
        return Err(Error::BufferLength {
            buffer: Buffer::Blob,
            expected: end,
            actual: out.len(),
        });
    };
    section.fill(0);
    section[0] = kind as u8;
    section[2..4].copy_from_slice(&(names.len() as u16).to_le_bytes());
    let values = scaling.offset.iter().chain(scaling.divisor);
    for (dst, v) in section[FIXED..].chunks_exact_mut(4).zip(values) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
    let mut at = FIXED + 8 * input;
    for n in names {
        section[at] = n.len() as u8;
        section[at + 1..at + 1 + n.len()].copy_from_slice(n.as_bytes());
        at += 1 + n.len();
    }
    let total = crate::format::seal_v2(out, blob_len, len);
    // Checks what was written the way a reader will (finite offsets, positive divisors).
    Blob::parse(out.get(..total).unwrap_or(&[]))?.input_section()?;
    Ok(total)
}

/// A version-2 blob's input section: the scaling of each raw feature and the class names.
#[derive(Debug, Clone, Copy)]
pub struct InputSection<'a> {
    kind: ScalingKind,
    input: usize,
    classes: usize,
    bytes: &'a [u8],
}

impl<'a> InputSection<'a> {
    pub(crate) fn parse(bytes: &'a [u8], t: &Topology) -> Result<Self, Error> {
        let input = t.input();
        let fixed = bytes
            .get(..FIXED + 8 * input)
            .ok_or(Error::InputSection("shorter than its scaling"))?;
        let kind =
            ScalingKind::from_code(fixed[0]).ok_or(Error::InputSection("unknown scaling kind"))?;
        if fixed[1] != 0 {
            return Err(Error::InputSection("reserved byte is not zero"));
        }
        let classes = usize::from(u16::from_le_bytes([fixed[2], fixed[3]]));
        if classes != 0 && classes != t.outputs() {
            return Err(Error::InputSection("class names are not one per output"));
        }
        let s = InputSection {
            kind,
            input,
            classes,
            bytes,
        };
        for j in 0..input {
            if !s.offset(j).is_finite() {
                return Err(Error::InputSection("an offset is not finite"));
            }
            let d = s.divisor(j);
            if !(d.is_finite() && d > 0.0) {
                return Err(Error::InputSection("a divisor is not positive and finite"));
            }
        }
        let mut at = FIXED + 8 * input;
        for _ in 0..classes {
            let n = usize::from(
                *bytes
                    .get(at)
                    .ok_or(Error::InputSection("truncated class names"))?,
            );
            let name = bytes
                .get(at + 1..at + 1 + n)
                .ok_or(Error::InputSection("truncated class names"))?;
            if core::str::from_utf8(name).is_err() {
                return Err(Error::InputSection("a class name is not UTF-8"));
            }
            at += 1 + n;
        }
        if bytes.len() != at.next_multiple_of(4) || bytes[at..].iter().any(|&b| b != 0) {
            return Err(Error::InputSection(
                "padding is not zero up to a multiple of 4",
            ));
        }
        Ok(s)
    }

    /// What the scaling was computed as.
    pub fn kind(&self) -> ScalingKind {
        self.kind
    }

    fn f32_at(&self, i: usize) -> f32 {
        let at = FIXED + 4 * i;
        let b = [
            self.bytes[at],
            self.bytes[at + 1],
            self.bytes[at + 2],
            self.bytes[at + 3],
        ];
        f32::from_le_bytes(b)
    }

    /// Feature `j`'s offset. Panics if `j` is not below the input size.
    pub fn offset(&self, j: usize) -> f32 {
        self.f32_at(j)
    }

    /// Feature `j`'s divisor (positive). Panics if `j` is not below the input size.
    pub fn divisor(&self, j: usize) -> f32 {
        self.f32_at(self.input + j)
    }

    /// The scaling in place, when the section is 4-aligned in memory (else copy it with
    /// [`InputSection::offset`] and [`InputSection::divisor`], or use [`InputSection::apply`]).
    pub fn scaling(&self) -> Option<InputScaling<'a>> {
        if cfg!(target_endian = "big") {
            return None;
        }
        let values: &[f32] =
            bytemuck::try_cast_slice(self.bytes.get(FIXED..FIXED + 8 * self.input)?).ok()?;
        let (offset, divisor) = values.split_at(self.input);
        Some(InputScaling { offset, divisor })
    }

    /// Scales raw examples into `out`: the same bits as [`InputScaling::apply`].
    pub fn apply(&self, raw: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let w = self.input;
        if raw.len().checked_rem(w) != Some(0) || out.len() != raw.len() {
            return Err(Error::BufferLength {
                buffer: Buffer::Inputs,
                expected: w,
                actual: raw.len(),
            });
        }
        for (o, r) in out.chunks_exact_mut(w).zip(raw.chunks_exact(w)) {
            for (j, (y, &x)) in o.iter_mut().zip(r).enumerate() {
                *y = scale(x, self.offset(j), self.divisor(j));
            }
        }
        Ok(())
    }

    /// Number of class names stored: 0 or the number of outputs.
    pub fn class_count(&self) -> usize {
        self.classes
    }

    /// Name of class `i`, if names are stored.
    pub fn class_name(&self, i: usize) -> Option<&'a str> {
        if i >= self.classes {
            return None;
        }
        let mut at = FIXED + 8 * self.input;
        for _ in 0..i {
            at += 1 + usize::from(self.bytes[at]);
        }
        let n = usize::from(self.bytes[at]);
        core::str::from_utf8(&self.bytes[at + 1..at + 1 + n]).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_each_feature_and_checks_lengths() {
        let s = InputScaling {
            offset: &[1.0, 0.0],
            divisor: &[2.0, 255.0],
        };
        let mut out = [0.0; 4];
        s.apply(&[3.0, 51.0, 1.0, 255.0], &mut out).unwrap();
        assert_eq!(out, [1.0, 0.2, 0.0, 1.0]);
        assert!(s.apply(&[1.0, 2.0, 3.0], &mut out[..3]).is_err());
        assert!(s.apply(&[1.0, 2.0], &mut out).is_err());
    }

    #[test]
    fn version_2_round_trip_and_damage() {
        use crate::format::write_blob;
        use crate::{Activation, Layer};
        #[repr(C, align(32))]
        struct Buf([u8; 512]);
        let layers = [Layer::new(2, Activation::Softmax)];
        let t = Topology::new(3, &layers).unwrap();
        let params = [0.5f32; 8];
        let mut buf = Buf([0; 512]);
        let n = write_blob(&t, &params, &mut buf.0).unwrap();
        let scaling = InputScaling {
            offset: &[1.0, 2.0, 3.0],
            divisor: &[4.0, 5.0, 6.0],
        };
        let total = add_input_section(
            &mut buf.0,
            n,
            ScalingKind::Standard,
            scaling,
            &["cat", "dog"],
        )
        .unwrap();
        assert_eq!(total, n + input_section_len(3, [3, 3].into_iter()));
        let blob = Blob::parse(&buf.0[..total]).unwrap();
        assert_eq!(blob.len(), total);
        let s = blob.input_section().unwrap().unwrap();
        assert_eq!((s.kind(), s.class_count()), (ScalingKind::Standard, 2));
        assert_eq!(
            (s.class_name(0), s.class_name(1), s.class_name(2)),
            (Some("cat"), Some("dog"), None)
        );
        let inplace = s.scaling().unwrap();
        assert_eq!(inplace.divisor, [4.0, 5.0, 6.0]);
        let (mut a, mut b) = ([0.0; 3], [0.0; 3]);
        s.apply(&[5.0, 7.0, 9.0], &mut a).unwrap();
        inplace.apply(&[5.0, 7.0, 9.0], &mut b).unwrap();
        assert_eq!((a, b), ([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]));
        // The CRC covers the section; a version-1 reader of the same bytes sees no section.
        buf.0[n + 4] ^= 1;
        assert!(matches!(
            Blob::parse(&buf.0[..total]),
            Err(Error::CrcMismatch { .. })
        ));
        buf.0[n + 4] ^= 1;
        assert!(Blob::parse(&buf.0[..n]).is_err());
        let mut plain = Buf([0; 512]);
        let n1 = write_blob(&t, &params, &mut plain.0).unwrap();
        assert!(Blob::parse(&plain.0[..n1])
            .unwrap()
            .input_section()
            .unwrap()
            .is_none());
        // A zero divisor is refused when written.
        let bad = InputScaling {
            offset: &[0.0; 3],
            divisor: &[1.0, 0.0, 1.0],
        };
        let e = add_input_section(&mut plain.0, n1, ScalingKind::MinMax, bad, &[]);
        assert!(matches!(e, Err(Error::InputSection(_))));
    }
}
