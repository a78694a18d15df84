//! The int8 forward pass: dense layers on i32 accumulators, requantized to int8 (hidden
//! layers) or to the i32 output values (the output layer).
//!
//! Weight order (see docs/weights-format.md): the `[in][out]` matrix taken two input rows
//! at a time, the two rows interleaved by pairs of columns, so one 32-bit word holds
//! `W[2k][2m], W[2k][2m+1], W[2k+1][2m], W[2k+1][2m+1]`. SXTB16 splits it into the
//! halfword pairs `(W[2k][2m], W[2k+1][2m])` and `(W[2k][2m+1], W[2k+1][2m+1])`, and SMLAD
//! multiplies each with the input pair `(x[2k], x[2k+1])` and adds both products into one
//! accumulator: four multiply-adds from one load and four instructions.
//!
//! As in the f32 forward pass, inputs drive the loop: a pair of inputs both at the zero
//! point (MNIST's blank pixels, relu's zeros) is skipped with its two rows. The non-zero
//! pairs are gathered once per layer into a list of (packed inputs, row offset); then
//! outputs are taken six at a time, their accumulators kept in registers over the whole
//! list, and requantized at the end. Hidden layers store their int8 outputs minus the
//! zero point as i16s, so the next layer's pairs are ready-made words.
//!
//! On a Cortex-M4 (`cfg(microdense_dsp)`, see core/build.rs) the loop over the list is
//! SXTB16/SMLAD assembly, and a hidden layer's whole chunks of six (biases, products,
//! requantization, stores) run in one piece of assembly; everywhere else [`portable`]
//! computes the same integers.
use super::{requantize, requantize_tflite, tflite_exponent, Int8Network, Section};

/// Outputs accumulated in registers at a time (six: all a Cortex-M4 has room for beside
/// the inputs, the list and the weights in flight).
const WIDTH: usize = 6;

/// Words of the gathered list for a layer input `fan_in` wide: two per pair, one padding
/// entry to make the count even, one sentinel entry.
pub(crate) const fn list_words(fan_in: usize) -> usize {
    2 * fan_in.div_ceil(2) + 4
}

/// Byte offset of `W[i][j]` within a layer's weights.
pub(crate) fn weight_offset(s: &Section, i: usize, j: usize) -> usize {
    (i / 2) * 2 * s.cols + (j / 2) * 4 + (i % 2) * 2 + j % 2
}

/// The zero row of an odd fan-in and the zero column of an odd unit count are zero.
pub(crate) fn padding_is_zero(s: &Section, weights: &[u8]) -> bool {
    let at = |i: usize, j: usize| weights.get(weight_offset(s, i, j)).copied().unwrap_or(0);
    let row_ok = s.fan_in.is_multiple_of(2) || (0..s.cols).all(|j| at(s.fan_in, j) == 0);
    let col_ok = s.units.is_multiple_of(2) || (0..2 * s.pairs).all(|i| at(i, s.units) == 0);
    row_ok && col_ok
}

/// Where a layer's requantized values go.
enum Sink<'o> {
    /// A hidden layer: each value is its int8 code minus the zero point, as an i16 (so
    /// that the next layer reads its input pairs as ready-made words).
    Hidden(&'o mut [i16]),
    /// The output layer: the i32 values.
    Last(&'o mut [i32]),
    /// The output layer of a TFLite-rule model: int8 codes (clamped as a hidden layer's)
    /// minus the zero point, as i32.
    LastInt8(&'o mut [i32]),
}

impl Sink<'_> {
    /// Stores requantized `y` as output `j`: hidden layers clamp `y + zp` to `low..=127`
    /// (`low` is the zero point for relu, −128 for linear) and store it minus `zp`; the
    /// output layer stores `y`, at least `low` (0 for relu, `i32::MIN` for linear).
    #[inline(always)]
    fn put(&mut self, j: usize, y: i32, zp: i32, low: i32) {
        match self {
            Sink::Hidden(out) => {
                if let Some(o) = out.get_mut(j) {
                    // |y| < 2^30 (see requant.rs): adding a zero point cannot overflow;
                    // the clamp to −128..=127 is one SSAT on a Cortex-M4.
                    *o = (y.wrapping_add(zp).clamp(-128, 127).max(low) - zp) as i16;
                }
            }
            Sink::Last(out) => {
                if let Some(o) = out.get_mut(j) {
                    *o = y.max(low);
                }
            }
            Sink::LastInt8(out) => {
                if let Some(o) = out.get_mut(j) {
                    *o = y.saturating_add(zp).clamp(-128, 127).max(low) - zp;
                }
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Sink::Hidden(out) => out.len(),
            Sink::Last(out) | Sink::LastInt8(out) => out.len(),
        }
    }
}

/// The whole network on one input. Lengths were checked by the caller: `scratch` is
/// exactly `int8_scratch_len` words, `out` the output layer's width.
///
/// Scratch: the list of non-zero input pairs, then two buffers of hidden activations, each
/// value its int8 code minus the zero point as an i16 (a pair per word, a zero after an
/// odd count).
#[inline(never)]
pub(super) fn run(net: &Int8Network, input: &[i8], scratch: &mut [u32], out: &mut [i32]) {
    let t = &net.topology;
    let layers = t.layers();
    let tflite = super::uses_tflite_rule(t, net.payload);
    let widest_in = (0..layers.len()).map(|i| t.fan_in(i)).max().unwrap_or(0);
    let (list, acts) = scratch.split_at_mut(list_words(widest_in).min(scratch.len()));
    let half = acts.len() / 2;
    let (mut from, rest) = acts.split_at_mut(half);
    let mut to = rest.get_mut(..half).unwrap_or(&mut []);
    for (i, layer) in layers.iter().enumerate() {
        let s = super::section_of(t.input(), layers, i);
        let row = 2 * s.cols;
        let count = if i == 0 {
            gather_bytes(input, net.input_params().zero_point, row, list)
        } else {
            gather_pairs(from.get(..s.pairs).unwrap_or(&[]), row, list)
        };
        let relu = layer.activation == crate::Activation::Relu;
        let zp = super::params_at(net.payload, s.params).zero_point;
        if i + 1 == layers.len() {
            if tflite {
                let low = if relu { zp } else { -128 };
                dense(net.payload, &s, list, count, Sink::LastInt8(out), zp, low);
            } else {
                let low = if relu { 0 } else { i32::MIN };
                dense(net.payload, &s, list, count, Sink::Last(out), 0, low);
            }
            return;
        }
        let low = if relu { zp } else { -128 };
        let values: &mut [i16] = bytemuck::cast_slice_mut(&mut to[..]);
        let units = s.units.min(values.len());
        let sink = Sink::Hidden(&mut values[..units]);
        dense(net.payload, &s, list, count, sink, zp, low);
        if let Some(v) = values.get_mut(units) {
            *v = 0; // the second half of an odd count's last pair
        }
        core::mem::swap(&mut from, &mut to);
    }
}

/// The list for hidden activations (two per word, already minus the zero point): each
/// non-zero word of `pairs` becomes an entry (the word, the pair's row offset). Padding
/// and sentinel as [`gather_bytes`].
#[inline(never)]
fn gather_pairs(pairs: &[u32], row_bytes: usize, list: &mut [u32]) -> usize {
    let row = row_bytes as u32;
    let mut n = 0;
    {
        let mut slots = list.chunks_exact_mut(2);
        let mut off = 0;
        for &w in pairs {
            if w != 0 {
                if let Some(e) = slots.next() {
                    e[0] = w;
                    e[1] = off;
                    n += 1;
                }
            }
            off += row;
        }
    }
    finish(list, n)
}

/// Gathers the pairs of `x` not both at `zp` into `list` as (inputs minus the zero point,
/// packed as two i16 halves; byte offset of the pair's rows), pads the count to even with
/// a (0, 0) entry, ends the list with a (0, 0) sentinel, and returns the count. `list`
/// holds at least `list_words(x.len())` words (else the list is cut short).
#[inline(never)]
fn gather_bytes(x: &[i8], zp: i32, row_bytes: usize, list: &mut [u32]) -> usize {
    let n = {
        let mut g = Gather {
            slots: list.chunks_exact_mut(2),
            n: 0,
            off: 0,
            row: row_bytes as u32,
            zp,
            blank: u32::from_ne_bytes([zp as u8; 4]),
        };
        // Four inputs (one word) at a time; aligned inputs are read as words.
        let (body, rest) = x.split_at(x.len() / 4 * 4);
        match bytemuck::try_cast_slice::<i8, u32>(body) {
            Ok(words) => words.iter().for_each(|&w| g.quad(u32::from_le(w))),
            Err(_) => body.chunks_exact(4).for_each(|q| {
                g.quad(u32::from_le_bytes([
                    q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8,
                ]))
            }),
        }
        let at = |i: usize| rest.get(i).map_or(zp, |&q| i32::from(q));
        for k in (0..rest.len()).step_by(2) {
            let entry = g.pack(at(k), at(k + 1));
            if entry != 0 {
                g.push(entry, g.off);
            }
            g.off += g.row;
        }
        g.n
    };
    finish(list, n)
}

/// Pads a list of `n` entries to an even count with a (0, 0) entry, ends it with a (0, 0)
/// sentinel, and returns the count.
fn finish(list: &mut [u32], n: usize) -> usize {
    let end = (n + n % 2).min(list.len() / 2);
    for e in list.get_mut(2 * n..2 * end + 2).unwrap_or(&mut []) {
        *e = 0;
    }
    end
}

/// The state of [`gather_bytes`].
struct Gather<'l> {
    slots: core::slice::ChunksExactMut<'l, u32>,
    n: usize,
    /// Byte offset of the current pair's rows.
    off: u32,
    /// Bytes of a row pair.
    row: u32,
    zp: i32,
    /// Four bytes at the zero point.
    blank: u32,
}

impl Gather<'_> {
    /// Two inputs minus the zero point, as the i16 halves of one word.
    #[inline(always)]
    fn pack(&self, a: i32, b: i32) -> u32 {
        u32::from((a - self.zp) as u16) | (((b - self.zp) as u32) << 16)
    }

    #[inline(always)]
    fn push(&mut self, entry: u32, off: u32) {
        if let Some(e) = self.slots.next() {
            e[0] = entry;
            e[1] = off;
            self.n += 1;
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
                self.push(self.pack(byte(word), byte(word >> 8)), self.off);
            }
            if d >> 16 != 0 {
                self.push(
                    self.pack(byte(word >> 16), byte(word >> 24)),
                    self.off + self.row,
                );
            }
        }
        self.off += 2 * self.row;
    }
}

/// One dense layer: the gathered input pairs (`count` entries of `list`) through section
/// `s` of `payload`, requantized into `sink` (the layer's `units` values) with
/// [`Sink::put`].
#[inline(never)]
fn dense(
    payload: &[u8],
    s: &Section,
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
    let layer = Layer {
        weights,
        row_bytes: 2 * s.cols,
        entries,
        biases: array(s.biases, 4 * units),
        multipliers: array(s.multipliers, 4 * units),
        shifts: array(s.shifts, units),
        dsp: dsp_fits(weights, s, entries),
        zp,
        low,
    };
    let mut j0 = 0;
    // On a Cortex-M4 a hidden layer's whole chunks of six run in one piece of assembly.
    #[cfg(microdense_dsp)]
    if let Sink::Hidden(out) = &mut sink {
        let whole = units / WIDTH * WIDTH;
        if let Some(o) = out.get_mut(..whole) {
            if chunks6_dsp(&layer, o) {
                j0 = whole;
            }
        }
    }
    // Six outputs at a time (the last chunk 2 or 4 wide, an odd count's zero column
    // included): biases, the products of every listed pair, requantization.
    while j0 < units {
        let n = (units - j0).min(WIDTH);
        let mut acc = [0i32; WIDTH];
        let biases = layer.biases.get(4 * j0..).unwrap_or(&[]);
        for (a, b) in acc.iter_mut().zip(biases.chunks_exact(4)).take(n) {
            *a = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        accumulate(&layer, 2 * j0, n + n % 2, &mut acc);
        let multipliers = layer.multipliers.get(4 * j0..).unwrap_or(&[]);
        let shifts = layer.shifts.get(j0..).unwrap_or(&[]);
        let requant = acc.iter().zip(multipliers.chunks_exact(4)).zip(shifts);
        for (c, ((&a, m), &sh)) in requant.take(n).enumerate() {
            let m = i32::from_le_bytes([m[0], m[1], m[2], m[3]]);
            let y = match tflite_exponent(sh) {
                Some(e) => requantize_tflite(a, m, e),
                None => requantize(a, m, sh),
            };
            sink.put(j0 + c, y, zp, low);
        }
        j0 += n;
    }
}

/// What the chunks of one layer share (some of it only the Cortex-M4 code reads).
#[cfg_attr(not(microdense_dsp), allow(dead_code))]
struct Layer<'a> {
    weights: &'a [u8],
    row_bytes: usize,
    entries: &'a [u32],
    biases: &'a [u8],
    multipliers: &'a [u8],
    shifts: &'a [u8],
    /// [`dsp_fits`] for these weights and entries.
    dsp: bool,
    zp: i32,
    low: i32,
}

/// Whether the Cortex-M4 loop may run on this layer: the weights are the whole, 4-aligned
/// array of the section and the list is as the gathers leave it. (Never on other targets.)
#[inline(always)]
fn dsp_fits(weights: &[u8], s: &Section, entries: &[u32]) -> bool {
    cfg!(microdense_dsp)
        && (weights.as_ptr() as usize).is_multiple_of(4)
        && weights.len() == 2 * s.pairs * s.cols
        && entries.len() % 4 == 2
}

/// All `o.len() / 6` whole chunks of six outputs of a hidden layer on the Cortex-M4 in
/// one piece of assembly (biases, products, requantization, stores); false when the
/// buffers do not allow it (the caller then computes the chunks itself).
#[cfg(microdense_dsp)]
#[inline(always)]
fn chunks6_dsp(layer: &Layer, o: &mut [i16]) -> bool {
    let chunks = o.len() / WIDTH;
    let (b, m, sh) = (layer.biases, layer.multipliers, layer.shifts);
    let relu = layer.low != -128;
    if chunks == 0
        || !(layer.dsp
            && 2 * WIDTH * chunks <= layer.row_bytes
            && b.len() >= 4 * WIDTH * chunks
            && (b.as_ptr() as usize).is_multiple_of(4)
            && m.len() >= 4 * WIDTH * chunks
            && sh.len() >= WIDTH * chunks
            // The assembly does the core's rule only (a blob uses one rule throughout).
            && sh.first().is_some_and(|&s| s <= 31)
            && (!relu || layer.low == layer.zp))
    {
        return false;
    }
    let mut io = dsp::ChunkIo {
        biases: b.as_ptr(),
        multipliers: m.as_ptr(),
        shifts: sh.as_ptr(),
        out: o.as_mut_ptr(),
        zp: layer.zp,
        list: layer.entries.as_ptr(),
        base: layer.weights.as_ptr(),
        chunks: chunks as u32,
    };
    // SAFETY: as in `accumulate` for the weights and the list (`dsp_fits` held, and the
    // last chunk's columns end at 12·chunks ≤ row_bytes); biases (4-aligned),
    // multipliers, shifts and outputs hold at least six values per chunk, all checked
    // above; the shifts of a parsed blob are at most 31.
    unsafe {
        if relu {
            dsp::chunks6_hidden::<true>(&mut io);
        } else {
            dsp::chunks6_hidden::<false>(&mut io);
        }
    }
    true
}

/// Adds every listed pair's products into the first `width` (6, 4 or 2) accumulators;
/// `col` is the byte offset of the first one's column within a row pair.
#[inline(always)]
fn accumulate(layer: &Layer, col: usize, width: usize, acc: &mut [i32; WIDTH]) {
    #[cfg(microdense_dsp)]
    if layer.dsp && col + 2 * width <= layer.row_bytes {
        // SAFETY: `dsp_fits` held: `weights` is the section's whole array, `row_bytes`
        // (2·cols) per row pair, and the gathers listed only offsets k · row_bytes with
        // k < pairs (and a padding entry at offset 0), so with col + 2·width ≤ row_bytes
        // every read of 2·width bytes at offset + col lies inside `weights`; the count of
        // entries before the sentinel is even and the sentinel's first word is 0;
        // `entries` is u32-aligned for LDRD.
        unsafe {
            let base = layer.weights.as_ptr().add(col);
            dsp::accumulate(base, layer.entries.as_ptr(), width, acc);
        }
        return;
    }
    let entries = layer.entries;
    let entries = entries
        .get(..entries.len().saturating_sub(2))
        .unwrap_or(&[]);
    portable(layer.weights, col, width, entries, acc);
}

/// The reference loop, on every target: the same sums as SMLAD, wrapping alike. One
/// function for every width keeps the code small where it runs (Cortex-M3, PCs).
#[inline(never)]
fn portable(weights: &[u8], col: usize, width: usize, entries: &[u32], acc: &mut [i32; WIDTH]) {
    let acc = &mut acc[..width.min(WIDTH)];
    for e in entries.chunks_exact(2) {
        let (x0, x1) = (
            i32::from(e[0] as u16 as i16),
            i32::from((e[0] >> 16) as u16 as i16),
        );
        let at = e[1] as usize + col;
        let Some(w) = weights.get(at..at + 2 * acc.len()) else {
            continue;
        };
        for (pair, q) in acc.chunks_exact_mut(2).zip(w.chunks_exact(4)) {
            let w = |b: u8| i32::from(b as i8);
            pair[0] = pair[0].wrapping_add(x0 * w(q[0]) + x1 * w(q[2]));
            pair[1] = pair[1].wrapping_add(x0 * w(q[1]) + x1 * w(q[3]));
        }
    }
}

/// The Cortex-M4 loop: SXTB16 and SMLAD (Armv7E-M DSP extension), two list entries per
/// iteration.
#[cfg(microdense_dsp)]
mod dsp {
    use core::arch::asm;

    /// # Safety
    /// `base` (the weights plus the chunk's column offset) plus every listed offset is
    /// readable for `2 · width` bytes; `list` is 4-aligned and holds an even number of
    /// entries (two words each, the first non-zero) followed by an entry whose first word
    /// is 0.
    #[inline(always)]
    pub(super) unsafe fn accumulate(
        base: *const u8,
        list: *const u32,
        width: usize,
        acc: &mut [i32; 6],
    ) {
        let [a0, a1, a2, a3, a4, a5] = acc;
        match width {
            6 => six(base, list, [a0, a1, a2, a3, a4, a5]),
            4 => four(base, list, [a0, a1, a2, a3]),
            _ => two(base, list, [a0, a1]),
        }
    }

    /// What [`chunks6_hidden`] works on; it advances the pointers as it goes.
    #[repr(C)]
    pub(super) struct ChunkIo {
        /// i32 biases, six per chunk (4-aligned).
        pub biases: *const u8,
        /// i32 multipliers, six per chunk.
        pub multipliers: *const u8,
        /// u8 shifts (at most 31), six per chunk.
        pub shifts: *const u8,
        /// i16 outputs, six per chunk: the int8 values minus the zero point.
        pub out: *mut i16,
        pub zp: i32,
        /// The gathered list (as [`accumulate`] takes it).
        pub list: *const u32,
        /// The weights plus the current chunk's column offset.
        pub base: *const u8,
        /// Chunks to do, at least 1.
        pub chunks: u32,
    }

    /// Whole chunks of six outputs of a hidden layer, one after the other: per chunk the
    /// biases into six accumulators, the loop of [`six`], then per output the
    /// requantization and store of `requantize` and `<i16 as Output>::store` (RELU: the
    /// clamp's lower bound is the zero point, else −128), with nothing spilled between.
    ///
    /// # Safety
    /// For every chunk, as [`accumulate`] for `io.base` (advanced by 12 bytes a chunk)
    /// and `io.list`; `io`'s arrays hold six values per chunk, the biases 4-aligned, the
    /// shifts at most 31.
    #[inline(always)]
    pub(super) unsafe fn chunks6_hidden<const RELU: bool>(io: &mut ChunkIo) {
        macro_rules! chunks {
            ($($acc:literal),*) => {
                asm!(
                    "push {{{io}}}",
                    "4:",
                    // Biases; the list and this chunk's weights.
                    "ldr r10, [{io}]",
                    "ldrd {a0}, {a1}, [r10]",
                    "ldrd {a2}, {a3}, [r10, #8]",
                    "ldrd {a4}, {a5}, [r10, #16]",
                    "add r10, r10, #24",
                    "str r10, [{io}]",
                    "ldr {list}, [{io}, #20]",
                    "ldr {base}, [{io}, #24]",
                    // The products (as `six`, `io` holding the inputs).
                    "ldrd {io}, r10, [{list}], #8",
                    "cmp {io}, #0",
                    "beq 3f",
                    "2:",
                    "add r10, {base}, r10",
                    "ldm r10, {{r8, r9, r10}}",
                    "sxtb16 {t}, r8",
                    "smlad {a0}, {t}, {io}, {a0}",
                    "sxtb16 {t}, r8, ror #8",
                    "smlad {a1}, {t}, {io}, {a1}",
                    "sxtb16 {t}, r9",
                    "smlad {a2}, {t}, {io}, {a2}",
                    "sxtb16 {t}, r9, ror #8",
                    "smlad {a3}, {t}, {io}, {a3}",
                    "sxtb16 {t}, r10",
                    "smlad {a4}, {t}, {io}, {a4}",
                    "sxtb16 {t}, r10, ror #8",
                    "smlad {a5}, {t}, {io}, {a5}",
                    "ldrd {io}, r10, [{list}], #8",
                    "add r10, {base}, r10",
                    "ldm r10, {{r8, r9, r10}}",
                    "sxtb16 {t}, r8",
                    "smlad {a0}, {t}, {io}, {a0}",
                    "sxtb16 {t}, r8, ror #8",
                    "smlad {a1}, {t}, {io}, {a1}",
                    "sxtb16 {t}, r9",
                    "smlad {a2}, {t}, {io}, {a2}",
                    "sxtb16 {t}, r9, ror #8",
                    "smlad {a3}, {t}, {io}, {a3}",
                    "sxtb16 {t}, r10",
                    "smlad {a4}, {t}, {io}, {a4}",
                    "sxtb16 {t}, r10, ror #8",
                    "smlad {a5}, {t}, {io}, {a5}",
                    "ldrd {io}, r10, [{list}], #8",
                    "cmp {io}, #0",
                    "bne 2b",
                    "3:",
                    // Requantization: base = multipliers, list = shifts, io = out, t = zp.
                    "ldr r8, [sp]",
                    "ldr r9, [r8, #24]",
                    "add r9, r9, #12",
                    "str r9, [r8, #24]",
                    "ldr {base}, [r8, #4]",
                    "ldr {list}, [r8, #8]",
                    "ldr {io}, [r8, #12]",
                    "ldr {t}, [r8, #16]",
                    $(
                        "ldr r8, [{base}], #4",
                        "ldrb r9, [{list}], #1",
                        "mov r10, #1",
                        "lsl r10, r10, r9",
                        "lsr r10, r10, #1",
                        concat!("smmlar r10, {", $acc, "}, r8, r10"),
                        "asr r10, r10, r9",
                        "add r10, r10, {t}",
                        "ssat r10, #8, r10",
                        relu_clamp!(),
                        "sub r10, r10, {t}",
                        "strh r10, [{io}], #2",
                    )*
                    // Store the advanced pointers; next chunk.
                    "ldr r8, [sp]",
                    "str {base}, [r8, #4]",
                    "str {list}, [r8, #8]",
                    "str {io}, [r8, #12]",
                    "mov {io}, r8",
                    "ldr r9, [r8, #28]",
                    "subs r9, r9, #1",
                    "str r9, [r8, #28]",
                    "bne 4b",
                    "pop {{{io}}}",
                    io = inout(reg) io as *mut ChunkIo => _,
                    list = out(reg) _,
                    base = out(reg) _,
                    t = out(reg) _,
                    out("r8") _,
                    out("r9") _,
                    out("r10") _,
                    a0 = out(reg) _,
                    a1 = out(reg) _,
                    a2 = out(reg) _,
                    a3 = out(reg) _,
                    a4 = out(reg) _,
                    a5 = out(reg) _,
                )
            };
        }
        if RELU {
            macro_rules! relu_clamp {
                () => {
                    "cmp r10, {t}\n it lt\n movlt r10, {t}"
                };
            }
            chunks!("a0", "a1", "a2", "a3", "a4", "a5");
        } else {
            macro_rules! relu_clamp {
                () => {
                    ""
                };
            }
            chunks!("a0", "a1", "a2", "a3", "a4", "a5");
        }
    }

    /// Six accumulators: per entry one LDRD (inputs, offset), one ADD, one LDM of the
    /// 12 weight bytes, six SXTB16 and six SMLAD; two entries per loop iteration.
    #[inline(always)]
    unsafe fn six(base: *const u8, list: *const u32, acc: [&mut i32; 6]) {
        let [r0, r1, r2, r3, r4, r5] = acc;
        let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5) = (*r0, *r1, *r2, *r3, *r4, *r5);
        asm!(
            "ldrd {x}, r10, [{list}], #8",
            "cmp {x}, #0",
            "beq 3f",
            "2:",
            "add r10, {base}, r10",
            "ldm r10, {{r8, r9, r10}}",
            "sxtb16 {t}, r8",
            "smlad {a0}, {t}, {x}, {a0}",
            "sxtb16 {t}, r8, ror #8",
            "smlad {a1}, {t}, {x}, {a1}",
            "sxtb16 {t}, r9",
            "smlad {a2}, {t}, {x}, {a2}",
            "sxtb16 {t}, r9, ror #8",
            "smlad {a3}, {t}, {x}, {a3}",
            "sxtb16 {t}, r10",
            "smlad {a4}, {t}, {x}, {a4}",
            "sxtb16 {t}, r10, ror #8",
            "smlad {a5}, {t}, {x}, {a5}",
            "ldrd {x}, r10, [{list}], #8",
            "add r10, {base}, r10",
            "ldm r10, {{r8, r9, r10}}",
            "sxtb16 {t}, r8",
            "smlad {a0}, {t}, {x}, {a0}",
            "sxtb16 {t}, r8, ror #8",
            "smlad {a1}, {t}, {x}, {a1}",
            "sxtb16 {t}, r9",
            "smlad {a2}, {t}, {x}, {a2}",
            "sxtb16 {t}, r9, ror #8",
            "smlad {a3}, {t}, {x}, {a3}",
            "sxtb16 {t}, r10",
            "smlad {a4}, {t}, {x}, {a4}",
            "sxtb16 {t}, r10, ror #8",
            "smlad {a5}, {t}, {x}, {a5}",
            "ldrd {x}, r10, [{list}], #8",
            "cmp {x}, #0",
            "bne 2b",
            "3:",
            list = inout(reg) list => _,
            base = in(reg) base,
            x = out(reg) _,
            t = out(reg) _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            a2 = inout(reg) a2,
            a3 = inout(reg) a3,
            a4 = inout(reg) a4,
            a5 = inout(reg) a5,
            options(nostack, readonly),
        );
        (*r0, *r1, *r2, *r3, *r4, *r5) = (a0, a1, a2, a3, a4, a5);
    }

    /// Four accumulators: LDRD of the 8 weight bytes.
    #[inline(always)]
    unsafe fn four(base: *const u8, list: *const u32, acc: [&mut i32; 4]) {
        let [r0, r1, r2, r3] = acc;
        let (mut a0, mut a1, mut a2, mut a3) = (*r0, *r1, *r2, *r3);
        asm!(
            "ldrd {x}, r10, [{list}], #8",
            "cmp {x}, #0",
            "beq 3f",
            "2:",
            "add r10, {base}, r10",
            "ldrd r8, r9, [r10]",
            "sxtb16 {t}, r8",
            "smlad {a0}, {t}, {x}, {a0}",
            "sxtb16 {t}, r8, ror #8",
            "smlad {a1}, {t}, {x}, {a1}",
            "sxtb16 {t}, r9",
            "smlad {a2}, {t}, {x}, {a2}",
            "sxtb16 {t}, r9, ror #8",
            "smlad {a3}, {t}, {x}, {a3}",
            "ldrd {x}, r10, [{list}], #8",
            "add r10, {base}, r10",
            "ldrd r8, r9, [r10]",
            "sxtb16 {t}, r8",
            "smlad {a0}, {t}, {x}, {a0}",
            "sxtb16 {t}, r8, ror #8",
            "smlad {a1}, {t}, {x}, {a1}",
            "sxtb16 {t}, r9",
            "smlad {a2}, {t}, {x}, {a2}",
            "sxtb16 {t}, r9, ror #8",
            "smlad {a3}, {t}, {x}, {a3}",
            "ldrd {x}, r10, [{list}], #8",
            "cmp {x}, #0",
            "bne 2b",
            "3:",
            list = inout(reg) list => _,
            base = in(reg) base,
            x = out(reg) _,
            t = out(reg) _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            a2 = inout(reg) a2,
            a3 = inout(reg) a3,
            options(nostack, readonly),
        );
        (*r0, *r1, *r2, *r3) = (a0, a1, a2, a3);
    }

    /// Two accumulators: one LDR (register offset) of the 4 weight bytes.
    #[inline(always)]
    unsafe fn two(base: *const u8, list: *const u32, acc: [&mut i32; 2]) {
        let [r0, r1] = acc;
        let (mut a0, mut a1) = (*r0, *r1);
        asm!(
            "ldrd {x}, {p}, [{list}], #8",
            "cmp {x}, #0",
            "beq 3f",
            "2:",
            "ldr {w}, [{base}, {p}]",
            "sxtb16 {t}, {w}",
            "smlad {a0}, {t}, {x}, {a0}",
            "sxtb16 {t}, {w}, ror #8",
            "smlad {a1}, {t}, {x}, {a1}",
            "ldrd {x}, {p}, [{list}], #8",
            "ldr {w}, [{base}, {p}]",
            "sxtb16 {t}, {w}",
            "smlad {a0}, {t}, {x}, {a0}",
            "sxtb16 {t}, {w}, ror #8",
            "smlad {a1}, {t}, {x}, {a1}",
            "ldrd {x}, {p}, [{list}], #8",
            "cmp {x}, #0",
            "bne 2b",
            "3:",
            list = inout(reg) list => _,
            base = in(reg) base,
            x = out(reg) _,
            p = out(reg) _,
            w = out(reg) _,
            t = out(reg) _,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            options(nostack, readonly),
        );
        (*r0, *r1) = (a0, a1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Word-aligned and unaligned inputs, any length, give the same list.
    #[test]
    fn gather_lists_the_non_blank_pairs_either_way() {
        #[repr(C, align(4))]
        struct Words([i8; 40]);
        let mut rng = crate::Rng::new(8);
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
            let mut k = 0;
            for p in 0..len.div_ceil(2) {
                let at = |i: usize| aligned.get(i).map_or(zp, |&q| i32::from(q)) - zp;
                let (x0, x1) = (at(2 * p), at(2 * p + 1));
                if x0 != 0 || x1 != 0 {
                    want[2 * k] = u32::from(x0 as u16) | ((x1 as u32) << 16);
                    want[2 * k + 1] = (12 * p) as u32;
                    k += 1;
                }
            }
            assert_eq!(n, k + k % 2);
            assert_eq!(a[..2 * n + 2], want[..2 * n + 2], "round {round}");
        }
    }
}
