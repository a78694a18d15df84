//! After fine-tuning: the trained model's digest, its int8 version made on the chip, and
//! (STM32F405) the model kept in the WEIGHTS flash region ([`crate::flash`]). Used by
//! the `finetune` program; the workspace test tests/tests/chip_replay.rs replays the
//! same steps on the PC and compares the printed lengths and CRCs.
//!
//! A blob's digest here is its header's CRC-32 field (`microdense::format::header_crc`),
//! which covers every other byte of the blob: one CRC loop in flash, not two.
use microdense::format::{f32_header, header_crc, HEADER_LEN};
use microdense::int8::{quantize_parts, Calibration, Parts, PIXEL_INPUT};
use microdense::{Error, Topology};

/// Length and digest of the f32 blob of the model whose parameters are `parts` (the blob
/// `microdense::format::write_blob` makes of them joined, and [`crate::flash`] writes),
/// computed without joining them.
pub fn f32_blob_digest(t: &Topology, parts: Parts<'_>) -> Result<(usize, u32), Error> {
    let header = f32_header(t, &[parts.frozen, parts.trained])?;
    let len = HEADER_LEN + 4 * t.params_len();
    Ok((len, header_crc(&header).unwrap_or(0)))
}

/// Quantizes the model to int8 on the chip: calibrates on `count` inputs, one at a time
/// in order (`input(k, x)` writes input `k` into `x`), and writes the int8 blob into
/// `out`, as `microdense quantize` does with the same calibration inputs (pixel models:
/// the input scale is [`PIXEL_INPUT`]). `floats` holds one input and the inference
/// scratch. Returns the blob.
pub fn quantize<'o>(
    t: &Topology,
    parts: Parts<'_>,
    count: usize,
    mut input: impl FnMut(usize, &mut [f32]),
    floats: &mut [f32],
    out: &'o mut [u8],
) -> Result<&'o [u8], Error> {
    let (x, scratch) = floats.split_at_mut(t.input().min(floats.len()));
    let mut calibration = Calibration::new(t);
    for k in 0..count {
        input(k, x);
        calibration.observe_parts(t, parts, x, scratch)?;
    }
    let n = quantize_parts(t, parts, PIXEL_INPUT, &calibration, out, &mut [])?;
    Ok(&out[..n])
}

/// The digest the reports print for a blob: its header's CRC field.
pub fn digest(blob: &[u8]) -> u32 {
    header_crc(blob).unwrap_or(0)
}

/// `values` as their bytes (little-endian on every board this runs on), for a buffer of
/// f32s reused as bytes once its first use is over.
pub fn as_bytes(values: &mut [f32]) -> &mut [u8] {
    // SAFETY: u8 has alignment 1 and every bit pattern is valid in both types; the
    // length covers exactly the same memory, borrowed mutably for the result's life.
    unsafe { core::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), 4 * values.len()) }
}
