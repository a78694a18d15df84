//! The weights manifest: groups of binary shards, concatenated per group, holding the
//! weights back to back in manifest order. Float32 is read little-endian; the converter's
//! uint8/uint16 affine quantization and float16 are dequantized as TF.js does.
use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(crate) struct Group {
    pub paths: Vec<String>,
    pub weights: Vec<Spec>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Spec {
    pub name: String,
    pub shape: Vec<u64>,
    pub dtype: String,
    #[serde(default)]
    pub quantization: Option<Quantization>,
    /// `"optimizer"` for training state saved with `includeOptimizer`.
    #[serde(default)]
    pub group: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Quantization {
    pub dtype: String,
    #[serde(default)]
    pub scale: Option<f64>,
    #[serde(default)]
    pub min: Option<f64>,
}

/// A decoded model weight, in manifest order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// How one entry's values are stored.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Encoding {
    F32,
    F16,
    /// `value = q * scale + min`, with `q` a u8 or u16.
    Affine {
        bytes: usize,
        scale: f64,
        min: f64,
    },
    /// Not a model weight (optimizer state): only its size matters.
    Skip {
        bytes: usize,
    },
}

impl Encoding {
    fn bytes(self) -> usize {
        match self {
            Encoding::F32 => 4,
            Encoding::F16 => 2,
            Encoding::Affine { bytes, .. } | Encoding::Skip { bytes } => bytes,
        }
    }
}

const SUPPORTED: &str = "only float32, optionally quantized as uint8, uint16 or float16";

fn encoding(spec: &Spec) -> Result<Encoding, String> {
    if spec.group.as_deref() == Some("optimizer") {
        let stored = spec.quantization.as_ref().map_or(&spec.dtype, |q| &q.dtype);
        let bytes = match stored.as_str() {
            "float32" | "int32" => 4,
            "float16" | "uint16" => 2,
            "uint8" | "bool" => 1,
            "complex64" => 8,
            other => {
                return Err(format!(
                    "optimizer weight of dtype {other} cannot be skipped"
                ))
            }
        };
        return Ok(Encoding::Skip { bytes });
    }
    if spec.dtype != "float32" {
        return Err(format!(
            "dtype {} is not supported ({SUPPORTED})",
            spec.dtype
        ));
    }
    let Some(q) = &spec.quantization else {
        return Ok(Encoding::F32);
    };
    let bytes = match q.dtype.as_str() {
        "float16" => return Ok(Encoding::F16),
        "uint8" => 1,
        "uint16" => 2,
        other => {
            return Err(format!(
                "quantization dtype {other} is not supported ({SUPPORTED})"
            ))
        }
    };
    match (q.scale, q.min) {
        (Some(scale), Some(min)) if scale.is_finite() && min.is_finite() => {
            Ok(Encoding::Affine { bytes, scale, min })
        }
        _ => Err(format!(
            "{} quantization needs a finite scale and min",
            q.dtype
        )),
    }
}

/// Validated entry: where its bytes are and how to decode them.
struct Entry<'a> {
    spec: &'a Spec,
    shape: Vec<usize>,
    encoding: Encoding,
    len: usize,
}

fn entry(spec: &Spec) -> Result<Entry<'_>, String> {
    let encoding = encoding(spec)?;
    let shape = spec
        .shape
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<Vec<usize>>>();
    let count = shape
        .as_ref()
        .and_then(|s| s.iter().try_fold(1usize, |n, &d| n.checked_mul(d)));
    let len = count.and_then(|n| n.checked_mul(encoding.bytes()));
    match (shape, len) {
        (Some(shape), Some(len)) => Ok(Entry {
            spec,
            shape,
            encoding,
            len,
        }),
        _ => Err(format!("shape {:?} is too large", spec.shape)),
    }
}

/// Reads every group's shards (paths relative to `model_json`'s directory) and decodes
/// the model's weights in manifest order, skipping optimizer state.
pub(crate) fn load(model_json: &Path, groups: &[Group]) -> Result<Vec<Tensor>> {
    let at = model_json.display();
    let dir = model_json.parent().unwrap_or(Path::new(""));
    // Check the whole manifest before touching any shard.
    let mut planned = Vec::with_capacity(groups.len());
    for (g, group) in groups.iter().enumerate() {
        let entries = group
            .weights
            .iter()
            .map(|spec| entry(spec).map_err(|e| anyhow!("{at}: weight {}: {e}", spec.name)))
            .collect::<Result<Vec<_>>>()?;
        let paths = group
            .paths
            .iter()
            .map(|p| shard_path(dir, p).map_err(|e| anyhow!("{at}: weight group {}: {e}", g + 1)))
            .collect::<Result<Vec<_>>>()?;
        if paths.is_empty() && entries.iter().any(|e| e.len > 0) {
            return Err(anyhow!("{at}: weight group {} lists no shard files", g + 1));
        }
        planned.push((entries, paths));
    }
    let mut tensors = Vec::new();
    for (g, (entries, paths)) in planned.into_iter().enumerate() {
        let needed = entries.iter().try_fold(0usize, |n, e| n.checked_add(e.len));
        let (bytes, total) = read_group(&paths, needed.map_or(0, |n| n as u64))?;
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        let last = paths
            .last()
            .map_or(at.to_string(), |p| p.display().to_string());
        let shards = paths.len();
        match needed {
            Some(n) if n == total => {}
            Some(n) if n > total => {
                return Err(anyhow!(
                "{last}: too short: weight group {} needs {n} bytes, its {shards} shard(s) hold {}",
                g + 1,
                total
            ))
            }
            Some(n) => {
                return Err(anyhow!(
                    "{last}: {} bytes more than the {n} that weight group {} describes",
                    total - n,
                    g + 1
                ))
            }
            None => return Err(anyhow!("{at}: weight group {} is too large", g + 1)),
        }
        if bytes.len() != total {
            return Err(anyhow!("{last}: changed while being read"));
        }
        let mut offset = 0;
        for e in entries {
            let raw = &bytes[offset..offset + e.len];
            offset += e.len;
            if matches!(e.encoding, Encoding::Skip { .. }) {
                continue;
            }
            tensors.push(Tensor {
                name: e.spec.name.clone(),
                shape: e.shape,
                values: decode(e.encoding, raw),
            });
        }
    }
    Ok(tensors)
}

/// A manifest path, relative to the model's directory (TF.js resolves it like a URL),
/// and confined to it: no `..`, no root, no symlink leading out.
pub(crate) fn shard_path(dir: &Path, path: &str) -> Result<PathBuf, String> {
    let relative = Path::new(path);
    if path.is_empty() || path.contains("://") || relative.has_root() {
        return Err(format!("shard path {path:?} is not a relative file path"));
    }
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!("shard path {path:?} leaves the model's folder"));
    }
    let joined = dir.join(relative);
    // A symlink inside the folder may still point out of it.
    if let (Ok(real), Ok(base)) = (fs::canonicalize(&joined), fs::canonicalize(dir)) {
        if !real.starts_with(&base) {
            return Err(format!(
                "shard path {path:?} leads out of the model's folder (to {})",
                real.display()
            ));
        }
    }
    Ok(joined)
}

/// The group's shards end to end, and their total size; regular files only, and no
/// more than `limit` bytes read (what the manifest describes): a group longer than that
/// is an error, told by the total.
fn read_group(paths: &[PathBuf], limit: u64) -> Result<(Vec<u8>, u64)> {
    let mut bytes = Vec::new();
    let mut total = 0u64;
    for p in paths {
        let len = fs::metadata(p)
            .map_err(|e| anyhow!("{}: cannot read weights shard: {e}", p.display()))?
            .len();
        total = total.saturating_add(len);
        if total > limit {
            continue;
        }
        let shard = crate::files::read_regular(p, len)
            .map_err(|e| anyhow!("{}: cannot read weights shard: {e}", p.display()))?;
        bytes.extend_from_slice(&shard);
    }
    Ok((bytes, total))
}

fn decode(encoding: Encoding, raw: &[u8]) -> Vec<f32> {
    match encoding {
        Encoding::F32 => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Encoding::F16 => raw
            .chunks_exact(2)
            .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        // Computed in f64 and rounded once, as TF.js does (JS numbers into a Float32Array).
        Encoding::Affine {
            bytes: 1,
            scale,
            min,
        } => raw
            .iter()
            .map(|&q| (f64::from(q) * scale + min) as f32)
            .collect(),
        Encoding::Affine { scale, min, .. } => raw
            .chunks_exact(2)
            .map(|b| (f64::from(u16::from_le_bytes([b[0], b[1]])) * scale + min) as f32)
            .collect(),
        Encoding::Skip { .. } => Vec::new(),
    }
}

/// IEEE-754 binary16 to binary32 (exact: every half is a float).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    match exp {
        0 => {
            // Zero or subnormal: mant · 2⁻²⁴, exact in f32.
            let magnitude = mant as f32 * f32::from_bits(0x3380_0000);
            f32::from_bits(sign | magnitude.to_bits())
        }
        0x1f => f32::from_bits(sign | 0x7f80_0000 | (mant << 13)),
        // Rebias the exponent from 15 to 127.
        _ => f32::from_bits(sign | ((exp + 112) << 23) | (mant << 13)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        // Every finite half against its definition.
        for h in 0..=u16::MAX {
            let (e, m) = (i32::from((h >> 10) & 0x1f), f64::from(h & 0x3ff));
            if e == 0x1f {
                continue;
            }
            let v = if e == 0 {
                m * 2f64.powi(-24)
            } else {
                (1.0 + m / 1024.0) * 2f64.powi(e - 15)
            };
            let v = if h >> 15 == 1 { -v } else { v };
            assert_eq!(f64::from(f16_to_f32(h)), v, "{h:#06x}");
        }
    }

    fn spec(dtype: &str, quantization: Option<(&str, Option<f64>, Option<f64>)>) -> Spec {
        Spec {
            name: "w".into(),
            shape: vec![2, 3],
            dtype: dtype.into(),
            quantization: quantization.map(|(dtype, scale, min)| Quantization {
                dtype: dtype.into(),
                scale,
                min,
            }),
            group: None,
        }
    }

    #[test]
    fn encodings() {
        assert_eq!(encoding(&spec("float32", None)), Ok(Encoding::F32));
        assert_eq!(
            encoding(&spec("float32", Some(("float16", None, None)))),
            Ok(Encoding::F16)
        );
        assert_eq!(
            encoding(&spec("float32", Some(("uint16", Some(0.5), Some(-1.0))))),
            Ok(Encoding::Affine {
                bytes: 2,
                scale: 0.5,
                min: -1.0
            })
        );
        assert!(encoding(&spec("int32", None))
            .unwrap_err()
            .contains("dtype int32"));
        assert!(encoding(&spec("float32", Some(("uint8", Some(1.0), None))))
            .unwrap_err()
            .contains("scale and min"));
        assert!(encoding(&spec("float32", Some(("int4", None, None))))
            .unwrap_err()
            .contains("int4"));
        let mut iter = spec("int32", None);
        iter.group = Some("optimizer".into());
        assert_eq!(encoding(&iter), Ok(Encoding::Skip { bytes: 4 }));
        assert_eq!(entry(&spec("float32", None)).map(|e| e.len), Ok(24));
        let mut huge = spec("float32", None);
        huge.shape = vec![u64::MAX, 3];
        assert!(entry(&huge).is_err());
    }

    #[test]
    fn dequantization() {
        let affine = |bytes, scale, min| Encoding::Affine { bytes, scale, min };
        assert_eq!(
            decode(affine(1, 0.5, -1.0), &[0, 1, 255]),
            [-1.0, -0.5, 126.5]
        );
        assert_eq!(
            decode(affine(2, 0.25, 2.0), &[1, 0, 0, 1]),
            [2.25, 2.0 + 64.0]
        );
        assert_eq!(decode(Encoding::F16, &[0, 0x3c, 0, 0xc0]), [1.0, -2.0]);
        assert_eq!(decode(Encoding::F32, &1.5f32.to_le_bytes()), [1.5]);
    }

    #[test]
    fn shard_paths_stay_relative() {
        let dir = Path::new("m");
        assert_eq!(shard_path(dir, "./a.bin"), Ok(PathBuf::from("m/./a.bin")));
        assert_eq!(
            shard_path(dir, "sub/a.bin"),
            Ok(PathBuf::from("m/sub/a.bin"))
        );
        assert!(shard_path(dir, "/etc/passwd").is_err());
        assert!(shard_path(dir, "https://example.com/a.bin").is_err());
        assert!(shard_path(dir, "").is_err());
    }
}
