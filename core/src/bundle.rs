//! The firmware bundle: one file holding a model, digits to run it on, the host's logits
//! for them, and digits to train on. The host writes it (`microdense export --firmware`,
//! through [`Sections::write`]); the firmware's build script reads it ([`Bundle::parse`])
//! and embeds each section. One module for both, so the layout is written down once.
//!
//! Layout, version 1. Integers are little-endian `u32`; sections follow one another in
//! this order with no gaps except zero padding before `logits` (to a multiple of 4):
//!
//! | offset | field                                                        |
//! |--------|--------------------------------------------------------------|
//! | 0      | magic `b"MDBUNDLE"` (8 bytes)                                |
//! | 8      | version (1)                                                  |
//! | 12     | header length (64)                                           |
//! | 16     | rows, 20: cols (pixels per digit = rows·cols = model input)  |
//! | 24     | classes (model outputs = logits per digit)                   |
//! | 28     | N test digits, 32: K train digits                            |
//! | 36     | blob offset (64, a multiple of 32), 40: blob length           |
//! | 44     | test images offset (N·rows·cols bytes, one byte per pixel)   |
//! | 48     | test labels offset (N bytes)                                 |
//! | 52     | logits offset (N·classes 4-byte LE values, 4-aligned)        |
//! | 56     | train images offset (K·rows·cols), 60: train labels (K)      |
//!
//! The file ends right after the train labels. The blob is core's weights format at
//! offset 64, so its payload (offset 64 + 96) is 32-byte aligned wherever the bundle is
//! embedded at a 32-byte boundary and the firmware can use it in place. The logits are the
//! host's, the exact computation the firmware repeats on the chip, and their type follows
//! the blob's element type: `f32` logits of an f32 model on `pixel / 255.0`, `i32` outputs
//! of an int8 model on `pixel − 128`.
//!
//! Version 2 is the same header for a model of raw features (a CSV's columns): its test
//! inputs are rows of `rows·cols` raw values, each a 4-byte little-endian `f32` (N·rows·cols·4
//! bytes at the test images offset; rows is 1), as the sensor gives them; the blob must
//! carry its input scaling (a version-2 weights blob), which the firmware applies
//! ([`crate::Network::logits_raw`], [`crate::int8::Int8Network::logits_raw`]) exactly as
//! the host did for the logits. K is 0: the on-chip trainers learn from digits. Version-1
//! bundles (pixels) are written and read as before.
use core::fmt;
use core::ops::Range;

use crate::{Blob, Error};

/// The bundle's first 8 bytes.
pub const MAGIC: [u8; 8] = *b"MDBUNDLE";
/// The layout version of pixel bundles (one byte per pixel).
pub const VERSION: u32 = 1;
/// The layout version of raw-feature bundles (one `f32` per value, scaled on the chip).
pub const VERSION_FEATURES: u32 = 2;
/// Bytes of the header; the model blob starts here.
pub const HEADER_LEN: usize = 64;

/// A part of the bundle, named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// The 64-byte header.
    Header,
    /// The model blob.
    Model,
    /// The test digits' pixels.
    TestImages,
    /// The test digits' labels.
    TestLabels,
    /// The host's logits for the test digits.
    Logits,
    /// The training digits' pixels.
    TrainImages,
    /// The training digits' labels.
    TrainLabels,
}

impl Section {
    /// The section's name as error messages say it.
    pub const fn name(self) -> &'static str {
        match self {
            Section::Header => "header",
            Section::Model => "model blob",
            Section::TestImages => "test images",
            Section::TestLabels => "test labels",
            Section::Logits => "logits",
            Section::TrainImages => "train images",
            Section::TrainLabels => "train labels",
        }
    }
}

/// Why a bundle cannot be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleError {
    /// The bytes do not start with [`MAGIC`].
    NotABundle,
    /// Another layout version or header length.
    Unsupported {
        /// The version field.
        version: u32,
        /// The header-length field.
        header: u32,
    },
    /// A section runs past the end of the bytes.
    Truncated(Section),
    /// The blob's offset is not a multiple of 32.
    MisalignedModel(usize),
    /// The blob is not a valid model (the core's error: bad CRC, say).
    Model(Error),
    /// The model's input or outputs differ from the digits' size or classes.
    Shape {
        /// Model inputs.
        input: usize,
        /// Model outputs.
        outputs: usize,
        /// Pixels per digit (rows·cols).
        pixels: usize,
        /// Classes in the header.
        classes: usize,
    },
    /// A label (in the section given) is not below the class count.
    Label(Section),
    /// A raw-feature bundle (version 2) that breaks its rules: what is wrong.
    Features(&'static str),
    /// Writing: a section's length disagrees with the counts (an image of the wrong pixel
    /// count, fewer labels than images, logits not digits × classes).
    Length(Section),
    /// Writing: the output buffer is shorter than [`Sections::len`].
    Buffer {
        /// Bytes the bundle takes.
        needed: usize,
        /// Bytes given.
        actual: usize,
    },
    /// Writing: an offset or count does not fit the header's `u32`.
    TooLarge,
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BundleError::NotABundle => write!(f, "not a microdense firmware bundle (bad magic)"),
            BundleError::Unsupported { version, header } => write!(
                f,
                "bundle version {version} (header {header} bytes) is not supported (this reads version {VERSION})"
            ),
            BundleError::Truncated(s) => write!(f, "bundle truncated in its {}", s.name()),
            BundleError::MisalignedModel(at) => {
                write!(f, "model blob at offset {at}, not a multiple of 32")
            }
            BundleError::Model(e) => write!(f, "model: {e}"),
            BundleError::Shape {
                input,
                outputs,
                pixels,
                classes,
            } => write!(
                f,
                "model takes {input} inputs to {outputs} classes, digits are {pixels} pixels in {classes} classes"
            ),
            BundleError::Label(s) => write!(f, "a label in the {} is out of range", s.name()),
            BundleError::Features(what) => write!(f, "raw-feature bundle: {what}"),
            BundleError::Length(s) => write!(f, "the {} disagree with the counts", s.name()),
            BundleError::Buffer { needed, actual } => {
                write!(f, "bundle needs {needed} bytes, the buffer has {actual}")
            }
            BundleError::TooLarge => write!(f, "bundle larger than 4 GiB"),
        }
    }
}

impl core::error::Error for BundleError {}

/// A checked bundle: header fields, every section inside the bytes, the blob a valid model
/// of the digits' size and classes, every label below the class count. Zero-copy: the
/// sections are slices of the bytes given.
#[derive(Clone, Debug)]
pub struct Bundle<'a> {
    bytes: &'a [u8],
    features: bool,
    rows: usize,
    cols: usize,
    classes: usize,
    tests: usize,
    trains: usize,
    blob: Range<usize>,
    test_images: Range<usize>,
    test_labels: Range<usize>,
    logits: Range<usize>,
    train_images: Range<usize>,
    train_labels: Range<usize>,
}

/// A 4-byte little-endian f32 (0 when shorter).
fn le_f32(b: &[u8]) -> f32 {
    match b {
        &[a, b, c, d, ..] => f32::from_le_bytes([a, b, c, d]),
        _ => 0.0,
    }
}

/// Header field `k` (after the magic), as a `usize`.
fn field(bytes: &[u8], k: usize) -> usize {
    let at = MAGIC.len() + 4 * k;
    match bytes.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
        _ => 0,
    }
}

impl<'a> Bundle<'a> {
    /// Reads and checks a bundle (see the module docs); an error says what is wrong.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BundleError> {
        if bytes.len() < HEADER_LEN {
            return Err(if bytes.get(..MAGIC.len()) == Some(&MAGIC[..]) {
                BundleError::Truncated(Section::Header)
            } else {
                BundleError::NotABundle
            });
        }
        if bytes[..MAGIC.len()] != MAGIC {
            return Err(BundleError::NotABundle);
        }
        let f = |k| field(bytes, k);
        let (version, header) = (f(0), f(1));
        let features = version == VERSION_FEATURES as usize;
        if !(features || version == VERSION as usize) || header != HEADER_LEN {
            return Err(BundleError::Unsupported {
                version: version as u32,
                header: header as u32,
            });
        }
        let (rows, cols, classes, tests, trains) = (f(2), f(3), f(4), f(5), f(6));
        let pixels = rows
            .checked_mul(cols)
            .ok_or(BundleError::Truncated(Section::Header))?;
        let value_bytes = if features { 4 } else { 1 };
        let section = |at: usize, n: usize, each: usize, s: Section| {
            let end = n
                .checked_mul(each)
                .and_then(|len| at.checked_add(len))
                .filter(|&end| end <= bytes.len());
            end.map(|end| at..end).ok_or(BundleError::Truncated(s))
        };
        let b = Bundle {
            bytes,
            features,
            rows,
            cols,
            classes,
            tests,
            trains,
            blob: section(f(7), f(8), 1, Section::Model)?,
            test_images: section(
                f(9),
                tests,
                pixels.saturating_mul(value_bytes),
                Section::TestImages,
            )?,
            test_labels: section(f(10), tests, 1, Section::TestLabels)?,
            logits: section(f(11), tests, classes.saturating_mul(4), Section::Logits)?,
            train_images: section(f(12), trains, pixels, Section::TrainImages)?,
            train_labels: section(f(13), trains, 1, Section::TrainLabels)?,
        };
        if !b.blob.start.is_multiple_of(32) {
            return Err(BundleError::MisalignedModel(b.blob.start));
        }
        let model = b.model()?;
        let t = model.topology();
        if t.input() != pixels || t.outputs() != classes {
            return Err(BundleError::Shape {
                input: t.input(),
                outputs: t.outputs(),
                pixels,
                classes,
            });
        }
        for s in [Section::TestLabels, Section::TrainLabels] {
            if b.section(s).iter().any(|&l| usize::from(l) >= classes) {
                return Err(BundleError::Label(s));
            }
        }
        if features {
            if trains != 0 {
                return Err(BundleError::Features("training rows are not supported"));
            }
            if !matches!(model.input_section(), Ok(Some(_))) {
                return Err(BundleError::Features("the model carries no input scaling"));
            }
            let values = b.section(Section::TestImages).chunks_exact(4);
            if values.map(le_f32).any(|v| !v.is_finite()) {
                return Err(BundleError::Features("a test value is not finite"));
            }
        }
        Ok(b)
    }

    /// Whether the test inputs are raw feature values (version 2), not pixels.
    pub fn features(&self) -> bool {
        self.features
    }

    /// Raw value `j` of test row `i` in a raw-feature bundle (`None` out of range, or in
    /// a pixel bundle).
    pub fn test_value(&self, i: usize, j: usize) -> Option<f32> {
        let n = self.pixels();
        if !self.features || i >= self.tests || j >= n {
            return None;
        }
        let at = 4 * (i * n + j);
        self.section(Section::TestImages)
            .get(at..at + 4)
            .map(le_f32)
    }

    /// Rows of a digit.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns of a digit.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Pixels of a digit (rows·cols): the model's input.
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }

    /// Classes: the model's outputs.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Test digits (each with the host's logits).
    pub fn test_count(&self) -> usize {
        self.tests
    }

    /// Training digits.
    pub fn train_count(&self) -> usize {
        self.trains
    }

    /// The model blob, checked (CRC included) by [`Bundle::parse`].
    pub fn model(&self) -> Result<Blob<'a>, BundleError> {
        Blob::parse(self.section(Section::Model)).map_err(BundleError::Model)
    }

    /// A section's bytes (the header for [`Section::Header`]).
    pub fn section(&self, s: Section) -> &'a [u8] {
        let range = match s {
            Section::Header => 0..HEADER_LEN,
            Section::Model => self.blob.clone(),
            Section::TestImages => self.test_images.clone(),
            Section::TestLabels => self.test_labels.clone(),
            Section::Logits => self.logits.clone(),
            Section::TrainImages => self.train_images.clone(),
            Section::TrainLabels => self.train_labels.clone(),
        };
        self.bytes.get(range).unwrap_or(&[])
    }

    /// The host's logit `k` for test digit `i` as its 4 little-endian bytes' value (`f32`
    /// bits for an f32 model, an `i32` for an int8 one); `None` out of range.
    pub fn logit_bits(&self, i: usize, k: usize) -> Option<u32> {
        if i >= self.tests || k >= self.classes {
            return None;
        }
        let at = 4 * (i * self.classes + k);
        match self.section(Section::Logits).get(at..at + 4) {
            Some(&[a, b, c, d]) => Some(u32::from_le_bytes([a, b, c, d])),
            _ => None,
        }
    }
}

/// The parts of a bundle to write: the host fills it and calls [`Sections::len`] for the
/// buffer, then [`Sections::write`].
#[derive(Clone, Copy, Debug)]
pub struct Sections<'a> {
    /// Whether the test inputs are raw feature rows (`f32` values, little-endian: a
    /// version-2 bundle) rather than pixels (bytes: version 1).
    pub features: bool,
    /// Rows of a digit.
    pub rows: usize,
    /// Columns of a digit.
    pub cols: usize,
    /// Classes: the model's outputs.
    pub classes: usize,
    /// The model blob (the core's weights format).
    pub blob: &'a [u8],
    /// Test digits, rows·cols pixels each (raw-feature rows: rows·cols·4 bytes each).
    pub test_images: &'a [&'a [u8]],
    /// A label per test digit.
    pub test_labels: &'a [u8],
    /// The host's logits: classes per test digit, each 4 little-endian bytes.
    pub logits: &'a [[u8; 4]],
    /// Training digits, rows·cols pixels each.
    pub train_images: &'a [&'a [u8]],
    /// A label per training digit.
    pub train_labels: &'a [u8],
}

/// Offsets of the sections after the header, in header order, and the end.
struct Offsets {
    blob: usize,
    test_images: usize,
    test_labels: usize,
    logits: usize,
    train_images: usize,
    train_labels: usize,
    end: usize,
}

impl Sections<'_> {
    /// Bytes per test value: 4 for raw features, 1 for pixels.
    fn value_bytes(&self) -> usize {
        if self.features {
            4
        } else {
            1
        }
    }

    fn offsets(&self) -> Result<Offsets, BundleError> {
        let pixels = self
            .rows
            .checked_mul(self.cols)
            .ok_or(BundleError::TooLarge)?;
        let images = |n: usize| n.checked_mul(pixels).ok_or(BundleError::TooLarge);
        let add = |a: usize, b: usize| a.checked_add(b).ok_or(BundleError::TooLarge);
        let blob = HEADER_LEN;
        let test_images = add(blob, self.blob.len())?;
        let test_bytes = images(self.test_images.len())?
            .checked_mul(self.value_bytes())
            .ok_or(BundleError::TooLarge)?;
        let test_labels = add(test_images, test_bytes)?;
        let logits = add(test_labels, self.test_labels.len())?
            .checked_next_multiple_of(4)
            .ok_or(BundleError::TooLarge)?;
        let train_images = add(logits, 4 * self.logits.len())?;
        let train_labels = add(train_images, images(self.train_images.len())?)?;
        let end = add(train_labels, self.train_labels.len())?;
        if u32::try_from(end).is_err() {
            return Err(BundleError::TooLarge);
        }
        Ok(Offsets {
            blob,
            test_images,
            test_labels,
            logits,
            train_images,
            train_labels,
            end,
        })
    }

    /// Bytes of the bundle.
    pub fn len(&self) -> Result<usize, BundleError> {
        Ok(self.offsets()?.end)
    }

    /// Whether the bundle is empty: never (it has a header).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the bundle into `out[..len]` and returns `len` ([`Sections::len`]). Checks
    /// that every image has rows·cols pixels, a label per image and the logits' count; the
    /// model itself is the caller's (the reader checks it).
    pub fn write(&self, out: &mut [u8]) -> Result<usize, BundleError> {
        let pixels = self
            .rows
            .checked_mul(self.cols)
            .ok_or(BundleError::TooLarge)?;
        for (images, labels, s, each) in [
            (
                self.test_images,
                self.test_labels,
                Section::TestImages,
                pixels * self.value_bytes(),
            ),
            (
                self.train_images,
                self.train_labels,
                Section::TrainImages,
                pixels,
            ),
        ] {
            if images.len() != labels.len() || images.iter().any(|i| i.len() != each) {
                return Err(BundleError::Length(s));
            }
        }
        if self.features && !self.train_images.is_empty() {
            return Err(BundleError::Features("training rows are not supported"));
        }
        if Some(self.logits.len()) != self.test_images.len().checked_mul(self.classes) {
            return Err(BundleError::Length(Section::Logits));
        }
        let o = self.offsets()?;
        let actual = out.len();
        let out = out.get_mut(..o.end).ok_or(BundleError::Buffer {
            needed: o.end,
            actual,
        })?;
        out.fill(0);
        out[..MAGIC.len()].copy_from_slice(&MAGIC);
        let version = if self.features {
            VERSION_FEATURES
        } else {
            VERSION
        };
        let header = [
            version as usize,
            HEADER_LEN,
            self.rows,
            self.cols,
            self.classes,
            self.test_images.len(),
            self.train_images.len(),
            o.blob,
            self.blob.len(),
            o.test_images,
            o.test_labels,
            o.logits,
            o.train_images,
            o.train_labels,
        ];
        for (k, value) in header.into_iter().enumerate() {
            let v = u32::try_from(value).map_err(|_| BundleError::TooLarge)?;
            let at = MAGIC.len() + 4 * k;
            out[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        out[o.blob..o.test_images].copy_from_slice(self.blob);
        let mut put = |at: usize, parts: &mut dyn Iterator<Item = &[u8]>| {
            let mut at = at;
            for p in parts {
                out[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
        };
        put(o.test_images, &mut self.test_images.iter().copied());
        put(o.test_labels, &mut core::iter::once(self.test_labels));
        put(o.logits, &mut self.logits.iter().map(|z| &z[..]));
        put(o.train_images, &mut self.train_images.iter().copied());
        put(o.train_labels, &mut core::iter::once(self.train_labels));
        Ok(o.end)
    }
}

/// Pools a `rows`×`cols` digit by the mean of each `p`×`p` block, rounded to nearest,
/// into `out` (`rows/p · cols/p` pixels): the training digits of a board whose training
/// net takes smaller digits (the firmware's build does it, a host replay of the chip's
/// training does it again). Leaves `out` as it is when the sizes do not fit.
pub fn pool(digit: &[u8], rows: usize, cols: usize, p: usize, out: &mut [u8]) {
    let (r_out, c_out) = (rows / p.max(1), cols / p.max(1));
    if p == 0 || digit.len() != rows * cols || out.len() != r_out * c_out {
        return;
    }
    for (k, o) in out.iter_mut().enumerate() {
        let (r, c) = (k / c_out * p, k % c_out * p);
        let sum: usize = (0..p)
            .flat_map(|i| (0..p).map(move |j| (i, j)))
            .map(|(i, j)| usize::from(digit[(r + i) * cols + c + j]))
            .sum();
        *o = ((sum + p * p / 2) / (p * p)) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Layer, Topology};

    const LAYERS: [Layer; 2] = [
        Layer::new(2, Activation::Relu),
        Layer::new(3, Activation::Softmax),
    ];
    /// 2x2 digits to 3 classes: 4·2+2 + 2·3+3 parameters.
    const BLOB: usize = crate::format::HEADER_LEN + 4 * 19;

    fn write(out: &mut [u8; 512]) -> usize {
        let mut blob = [0u8; BLOB];
        let t = Topology::new(4, &LAYERS).unwrap();
        crate::format::write_blob(&t, &[0.25; 19], &mut blob).unwrap();
        let images: [&[u8]; 2] = [&[1, 2, 3, 4], &[5, 6, 7, 8]];
        let sections = Sections {
            features: false,
            rows: 2,
            cols: 2,
            classes: 3,
            blob: &blob,
            test_images: &images,
            test_labels: &[2, 0],
            logits: &[
                [1, 0, 0, 0],
                [2, 0, 0, 0],
                [3, 0, 0, 0],
                [4, 0, 0, 0],
                [5, 0, 0, 0],
                [6, 0, 0, 0],
            ],
            train_images: &images[..1],
            train_labels: &[1],
        };
        let len = sections.len().unwrap();
        assert_eq!(
            sections.write(&mut out[..len - 1]),
            Err(BundleError::Buffer {
                needed: len,
                actual: len - 1
            })
        );
        assert_eq!(sections.write(out), Ok(len));
        let bad = Sections {
            test_labels: &[2],
            ..sections
        };
        assert_eq!(
            bad.write(out).err(),
            Some(BundleError::Length(Section::TestImages))
        );
        len
    }

    #[test]
    fn round_trip() {
        let mut out = [0u8; 512];
        let len = write(&mut out);
        let b = Bundle::parse(&out[..len]).unwrap();
        assert_eq!(
            (
                b.rows(),
                b.cols(),
                b.classes(),
                b.test_count(),
                b.train_count()
            ),
            (2, 2, 3, 2, 1)
        );
        assert_eq!(b.section(Section::Model).len(), BLOB);
        assert_eq!(b.section(Section::TestImages), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(b.section(Section::TrainLabels), &[1]);
        assert_eq!((b.logit_bits(1, 2), b.logit_bits(2, 0)), (Some(6), None));
        // The logits start 4-aligned after 64 + BLOB + 8 pixels + 2 labels.
        assert_eq!(
            b.section(Section::Logits).as_ptr() as usize - out.as_ptr() as usize,
            (HEADER_LEN + BLOB + 10).next_multiple_of(4)
        );
    }

    #[test]
    fn every_damage_is_an_error_not_a_panic() {
        let mut out = [0u8; 512];
        let len = write(&mut out);
        for cut in 0..len {
            assert!(Bundle::parse(&out[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..len {
            let mut bad = out;
            bad[at] ^= 0x80;
            let _ = Bundle::parse(&bad[..len]);
        }
        let mut bad = out;
        bad[HEADER_LEN + BLOB + 8] = 3; // a test label of 3 with 3 classes
        assert_eq!(
            Bundle::parse(&bad[..len]).err(),
            Some(BundleError::Label(Section::TestLabels))
        );
        assert_eq!(
            Bundle::parse(&[0u8; 64]).err(),
            Some(BundleError::NotABundle)
        );
        assert_eq!(
            Bundle::parse(b"MDBUNDLE").err(),
            Some(BundleError::Truncated(Section::Header))
        );
    }

    #[test]
    fn pool_takes_rounded_block_means() {
        let digit = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        let mut out = [0u8; 3];
        super::pool(&digit, 2, 6, 2, &mut out);
        // (0+1+6+7)/4 = 3.5 → 4; (2+3+8+9)/4 = 5.5 → 6; (4+5+10+11)/4 = 7.5 → 8.
        assert_eq!(out, [4, 6, 8]);
        let mut same = [0u8; 12];
        super::pool(&digit, 2, 6, 1, &mut same);
        assert_eq!(same, digit);
        let mut wrong = [7u8; 2];
        super::pool(&digit, 2, 6, 2, &mut wrong);
        assert_eq!(wrong, [7, 7]);
    }
}

#[cfg(test)]
mod feature_tests {
    use super::*;
    use crate::scaling::{add_input_section, InputScaling, ScalingKind};
    use crate::{Activation, Layer, Topology};

    #[repr(C, align(32))]
    struct Buf([u8; 1024]);

    /// A 3-feature, 2-class model with (`scaled`) or without its input scaling.
    fn blob(scaled: bool) -> ([u8; 256], usize) {
        let t = Topology::new(3, &[Layer::new(2, Activation::Softmax)]).unwrap();
        let mut out = [0u8; 256];
        let n = crate::format::write_blob(&t, &[0.5; 8], &mut out).unwrap();
        if !scaled {
            return (out, n);
        }
        let s = InputScaling {
            offset: &[1.0, 2.0, 3.0],
            divisor: &[4.0, 5.0, 6.0],
        };
        let n = add_input_section(&mut out, n, ScalingKind::Standard, s, &[]).unwrap();
        (out, n)
    }

    fn rows(values: &[[f32; 3]]) -> heapless::Vec<[u8; 12], 4> {
        values
            .iter()
            .map(|r| {
                let mut b = [0u8; 12];
                for (d, v) in b.chunks_exact_mut(4).zip(r) {
                    d.copy_from_slice(&v.to_le_bytes());
                }
                b
            })
            .collect()
    }

    #[test]
    fn raw_feature_rows_round_trip_as_version_2() {
        let (model, n) = blob(true);
        let raw = rows(&[[5.1, 3.5, 1.4], [-2.0, 0.0, 1e6]]);
        let refs: [&[u8]; 2] = [&raw[0], &raw[1]];
        let s = Sections {
            features: true,
            rows: 1,
            cols: 3,
            classes: 2,
            blob: &model[..n],
            test_images: &refs,
            test_labels: &[1, 0],
            logits: &[[0; 4]; 4],
            train_images: &[],
            train_labels: &[],
        };
        let mut buf = Buf([0; 1024]);
        let len = s.write(&mut buf.0).unwrap();
        assert_eq!(field(&buf.0, 0), 2);
        let b = Bundle::parse(&buf.0[..len]).unwrap();
        assert!(b.features());
        assert_eq!(
            (b.test_value(0, 0), b.test_value(1, 2)),
            (Some(5.1), Some(1e6))
        );
        assert_eq!((b.test_value(2, 0), b.test_value(0, 3)), (None, None));
        assert_eq!(b.section(Section::TestImages).len(), 24);
        // Training rows, a model without scaling, a NaN value: each refused.
        let one: [&[u8]; 1] = [&[0, 0, 0]];
        let with_train = Sections {
            train_images: &one,
            train_labels: &[0],
            ..s
        };
        assert_eq!(
            with_train.write(&mut buf.0).err(),
            Some(BundleError::Features("training rows are not supported"))
        );
        let (plain, m) = blob(false);
        let unscaled = Sections {
            blob: &plain[..m],
            ..s
        };
        let len = unscaled.write(&mut buf.0).unwrap();
        assert_eq!(
            Bundle::parse(&buf.0[..len]).err(),
            Some(BundleError::Features("the model carries no input scaling"))
        );
        let nan = rows(&[[f32::NAN, 0.0, 0.0]]);
        let refs: [&[u8]; 1] = [&nan[0]];
        let bad = Sections {
            test_images: &refs,
            test_labels: &[0],
            logits: &[[0; 4]; 2],
            ..s
        };
        let len = bad.write(&mut buf.0).unwrap();
        assert_eq!(
            Bundle::parse(&buf.0[..len]).err(),
            Some(BundleError::Features("a test value is not finite"))
        );
        // A pixel bundle has no raw values.
        let pixels: [&[u8]; 1] = [&[1, 2, 3]];
        let v1 = Sections {
            features: false,
            blob: &plain[..m],
            test_images: &pixels,
            test_labels: &[0],
            logits: &[[0; 4]; 2],
            ..s
        };
        let len = v1.write(&mut buf.0).unwrap();
        let b = Bundle::parse(&buf.0[..len]).unwrap();
        assert_eq!(
            (field(&buf.0, 0), b.features(), b.test_value(0, 0)),
            (1, false, None)
        );
    }
}
