//! The int8 layer kernel: dense layers on i32 accumulators, requantized to int8 (hidden
//! layers) or to the i32 output values (the output layer). The weight order it reads is
//! in [`crate::int8`]'s layout module.
//!
//! As in the f32 forward pass, inputs drive the loop: a pair of inputs both at the zero
//! point (MNIST's blank pixels, relu's zeros) is skipped with its two rows. The non-zero
//! pairs are gathered once per layer into a list of (packed inputs, row offset); then
//! outputs are taken six at a time, their accumulators kept in registers over the whole
//! list, and requantized at the end. Hidden layers store their int8 outputs minus the
//! zero point as i16s, so the next layer's pairs are ready-made words.
//!
//! On Thumb-2 cores (`cfg(microdense_thumb2)`, see core/build.rs: the Cortex-M3 and M4) a
//! layer runs in assembly after one check of its buffers (`super::int8_thumb2`); the
//! Cortex-M0 has its own loop over the list (`arch`), and [`portable`] computes the same
//! integers everywhere else.
//!
//! Weights of [`WeightCoding::EvenOffset`] are read without undoing the even columns'
//! offset: those bytes count as `w + 128` (unsigned; on the Cortex-M4 the raw word goes
//! into SMLAD), and each even sum is corrected at the end with the listed inputs' sum
//! ([`undo_offset`], [`list_sum`]). Blobs of the older coding take [`portable`], which
//! flips their even bytes into the same reading.
#[cfg(microdense_dsp)]
use super::arm_dsp as dsp;
/// The Cortex-M0's assembly loop over the list (the contract: [`accumulate`]'s).
#[cfg(microdense_thumb1)]
use super::arm_v6m as arch;
use crate::int8::layout::Section;
use crate::int8::{requantize_by_byte, WeightCoding};

/// Outputs accumulated in registers at a time (six: all a Cortex-M4 has room for beside
/// the inputs, the list and the weights in flight).
const WIDTH: usize = 6;

/// Where a layer's requantized values go.
pub(crate) enum Sink<'o> {
    /// A hidden layer: each value is its int8 code minus the zero point, as an i16 (so
    /// that the next layer reads its input pairs as ready-made words).
    Hidden(&'o mut [i16]),
    /// The output layer: the i32 values, at most the given bound.
    Last(&'o mut [i32], i32),
}

impl Sink<'_> {
    /// Stores requantized `y` as output `j`: hidden layers clamp `y + zp` to `low..=127`
    /// (`low` is the zero point for relu, −128 for linear) and store it minus `zp`; the
    /// output layer stores `y + zp` within `low..=high`, minus `zp` (the core's rule: zp 0,
    /// `low` 0 for relu and `i32::MIN` for linear, no upper bound; TFLite's: its int8
    /// range, as a hidden layer).
    #[inline(always)]
    pub(crate) fn put(&mut self, j: usize, y: i32, zp: i32, low: i32) {
        match self {
            Sink::Hidden(out) => {
                if let Some(o) = out.get_mut(j) {
                    // |y| < 2^30 (see requant.rs): adding a zero point cannot overflow;
                    // the clamp to −128..=127 is one SSAT on a Cortex-M4.
                    *o = (y.wrapping_add(zp).clamp(-128, 127).max(low) - zp) as i16;
                }
            }
            Sink::Last(out, high) => {
                if let Some(o) = out.get_mut(j) {
                    // zp is 0 for the core's rule; TFLite's adds its int32 offset
                    // (wrapping as its int32 addition) and clamps to its int8 range.
                    *o = y.wrapping_add(zp).max(low).min(*high) - zp;
                }
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Sink::Hidden(out) => out.len(),
            Sink::Last(out, _) => out.len(),
        }
    }
}

/// The list for hidden activations (two per word, already minus the zero point): each
/// non-zero word of `pairs` becomes an entry (the word, the pair's row offset). Padding
/// and sentinel as [`gather_bytes`].
#[inline(never)]
pub(crate) fn gather_pairs(pairs: &[u32], row_bytes: usize, list: &mut [u32]) -> usize {
    let row = row_bytes as u32;
    #[cfg(microdense_thumb1)]
    if list.len() >= 2 * pairs.len() + 4 {
        // SAFETY: `list` has room for an entry per word (and `finish`'s two more).
        let (n, sum) = unsafe {
            super::arm_v6m_gather::pairs(pairs.as_ptr(), pairs.len(), row, list.as_mut_ptr())
        };
        return finish(list, n, Some(sum));
    }
    // Thumb-2 (Cortex-M3, M4): the pairs up to an even count in assembly, which sums
    // their inputs too (the rest, at most one pair, is added below).
    #[cfg(microdense_thumb2)]
    let (mut n, done, mut sum) = match list.len() >= 2 * pairs.len() {
        true => {
            let done = pairs.len() / 2 * 2;
            // SAFETY: `pairs` and `list` are u32 slices (4-aligned); `pairs` holds `done`
            // words, `list` room for 2 · len(pairs) ≥ 2 · done words.
            let list = list.as_mut_ptr();
            let (n, sum) =
                unsafe { super::arm_thumb2::gather_pairs(pairs.as_ptr(), done, row, list) };
            (n, done, Some(sum))
        }
        false => (0, 0, None),
    };
    #[cfg(not(microdense_thumb2))]
    let (mut n, done, mut sum): (usize, usize, Option<i32>) = (0, 0, None);
    {
        let mut slots = list.get_mut(2 * n..).unwrap_or(&mut []).chunks_exact_mut(2);
        let mut off = done as u32 * row;
        for &w in pairs.get(done..).unwrap_or(&[]) {
            if w != 0 {
                if let Some(e) = slots.next() {
                    e[0] = w;
                    e[1] = off;
                    n += 1;
                    let halves = i32::from(w as u16 as i16) + ((w as i32) >> 16);
                    sum = sum.map(|s| s.wrapping_add(halves));
                }
            }
            off += row;
        }
    }
    finish(list, n, sum)
}

/// Gathers the pairs of `x` not both at `zp` into `list` as (inputs minus the zero point,
/// packed as two i16 halves; byte offset of the pair's rows), pads the count to even with
/// a (0, 0) entry, ends the list with the sentinel (0, the listed inputs' sum), and
/// returns the count. `list` holds at least `list_words(x.len())` words (else the list is
/// cut short).
#[inline(never)]
pub(crate) fn gather_bytes(x: &[i8], zp: i32, row_bytes: usize, list: &mut [u32]) -> usize {
    #[cfg(microdense_thumb1)]
    if let (Ok(words), true) = (
        bytemuck::try_cast_slice::<i8, u32>(x),
        list.len() >= x.len() + 4,
    ) {
        let blank = u32::from_ne_bytes([zp as u8; 4]);
        // SAFETY: `words` is the whole input (a multiple of four bytes, 4-aligned) and
        // `list` has room for an entry per pair (and `finish`'s two more).
        let (n, sum) = unsafe {
            super::arm_v6m_gather::bytes(
                words.as_ptr(),
                words.len(),
                zp,
                blank,
                row_bytes as u32,
                list.as_mut_ptr(),
            )
        };
        return finish(list, n, Some(sum));
    }
    let row = row_bytes as u32;
    // Four inputs (one word) at a time; aligned inputs are read as words.
    let (body, rest) = x.split_at(x.len() / 4 * 4);
    let words = bytemuck::try_cast_slice::<i8, u32>(body);
    let blank = u32::from_ne_bytes([zp as u8; 4]);
    // The Cortex-M4 lists aligned words in assembly, summing as it goes: (entries, sum).
    #[cfg(microdense_dsp)]
    let done = match words {
        Ok(w) if list.len() >= 4 * w.len() && row.is_multiple_of(2) => {
            let zp2 = u32::from(zp as u16) * 0x0001_0001;
            // SAFETY: `w` is a u32 slice of `w.len()` words; `list` (a u32 slice) has
            // room for two entries (4 words) per word, checked.
            Some(unsafe {
                dsp::gather_bytes(w.as_ptr(), w.len(), blank, zp2, row, list.as_mut_ptr())
            })
        }
        _ => None,
    };
    #[cfg(not(microdense_dsp))]
    let done: Option<(usize, i32)> = None;
    let first = done.map_or(0, |(n, _)| n);
    let slots = list.len() / 2;
    let (n, tail) = {
        let mut g = Gather {
            slots: list
                .get_mut(2 * first..)
                .unwrap_or(&mut [])
                .chunks_exact_mut(2),
            off: (body.len() / 2) as u32 * row,
            row,
            zp,
            blank,
            sum: 0,
        };
        if done.is_none() {
            g.off = 0;
            match words {
                Ok(words) => words.iter().for_each(|&w| g.quad(u32::from_le(w))),
                Err(_) => body.chunks_exact(4).for_each(|q| {
                    g.quad(u32::from_le_bytes([
                        q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8,
                    ]))
                }),
            }
        }
        let at = |i: usize| rest.get(i).map_or(zp, |&q| i32::from(q));
        for k in (0..rest.len()).step_by(2) {
            let (a, b) = (at(k), at(k + 1));
            if a != zp || b != zp {
                g.push(a, b, g.off);
                g.sum = g.sum.wrapping_add(a - zp + b - zp);
            }
            g.off += g.row;
        }
        // The entries written (no counter to keep: the compiled loop spilled it).
        (slots.saturating_sub(first) - g.slots.len(), g.sum)
    };
    finish(list, first + n, done.map(|(_, sum)| sum.wrapping_add(tail)))
}

/// Pads a list of `n` entries to an even count with a (0, 0) entry, ends it with the
/// sentinel (0, the listed inputs' sum: `sum`, or summed here), and returns the count.
fn finish(list: &mut [u32], n: usize, sum: Option<i32>) -> usize {
    let end = (n + n % 2).min(list.len() / 2);
    // The padding entry (if any) and the sentinel: 2 or 4 words. The Cortex-M4 writes
    // them as pairs (its loop over them became a memset call); elsewhere the loop keeps
    // `demo-int8` within 49 KiB of flash on the LM3S6965.
    #[cfg(microdense_dsp)]
    if let Some(tail) = list.get_mut(2 * n..2 * end + 2) {
        for at in [0, 2] {
            if let Some(e) = tail.get_mut(at..at + 2) {
                e.copy_from_slice(&[0, 0]);
            }
        }
    }
    #[cfg(not(microdense_dsp))]
    for e in list.get_mut(2 * n..2 * end + 2).unwrap_or(&mut []) {
        *e = 0;
    }
    let sum = sum.unwrap_or_else(|| list_sum(list.get(..2 * end + 2).unwrap_or(&[])));
    if let Some(e) = list.get_mut(2 * end + 1) {
        *e = sum as u32;
    }
    end
}

/// The state of [`gather_bytes`].
struct Gather<'l> {
    slots: core::slice::ChunksExactMut<'l, u32>,
    /// Byte offset of the current pair's rows.
    off: u32,
    /// Bytes of a row pair.
    row: u32,
    zp: i32,
    /// Four bytes at the zero point.
    blank: u32,
    /// The inputs' sum of the pairs listed after the assembly's (see [`gather_bytes`]).
    sum: i32,
}

impl Gather<'_> {
    /// Lists inputs `a`, `b` minus the zero point, as the i16 halves of one word, with
    /// their rows' offset.
    #[inline(always)]
    fn push(&mut self, a: i32, b: i32, off: u32) {
        let (a, b) = (a - self.zp, b - self.zp);
        if let Some(e) = self.slots.next() {
            e[0] = u32::from(a as u16) | ((b as u32) << 16);
            e[1] = off;
        }
    }

    /// Inputs 4k .. 4k + 4 as one little-endian word: both pairs skipped when blank,
    /// each half tells whether its pair is listed.
    #[inline(always)]
    fn quad(&mut self, word: u32) {
        let d = word ^ self.blank;
        if d != 0 {
            let byte = |w: u32| i32::from(w as u8 as i8);
            if d & 0xFFFF != 0 {
                self.push(byte(word), byte(word >> 8), self.off);
            }
            if d >> 16 != 0 {
                self.push(byte(word >> 16), byte(word >> 24), self.off + self.row);
            }
        }
        self.off += 2 * self.row;
    }
}

/// One dense layer: the gathered input pairs (`count` entries of `list`) through
/// section `s` of `payload` (weights in `coding`), requantized into `sink` (the layer's
/// `units` values) with [`Sink::put`].
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense(
    payload: &[u8],
    s: &Section,
    coding: WeightCoding,
    list: &[u32],
    count: usize,
    sink: Sink,
    zp: i32,
    low: i32,
) {
    // On Thumb-2 cores (the Cortex-M3, M4 and the others) every chunk runs in assembly
    // when the layer's buffers allow it, else one output at a time.
    #[cfg(microdense_thumb2)]
    {
        let mut sink = sink;
        if !super::int8_thumb2::dense(payload, s, coding, list, count, &mut sink, zp, low) {
            by_output(payload, s, coding, list, count, &mut sink, zp, low);
        }
    }
    #[cfg(not(microdense_thumb2))]
    chunks(payload, s, coding, list, count, sink, zp, low);
}

/// Thumb-2 cores' layer when `int8_thumb2`'s check fails (a blob of the older coding, an
/// unaligned payload): one output at a time over the whole list, each weight read as its
/// i8 value, the same integers as [`chunks`] (the sums are exact modulo 2^32 either way).
/// Rarely run, so small: [`chunks`] with [`portable`]'s copies per width took 1.3 KiB of
/// the LM3S6965's flash.
#[cfg_attr(not(microdense_thumb2), allow(dead_code))]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn by_output(
    payload: &[u8],
    s: &Section,
    coding: WeightCoding,
    list: &[u32],
    count: usize,
    sink: &mut Sink,
    zp: i32,
    low: i32,
) {
    let from = |at: usize| payload.get(at..).unwrap_or(&[]);
    let weights = payload.get(s.weights..s.weights + 2 * s.pairs * s.cols);
    let weights = weights.unwrap_or(&[]);
    let entries = list
        .get(..2 * count + 2)
        .map_or(&[][..], |e| &e[..2 * count]);
    let (biases, multipliers, shifts) = (from(s.biases), from(s.multipliers), from(s.shifts));
    for j in 0..s.units.min(sink.len()) {
        let mut a = biases.get(4 * j..4 * j + 4).map_or(0, le_i32);
        // Column j's bytes for the pair's two inputs (a row pair interleaves columns two
        // by two: see `layout`).
        let (at, mask) = (2 * j - j % 2, coding.mask(j));
        for e in entries.chunks_exact(2) {
            let at = e[1] as usize + at;
            if let (Some(&w0), Some(&w1)) = (weights.get(at), weights.get(at + 2)) {
                let (x0, x1) = (i32::from(e[0] as u16 as i16), (e[0] as i32) >> 16);
                let (w0, w1) = (i32::from((w0 ^ mask) as i8), i32::from((w1 ^ mask) as i8));
                a = a.wrapping_add(x0 * w0 + x1 * w1);
            }
        }
        put_chunk(sink, j, &[a], multipliers, shifts, zp, low);
    }
}

/// Requantizes `acc` (outputs `j0..j0 + acc.len()`) by the layer's multipliers and
/// shifts `m` and `sh` (4 bytes and 1 per output, from output 0) into `sink` with
/// [`Sink::put`]: on Thumb-2 cores the path of [`by_output`], and on the Cortex-M3
/// TFLite's rule (imported models) too, one copy for flash.
#[cfg_attr(not(microdense_thumb2), allow(dead_code))]
#[inline(never)]
pub(super) fn put_chunk(
    sink: &mut Sink,
    j0: usize,
    acc: &[i32],
    m: &[u8],
    sh: &[u8],
    zp: i32,
    low: i32,
) {
    for (j, &a) in (j0..).zip(acc) {
        if let (Some(m), Some(&s)) = (m.get(4 * j..4 * j + 4), sh.get(j)) {
            sink.put(j, requantize_by_byte(a, le_i32(m), s), zp, low);
        }
    }
}

/// [`dense`] off Thumb-2 cores: six outputs at a time, through the Cortex-M0's assembly
/// or [`portable`].
#[cfg_attr(microdense_thumb2, allow(dead_code))]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn chunks(
    payload: &[u8],
    s: &Section,
    coding: WeightCoding,
    list: &[u32],
    count: usize,
    mut sink: Sink,
    zp: i32,
    low: i32,
) {
    let array = |at: usize, len: usize| payload.get(at..at + len).unwrap_or(&[]);
    let weights = array(s.weights, 2 * s.pairs * s.cols);
    let units = s.units.min(sink.len());
    let entries = list.get(..2 * count + 2).unwrap_or(&[]);
    let dsp = asm_fits(weights, s, coding, entries);
    let layer = Layer {
        weights,
        row_bytes: 2 * s.cols,
        entries,
        biases: array(s.biases, 4 * units),
        multipliers: array(s.multipliers, 4 * units),
        shifts: array(s.shifts, units),
        dsp,
        flip: coding.mask(0) ^ 0x80,
        // The sentinel's second word (see `finish`).
        sum: entries.last().map_or(0, |&s| s as i32),
        zp,
        low,
    };
    let mut j0 = 0;
    // On a Cortex-M0 the chunks requantize in assembly.
    #[cfg(microdense_thumb1)]
    {
        j0 += chunks_thumb1(&layer, &mut sink, units);
    }
    // Six outputs at a time (the last chunk 2 or 4 wide, an odd count's zero column
    // included): biases, the products of every listed pair, requantization.
    while j0 < units {
        let n = (units - j0).min(WIDTH);
        let mut acc = [0i32; WIDTH];
        let biases = layer.biases.get(4 * j0..).unwrap_or(&[]);
        for (a, b) in acc.iter_mut().zip(biases.chunks_exact(4)).take(n) {
            *a = le_i32(b);
        }
        accumulate(&layer, 2 * j0, n + n % 2, &mut acc);
        let multipliers = layer.multipliers.get(4 * j0..).unwrap_or(&[]);
        let shifts = layer.shifts.get(j0..).unwrap_or(&[]);
        let requant = acc.iter().zip(multipliers.chunks_exact(4)).zip(shifts);
        for (c, ((&a, m), &sh)) in requant.take(n).enumerate() {
            sink.put(j0 + c, requantize_by_byte(a, le_i32(m), sh), zp, low);
        }
        j0 += n;
    }
}

/// The little-endian i32 in four bytes: one load on cores that read unaligned words, and
/// on Thumb-1 ones (which fault on them) when the bytes happen to be aligned.
#[inline(always)]
fn le_i32(b: &[u8]) -> i32 {
    #[cfg(microdense_thumb1)]
    if let Ok(&w) = bytemuck::try_from_bytes::<u32>(b) {
        return u32::from_le(w) as i32;
    }
    i32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// What the chunks of one layer share (some of it only the Cortex-M0 code reads).
#[cfg_attr(not(microdense_thumb1), allow(dead_code))]
struct Layer<'a> {
    weights: &'a [u8],
    row_bytes: usize,
    entries: &'a [u32],
    biases: &'a [u8],
    multipliers: &'a [u8],
    shifts: &'a [u8],
    /// [`asm_fits`] for these weights and entries.
    dsp: bool,
    /// What the even columns' bytes are XORed with to read `w + 128` unsigned: 0 for
    /// [`WeightCoding::EvenOffset`], 0x80 for signed bytes.
    flip: u8,
    /// The listed inputs' sum, for [`undo_offset`].
    sum: i32,
    zp: i32,
    low: i32,
}

/// Whether the Cortex-M0's assembly loop may run on this layer: the weights are the
/// whole, 4-aligned array of the section, in the coding they read, and the list is as
/// the gathers leave it. (Never on other targets; Thumb-2 cores have `int8_thumb2`.)
#[inline(always)]
fn asm_fits(weights: &[u8], s: &Section, coding: WeightCoding, entries: &[u32]) -> bool {
    cfg!(microdense_thumb1)
        && coding == WeightCoding::EvenOffset
        && (weights.as_ptr() as usize).is_multiple_of(4)
        && weights.len() == 2 * s.pairs * s.cols
        && entries.len() % 4 == 2
}

/// Every chunk of a layer on a Cortex-M0: a hidden layer's whole chunks of six in one
/// piece of assembly (`hidden_chunks`), every other chunk the biases, [`accumulate`],
/// then requantization, clamp and stores in assembly (`outputs`; both in
/// [`super::arm_v6m_requant`]). Returns the outputs done: all `units`, or 0 when the
/// buffers or the rule do not allow it (the caller then computes every chunk itself).
#[cfg(microdense_thumb1)]
#[inline(always)]
fn chunks_thumb1(layer: &Layer, sink: &mut Sink, units: usize) -> usize {
    use super::arm_v6m_requant as rq;
    let (b, m, sh) = (layer.biases, layer.multipliers, layer.shifts);
    let (zp, low) = (layer.zp, layer.low);
    // The bounds of `y` itself (see `rq::hidden_chunks` and `rq::outputs`).
    let (hi, lo) = match sink {
        Sink::Hidden(_) => (127 - zp, low - zp),
        Sink::Last(_, high) => (*high, low),
    };
    let bounds_fit = match sink {
        Sink::Hidden(_) => (-128..=127).contains(&zp) && (-128..=127).contains(&low),
        // The core's rule: zero point 0.
        Sink::Last(..) => zp == 0,
    };
    if units == 0
        || !(layer.dsp
            && bounds_fit
            && units <= sink.len()
            && b.len() >= 4 * units
            && (b.as_ptr() as usize).is_multiple_of(4)
            && m.len() >= 4 * units
            && (m.as_ptr() as usize).is_multiple_of(4)
            && sh.len() >= units
            // The assembly does the core's rule only (a blob uses one rule throughout).
            && sh.first().is_some_and(|&s| s <= 31))
    {
        return 0;
    }
    let mut j0 = 0;
    // A hidden layer's whole chunks of six in one piece of assembly.
    let chunks = units / WIDTH;
    if let (Sink::Hidden(out), true) = (&mut *sink, 2 * WIDTH * chunks <= layer.row_bytes) {
        if chunks > 0 {
            // SAFETY: the arrays and `out` hold `units` ≥ 6 · chunks outputs (checked
            // above; biases and multipliers 4-aligned, shifts at most 31); with
            // 12 · chunks ≤ `row_bytes`, every chunk's columns lie inside a row pair, so
            // the list contract holds for each as in `accumulate`.
            unsafe {
                rq::hidden_chunks(
                    layer.weights.as_ptr(),
                    layer.entries.as_ptr(),
                    b.as_ptr(),
                    layer.sum.wrapping_shl(7),
                    m.as_ptr(),
                    sh.as_ptr(),
                    out.as_mut_ptr(),
                    (hi, lo),
                    chunks,
                )
            };
            j0 = WIDTH * chunks;
        }
    }
    while j0 < units {
        let n = (units - j0).min(WIDTH);
        // SAFETY (every block below): outputs j0..j0 + n < units of the arrays and of
        // `sink` checked above (biases and multipliers 4-aligned, so at 4·j0 bytes in;
        // shifts at most 31: the first one is, and a parsed blob uses one rule).
        let mut acc = if n == WIDTH {
            unsafe { rq::biases6(b.as_ptr().add(4 * j0)) }
        } else {
            let mut acc = [0i32; WIDTH];
            for (a, b) in acc
                .iter_mut()
                .zip(b.get(4 * j0..).unwrap_or(&[]).chunks_exact(4))
                .take(n)
            {
                *a = le_i32(b);
            }
            acc
        };
        accumulate(layer, 2 * j0, n + n % 2, &mut acc);
        let (m, sh) = unsafe { (m.as_ptr().add(4 * j0), sh.as_ptr().add(j0)) };
        unsafe {
            match sink {
                Sink::Hidden(out) => {
                    let out = out.as_mut_ptr().add(j0).cast();
                    rq::outputs::<false>(&acc, n, m, sh, out, hi, lo);
                }
                Sink::Last(out, _) => {
                    let out = out.as_mut_ptr().add(j0).cast();
                    rq::outputs::<true>(&acc, n, m, sh, out, hi, lo);
                }
            }
        }
        j0 += n;
    }
    units
}

/// Adds every listed pair's products into the first `width` (6, 4 or 2) accumulators;
/// `col` is the byte offset of the first one's column within a row pair. On a Cortex-M0
/// the `arch` loop runs when the buffers fit, under one contract (the list
/// contract): `base` (the weights plus `col`) plus every listed offset is readable for
/// `2 · width` bytes and 4-aligned; the list is 4-aligned and holds an even number of
/// entries (two words each, the first non-zero) followed by an entry whose first word is
/// 0. An `arch` loop returns false for a width it has no loop for.
#[inline(always)]
fn accumulate(layer: &Layer, col: usize, width: usize, acc: &mut [i32; WIDTH]) {
    #[cfg(microdense_thumb1)]
    if layer.dsp && col + 2 * width <= layer.row_bytes {
        // SAFETY: `asm_fits` held: `weights` is the section's whole 4-aligned array,
        // `row_bytes` (2·cols, a multiple of 4) per row pair, and the gathers listed only
        // offsets k · row_bytes with k < pairs (and a padding entry at offset 0), so with
        // col (a multiple of 4) + 2·width ≤ row_bytes every read of 2·width bytes at
        // offset + col lies inside `weights`, aligned; the count of entries before the
        // sentinel is even and the sentinel's first word is 0 (the padding entry's too,
        // adding nothing); `entries` is u32-aligned.
        let base = unsafe { layer.weights.as_ptr().add(col) };
        // The Cortex-M0's loop takes `undo_offset`'s correction off as it loads the
        // accumulators (the same bits: the sums wrap).
        #[cfg(microdense_thumb1)]
        {
            let extra = layer.sum.wrapping_shl(7);
            unsafe { arch::accumulate(base, layer.entries.as_ptr(), width, acc, extra) };
            return;
        }
        #[cfg(not(microdense_thumb1))]
        {
            let before = *acc;
            if unsafe { arch::accumulate(base, layer.entries.as_ptr(), width, acc) } {
                undo_offset(acc, &before, width, layer.sum, false);
                return;
            }
        }
    }
    let entries = layer.entries;
    let entries = entries
        .get(..entries.len().saturating_sub(2))
        .unwrap_or(&[]);
    let before = *acc;
    portable(layer.weights, layer.flip, col, width, entries, acc);
    undo_offset(acc, &before, width, layer.sum, false);
}

/// The listed inputs' sum Σ (x_2k + x_2k+1), wrapping (`entries` as [`accumulate`]
/// takes them: the padding entry and the sentinel add 0).
#[inline(always)]
fn list_sum(entries: &[u32]) -> i32 {
    #[cfg(microdense_dsp)]
    if entries.len() % 4 == 2 {
        // SAFETY: `entries` holds (len − 2) / 2 entries, an even count, then the sentinel.
        return unsafe { dsp::list_sum(entries.as_ptr(), (entries.len() - 2) / 2) };
    }
    let pairs = entries.chunks_exact(2);
    pairs.fold(0i32, |s, e| {
        s.wrapping_add(i32::from(e[0] as u16 as i16) + ((e[0] as i32) >> 16))
    })
}

/// Turns what a loop over weights of [`WeightCoding::EvenOffset`] added into the first
/// `width` accumulators (from `before`) into the true sums: it read the even columns'
/// bytes as `w + 128` (unsigned), adding 128 · `sum` too much to each; with `raw_words`
/// (the Cortex-M4's SMLAD on the weight word) its even accumulators also hold 256 × what
/// their odd neighbour gained. Exact modulo 2^32, as the sums themselves.
#[inline(always)]
fn undo_offset(
    acc: &mut [i32; WIDTH],
    before: &[i32; WIDTH],
    width: usize,
    sum: i32,
    raw_words: bool,
) {
    for k in 0..width.min(WIDTH) / 2 {
        let mut extra = sum.wrapping_shl(7);
        if raw_words {
            let odd = acc[2 * k + 1].wrapping_sub(before[2 * k + 1]);
            extra = extra.wrapping_add(odd.wrapping_shl(8));
        }
        acc[2 * k] = acc[2 * k].wrapping_sub(extra);
    }
}

/// The reference loop, on every target: the same sums as SMLAD, wrapping alike. One
/// copy per width, so that the accumulators stay in registers (Cortex-M3, M0, PCs). The
/// even columns' bytes, XORed with `flip`, are read unsigned as `w + 128` (for
/// [`undo_offset`]): `flip` is 0 for [`WeightCoding::EvenOffset`], 0x80 for signed bytes.
/// Where it is the main loop (RISC-V, PCs) the offset coding has its own copy without the
/// XOR; Cortex-M cores run it rarely (their assembly takes the offset coding) and keep one
/// copy for both codings (flash).
#[inline(never)]
fn portable(
    weights: &[u8],
    flip: u8,
    col: usize,
    width: usize,
    entries: &[u32],
    acc: &mut [i32; WIDTH],
) {
    #[cfg(not(any(microdense_thumb1, microdense_thumb2)))]
    if flip == 0 {
        return match width {
            6 => portable_n::<6, 12, false>(weights, 0, col, entries, acc),
            4 => portable_n::<4, 8, false>(weights, 0, col, entries, acc),
            _ => portable_n::<2, 4, false>(weights, 0, col, entries, acc),
        };
    }
    match width {
        6 => portable_n::<6, 12, true>(weights, flip, col, entries, acc),
        4 => portable_n::<4, 8, true>(weights, flip, col, entries, acc),
        _ => portable_n::<2, 4, true>(weights, flip, col, entries, acc),
    }
}

/// [`portable`] for `N` accumulators (`B` = 2·N weight bytes per entry); `FLIP`: XOR
/// the even bytes with `flip` (else `flip` is 0).
#[inline(always)]
fn portable_n<const N: usize, const B: usize, const FLIP: bool>(
    weights: &[u8],
    flip: u8,
    col: usize,
    entries: &[u32],
    acc: &mut [i32; WIDTH],
) {
    let mut a = [0i32; N];
    a.copy_from_slice(&acc[..N]);
    for e in entries.chunks_exact(2) {
        let (x0, x1) = (i32::from(e[0] as u16 as i16), (e[0] as i32) >> 16);
        let at = e[1] as usize + col;
        let Some(w) = weights.get(at..at + B) else {
            continue;
        };
        let Ok(w) = <&[u8; B]>::try_from(w) else {
            continue;
        };
        // Even byte indices are the even columns.
        let w = |i: usize| match i.is_multiple_of(2) {
            true if FLIP => i32::from(w[i] ^ flip),
            true => i32::from(w[i]),
            false => i32::from(w[i] as i8),
        };
        for k in 0..N / 2 {
            a[2 * k] = a[2 * k].wrapping_add(x0 * w(4 * k) + x1 * w(4 * k + 2));
            a[2 * k + 1] = a[2 * k + 1].wrapping_add(x0 * w(4 * k + 1) + x1 * w(4 * k + 3));
        }
    }
    acc[..N].copy_from_slice(&a);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::int8::layout::list_words;

    /// Word-aligned and unaligned inputs, any length, give the same list.
    #[test]
    fn gather_lists_the_non_blank_pairs_either_way() {
        #[repr(C, align(4))]
        struct Words([i8; 40]);
        let mut rng = crate::rng::Rng::new(8);
        for round in 0..500 {
            let zp = rng.below(256) as i32 - 128;
            let len = 1 + rng.below(36);
            let mut buf = Words([0; 40]);
            for q in &mut buf.0 {
                *q = if rng.below(3) == 0 {
                    rng.next_u64() as i8
                } else {
                    zp as i8
                };
            }
            let aligned = &buf.0[..len];
            let mut shifted = [0i8; 41];
            shifted[1..=len].copy_from_slice(aligned);
            let unaligned = &shifted[1..=len];
            let (mut a, mut b) = ([7u32; 48], [7u32; 48]);
            let words = list_words(len);
            let n = gather_bytes(aligned, zp, 12, &mut a[..words]);
            assert_eq!(
                n,
                gather_bytes(unaligned, zp, 12, &mut b[..words]),
                "round {round}"
            );
            assert_eq!(a[..words], b[..words]);
            // The plain definition: every pair not at the zero point, in order.
            let mut want = [0u32; 48];
            let (mut k, mut sum) = (0, 0i32);
            for p in 0..len.div_ceil(2) {
                let at = |i: usize| aligned.get(i).map_or(zp, |&q| i32::from(q)) - zp;
                let (x0, x1) = (at(2 * p), at(2 * p + 1));
                if x0 != 0 || x1 != 0 {
                    want[2 * k] = u32::from(x0 as u16) | ((x1 as u32) << 16);
                    want[2 * k + 1] = (12 * p) as u32;
                    k += 1;
                    sum += x0 + x1;
                }
            }
            assert_eq!(n, k + k % 2);
            // The sentinel carries the listed inputs' sum.
            want[2 * n + 1] = sum as u32;
            assert_eq!(a[..2 * n + 2], want[..2 * n + 2], "round {round}");
        }
    }

    /// Thumb-2 cores' fallback (one output at a time, weights read signed) gives the
    /// chunked path's integers: both codings, hidden and output sinks, both rules.
    #[test]
    fn by_output_matches_the_chunks() {
        let mut rng = crate::rng::Rng::new(27);
        for round in 0..200 {
            let (fan_in, units) = (1 + rng.below(20), 1 + rng.below(15));
            let (pairs, cols) = (fan_in.div_ceil(2), units + units % 2);
            let biases = 8;
            let (multipliers, shifts) = (biases + 4 * units, biases + 8 * units);
            let weights = shifts + units.next_multiple_of(4);
            let end = weights + 2 * pairs * cols;
            let s = Section {
                fan_in,
                units,
                pairs,
                cols,
                params: 0,
                biases,
                multipliers,
                shifts,
                weights,
                end,
            };
            let mut payload = [0u8; 600];
            for b in &mut payload[..end] {
                *b = rng.next_u64() as u8;
            }
            let tflite = round % 4 == 3;
            for j in 0..units {
                let m = (rng.next_u64() as u32 >> 1).to_le_bytes();
                payload[multipliers + 4 * j..][..4].copy_from_slice(&m);
                let sh = rng.below(31) as u8;
                payload[shifts + j] = if tflite { 0x80 | sh } else { sh };
            }
            let zp = rng.below(256) as i32 - 128;
            let x: [i8; 20] = core::array::from_fn(|_| match rng.below(3) {
                0 => zp as i8,
                _ => rng.next_u64() as i8,
            });
            let mut list = [0u32; 2 * 10 + 4];
            let count = gather_bytes(&x[..fan_in], zp, 2 * cols, &mut list);
            let coding = match round % 2 {
                0 => WeightCoding::EvenOffset,
                _ => WeightCoding::Signed,
            };
            let low = if round % 3 == 0 { zp } else { -128 };
            let (mut want, mut got) = ([0i16; 15], [0i16; 15]);
            chunks(
                &payload,
                &s,
                coding,
                &list,
                count,
                Sink::Hidden(&mut want[..units]),
                zp,
                low,
            );
            let mut sink = Sink::Hidden(&mut got[..units]);
            by_output(&payload, &s, coding, &list, count, &mut sink, zp, low);
            assert_eq!(want, got, "round {round}");
            let (mut want, mut got) = ([0i32; 15], [0i32; 15]);
            let (zp, low, high) = if tflite {
                (zp, -128, 127)
            } else {
                (0, i32::MIN, i32::MAX)
            };
            chunks(
                &payload,
                &s,
                coding,
                &list,
                count,
                Sink::Last(&mut want[..units], high),
                zp,
                low,
            );
            let mut sink = Sink::Last(&mut got[..units], high);
            by_output(&payload, &s, coding, &list, count, &mut sink, zp, low);
            assert_eq!(want, got, "round {round}");
        }
    }

    /// SMLAD as the Cortex-M4 computes it: both halfword products added, wrapping.
    fn smlad(a: u32, b: u32, acc: i32) -> i32 {
        let (a0, a1) = (i32::from(a as u16 as i16), (a as i32) >> 16);
        let (b0, b1) = (i32::from(b as u16 as i16), (b as i32) >> 16);
        acc.wrapping_add(a0 * b0).wrapping_add(a1 * b1)
    }

    /// SXTB16 with ROR 8: bytes 1 and 3 sign-extended into the two halves.
    fn sxtb16_ror8(w: u32) -> u32 {
        u32::from((w >> 8) as u8 as i8 as i16 as u16)
            | (u32::from((w >> 24) as u8 as i8 as i16 as u16) << 16)
    }

    /// The offset coding's three readings (the signed bytes, the even bytes unsigned as on
    /// a Cortex-M3 or M0, the raw words as the Cortex-M4's SMLAD) give the same sums once
    /// [`undo_offset`] has run, extremes and wrapping included; a padding entry adds 0.
    #[test]
    fn offset_coding_sums_equal_the_signed_ones() {
        let mut rng = crate::rng::Rng::new(18);
        let pairs = 9;
        let row = 12; // six columns
        for round in 0..300 {
            let extreme = round % 3 == 0;
            let pick = |rng: &mut crate::rng::Rng, lo: i32, hi: i32| -> i32 {
                if extreme && rng.below(2) == 0 {
                    if rng.below(2) == 0 {
                        lo
                    } else {
                        hi
                    }
                } else {
                    lo + rng.below((hi - lo + 1) as usize) as i32
                }
            };
            let mut signed = [0u8; 9 * 12];
            let mut coded = [0u8; 9 * 12];
            for (i, (s, c)) in signed.iter_mut().zip(coded.iter_mut()).enumerate() {
                let w = pick(&mut rng, -128, 127) as i8;
                *s = w as u8;
                *c = w as u8 ^ if i % 2 == 0 { 0x80 } else { 0 };
            }
            let mut list = [0u32; 2 * 9 + 4];
            let mut sum = 0i32;
            let mut n = 0;
            for p in 0..pairs {
                if rng.below(4) == 0 {
                    continue;
                }
                let (x0, x1) = (pick(&mut rng, -255, 255), pick(&mut rng, -255, 255));
                list[2 * n] = u32::from(x0 as u16) | ((x1 as u32) << 16);
                list[2 * n + 1] = (p * row) as u32;
                sum += x0 + x1;
                n += 1;
            }
            n += n % 2; // the padding entry (0, 0)
            assert_eq!(list_sum(&list[..2 * n + 2]), sum);
            let entries = &list[..2 * n];
            let start: [i32; WIDTH] = core::array::from_fn(|_| rng.next_u64() as i32);
            for (col, width) in [(0, 6), (0, 4), (4, 4), (0, 2), (8, 2)] {
                // The plain definition, from the signed bytes.
                let mut want = start;
                for e in entries.chunks_exact(2) {
                    let x = [i32::from(e[0] as u16 as i16), (e[0] as i32) >> 16];
                    for (j, a) in want.iter_mut().enumerate().take(width) {
                        for (r, &xr) in x.iter().enumerate() {
                            let at = e[1] as usize + col + (j / 2) * 4 + r * 2 + j % 2;
                            let w = i32::from(signed[at] as i8);
                            *a = a.wrapping_add(xr * w);
                        }
                    }
                }
                let mut unsigned = start;
                portable(&coded, 0, col, width, entries, &mut unsigned);
                undo_offset(&mut unsigned, &start, width, sum, false);
                let mut from_signed = start;
                portable(&signed, 0x80, col, width, entries, &mut from_signed);
                undo_offset(&mut from_signed, &start, width, sum, false);
                assert_eq!(from_signed[..width], want[..width], "round {round}");
                let mut raw = start;
                for e in entries.chunks_exact(2) {
                    for m in 0..width / 2 {
                        let at = e[1] as usize + col + 4 * m;
                        let b = &coded[at..at + 4];
                        let w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                        raw[2 * m] = smlad(w, e[0], raw[2 * m]);
                        raw[2 * m + 1] = smlad(sxtb16_ror8(w), e[0], raw[2 * m + 1]);
                    }
                }
                undo_offset(&mut raw, &start, width, sum, true);
                assert_eq!(unsigned[..width], want[..width], "round {round}");
                assert_eq!(raw[..width], want[..width], "round {round}");
            }
        }
    }
}
