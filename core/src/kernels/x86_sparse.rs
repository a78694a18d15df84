//! x86-64 AVX2 tiles for the f32 dense kernels on sparse inputs (MNIST's pixels, ~19 %
//! non-zero): the first layer's forward pass and gradients, which visit the non-zero
//! inputs only. The portable loops in `dense` gather a block's non-zero inputs into a
//! list and then run one sum chain per sample (or weight row) at a time, so each add
//! waits on the one before. Here two samples (or two weight rows) walk their own
//! non-zero bits side by side, straight from the bit masks: twice the independent adds
//! in flight and no list in between. Each sum still takes its own terms in its own
//! order (multiply, then add, never fused; zero inputs skipped), so the bits are the
//! portable loops'; `tests` compares them.
use core::arch::x86_64::{
    __m256, __m256i, _mm256_add_ps, _mm256_cmp_ps, _mm256_loadu_ps, _mm256_movemask_ps,
    _mm256_mul_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps, _mm256_sub_ps, _CMP_NEQ_UQ,
};

use super::dense::GradientRows;
use super::sparse::{nonzero_mask, Nonzeros};
use super::x86_tiled::{lanes, load, store};
use crate::Sgd;

/// Outputs per tile: four AVX registers, so two samples keep eight sums in flight.
const COLS: usize = 32;

/// Blocks of 64 inputs whose non-zero masks are made in one pass over each sample.
const PANEL: usize = 16;

/// `bits[s][b]`, bit i: sample s's input `first + 64b + i` is not zero, for samples
/// `s < samples` (`fan_in` inputs each, end to end in `xs`) and blocks up to `PANEL`
/// or the end of the inputs. Each sample's inputs are read once, front to back, so the
/// scan streams instead of revisiting every sample for each block.
#[inline(always)]
unsafe fn panel_masks(
    xs: &[f32],
    fan_in: usize,
    samples: usize,
    first: usize,
    bits: &mut [[u64; PANEL]; 64],
) {
    for (x, bits) in xs.chunks_exact(fan_in).take(samples).zip(bits.iter_mut()) {
        for (b, bits) in bits.iter_mut().enumerate() {
            let at = first + 64 * b;
            if at >= fan_in {
                break;
            }
            *bits = mask(&x[at..fan_in.min(at + 64)]);
        }
    }
}

/// `sparse::nonzero_mask` (NaN counts as non-zero, -0.0 as zero) eight floats per
/// compare; `block` holds at most 64.
#[inline(always)]
pub(super) unsafe fn mask(block: &[f32]) -> u64 {
    let eights = block.chunks_exact(8);
    let rest = eights.remainder();
    let mut bits = nonzero_mask(rest) << (block.len() - rest.len());
    for (k, e) in eights.enumerate() {
        let ne = _mm256_cmp_ps::<_CMP_NEQ_UQ>(_mm256_loadu_ps(e.as_ptr()), _mm256_setzero_ps());
        bits |= u64::from(_mm256_movemask_ps(ne) as u8) << (8 * k);
    }
    bits
}

/// Transposes a 64×64 bit matrix in place: bit k of `a[s]` becomes bit s of `a[k]`
/// (halves, then quarters... of the matrix swap across its diagonal).
#[inline(always)]
fn transpose(a: &mut [u64; 64]) {
    let mut j = 32;
    let mut m: u64 = 0x0000_0000_ffff_ffff;
    while j != 0 {
        for s in 0..64 {
            if s & j == 0 {
                let t = ((a[s] >> j) ^ a[s + j]) & m;
                a[s] ^= t << j;
                a[s + j] ^= t;
            }
        }
        j >>= 1;
        m ^= m << j;
    }
}

/// Calls `$f::<S, V, M>(args..., mask)` for a tile of `$s` (2 or 1) samples or rows and
/// `$width` (1..=32) outputs: `V` registers, the last masked (`M`) unless full.
macro_rules! sparse_tile {
    ($s:expr, $width:expr, $f:ident($($arg:expr),*)) => {{
        let width: usize = $width;
        let mask = lanes(width - 8 * ((width - 1) / 8));
        let full = width % 8 == 0;
        match ($s, width.div_ceil(8), full) {
            (2, 4, true) => $f::<2, 4, false>($($arg),*, mask),
            (2, 4, false) => $f::<2, 4, true>($($arg),*, mask),
            (2, 3, true) => $f::<2, 3, false>($($arg),*, mask),
            (2, 3, false) => $f::<2, 3, true>($($arg),*, mask),
            (2, 2, true) => $f::<2, 2, false>($($arg),*, mask),
            (2, 2, false) => $f::<2, 2, true>($($arg),*, mask),
            (2, _, true) => $f::<2, 1, false>($($arg),*, mask),
            (2, _, false) => $f::<2, 1, true>($($arg),*, mask),
            (_, 4, true) => $f::<1, 4, false>($($arg),*, mask),
            (_, 4, false) => $f::<1, 4, true>($($arg),*, mask),
            (_, 3, true) => $f::<1, 3, false>($($arg),*, mask),
            (_, 3, false) => $f::<1, 3, true>($($arg),*, mask),
            (_, 2, true) => $f::<1, 2, false>($($arg),*, mask),
            (_, 2, false) => $f::<1, 2, true>($($arg),*, mask),
            (_, _, true) => $f::<1, 1, false>($($arg),*, mask),
            (_, _, false) => $f::<1, 1, true>($($arg),*, mask),
        }
    }};
}

/// `acc[v] += x·row[8v..]` for the tile's `V` registers.
#[inline(always)]
unsafe fn add_row<const V: usize, const M: bool>(
    acc: &mut [__m256; V],
    x: f32,
    row: *const f32,
    mask: __m256i,
) {
    let b = _mm256_set1_ps(x);
    for (v, a) in acc.iter_mut().enumerate() {
        let r = load::<M>(row.add(8 * v), v == V - 1, mask);
        *a = _mm256_add_ps(*a, _mm256_mul_ps(b, r));
    }
}

/// `dense_forward` on sparse inputs. Requires AVX2, `weights` of `fan_in` rows of
/// `biases.len()`, and `n` samples of inputs and outputs.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn forward_avx2(
    weights: &[f32],
    biases: &[f32],
    inputs: &[f32],
    outputs: &mut [f32],
    fan_in: usize,
    n: usize,
) {
    let units = biases.len();
    for out in outputs.chunks_exact_mut(units) {
        out.copy_from_slice(biases);
    }
    let mut bits = [[0u64; PANEL]; 64];
    for s0 in (0..n).step_by(64) {
        let samples = (n - s0).min(64);
        let xs = &inputs[s0 * fan_in..];
        for panel in (0..fan_in).step_by(64 * PANEL) {
            panel_masks(xs, fan_in, samples, panel, &mut bits);
            // A block of input rows at a time, kept in cache across the batch, as in
            // `dense`.
            for (b, first) in (panel..fan_in).step_by(64).take(PANEL).enumerate() {
                let mut s = 0;
                while s < samples {
                    let tile = if samples - s >= 2 { 2 } else { 1 };
                    let pair = [bits[s][b], bits[s + tile - 1][b]];
                    let x = xs.as_ptr().add(s * fan_in + first);
                    for column in (0..units).step_by(COLS) {
                        let width = (units - column).min(COLS);
                        let w = weights.as_ptr().add(first * units + column);
                        let out = outputs.as_mut_ptr().add((s0 + s) * units + column);
                        let args = (x, fan_in, w, units, out, pair);
                        sparse_tile!(tile, width, forward_tile(args));
                    }
                    s += tile;
                }
            }
        }
    }
}

/// For samples `s < S` and the tile's outputs: `out[s·units..] += x[s·fan_in + i]·
/// w[i·units..]` for each set bit i of `bits[s]`, in order. The samples take a term each
/// in turn while both have terms left, then each finishes alone.
#[inline(always)]
#[allow(clippy::type_complexity)]
unsafe fn forward_tile<const S: usize, const V: usize, const M: bool>(
    (x, fan_in, w, units, out, bits): (*const f32, usize, *const f32, usize, *mut f32, [u64; 2]),
    mask: __m256i,
) {
    let mut acc = [[_mm256_setzero_ps(); V]; S];
    for (s, acc) in acc.iter_mut().enumerate() {
        for (v, a) in acc.iter_mut().enumerate() {
            *a = load::<M>(out.add(s * units + 8 * v), v == V - 1, mask);
        }
    }
    let mut bits: [u64; S] = core::array::from_fn(|s| bits[s]);
    while bits.iter().all(|&b| b != 0) {
        for (s, (acc, b)) in acc.iter_mut().zip(bits.iter_mut()).enumerate() {
            let i = b.trailing_zeros() as usize;
            *b &= *b - 1;
            add_row::<V, M>(acc, *x.add(s * fan_in + i), w.add(i * units), mask);
        }
    }
    for (s, (acc, b)) in acc.iter_mut().zip(bits.iter_mut()).enumerate() {
        while *b != 0 {
            let i = b.trailing_zeros() as usize;
            *b &= *b - 1;
            add_row::<V, M>(acc, *x.add(s * fan_in + i), w.add(i * units), mask);
        }
    }
    for (s, acc) in acc.iter().enumerate() {
        for (v, &a) in acc.iter().enumerate() {
            store::<M>(out.add(s * units + 8 * v), v == V - 1, mask, a);
        }
    }
}

/// `dense_gradients` on sparse inputs (same arguments as `x86_tiled::gradients_avx2`):
/// two weight rows at a time, each summing over its own samples with a non-zero input,
/// in sample order. Requires AVX2 and the shapes `x86_tiled::gradients` checks.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gradients_avx2(
    prev: &[f32],
    deltas: &[f32],
    into: &mut [f32],
    velocity: &mut [f32],
    units: usize,
    update: bool,
    sgd: Sgd,
    n: usize,
    GradientRows {
        first: row0,
        fan_in,
        biases: bias,
    }: GradientRows,
) {
    let ones = [1.0f32; Nonzeros::BLOCK];
    let all: [u8; Nonzeros::BLOCK] = core::array::from_fn(|k| k as u8);
    let held = (into.len() - if bias { units } else { 0 }) / units;
    let (weights, biases) = into.split_at_mut(held * units);
    let (velocity_w, velocity_b) = velocity.split_at_mut(velocity.len().min(held * units));
    for first in (0..n).step_by(Nonzeros::BLOCK) {
        let count = (n - first).min(Nonzeros::BLOCK);
        let chunk = &deltas[first * units..][..count * units];
        let (add, xs) = (first > 0, &prev[first * fan_in..][..count * fan_in]);
        let mut bits = [[0u64; PANEL]; 64];
        for panel in (0..held).step_by(64 * PANEL) {
            panel_masks(xs, fan_in, count, row0 + panel, &mut bits);
            for (b, block) in (panel..held).step_by(64).take(PANEL).enumerate() {
                // Bit s of samples[k]: sample s's input row0 + block + k is not zero.
                let mut samples: [u64; 64] = core::array::from_fn(|s| bits[s][b]);
                samples[count..].fill(0);
                transpose(&mut samples);
                gradient_block(
                    &samples,
                    xs,
                    chunk,
                    weights,
                    velocity_w,
                    (units, update, sgd, add),
                    (row0, fan_in, block, (held - block).min(64)),
                );
            }
        }
        if bias {
            let (values, found) = (&ones[..count], &all[..count]);
            let v = velocity_b.get_mut(..units).unwrap_or(&mut []);
            super::dense::row_gradient(biases, v, chunk, units, values, found, add, update, sgd);
        }
    }
}

/// Rows `block..block + rows` of [`gradients_avx2`], whose samples with a non-zero input
/// are the bits of `samples[k]`, two rows at a time.
#[inline(always)]
#[allow(clippy::type_complexity)]
unsafe fn gradient_block(
    samples: &[u64; 64],
    xs: &[f32],
    chunk: &[f32],
    weights: &mut [f32],
    velocity_w: &mut [f32],
    (units, update, sgd, add): (usize, bool, Sgd, bool),
    (row0, fan_in, block, rows_here): (usize, usize, usize, usize),
) {
    let plain = !sgd.needs_state() && sgd.weight_decay == 0.0;
    let mut k = 0;
    while k < rows_here {
        let rows = if rows_here - k >= 2 { 2 } else { 1 };
        let bits = [samples[k], samples[k + rows - 1]];
        let r = block + k;
        for column in (0..units).step_by(COLS) {
            let width = (units - column).min(COLS);
            let x = xs.as_ptr().add(row0 + r);
            let d = chunk.as_ptr().add(column);
            if update && !sgd.needs_state() {
                // Applied straight from the registers.
                let w = weights.as_mut_ptr().add(r * units + column);
                let (lr, wd) = (sgd.lr, sgd.weight_decay);
                let sink = Sink::Sgd { w, lr, wd, plain };
                sparse_tile!(
                    rows,
                    width,
                    gradient_tile((x, fan_in, d, units, sink, bits))
                );
                continue;
            }
            let mut sums = [[0.0f32; COLS]; 2];
            let (at, stride) = (sums.as_mut_ptr().cast::<f32>(), COLS);
            let sink = Sink::Sums { at, stride };
            sparse_tile!(
                rows,
                width,
                gradient_tile((x, fan_in, d, units, sink, bits))
            );
            for (j, sum) in sums.iter().enumerate().take(rows) {
                // Rows without a non-zero input are left alone under plain SGD, as in
                // `dense`.
                if bits[j] == 0 && update && plain {
                    continue;
                }
                let at = (r + j) * units + column;
                let out = &mut weights[at..at + width];
                let v = velocity_w.get_mut(at..at + width).unwrap_or(&mut []);
                super::dense::finish(out, v, &sum[..width], add, update, sgd);
            }
        }
        k += rows;
    }
}

/// Where a gradient tile puts its sums.
#[derive(Clone, Copy)]
pub(super) enum Sink {
    /// Into a buffer of `stride` floats per row.
    Sums { at: *mut f32, stride: usize },
    /// Applied to the weight rows at `w` (`units` apart) by plain SGD with weight decay
    /// `wd`, as `Sgd::update` does it: `w -= lr·(g + wd·w)`. With `plain` (no decay),
    /// rows without a non-zero input are left alone, as in `dense`.
    Sgd {
        w: *mut f32,
        lr: f32,
        wd: f32,
        plain: bool,
    },
}

/// For rows `r < S` and the tile's outputs: `g_r = Σ_s x[s·fan_in + r]·d[s·units..]`
/// over the set bits s of `bits[r]`, in order, from +0.0, into `sink`. The rows take a
/// term each in turn while both have terms left, then each finishes alone.
#[inline(always)]
#[allow(clippy::type_complexity)]
unsafe fn gradient_tile<const S: usize, const V: usize, const M: bool>(
    (x, fan_in, d, units, sink, bits): (*const f32, usize, *const f32, usize, Sink, [u64; 2]),
    mask: __m256i,
) {
    let mut acc = [[_mm256_setzero_ps(); V]; S];
    let any: [bool; S] = core::array::from_fn(|r| bits[r] != 0);
    let mut bits: [u64; S] = core::array::from_fn(|r| bits[r]);
    while bits.iter().all(|&b| b != 0) {
        for (r, (acc, b)) in acc.iter_mut().zip(bits.iter_mut()).enumerate() {
            let s = b.trailing_zeros() as usize;
            *b &= *b - 1;
            add_row::<V, M>(acc, *x.add(s * fan_in + r), d.add(s * units), mask);
        }
    }
    for (r, (acc, b)) in acc.iter_mut().zip(bits.iter_mut()).enumerate() {
        while *b != 0 {
            let s = b.trailing_zeros() as usize;
            *b &= *b - 1;
            add_row::<V, M>(acc, *x.add(s * fan_in + r), d.add(s * units), mask);
        }
    }
    drain::<S, V, M>(&acc, &any, sink, units, mask);
}

/// Puts a gradient tile's sums (`any[r]`: whether row r had a non-zero input) into
/// `sink`.
#[inline(always)]
pub(super) unsafe fn drain<const S: usize, const V: usize, const M: bool>(
    acc: &[[__m256; V]; S],
    any: &[bool; S],
    sink: Sink,
    units: usize,
    mask: __m256i,
) {
    for (r, acc) in acc.iter().enumerate() {
        match sink {
            Sink::Sums { at, stride } => {
                for (v, &a) in acc.iter().enumerate() {
                    // The sums buffer has whole registers in each row.
                    _mm256_storeu_ps(at.add(r * stride + 8 * v), a);
                }
            }
            Sink::Sgd { plain, .. } if plain && !any[r] => {}
            Sink::Sgd { w, lr, wd, .. } => {
                let (lr, wd) = (_mm256_set1_ps(lr), _mm256_set1_ps(wd));
                let row = w.add(r * units);
                for (v, &g) in acc.iter().enumerate() {
                    let wv = load::<M>(row.add(8 * v), v == V - 1, mask);
                    let step = _mm256_mul_ps(lr, _mm256_add_ps(g, _mm256_mul_ps(wd, wv)));
                    store::<M>(row.add(8 * v), v == V - 1, mask, _mm256_sub_ps(wv, step));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::super::dense::{dense_forward_loops, dense_gradient_rows, dense_gradients_loops};
    use super::super::x86_testing::{bits, sgd_cases, skipped_without_avx2};
    use super::*;
    use crate::rng::Rng;

    /// Mostly zeros of both signs (the skipped terms, about MNIST's share), the rest of
    /// both signs and wide magnitudes, so that rounding depends on the order.
    fn sparse(rng: &mut Rng, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| match rng.below(10) {
                0..=5 => 0.0,
                6 => -0.0,
                7 => (rng.next_f64() as f32 - 0.5) * 1e4,
                _ => rng.next_f64() as f32 - 0.5,
            })
            .collect()
    }

    #[test]
    fn masks_and_transpose_match_plain_loops() {
        if skipped_without_avx2("masks_and_transpose_match_plain_loops") {
            return;
        }
        let mut rng = Rng::new(5);
        let odd = [0.0, -0.0, f32::NAN, f32::INFINITY, -1e-40, 1.0];
        let xs: Vec<f32> = (0..64 * 70).map(|_| odd[rng.below(6)]).collect();
        for len in 0..=64 {
            // SAFETY: avx2() checked AVX2.
            let got = unsafe { mask(&xs[..len]) };
            assert_eq!(got, nonzero_mask(&xs[..len]), "length {len}");
        }
        let mut a: [u64; 64] = core::array::from_fn(|_| rng.next_u64());
        let before = a;
        transpose(&mut a);
        for (s, &row) in before.iter().enumerate() {
            for (k, &col) in a.iter().enumerate() {
                assert_eq!(row >> k & 1, col >> s & 1, "bit ({s}, {k})");
            }
        }
        // Masks of 70 inputs per sample, from input 3: a full block, then the 3 left.
        let mut panel = [[0u64; PANEL]; 64];
        // SAFETY: avx2() checked AVX2.
        unsafe { panel_masks(&xs, 70, 64, 3, &mut panel) };
        for (s, m) in panel.iter().enumerate() {
            let x = &xs[s * 70..][..70];
            assert_eq!(m[..2], [nonzero_mask(&x[3..67]), nonzero_mask(&x[67..])]);
        }
    }

    /// The sparse tiles against the portable loops, bit for bit: batches odd and over one
    /// block of samples, inputs over one panel and not a multiple of the block, outputs
    /// not a multiple of 8 or of the tile.
    #[test]
    fn sparse_tiles_give_the_bits_of_the_portable_loops() {
        if skipped_without_avx2("sparse_tiles_give_the_bits_of_the_portable_loops") {
            return;
        }
        let mut rng = Rng::new(23);
        for (n, fan_in, units) in [
            (1, 1, 1),
            (3, 7, 5),
            (2, 64, 8),
            (5, 65, 10),
            (64, 130, 32),
            (65, 9, 33),
            (7, 1100, 13),
            (16, 784, 32),
            (3, 200, 70),
        ] {
            let what = std::format!("batch {n}, {fan_in} inputs, {units} outputs");
            let w = sparse(&mut rng, fan_in * units)
                .iter()
                .map(|v| v + 0.25)
                .collect::<Vec<_>>();
            let b = sparse(&mut rng, units);
            let x = sparse(&mut rng, n * fan_in);
            let mut d = sparse(&mut rng, n * units)
                .iter()
                .map(|v| v - 0.5)
                .collect::<Vec<_>>();
            // A skipped zero input then shows: 0·∞ would make a NaN.
            d[0] = f32::INFINITY;

            let (mut tiled, mut plain) = (std::vec![0.0; n * units], std::vec![0.0; n * units]);
            // SAFETY: avx2() checked AVX2; the shapes are as `forward_avx2` requires.
            unsafe { forward_avx2(&w, &b, &x, &mut tiled, fan_in, n) };
            dense_forward_loops(&w, &b, &x, &mut plain);
            assert_eq!(bits(&tiled), bits(&plain), "forward, {what}");

            for (update, sgd) in sgd_cases() {
                if update && n > Nonzeros::BLOCK {
                    continue;
                }
                let len = fan_in * units + units;
                let start: Vec<f32> = sparse(&mut rng, len);
                let v0 = match sgd.needs_state() {
                    true => sparse(&mut rng, len),
                    false => Vec::new(),
                };
                let (mut plain, mut v_plain) = (start.clone(), v0.clone());
                let args = (0, fan_in, true);
                let (p, v) = (&mut plain, &mut v_plain);
                dense_gradients_loops(&x, &d, p, v, units, update, sgd, args.0, args.1, args.2);
                // Whole, then in two parts (as two threads run them): rows ..half, then
                // the rest with the biases.
                let half = fan_in / 2;
                for parts in [false, true] {
                    let (mut tiled, mut v_tiled) = (start.clone(), v0.clone());
                    // Whole: all rows and the biases in the first part.
                    let (cut, at) = if parts {
                        (half, half * units)
                    } else {
                        (fan_in, len)
                    };
                    let (p1, p2) = tiled.split_at_mut(at);
                    let vcut = if v_tiled.is_empty() { 0 } else { at };
                    let (q1, q2) = v_tiled.split_at_mut(vcut);
                    for (first, p, v, biases) in [(0, p1, q1, !parts), (cut, p2, q2, parts)] {
                        if p.is_empty() {
                            continue;
                        }
                        let rows = GradientRows {
                            first,
                            fan_in,
                            biases,
                        };
                        // SAFETY: avx2() checked AVX2; the shapes are the layer's.
                        unsafe { gradients_avx2(&x, &d, p, v, units, update, sgd, n, rows) };
                    }
                    let how = std::format!("{sgd:?}, parts {parts}, {what}");
                    assert_eq!(bits(&tiled), bits(&plain), "gradients {how}");
                    assert_eq!(bits(&v_tiled), bits(&v_plain), "velocity {how}");
                }
                // And through the kernel the trainer calls, which picks these tiles.
                let (mut via, mut v_via) = (start.clone(), v0.clone());
                let rows = GradientRows {
                    first: 0,
                    fan_in,
                    biases: true,
                };
                dense_gradient_rows(&x, &d, &mut via, &mut v_via, units, update, sgd, rows);
                assert_eq!(
                    bits(&via),
                    bits(&plain),
                    "dense_gradient_rows {sgd:?}, {what}"
                );
            }
        }
    }
}
