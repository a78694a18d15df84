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
//! list, and requantized at the end.
use super::{i32_at, requantize, Int8Network, Section};

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
    /// A hidden layer: int8 at zero point `zp`, clamped to `low..=127` (`low` is the zero
    /// point for relu, −128 for linear).
    Hidden {
        out: &'o mut [i8],
        zp: i32,
        low: i32,
    },
    /// The output layer: the i32 values themselves (relu: at least 0).
    Last { out: &'o mut [i32], relu: bool },
}

impl Sink<'_> {
    #[inline(always)]
    fn put(&mut self, j: usize, y: i32) {
        match self {
            Sink::Hidden { out, zp, low } => {
                if let Some(o) = out.get_mut(j) {
                    *o = y.saturating_add(*zp).clamp(*low, 127) as i8;
                }
            }
            Sink::Last { out, relu } => {
                if let Some(o) = out.get_mut(j) {
                    *o = if *relu { y.max(0) } else { y };
                }
            }
        }
    }
}

/// The whole network on one input. Lengths were checked by the caller: `scratch` is
/// exactly `int8_scratch_len` words, `out` the output layer's width.
pub(super) fn run(net: &Int8Network, input: &[i8], scratch: &mut [u32], out: &mut [i32]) {
    let t = &net.topology;
    let layers = t.layers();
    let widest_in = (0..layers.len()).map(|i| t.fan_in(i)).max().unwrap_or(0);
    let (list, acts) = scratch.split_at_mut(list_words(widest_in).min(scratch.len()));
    let half = acts.len() / 2;
    let (a, b) = acts.split_at_mut(half);
    let mut from: &mut [i8] = bytemuck::cast_slice_mut(a);
    let mut to: &mut [i8] = bytemuck::cast_slice_mut(&mut b[..half]);
    let mut zp_in = net.input_params().zero_point;
    for (i, layer) in layers.iter().enumerate() {
        let s = super::section_of(t.input(), layers, i);
        let x: &[i8] = if i == 0 {
            input
        } else {
            from.get(..s.fan_in).unwrap_or(&[])
        };
        let relu = layer.activation == crate::Activation::Relu;
        let params = super::params_at(net.payload, s.params);
        if i + 1 == layers.len() {
            dense(net.payload, &s, x, zp_in, list, Sink::Last { out, relu });
            return;
        }
        let sink = Sink::Hidden {
            out: &mut to[..],
            zp: params.zero_point,
            low: if relu { params.zero_point } else { -128 },
        };
        dense(net.payload, &s, x, zp_in, list, sink);
        zp_in = params.zero_point;
        core::mem::swap(&mut from, &mut to);
    }
}

/// Gathers the pairs of `x` not both at `zp` into `list` as (inputs minus the zero point,
/// packed as two i16 halves; byte offset of the pair's rows), pads the count to even with
/// a (0, 0) entry, ends the list with a (0, 0) sentinel, and returns the count.
fn gather(x: &[i8], zp: i32, row_bytes: usize, list: &mut [u32]) -> usize {
    let mut n = 0;
    let mut push = |a: i8, b: i8, k: usize| {
        let (x0, x1) = (i32::from(a) - zp, i32::from(b) - zp);
        if x0 != 0 || x1 != 0 {
            if let Some(slot) = list.get_mut(2 * n..2 * n + 2) {
                slot[0] = u32::from(x0 as u16) | (u32::from(x1 as u16) << 16);
                slot[1] = (k * row_bytes) as u32;
                n += 1;
            }
        }
    };
    // Four inputs at the zero point (a blank stretch of an image) cost one comparison.
    let blank = u32::from_ne_bytes([zp as u8; 4]);
    let quads = x.chunks_exact(4);
    let rest = quads.remainder();
    let mut k = 0;
    for q in quads {
        if u32::from_ne_bytes([q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8]) != blank {
            push(q[0], q[1], k);
            push(q[2], q[3], k + 1);
        }
        k += 2;
    }
    let at = |i: usize| rest.get(i).copied().unwrap_or(zp as i8);
    match rest.len() {
        0 => {}
        1 | 2 => push(at(0), at(1), k),
        _ => {
            push(at(0), at(1), k);
            push(at(2), at(3), k + 1);
        }
    }
    let end = (n + n % 2).min(list.len() / 2);
    for e in list.get_mut(2 * n..2 * end + 2).unwrap_or(&mut []) {
        *e = 0;
    }
    end
}

/// One dense layer: `x` (quantized at zero point `zp_in`) through section `s` of
/// `payload`, requantized into `sink`.
fn dense(payload: &[u8], s: &Section, x: &[i8], zp_in: i32, list: &mut [u32], mut sink: Sink) {
    let weights = payload.get(s.weights..s.end).unwrap_or(&[]);
    let count = gather(x, zp_in, 2 * s.cols, list);
    let entries = list.get(..2 * count + 2).unwrap_or(&[]);
    let mut j0 = 0;
    while j0 < s.cols {
        let width = (s.cols - j0).min(WIDTH);
        let mut acc = [0i32; WIDTH];
        for (c, a) in acc.iter_mut().enumerate().take(width) {
            if j0 + c < s.units {
                *a = i32_at(payload, s.biases + 4 * (j0 + c));
            }
        }
        accumulate(weights, s, 2 * j0, entries, width, &mut acc);
        for (c, &a) in acc.iter().enumerate().take(width) {
            let j = j0 + c;
            if j < s.units {
                let m = i32_at(payload, s.multipliers + 4 * j);
                let shift = payload.get(s.shifts + j).copied().unwrap_or(0);
                sink.put(j, requantize(a, m, shift));
            }
        }
        j0 += width;
    }
}

/// Adds every listed pair's products into the first `width` (6, 4 or 2) accumulators;
/// `col` is the byte offset of the first output's column within a row pair.
#[inline(always)]
fn accumulate(
    weights: &[u8],
    s: &Section,
    col: usize,
    entries: &[u32],
    width: usize,
    acc: &mut [i32; WIDTH],
) {
    #[cfg(microdense_dsp)]
    if (weights.as_ptr() as usize).is_multiple_of(4)
        && weights.len() == 2 * s.pairs * s.cols
        && col + 2 * width <= 2 * s.cols
        && entries.len() % 4 == 2
    {
        // SAFETY: gather listed only offsets k · 2·cols with k < pairs (and a padding
        // entry at offset 0), so with the checks above every read of 2·width bytes at
        // offset + col lies inside `weights`; the count of entries before the sentinel is
        // even and the sentinel's first word is 0; `entries` is u32-aligned for LDRD.
        unsafe { dsp::accumulate(weights.as_ptr().add(col), entries.as_ptr(), width, acc) };
        return;
    }
    #[cfg(not(microdense_dsp))]
    let _ = s;
    let entries = entries
        .get(..entries.len().saturating_sub(2))
        .unwrap_or(&[]);
    match width {
        6 => portable::<6>(weights, col, entries, acc),
        4 => portable::<4>(weights, col, entries, acc),
        _ => portable::<2>(weights, col, entries, acc),
    }
}

/// The reference loop, on every target: the same sums as SMLAD, wrapping alike.
#[inline(always)]
fn portable<const W: usize>(weights: &[u8], col: usize, entries: &[u32], acc: &mut [i32; WIDTH]) {
    let mut a = [0i32; W];
    a.copy_from_slice(&acc[..W]);
    for e in entries.chunks_exact(2) {
        let (x0, x1) = (
            i32::from(e[0] as u16 as i16),
            i32::from((e[0] >> 16) as u16 as i16),
        );
        let at = e[1] as usize + col;
        let Some(w) = weights.get(at..at + 2 * W) else {
            continue;
        };
        for (pair, q) in a.chunks_exact_mut(2).zip(w.chunks_exact(4)) {
            let w = |b: u8| i32::from(b as i8);
            pair[0] = pair[0].wrapping_add(x0 * w(q[0]) + x1 * w(q[2]));
            pair[1] = pair[1].wrapping_add(x0 * w(q[1]) + x1 * w(q[3]));
        }
    }
    acc[..W].copy_from_slice(&a);
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
        match width {
            6 => six(base, list, acc),
            4 => four(base, list, acc),
            _ => two(base, list, acc),
        }
    }

    #[inline(always)]
    unsafe fn six(base: *const u8, list: *const u32, acc: &mut [i32; 6]) {
        let [mut a0, mut a1, mut a2, mut a3, mut a4, mut a5] = *acc;
        asm!(
            "ldrd {x}, {p}, [{list}], #8",
            "cmp {x}, #0",
            "beq 3f",
            "2:",
            "add {p}, {base}, {p}",
            "ldr {w}, [{p}]",
            "sxtb16 {t}, {w}",
            "smlad {a0}, {t}, {x}, {a0}",
            "sxtb16 {t}, {w}, ror #8",
            "smlad {a1}, {t}, {x}, {a1}",
            "ldr {w}, [{p}, #4]",
            "sxtb16 {t}, {w}",
            "smlad {a2}, {t}, {x}, {a2}",
            "sxtb16 {t}, {w}, ror #8",
            "smlad {a3}, {t}, {x}, {a3}",
            "ldr {w}, [{p}, #8]",
            "sxtb16 {t}, {w}",
            "smlad {a4}, {t}, {x}, {a4}",
            "sxtb16 {t}, {w}, ror #8",
            "smlad {a5}, {t}, {x}, {a5}",
            "ldrd {x}, {p}, [{list}], #8",
            "add {p}, {base}, {p}",
            "ldr {w}, [{p}]",
            "sxtb16 {t}, {w}",
            "smlad {a0}, {t}, {x}, {a0}",
            "sxtb16 {t}, {w}, ror #8",
            "smlad {a1}, {t}, {x}, {a1}",
            "ldr {w}, [{p}, #4]",
            "sxtb16 {t}, {w}",
            "smlad {a2}, {t}, {x}, {a2}",
            "sxtb16 {t}, {w}, ror #8",
            "smlad {a3}, {t}, {x}, {a3}",
            "ldr {w}, [{p}, #8]",
            "sxtb16 {t}, {w}",
            "smlad {a4}, {t}, {x}, {a4}",
            "sxtb16 {t}, {w}, ror #8",
            "smlad {a5}, {t}, {x}, {a5}",
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
            a2 = inout(reg) a2,
            a3 = inout(reg) a3,
            a4 = inout(reg) a4,
            a5 = inout(reg) a5,
            options(nostack, readonly),
        );
        *acc = [a0, a1, a2, a3, a4, a5];
    }

    #[inline(always)]
    unsafe fn four(base: *const u8, list: *const u32, acc: &mut [i32; 6]) {
        let [mut a0, mut a1, mut a2, mut a3, ..] = *acc;
        asm!(
            "ldrd {x}, {p}, [{list}], #8",
            "cmp {x}, #0",
            "beq 3f",
            "2:",
            "add {p}, {base}, {p}",
            "ldr {w}, [{p}]",
            "sxtb16 {t}, {w}",
            "smlad {a0}, {t}, {x}, {a0}",
            "sxtb16 {t}, {w}, ror #8",
            "smlad {a1}, {t}, {x}, {a1}",
            "ldr {w}, [{p}, #4]",
            "sxtb16 {t}, {w}",
            "smlad {a2}, {t}, {x}, {a2}",
            "sxtb16 {t}, {w}, ror #8",
            "smlad {a3}, {t}, {x}, {a3}",
            "ldrd {x}, {p}, [{list}], #8",
            "add {p}, {base}, {p}",
            "ldr {w}, [{p}]",
            "sxtb16 {t}, {w}",
            "smlad {a0}, {t}, {x}, {a0}",
            "sxtb16 {t}, {w}, ror #8",
            "smlad {a1}, {t}, {x}, {a1}",
            "ldr {w}, [{p}, #4]",
            "sxtb16 {t}, {w}",
            "smlad {a2}, {t}, {x}, {a2}",
            "sxtb16 {t}, {w}, ror #8",
            "smlad {a3}, {t}, {x}, {a3}",
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
            a2 = inout(reg) a2,
            a3 = inout(reg) a3,
            options(nostack, readonly),
        );
        acc[..4].copy_from_slice(&[a0, a1, a2, a3]);
    }

    #[inline(always)]
    unsafe fn two(base: *const u8, list: *const u32, acc: &mut [i32; 6]) {
        let [mut a0, mut a1, ..] = *acc;
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
        acc[..2].copy_from_slice(&[a0, a1]);
    }
}
