//! A dense int8 layer on Thumb-2 cores: one check of the layer's buffers, then every
//! chunk in assembly, the Armv7E-M DSP extension's (Cortex-M4, M7, M33, M55:
//! [`super::arm_dsp`]) or the Cortex-M3's ([`super::arm_v7m`], the same pieces): a hidden
//! layer's whole chunks of six with their requantization in one piece (`chunks6_hidden`),
//! every other chunk (a hidden layer's last 1–5
//! outputs, the output layer's chunks) by `sums` and a requantization loop. The same
//! integers as `kernels::int8::dense`'s portable path, which runs when the check fails.
#[cfg(microdense_dsp)]
use super::arm_dsp as dsp;
#[cfg(not(microdense_dsp))]
use super::arm_v7m as dsp;
use super::int8::Sink;
use crate::int8::layout::Section;
#[cfg(microdense_dsp)]
use crate::int8::requantize_by_byte;
use crate::int8::WeightCoding;

/// Layer `s` of `payload` (weights in `coding`) on the `count` gathered entries of `list`
/// (as `gather_bytes` and `gather_pairs` leave it, for an input of at most `s.pairs`
/// pairs), requantized into `sink` with zero point `zp` and lower bound `low` (as
/// `Sink::put`). False, with nothing written, when the assembly cannot run: another
/// coding, arrays not 4-aligned or not laid out as `s` says, a list not as the gathers
/// leave it, a sink shorter than the layer.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn dense(
    payload: &[u8],
    s: &Section,
    coding: WeightCoding,
    list: &[u32],
    count: usize,
    sink: &mut Sink,
    zp: i32,
    low: i32,
) -> bool {
    let units = s.units;
    // The layer's arrays back to back (`layout::section`): biases, multipliers, shifts
    // (padded to 4 bytes), weights (`pairs` row pairs of 2·cols bytes); every pointer below
    // is taken from this one slice.
    let Some(arrays) = payload.get(s.biases..s.end) else {
        return false;
    };
    if !(coding == WeightCoding::EvenOffset
        && units > 0
        && units <= sink.len()
        && units <= arrays.len() / 8
        && s.cols == units + units % 2
        && (arrays.as_ptr() as usize).is_multiple_of(4)
        && count.is_multiple_of(2)
        && list.len() > 2 * count + 1)
    {
        return false;
    }
    // No overflow: 8 · units ≤ the slice's length (at most isize::MAX).
    let (head, row_bytes) = (8 * units + units.next_multiple_of(4), 2 * s.cols);
    let Some(weights) = arrays.len().checked_sub(head) else {
        return false;
    };
    if s.pairs.checked_mul(row_bytes) != Some(weights) {
        return false;
    }
    let b = arrays.as_ptr();
    let list = list.as_ptr();
    // SAFETY: the offsets are within `arrays` (checked above: 8·units + the padded shifts
    // and pairs · row_bytes of weights make up its length); the list holds 2·count + 2
    // words, the sentinel's second word is the listed inputs' sum (see `finish`).
    let (m, sh, w, sum) = unsafe {
        (
            b.add(4 * units),
            b.add(8 * units),
            b.add(head),
            *list.add(2 * count + 1) as i32,
        )
    };
    // SAFETY: `sh` holds `units` ≥ 1 bytes.
    let core_rule = unsafe { *sh } <= 31;
    let (out, high) = match sink {
        Sink::Hidden(out) => (out.as_mut_ptr().cast::<u8>(), 127),
        Sink::Last(out, high) => (out.as_mut_ptr().cast::<u8>(), *high),
    };
    let hidden = matches!(sink, Sink::Hidden(_));
    // The accumulators of `sums`, read back through the same pointer.
    let mut acc = core::mem::MaybeUninit::<[i32; 6]>::uninit();
    let acc = acc.as_mut_ptr().cast::<i32>();
    let mut io = dsp::ChunkIo {
        multipliers: m,
        shifts: sh,
        out: out.cast(),
        biases: b,
        zp,
        list,
        base: w,
        end: out.cast(),
        sum128: sum.wrapping_shl(7),
        half: u32::from(count % 4 == 2),
        acc,
        low,
    };
    let mut j0 = 0;
    // A hidden layer's whole chunks of six (the core's rule, the zero point and lower
    // bound of an int8 layer: relu's is the zero point, else −128).
    if hidden && core_rule && units >= 6 && (-128..=127).contains(&zp) && (low == zp || low == -128)
    {
        let whole = units / 6 * 6;
        // SAFETY: `out` holds `units` ≥ `whole` i16s.
        io.end = unsafe { io.out.add(whole) };
        // SAFETY: the list and the weights as for the chunks below (columns 0..whole ≤ cols);
        // the arrays hold `units` ≥ `whole` values, biases 4-aligned; a parsed blob's
        // shifts are at most 31 throughout when its first is; ZP_MIN only for zp −128.
        #[cfg(microdense_dsp)]
        unsafe {
            match (zp, low != -128) {
                (-128, _) => dsp::chunks6_hidden::<{ dsp::clamp::ZP_MIN }>(&mut io),
                (_, true) => dsp::chunks6_hidden::<{ dsp::clamp::RELU }>(&mut io),
                (_, false) => dsp::chunks6_hidden::<{ dsp::clamp::LINEAR }>(&mut io),
            }
        }
        // (The Cortex-M3 has one piece for every clamp.)
        #[cfg(not(microdense_dsp))]
        unsafe {
            dsp::chunks6_hidden(&mut io)
        };
        j0 = whole;
    }
    // Every other chunk: at most six outputs (the last one 1–5), its sums `n + n % 2` wide
    // (an odd count's zero column included).
    while j0 < units {
        let n = (units - j0).min(6);
        // SAFETY: the gathers listed offsets k · row_bytes with k < pairs
        // (and a padding entry at offset 0), in a 4-aligned list of an even count and a
        // sentinel; columns 2·j0 .. 2·(j0 + n + n % 2) ≤ row_bytes (j0 is even and
        // cols = units + units % 2), so every read lies in the weights, 4-aligned
        // (row_bytes and 4·j0 are multiples of 4). The biases: j0 + n + n % 2 ≤ units + 1
        // words, within the biases and multipliers (4·units bytes each, units ≥ 1).
        unsafe {
            io.biases = b.add(4 * j0);
            io.base = w.add(2 * j0);
            match n + n % 2 {
                6 => dsp::sums::<6>(&io),
                4 => dsp::sums::<4>(&io),
                _ => dsp::sums::<2>(&io),
            }
        }
        if core_rule && (hidden || zp == 0) {
            // SAFETY: outputs j0..j0 + n < units of the multipliers, shifts and `out`;
            // the shifts of a parsed blob are at most 31 throughout when the first is.
            unsafe {
                let (m, sh) = (m.add(4 * j0), sh.add(j0));
                if hidden {
                    let out = out.cast::<i16>().add(j0);
                    dsp::outputs_hidden(acc, n, m, sh, out, zp, low);
                } else {
                    let out = out.cast::<i32>().add(j0);
                    dsp::outputs_last(acc, n, m, sh, out, low, high);
                }
            }
        } else {
            // TFLite's rule (imported models): requantized in Rust, on the Cortex-M3 by
            // `put_chunk` (one copy, for flash).
            #[cfg(not(microdense_dsp))]
            {
                // SAFETY: n ≤ 6 accumulators (written by `sums`); the layer's `units`
                // multipliers and shifts.
                let (acc, m, sh) = unsafe {
                    use core::slice::from_raw_parts;
                    let acc = from_raw_parts(acc.cast_const(), n);
                    (acc, from_raw_parts(m, 4 * units), from_raw_parts(sh, units))
                };
                super::int8::put_chunk(sink, j0, acc, m, sh, zp, low);
            }
            #[cfg(microdense_dsp)]
            for c in 0..n {
                let j = j0 + c;
                // SAFETY: c < 6 accumulators; j < units: the multipliers and shifts hold
                // `units` values.
                let (a, mj, shj) = unsafe {
                    let at = m.add(4 * j);
                    (
                        *acc.add(c),
                        i32::from_le_bytes([*at, *at.add(1), *at.add(2), *at.add(3)]),
                        *sh.add(j),
                    )
                };
                sink.put(j, requantize_by_byte(a, mj, shj), zp, low);
            }
        }
        j0 += n;
    }
    true
}
