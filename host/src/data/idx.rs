//! Reader and writer for the IDX files MNIST ships in.
//!
//! Only the subset MNIST uses is supported: unsigned-byte elements, images
//! with 3 dimensions (count, rows, cols) and labels with 1 (count). Files may
//! be raw or gzip-compressed; compression is detected from the content, not
//! the name. Every malformed input is reported as a [`DataError`] whose
//! message names the file; nothing in here panics on file contents.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use byteorder::{BigEndian, ReadBytesExt, WriteBytesExt};
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::atomic::{self, WriteError};

/// Largest accepted image or label count.
pub const MAX_COUNT: u32 = 10_000_000;
/// Largest accepted number of rows or columns.
pub const MAX_SIDE: u32 = 4096;
/// Environment variable naming the MNIST directory.
pub const DATA_ENV: &str = "MICRODENSE_DATA";
/// Directory used when neither `--data` nor [`DATA_ENV`] is given.
pub const DEFAULT_DATA_DIR: &str = "data/mnist";

/// A gzip IDX file may inflate to at most this many times its size (MNIST's files
/// inflate 2–5 times; a stream of zeros, 1032 times).
pub const MAX_GZIP_RATIO: u64 = 64;
/// ... or to this many bytes, for small files.
pub const MIN_GZIP_LIMIT: u64 = 16 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const TYPE_U8: u8 = 0x08;

/// A failure to read or write a dataset file. Display is a single line that
/// starts with the offending path.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: cannot read: {err}", path.display())]
    Io { path: PathBuf, err: io::Error },

    #[error(
        "{}: not found (nor without .gz); run `microdense fetch --dir {}` to download MNIST",
        path.display(),
        dir.display()
    )]
    Missing { path: PathBuf, dir: PathBuf },

    #[error("{}: corrupt gzip data: {err}", path.display())]
    Gzip { path: PathBuf, err: io::Error },

    #[error("{}: bad magic {got:#010x} (expected {expected:#010x}, {what})", path.display())]
    BadMagic {
        path: PathBuf,
        got: u32,
        expected: u32,
        what: &'static str,
    },

    #[error(
        "{}: unsupported element type {got:#04x} ({}); only 0x08 (unsigned byte) is supported",
        path.display(),
        element_type_name(*got)
    )]
    BadElementType { path: PathBuf, got: u8 },

    #[error("{}: {what} is {value}, must be between 1 and {max}", path.display())]
    BadDimension {
        path: PathBuf,
        what: &'static str,
        value: u32,
        max: u32,
    },

    #[error(
        "{}: the header claims {claimed} bytes of data, more than {MAX_GZIP_RATIO} times this \
         {compressed}-byte gzip file can honestly hold: refusing to inflate it (a gzip bomb or \
         a damaged header)",
        path.display()
    )]
    Bomb {
        path: PathBuf,
        claimed: u64,
        compressed: u64,
    },

    #[error("{}: {bytes}-byte payload is too large for this machine", path.display())]
    TooLarge { path: PathBuf, bytes: u64 },

    #[error(
        "{}: truncated: expected {}{expected} bytes{}, got {got}",
        path.display(),
        if *at_least { "at least " } else { "" },
        if *decompressed { " after decompression" } else { "" }
    )]
    Truncated {
        path: PathBuf,
        expected: u64,
        got: u64,
        at_least: bool,
        decompressed: bool,
    },

    #[error(
        "{}: {extra} unexpected trailing bytes after the {expected}-byte IDX data{}",
        path.display(),
        if *decompressed { " (after decompression)" } else { "" }
    )]
    TrailingBytes {
        path: PathBuf,
        expected: u64,
        extra: u64,
        decompressed: bool,
    },

    #[error(
        "{}: has {images} images but {} has {labels} labels",
        images_path.display(),
        labels_path.display()
    )]
    CountMismatch {
        images_path: PathBuf,
        images: usize,
        labels_path: PathBuf,
        labels: usize,
    },

    #[error("{}: cannot write: {detail}", path.display())]
    Inconsistent { path: PathBuf, detail: String },

    #[error(transparent)]
    Write(#[from] WriteError),
}

fn element_type_name(t: u8) -> &'static str {
    match t {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => "not an IDX type",
    }
}

/// A stack of equally sized greyscale images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    /// Row-major pixels, image after image: `count * rows * cols` bytes.
    pub pixels: Vec<u8>,
}

impl Images {
    /// Pixels per image.
    pub fn image_size(&self) -> usize {
        self.rows * self.cols
    }

    /// Pixels of image `i`. Panics if `i >= count`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_size();
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// Images with one label each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub images: Images,
    /// `labels[i]` belongs to `images.image(i)`; same length as `images.count`.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Network input width: pixels per image.
    pub fn input_size(&self) -> usize {
        self.images.image_size()
    }

    /// Pixels of example `i`. Panics if `i >= len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        self.images.image(i)
    }

    /// Label of example `i`. Panics if `i >= len()`.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// Largest label, or `None` if empty. The IDX format does not bound
    /// labels, so callers that expect `n` classes check `max_label() < n`.
    pub fn max_label(&self) -> Option<u8> {
        self.labels.iter().copied().max()
    }
}

/// Which half of MNIST to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    /// Uncompressed file names (images, labels) as published.
    pub fn file_names(self) -> (&'static str, &'static str) {
        match self {
            Split::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            Split::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

/// Where `scripts/main.sh` finds MNIST when the repository sits beside a shared data folder.
pub const SHARED_DATA_DIR: &str = "../shared/data/mnist";

/// The MNIST directory: `cli` (from `--data`), else `$MICRODENSE_DATA`, else `data/mnist`,
/// else `../shared/data/mnist` when that holds MNIST and `data/mnist` does not exist
/// (so the README's commands find what `scripts/main.sh` used).
pub fn data_dir(cli: Option<&Path>) -> PathBuf {
    let shared = Path::new(SHARED_DATA_DIR);
    let use_shared = !Path::new(DEFAULT_DATA_DIR).exists()
        && find_file(shared, Split::Train.file_names().0).is_ok();
    data_dir_from(cli, std::env::var_os(DATA_ENV), use_shared)
}

fn data_dir_from(cli: Option<&Path>, env: Option<std::ffi::OsString>, shared: bool) -> PathBuf {
    match (cli, env) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(e)) if !e.is_empty() => PathBuf::from(e),
        _ if shared => PathBuf::from(SHARED_DATA_DIR),
        _ => PathBuf::from(DEFAULT_DATA_DIR),
    }
}

/// The image and label files [`load_split`] reads for `split`, those that exist.
pub fn split_files(dir: &Path, split: Split) -> Vec<PathBuf> {
    let (img_name, lbl_name) = split.file_names();
    [img_name, lbl_name]
        .iter()
        .filter_map(|name| find_file(dir, name).ok())
        .collect()
}

/// Load one split from `dir`, accepting each file with or without `.gz`
/// (the `.gz` one wins if both exist, as that is what `fetch` verifies).
pub fn load_split(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let (img_name, lbl_name) = split.file_names();
    let img_path = find_file(dir, img_name)?;
    let lbl_path = find_file(dir, lbl_name)?;
    let images = read_images(&img_path)?;
    let labels = read_labels(&lbl_path)?;
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images_path: img_path,
            images: images.count,
            labels_path: lbl_path,
            labels: labels.len(),
        });
    }
    Ok(Dataset { images, labels })
}

fn find_file(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    Err(DataError::Missing {
        path: gz,
        dir: dir.to_path_buf(),
    })
}

/// Read an IDX image file (magic `0x00000803`), raw or gzip.
pub fn read_images(path: &Path) -> Result<Images, DataError> {
    parse_images(path, read_file(path)?)
}

/// Read an IDX label file (magic `0x00000801`), raw or gzip.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_labels(path, read_file(path)?)
}

/// Write `images` as an IDX image file, gzip-compressed if `path` ends in
/// `.gz`, replacing `path` atomically.
///
/// Any dimensions that fit the header are written, including zero or
/// oversized ones the reader rejects, so tests can build bad fixtures; only
/// `pixels.len() != count * rows * cols` is refused.
pub fn write_images(path: &Path, images: &Images) -> Result<(), DataError> {
    let dims = [images.count, images.rows, images.cols];
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if expected != Some(images.pixels.len()) {
        return Err(DataError::Inconsistent {
            path: path.to_path_buf(),
            detail: format!(
                "{} pixels for {}x{}x{} images",
                images.pixels.len(),
                images.count,
                images.rows,
                images.cols
            ),
        });
    }
    write_idx(path, Kind::Images, &dims, &images.pixels)
}

/// Write `labels` as an IDX label file, gzip-compressed if `path` ends in
/// `.gz`, replacing `path` atomically.
pub fn write_labels(path: &Path, labels: &[u8]) -> Result<(), DataError> {
    write_idx(path, Kind::Labels, &[labels.len()], labels)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Images,
    Labels,
}

impl Kind {
    fn ndims(self) -> u8 {
        match self {
            Kind::Images => 3,
            Kind::Labels => 1,
        }
    }

    fn magic(self) -> u32 {
        u32::from(TYPE_U8) << 8 | u32::from(self.ndims())
    }

    fn header_len(self) -> usize {
        4 + 4 * usize::from(self.ndims())
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Images => "an IDX image file",
            Kind::Labels => "an IDX label file",
        }
    }

    fn dim_names(self) -> &'static [&'static str] {
        match self {
            Kind::Images => &["image count", "rows", "cols"],
            Kind::Labels => &["label count"],
        }
    }
}

/// Dimensions from a header; unused trailing ones are 1.
type Dims = [usize; 3];

/// A whole file; regular files only (a FIFO or a device would block or never end).
fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    crate::files::read_regular(path, u64::MAX).map_err(|err| DataError::Io {
        path: path.to_path_buf(),
        err,
    })
}

/// Parses an IDX image file's bytes, raw or gzip (`path` only names it in errors).
pub fn parse_images(path: &Path, file: Vec<u8>) -> Result<Images, DataError> {
    let ([count, rows, cols], pixels) = parse_idx(path, Kind::Images, file)?;
    Ok(Images {
        count,
        rows,
        cols,
        pixels,
    })
}

/// Parses an IDX label file's bytes, raw or gzip (`path` only names it in errors).
pub fn parse_labels(path: &Path, file: Vec<u8>) -> Result<Vec<u8>, DataError> {
    parse_idx(path, Kind::Labels, file).map(|(_, labels)| labels)
}

fn parse_idx(path: &Path, kind: Kind, file: Vec<u8>) -> Result<(Dims, Vec<u8>), DataError> {
    if file.starts_with(&GZIP_MAGIC) {
        read_gz(path, kind, &file)
    } else {
        read_raw(path, kind, file)
    }
}

fn read_raw(path: &Path, kind: Kind, mut file: Vec<u8>) -> Result<(Dims, Vec<u8>), DataError> {
    let hlen = kind.header_len();
    let header = file.get(..hlen).unwrap_or(&file);
    let (dims, payload_len) = parse_header(path, kind, header, false)?;
    let expected = hlen + payload_len;
    if file.len() != expected {
        return Err(length_error(path, expected, file.len() as u64, false));
    }
    // Reuse the buffer rather than copying tens of megabytes.
    file.drain(..hlen);
    Ok((dims, file))
}

fn read_gz(path: &Path, kind: Kind, file: &[u8]) -> Result<(Dims, Vec<u8>), DataError> {
    let gz_err = |err| DataError::Gzip {
        path: path.to_path_buf(),
        err,
    };
    // Multi-member so that data after the first member is decoded (and
    // rejected if it is not gzip) instead of silently ignored.
    let mut dec = MultiGzDecoder::new(file);
    let hlen = kind.header_len();
    let mut header = vec![0u8; hlen];
    let got = read_full(&mut dec, &mut header).map_err(gz_err)?;
    let (dims, payload_len) = parse_header(path, kind, &header[..got], true)?;
    // Deflate can expand 1032:1 (a "gzip bomb"), but IDX data does not compress that
    // well (MNIST: under 5:1). Refuse a header claiming more than the file could
    // honestly hold, before inflating anything.
    let limit = gzip_limit(file.len());
    if (hlen + payload_len) as u64 > limit {
        return Err(DataError::Bomb {
            path: path.to_path_buf(),
            claimed: (hlen + payload_len) as u64,
            compressed: file.len() as u64,
        });
    }
    let mut payload = Vec::new();
    payload
        .try_reserve_exact(payload_len)
        .map_err(|_| DataError::TooLarge {
            path: path.to_path_buf(),
            bytes: payload_len as u64,
        })?;
    (&mut dec)
        .take(payload_len as u64)
        .read_to_end(&mut payload)
        .map_err(gz_err)?;
    let expected = hlen + payload_len;
    if payload.len() < payload_len {
        return Err(length_error(
            path,
            expected,
            (hlen + payload.len()) as u64,
            true,
        ));
    }
    // Drain the rest (this also checks the gzip CRC and length trailer), but no more
    // than the limit: trailing data is an error whatever its length.
    let extra = io::copy(&mut (&mut dec).take(limit), &mut io::sink()).map_err(gz_err)?;
    if extra > 0 {
        return Err(length_error(
            path,
            expected,
            (expected as u64).saturating_add(extra),
            true,
        ));
    }
    Ok((dims, payload))
}

/// Most a gzip IDX file of `compressed` bytes may inflate to: [`MAX_GZIP_RATIO`] times
/// its size, or [`MIN_GZIP_LIMIT`] for small files.
pub fn gzip_limit(compressed: usize) -> u64 {
    (compressed as u64)
        .saturating_mul(MAX_GZIP_RATIO)
        .max(MIN_GZIP_LIMIT)
}

fn length_error(path: &Path, expected: usize, got: u64, decompressed: bool) -> DataError {
    let expected = expected as u64;
    if got < expected {
        DataError::Truncated {
            path: path.to_path_buf(),
            expected,
            got,
            at_least: false,
            decompressed,
        }
    } else {
        DataError::TrailingBytes {
            path: path.to_path_buf(),
            expected,
            extra: got - expected,
            decompressed,
        }
    }
}

/// Like `read_exact`, but reports how much was read before EOF.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Validate the header at the start of `h`, which may be shorter than a
/// header if the file is; return the dimensions and payload length.
///
/// The magic is checked before the length so that, say, a tiny label file
/// read as images reports the mix-up rather than a truncation.
fn parse_header(
    path: &Path,
    kind: Kind,
    mut h: &[u8],
    decompressed: bool,
) -> Result<(Dims, usize), DataError> {
    let got = h.len() as u64;
    let short = |_| DataError::Truncated {
        path: path.to_path_buf(),
        expected: kind.header_len() as u64,
        got,
        at_least: true,
        decompressed,
    };
    let magic = h.read_u32::<BigEndian>().map_err(short)?;
    let [zero_a, zero_b, elem, ndims] = magic.to_be_bytes();
    let bad_magic = DataError::BadMagic {
        path: path.to_path_buf(),
        got: magic,
        expected: kind.magic(),
        what: kind.describe(),
    };
    if zero_a != 0 || zero_b != 0 {
        return Err(bad_magic);
    }
    if elem != TYPE_U8 {
        return Err(DataError::BadElementType {
            path: path.to_path_buf(),
            got: elem,
        });
    }
    if ndims != kind.ndims() {
        return Err(bad_magic);
    }
    let mut dims = [1; 3];
    let mut total: u64 = 1;
    for (i, (&what, dim)) in kind.dim_names().iter().zip(&mut dims).enumerate() {
        let value = h.read_u32::<BigEndian>().map_err(short)?;
        let max = if i == 0 { MAX_COUNT } else { MAX_SIDE };
        if value == 0 || value > max {
            return Err(DataError::BadDimension {
                path: path.to_path_buf(),
                what,
                value,
                max,
            });
        }
        // Cannot overflow u64 given the caps, but stay honest about it.
        total = total.saturating_mul(u64::from(value));
        *dim = value as usize;
    }
    let payload = usize::try_from(total)
        .ok()
        .filter(|&n| n.checked_add(kind.header_len()).is_some())
        .ok_or(DataError::TooLarge {
            path: path.to_path_buf(),
            bytes: total,
        })?;
    Ok((dims, payload))
}

fn write_idx(path: &Path, kind: Kind, dims: &[usize], data: &[u8]) -> Result<(), DataError> {
    let mut header = Vec::with_capacity(kind.header_len());
    // Writing into a Vec cannot fail; the header layout is fixed above.
    let _ = header.write_u32::<BigEndian>(kind.magic());
    for &d in dims {
        let d = u32::try_from(d).map_err(|_| DataError::Inconsistent {
            path: path.to_path_buf(),
            detail: format!("dimension {d} does not fit an IDX header"),
        })?;
        let _ = header.write_u32::<BigEndian>(d);
    }
    let gzip = path.extension().is_some_and(|e| e == "gz");
    atomic::write_atomic_with(path, |w| {
        if gzip {
            let mut enc = GzEncoder::new(w, Compression::default());
            enc.write_all(&header)?;
            enc.write_all(data)?;
            enc.finish().map(drop)
        } else {
            w.write_all(&header)?;
            w.write_all(data)
        }
    })?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs;
    use tempfile::TempDir;

    fn sample(count: usize, rows: usize, cols: usize) -> Images {
        let pixels = (0..count * rows * cols)
            .map(|i| (i * 7 % 256) as u8)
            .collect();
        Images {
            count,
            rows,
            cols,
            pixels,
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// Raw IDX bytes with an arbitrary header, for malformed fixtures.
    fn idx_bytes(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    fn put(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.path().join(name);
        fs::write(&p, bytes).unwrap();
        p
    }

    /// Assert reading `path` as images fails with a message that names the
    /// file and contains every one of `needles`.
    fn images_err(path: &Path, needles: &[&str]) -> DataError {
        let err = read_images(path).expect_err("malformed file was accepted");
        check_msg(&err, path, needles);
        err
    }

    fn check_msg(err: &DataError, path: &Path, needles: &[&str]) {
        let msg = err.to_string();
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(msg.contains(name), "message lacks file name {name}: {msg}");
        assert!(!msg.contains('\n'), "message is not one line: {msg}");
        for n in needles {
            assert!(msg.contains(n), "message lacks {n:?}: {msg}");
        }
    }

    #[test]
    fn round_trip_raw_and_gz() {
        let dir = tempfile::tempdir().unwrap();
        let images = sample(5, 3, 4);
        let labels = vec![3, 1, 4, 1, 5];
        for name in ["imgs", "imgs.gz"] {
            let p = dir.path().join(name);
            write_images(&p, &images).unwrap();
            assert_eq!(read_images(&p).unwrap(), images);
        }
        for name in ["lbls", "lbls.gz"] {
            let p = dir.path().join(name);
            write_labels(&p, &labels).unwrap();
            assert_eq!(read_labels(&p).unwrap(), labels);
        }
        // Compression is detected from content, not the name.
        let raw = fs::read(dir.path().join("imgs")).unwrap();
        let gz = fs::read(dir.path().join("imgs.gz")).unwrap();
        assert!(gz.starts_with(&GZIP_MAGIC) && !raw.starts_with(&GZIP_MAGIC));
        assert_eq!(raw.len(), 16 + 60);
        assert_eq!(raw[..4], [0, 0, 8, 3]);
        let swapped = put(&dir, "gz-without-suffix", &gz);
        assert_eq!(read_images(&swapped).unwrap(), images);
    }

    #[test]
    fn load_split_and_dataset_accessors() {
        let dir = tempfile::tempdir().unwrap();
        let images = sample(4, 2, 3);
        // Train as gzip, test as raw: both spellings must be found.
        write_images(&dir.path().join("train-images-idx3-ubyte.gz"), &images).unwrap();
        write_labels(
            &dir.path().join("train-labels-idx1-ubyte.gz"),
            &[0, 9, 2, 7],
        )
        .unwrap();
        write_images(&dir.path().join("t10k-images-idx3-ubyte"), &images).unwrap();
        write_labels(&dir.path().join("t10k-labels-idx1-ubyte"), &[1, 1, 1, 1]).unwrap();

        let train = load_split(dir.path(), Split::Train).unwrap();
        assert_eq!((train.len(), train.input_size()), (4, 6));
        assert!(!train.is_empty());
        assert_eq!(train.max_label(), Some(9));
        assert_eq!(train.label(3), 7);
        assert_eq!(train.image(1), &images.pixels[6..12]);

        let test = load_split(dir.path(), Split::Test).unwrap();
        assert_eq!(test.max_label(), Some(1));
    }

    #[test]
    fn gz_preferred_when_both_exist() {
        let dir = tempfile::tempdir().unwrap();
        write_images(
            &dir.path().join("t10k-images-idx3-ubyte.gz"),
            &sample(2, 1, 1),
        )
        .unwrap();
        put(&dir, "t10k-images-idx3-ubyte", b"not even idx");
        write_labels(&dir.path().join("t10k-labels-idx1-ubyte"), &[0, 1]).unwrap();
        assert_eq!(load_split(dir.path(), Split::Test).unwrap().len(), 2);
    }

    #[test]
    fn missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope-idx3-ubyte");
        images_err(&p, &["cannot read"]);
        let err = load_split(dir.path(), Split::Train).unwrap_err();
        let gz = dir.path().join("train-images-idx3-ubyte.gz");
        check_msg(&err, &gz, &["not found", "microdense fetch --dir"]);
        assert!(err.to_string().contains(&dir.path().display().to_string()));

        // Images present, labels missing: the labels file is named.
        write_images(
            &dir.path().join("train-images-idx3-ubyte"),
            &sample(1, 1, 1),
        )
        .unwrap();
        let err = load_split(dir.path(), Split::Train).unwrap_err();
        check_msg(
            &err,
            &dir.path().join("train-labels-idx1-ubyte.gz"),
            &["not found"],
        );
    }

    #[test]
    fn wrong_magic() {
        let dir = tempfile::tempdir().unwrap();
        let labels = dir.path().join("labels.gz");
        write_labels(&labels, &[1, 2]).unwrap();
        let err = images_err(
            &labels,
            &["bad magic 0x00000801 (expected 0x00000803, an IDX image file)"],
        );
        assert!(matches!(err, DataError::BadMagic { got: 0x801, .. }));

        let images = dir.path().join("images");
        write_images(&images, &sample(1, 2, 2)).unwrap();
        let err = read_labels(&images).unwrap_err();
        check_msg(
            &err,
            &images,
            &["bad magic 0x00000803 (expected 0x00000801"],
        );

        let html = put(&dir, "page.html", b"<html><body>Not Found</body></html>");
        images_err(&html, &["bad magic 0x3c68746d"]);
    }

    #[test]
    fn wrong_element_type() {
        let dir = tempfile::tempdir().unwrap();
        let p = put(&dir, "floats", &idx_bytes(0x0D03, &[1, 1, 1], &[0; 4]));
        let err = images_err(&p, &["element type 0x0d (f32)", "unsigned byte"]);
        assert!(matches!(err, DataError::BadElementType { got: 0x0D, .. }));
    }

    #[test]
    fn bad_dimensions() {
        let dir = tempfile::tempdir().unwrap();
        // Zero dims, written through the public writer as other crates would.
        let zeros = [
            ((0, 28, 28), "image count is 0"),
            ((3, 0, 28), "rows is 0"),
            ((3, 28, 0), "cols is 0"),
        ];
        for (i, ((c, r, k), what)) in zeros.into_iter().enumerate() {
            let p = dir.path().join(format!("zero{i}.gz"));
            write_images(&p, &sample(c, r, k)).unwrap();
            images_err(&p, &[what]);
        }
        let p = dir.path().join("nolabels");
        write_labels(&p, &[]).unwrap();
        check_msg(&read_labels(&p).unwrap_err(), &p, &["label count is 0"]);

        // Absurd sizes are rejected from the header alone, before allocating.
        let p = put(&dir, "huge", &idx_bytes(0x803, &[u32::MAX, 28, 28], &[]));
        images_err(
            &p,
            &["image count is 4294967295, must be between 1 and 10000000"],
        );
        let p = put(&dir, "wide", &idx_bytes(0x803, &[1, 1, 5000], &[]));
        images_err(&p, &["cols is 5000", "4096"]);
        // Largest legal header with no data behind it, gzip: refused from the
        // header and the file size, before inflating or allocating anything.
        let p = put(
            &dir,
            "bomb.gz",
            &gzip(&idx_bytes(
                0x803,
                &[MAX_COUNT, MAX_SIDE, MAX_SIDE],
                &[1, 2, 3],
            )),
        );
        let err = images_err(&p, &["gzip bomb", "167772160000016 bytes"]);
        assert!(matches!(err, DataError::Bomb { compressed: 36, .. }));
    }

    #[test]
    fn truncated_and_trailing() {
        let dir = tempfile::tempdir().unwrap();
        let good = idx_bytes(0x803, &[2, 2, 2], &[9; 8]);

        let p = put(&dir, "short", &good[..good.len() - 3]);
        images_err(&p, &["truncated: expected 24 bytes, got 21"]);
        let p = put(&dir, "short.gz", &gzip(&good[..good.len() - 3]));
        images_err(
            &p,
            &["truncated: expected 24 bytes after decompression, got 21"],
        );
        let p = put(&dir, "header-only", &good[..10]);
        images_err(&p, &["expected at least 16 bytes, got 10"]);
        let p = put(&dir, "empty", &[]);
        images_err(&p, &["got 0"]);

        let mut long = good.clone();
        long.extend_from_slice(b"junk");
        let p = put(&dir, "long", &long);
        images_err(
            &p,
            &["4 unexpected trailing bytes after the 24-byte IDX data"],
        );
        let p = put(&dir, "long.gz", &gzip(&long));
        images_err(&p, &["4 unexpected trailing bytes", "after decompression"]);

        // Non-gzip bytes after a valid gzip member.
        let mut gz_junk = gzip(&good);
        gz_junk.extend_from_slice(b"junk after the stream");
        let p = put(&dir, "gz-junk.gz", &gz_junk);
        images_err(&p, &["corrupt gzip"]);
    }

    #[test]
    fn corrupt_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let good = gzip(&idx_bytes(0x803, &[3, 4, 4], &[0x55; 48]));

        // Valid 10-byte gzip header, garbage deflate body.
        let mut garbage = good[..10].to_vec();
        garbage.extend((0..200u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
        let p = put(&dir, "garbage.gz", &garbage);
        images_err(&p, &["corrupt gzip data"]);

        // Stream cut short.
        let p = put(&dir, "cut.gz", &good[..good.len() / 2]);
        let err = read_images(&p).unwrap_err();
        check_msg(&err, &p, &[]);

        // Wrong CRC in the trailer.
        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 0xff;
        let p = put(&dir, "crc.gz", &bad_crc);
        images_err(&p, &["corrupt gzip data"]);

        // Just the magic.
        let p = put(&dir, "magic-only.gz", &GZIP_MAGIC);
        let err = read_images(&p).unwrap_err();
        check_msg(&err, &p, &[]);
    }

    #[test]
    fn every_prefix_and_bit_flip_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let raw = idx_bytes(0x803, &[2, 3, 3], &[7; 18]);
        for (name, full) in [("p", raw.clone()), ("p.gz", gzip(&raw))] {
            for cut in 0..full.len() {
                let p = put(&dir, name, &full[..cut]);
                check_msg(&read_images(&p).unwrap_err(), &p, &[]);
            }
            for i in 0..full.len() {
                for bit in [0x01, 0x80] {
                    let mut b = full.clone();
                    b[i] ^= bit;
                    let p = put(&dir, name, &b);
                    // Some flips are harmless (pixel data, gzip mtime);
                    // the point is that none panic.
                    if let Err(e) = read_images(&p) {
                        check_msg(&e, &p, &[]);
                    }
                }
            }
        }
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        write_images(
            &dir.path().join("train-images-idx3-ubyte"),
            &sample(3, 2, 2),
        )
        .unwrap();
        write_labels(&dir.path().join("train-labels-idx1-ubyte.gz"), &[1, 2]).unwrap();
        let msg = load_split(dir.path(), Split::Train)
            .unwrap_err()
            .to_string();
        for needle in [
            "train-images-idx3-ubyte: has 3 images",
            "train-labels-idx1-ubyte.gz has 2 labels",
        ] {
            assert!(msg.contains(needle), "{msg}");
        }
    }

    #[test]
    fn writer_refuses_inconsistent_images() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad");
        let mut img = sample(2, 2, 2);
        img.pixels.pop();
        let err = write_images(&p, &img).unwrap_err();
        check_msg(&err, &p, &["7 pixels for 2x2x2 images"]);
        assert!(!p.exists());
    }

    #[test]
    fn data_dir_precedence() {
        let cli = Path::new("/from/cli");
        let env = || Some(std::ffi::OsString::from("/from/env"));
        assert_eq!(data_dir_from(Some(cli), env(), true), cli);
        assert_eq!(data_dir_from(None, env(), true), Path::new("/from/env"));
        assert_eq!(
            data_dir_from(None, Some("".into()), false),
            Path::new(DEFAULT_DATA_DIR)
        );
        assert_eq!(
            data_dir_from(None, None, false),
            Path::new(DEFAULT_DATA_DIR)
        );
        assert_eq!(data_dir_from(None, None, true), Path::new(SHARED_DATA_DIR));
    }

    /// The real MNIST directory, or `None` (with a loud note) if absent.
    pub(crate) fn real_mnist_dir(test: &str) -> Option<PathBuf> {
        let (dir, why) = match std::env::var_os(DATA_ENV) {
            Some(d) if !d.is_empty() => (PathBuf::from(d), "MICRODENSE_DATA points to a missing"),
            // The repository's neighbour, wherever the clone is.
            _ => (
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("..")
                    .join(SHARED_DATA_DIR),
                "MICRODENSE_DATA is not set and there is no",
            ),
        };
        if dir.is_dir() {
            return Some(dir);
        }
        // Past the test harness's capture, so that `cargo test` shows it.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {test} because {why} directory {}",
            dir.display()
        );
        None
    }

    #[test]
    fn real_mnist() {
        let Some(dir) = real_mnist_dir("idx::tests::real_mnist") else {
            return;
        };
        let t = std::time::Instant::now();
        let train = load_split(&dir, Split::Train).unwrap();
        eprintln!(
            "loaded MNIST train from {} in {:?}",
            dir.display(),
            t.elapsed()
        );
        let test = load_split(&dir, Split::Test).unwrap();
        assert_eq!(train.len(), 60_000);
        assert_eq!(test.len(), 10_000);
        for d in [&train, &test] {
            assert_eq!(
                (d.images.rows, d.images.cols, d.input_size()),
                (28, 28, 784)
            );
            assert_eq!(d.max_label(), Some(9));
        }
        assert_eq!(train.labels[..10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
        assert_eq!(test.labels[..10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    }
}
