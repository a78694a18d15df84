//! x86-64 AVX2 register tiles for the f32 dense kernels: several samples (or weight rows)
//! by up to 16 outputs are held in registers, so each weight row (or delta row) loaded is
//! reused across the whole tile instead of once per sample. Tiling only changes which
//! sums run side by side: every sum still takes the same terms in the same order as the
//! portable loops in `dense` (multiply, then add, never fused; a zero input skipped), so
//! the bits are theirs, and `dense`'s loops stay the definition. `tests` compares them.
//!
//! Forward and gradients use these tiles when the layer's inputs are mostly non-zero
//! (hidden layers); sparse inputs (MNIST's pixels) keep the gather in `dense`, which
//! visits the non-zero inputs only. Each entry point returns `false`, having done
//! nothing, when the CPU lacks AVX2 or the shapes are not its own, and the caller then
//! runs the portable loops.
use core::arch::x86_64::{
    __m256, __m256i, _mm256_add_ps, _mm256_and_ps, _mm256_andnot_ps, _mm256_castps256_ps128,
    _mm256_cmp_ps, _mm256_cmpgt_epi32, _mm256_extractf128_ps, _mm256_loadu_ps, _mm256_maskload_ps,
    _mm256_maskstore_ps, _mm256_mul_ps, _mm256_set1_epi32, _mm256_set1_ps, _mm256_setr_epi32,
    _mm256_setr_ps, _mm256_setzero_ps, _mm256_storeu_ps, _mm256_sub_ps, _mm_add_ps, _mm_storeu_ps,
    _CMP_EQ_OQ, _CMP_GT_OQ,
};

use super::dense::GradientRows;
use super::sparse::{nonzero_mask, Nonzeros};
use super::x86_sparse::{self, Sink};
use crate::{Activation, Sgd};

/// Outputs per tile: two AVX registers.
const COLS: usize = 16;

/// Whether a sample's inputs are mostly (three quarters or more) non-zero, so that a
/// tile, which multiplies every input, beats gathering the non-zero ones.
fn mostly_nonzero(x: &[f32]) -> bool {
    let nonzero: u32 = x.chunks(64).map(|c| nonzero_mask(c).count_ones()).sum();
    nonzero as usize * 4 >= x.len() * 3
}

/// The mask of the first `n` of eight lanes.
#[inline(always)]
pub(super) unsafe fn lanes(n: usize) -> __m256i {
    let index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), index)
}

/// Eight floats from `p`; for the last register of a masked (`M`) tile, only the lanes
/// of `mask` (the others read as zero and are never stored).
#[inline(always)]
pub(super) unsafe fn load<const M: bool>(p: *const f32, last: bool, mask: __m256i) -> __m256 {
    if M && last {
        _mm256_maskload_ps(p, mask)
    } else {
        _mm256_loadu_ps(p)
    }
}

#[inline(always)]
pub(super) unsafe fn store<const M: bool>(p: *mut f32, last: bool, mask: __m256i, v: __m256) {
    if M && last {
        _mm256_maskstore_ps(p, mask, v)
    } else {
        _mm256_storeu_ps(p, v)
    }
}

/// Calls `$f::<S, V, M, C>(args..., mask)` for a tile of `$s` (4 or 1) samples or rows
/// and `$width` (1..=16) outputs: one or two registers (`V`), the last masked (`M`)
/// unless full; `C` (`$check`): whether some input of the tile may be zero.
macro_rules! tile {
    ($s:expr, $width:expr, $check:expr, $f:ident($($arg:expr),*)) => {{
        if $check {
            tile!(@width $s, $width, true, $f($($arg),*))
        } else {
            tile!(@width $s, $width, false, $f($($arg),*))
        }
    }};
    (@width $s:expr, $width:expr, $c:literal, $f:ident($($arg:expr),*)) => {{
        let width: usize = $width;
        let mask = lanes(width - if width > 8 { 8 } else { 0 });
        match ($s, width) {
            (4, 16) => $f::<4, 2, false, $c>($($arg),*, mask),
            (4, 9..) => $f::<4, 2, true, $c>($($arg),*, mask),
            (4, 8) => $f::<4, 1, false, $c>($($arg),*, mask),
            (4, _) => $f::<4, 1, true, $c>($($arg),*, mask),
            (_, 16) => $f::<1, 2, false, $c>($($arg),*, mask),
            (_, 9..) => $f::<1, 2, true, $c>($($arg),*, mask),
            (_, 8) => $f::<1, 1, false, $c>($($arg),*, mask),
            (_, _) => $f::<1, 1, true, $c>($($arg),*, mask),
        }
    }};
}

/// `dense_forward` (same arguments, same bits) by tiles of four samples by 16 outputs,
/// when the inputs are mostly non-zero. Returns whether it did the work.
pub(crate) fn forward(
    weights: &[f32],
    biases: &[f32],
    inputs: &[f32],
    outputs: &mut [f32],
) -> bool {
    let units = biases.len();
    if units == 0 || !super::avx2() {
        return false;
    }
    let fan_in = weights.len() / units;
    let n = outputs.len() / units;
    let shapes = fan_in > 0
        && weights.len() == fan_in * units
        && outputs.len() == n * units
        && inputs.len() == n * fan_in;
    if !shapes || n == 0 {
        return false;
    }
    // SAFETY: avx2() checked that the CPU and the OS support AVX2; the lengths are
    // checked above, as both `forward_avx2`s require.
    match mostly_nonzero(&inputs[..fan_in]) {
        true => unsafe { forward_avx2(weights, biases, inputs, outputs, fan_in, n) },
        false => unsafe { x86_sparse::forward_avx2(weights, biases, inputs, outputs, fan_in, n) },
    }
    true
}

/// Requires AVX2, `weights` of `fan_in` rows of `biases.len()`, and `n` samples of
/// inputs and outputs.
#[target_feature(enable = "avx2")]
unsafe fn forward_avx2(
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
    // A block of input rows at a time, kept in cache across the batch's tiles.
    for first in (0..fan_in).step_by(Nonzeros::BLOCK) {
        let count = (fan_in - first).min(Nonzeros::BLOCK);
        let full = u64::MAX >> (64 - count);
        let mut s = 0;
        while s < n {
            let tile = if n - s >= 4 { 4 } else { 1 };
            // Bit i of nonzero[k]: sample s + k's input first + i is not zero.
            let mut nonzero = [0u64; 4];
            for (k, m) in nonzero.iter_mut().enumerate() {
                let at = (s + k.min(tile - 1)) * fan_in + first;
                *m = x86_sparse::mask(&inputs[at..at + count]);
            }
            let check = nonzero.iter().any(|&m| m != full);
            let x = inputs.as_ptr().add(s * fan_in + first);
            for column in (0..units).step_by(COLS) {
                let width = (units - column).min(COLS);
                let w = weights.as_ptr().add(first * units + column);
                let out = outputs.as_mut_ptr().add(s * units + column);
                let args = (x, fan_in, w, units, count, out, &nonzero);
                tile!(tile, width, check, forward_tile(args));
            }
            s += tile;
        }
    }
}

/// For samples `s < S` and the tile's outputs: `out[s·units..] += Σ_i x[s·fan_in + i]·
/// w[i·units..]` over `count` inputs in order, zero inputs skipped. Every pointer has
/// the rows and columns the tile reads or writes (masked lanes aside). Without `C`
/// every input is non-zero; with it, bit i of `nonzero[s]` tells whether input i is.
#[inline(always)]
#[allow(clippy::type_complexity)]
unsafe fn forward_tile<const S: usize, const V: usize, const M: bool, const C: bool>(
    (x, fan_in, w, units, count, out, nonzero): (
        *const f32,
        usize,
        *const f32,
        usize,
        usize,
        *mut f32,
        &[u64; 4],
    ),
    mask: __m256i,
) {
    let mut acc = [[_mm256_setzero_ps(); V]; S];
    for (s, acc) in acc.iter_mut().enumerate() {
        for (v, a) in acc.iter_mut().enumerate() {
            *a = load::<M>(out.add(s * units + 8 * v), v == V - 1, mask);
        }
    }
    for i in 0..count {
        let row = w.add(i * units);
        let mut wv = [_mm256_setzero_ps(); V];
        for (v, r) in wv.iter_mut().enumerate() {
            *r = load::<M>(row.add(8 * v), v == V - 1, mask);
        }
        let xs: [f32; S] = core::array::from_fn(|s| *x.add(s * fan_in + i));
        for (s, acc) in acc.iter_mut().enumerate() {
            // A zero input is skipped, as the gather skips it (-0.0 + 0.0 is +0.0).
            if !C || nonzero[s] >> i & 1 != 0 {
                let b = _mm256_set1_ps(xs[s]);
                for (a, &r) in acc.iter_mut().zip(&wv) {
                    *a = _mm256_add_ps(*a, _mm256_mul_ps(b, r));
                }
            }
        }
    }
    for (s, acc) in acc.iter().enumerate() {
        for (v, &a) in acc.iter().enumerate() {
            store::<M>(out.add(s * units + 8 * v), v == V - 1, mask, a);
        }
    }
}

/// `dense_gradients` (same arguments, same bits) by tiles of four weight rows by 16
/// outputs, summed over the samples in order, when the inputs are mostly non-zero.
/// Returns whether it did the work. Like `dense_gradient_rows`, `into` may hold only
/// some of the layer's rows.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gradients(
    prev: &[f32],
    deltas: &[f32],
    into: &mut [f32],
    velocity: &mut [f32],
    units: usize,
    update: bool,
    sgd: Sgd,
    rows: GradientRows,
) -> bool {
    if units == 0 || !super::avx2() {
        return false;
    }
    let n = deltas.len() / units;
    let fan_in = rows.fan_in;
    let bias = if rows.biases { units } else { 0 };
    let held = into.len().saturating_sub(bias) / units;
    let shapes = n > 0
        && fan_in > 0
        && deltas.len() == n * units
        && prev.len() == n * fan_in
        && into.len() == held * units + bias
        && rows.first + held <= fan_in
        && (velocity.is_empty() || velocity.len() == into.len())
        && (!update || n <= Nonzeros::BLOCK);
    if !shapes {
        return false;
    }
    let (x, d, v) = (prev, deltas, velocity);
    // SAFETY: avx2() checked AVX2; the shapes are checked above.
    match mostly_nonzero(&prev[..fan_in]) {
        true => unsafe { gradients_avx2(x, d, into, v, units, update, sgd, n, rows) },
        false => unsafe { x86_sparse::gradients_avx2(x, d, into, v, units, update, sgd, n, rows) },
    }
    true
}

/// Requires AVX2, `n` samples of `fan_in` inputs and `units` deltas, and `into` the
/// layer's `fan_in` weight rows then its biases.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn gradients_avx2(
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
    let plain = !sgd.needs_state() && sgd.weight_decay == 0.0;
    let ones = [1.0f32; Nonzeros::BLOCK];
    let all: [u8; Nonzeros::BLOCK] = core::array::from_fn(|k| k as u8);
    let held = (into.len() - if bias { units } else { 0 }) / units;
    let (weights, biases) = into.split_at_mut(held * units);
    let (velocity_w, velocity_b) = velocity.split_at_mut(velocity.len().min(held * units));
    for first in (0..n).step_by(Nonzeros::BLOCK) {
        let count = (n - first).min(Nonzeros::BLOCK);
        let chunk = &deltas[first * units..][..count * units];
        let (add, xs) = (first > 0, &prev[first * fan_in..][..count * fan_in]);
        let mut r = 0;
        // Bit k: some sample's input row0 + zeros_at + k is zero (a tile of 4 rows
        // starts at a multiple of 4, so it never straddles two of these blocks).
        let (mut zeros, mut zeros_at) = (0u64, usize::MAX);
        while r < held {
            let rows = if held - r >= 4 { 4 } else { 1 };
            if r / 64 * 64 != zeros_at {
                zeros_at = r / 64 * 64;
                let width = (held - zeros_at).min(64);
                let all = u64::MAX >> (64 - width);
                zeros = xs.chunks_exact(fan_in).fold(0, |z, x| {
                    z | !x86_sparse::mask(&x[row0 + zeros_at..][..width]) & all
                });
            }
            let check = zeros >> (r - zeros_at) & ((1 << rows) - 1) != 0;
            for column in (0..units).step_by(COLS) {
                let width = (units - column).min(COLS);
                let (x, d) = (xs.as_ptr().add(row0 + r), chunk.as_ptr().add(column));
                let mut seen = [false; 4];
                if update && !sgd.needs_state() {
                    // Applied straight from the registers.
                    let w = weights.as_mut_ptr().add(r * units + column);
                    let (lr, wd) = (sgd.lr, sgd.weight_decay);
                    let sink = Sink::Sgd { w, lr, wd, plain };
                    let args = (x, fan_in, d, units, count, sink, &mut seen);
                    tile!(rows, width, check, gradient_tile(args));
                    continue;
                }
                let mut sums = [[0.0f32; COLS]; 4];
                let (at, stride) = (sums.as_mut_ptr().cast::<f32>(), COLS);
                let sink = Sink::Sums { at, stride };
                let args = (x, fan_in, d, units, count, sink, &mut seen);
                tile!(rows, width, check, gradient_tile(args));
                for (k, sum) in sums.iter().enumerate().take(rows) {
                    // Rows without a non-zero input are left alone under plain SGD, as
                    // in `dense`.
                    if !seen[k] && update && plain {
                        continue;
                    }
                    let at = (r + k) * units + column;
                    let out = &mut weights[at..at + width];
                    let v = velocity_w.get_mut(at..at + width).unwrap_or(&mut []);
                    super::dense::finish(out, v, &sum[..width], add, update, sgd);
                }
            }
            r += rows;
        }
        if bias {
            let (values, found) = (&ones[..count], &all[..count]);
            let v = velocity_b.get_mut(..units).unwrap_or(&mut []);
            super::dense::row_gradient(biases, v, chunk, units, values, found, add, update, sgd);
        }
    }
}

/// For rows `r < S` and the tile's outputs: `g_r = Σ_s x[s·fan_in + r]·d[s·units..]`
/// over `count` samples in order, zero inputs skipped, into `sink`; `seen[r]` tells
/// whether row r had a non-zero input.
/// Without `C` every input is non-zero.
#[inline(always)]
#[allow(clippy::type_complexity)]
unsafe fn gradient_tile<const S: usize, const V: usize, const M: bool, const C: bool>(
    (x, fan_in, d, units, count, sink, seen): (
        *const f32,
        usize,
        *const f32,
        usize,
        usize,
        Sink,
        &mut [bool; 4],
    ),
    mask: __m256i,
) {
    let mut acc = [[_mm256_setzero_ps(); V]; S];
    let mut any = [false; S];
    for s in 0..count {
        let row = d.add(s * units);
        let mut dv = [_mm256_setzero_ps(); V];
        for (v, r) in dv.iter_mut().enumerate() {
            *r = load::<M>(row.add(8 * v), v == V - 1, mask);
        }
        let xs: [f32; S] = core::array::from_fn(|r| *x.add(s * fan_in + r));
        for (r, acc) in acc.iter_mut().enumerate() {
            if !C || xs[r] != 0.0 {
                any[r] = true;
                let b = _mm256_set1_ps(xs[r]);
                for (a, &dl) in acc.iter_mut().zip(&dv) {
                    *a = _mm256_add_ps(*a, _mm256_mul_ps(b, dl));
                }
            }
        }
    }
    x86_sparse::drain::<S, V, M>(&acc, &any, sink, units, mask);
    seen[..S].copy_from_slice(&any);
}

/// `dense_backprop` (same arguments, same bits): the dot products `W[i]·d_s` of four
/// weight rows for two samples side by side, each in `sparse::dot`'s order (eight lanes,
/// the rest one by one, then the lanes' fixed tree). Returns whether it did the work.
pub(crate) fn backprop(
    weights: &[f32],
    prev: &[f32],
    deltas: &[f32],
    deltas_prev: &mut [f32],
    units: usize,
    below: Activation,
) -> bool {
    if units == 0 || !super::avx2() {
        return false;
    }
    let fan_in = weights.len() / units;
    let n = deltas.len() / units;
    let shapes = weights.len() == fan_in * units
        && deltas.len() == n * units
        && prev.len() == n * fan_in
        && deltas_prev.len() == n * fan_in;
    if !shapes {
        return false;
    }
    // SAFETY: avx2() checked AVX2; the shapes are checked above.
    unsafe { backprop_avx2(weights, prev, deltas, deltas_prev, units, below, fan_in, n) };
    true
}

/// Requires AVX2, `weights` of `fan_in` rows of `units`, `n` samples of `units` deltas
/// and of `fan_in` values in `prev` and `deltas_prev`.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn backprop_avx2(
    weights: &[f32],
    prev: &[f32],
    deltas: &[f32],
    deltas_prev: &mut [f32],
    units: usize,
    below: Activation,
    fan_in: usize,
    n: usize,
) {
    if units <= NARROW {
        let rows = fan_in - fan_in % 8;
        backprop_narrow(
            weights,
            prev,
            deltas,
            deltas_prev,
            units,
            below,
            rows,
            fan_in,
            n,
        );
        if rows == fan_in {
            return;
        }
    }
    let mut s = 0;
    while s < n {
        let samples = if n - s >= 2 { 2 } else { 1 };
        // Below a narrow layer the first rows (multiples of 8) are done already.
        let mut i = if units <= NARROW {
            fan_in - fan_in % 8
        } else {
            0
        };
        while i < fan_in {
            let rows = if fan_in - i >= 4 { 4 } else { 1 };
            let w = weights.as_ptr().add(i * units);
            let d = deltas.as_ptr().add(s * units);
            let mut dots = [[0.0f32; 4]; 2];
            match (samples, rows) {
                (2, 4) => dot_tile::<2, 4>(w, d, units, &mut dots),
                (2, _) => dot_tile::<2, 1>(w, d, units, &mut dots),
                (_, 4) => dot_tile::<1, 4>(w, d, units, &mut dots),
                _ => dot_tile::<1, 1>(w, d, units, &mut dots),
            }
            for (k, dots) in dots.iter().enumerate().take(samples) {
                let at = (s + k) * fan_in + i;
                let (ys, gs) = (&prev[at..at + rows], &mut deltas_prev[at..at + rows]);
                delta_below(gs, &dots[..rows], ys, below);
            }
            i += rows;
        }
        s += samples;
    }
}

/// `g = dot·f'(y)`, or +0.0 below a ReLU where its output is zero (as `dense` writes).
#[inline(always)]
fn delta_below(gs: &mut [f32], dots: &[f32], ys: &[f32], below: Activation) {
    for ((g, &dot), &y) in gs.iter_mut().zip(dots).zip(ys) {
        *g = if below == Activation::Relu && y == 0.0 {
            0.0
        } else {
            dot * below.derivative_from_output(y)
        };
    }
}

/// [`delta_below`] for eight lanes: the same operations on each lane (multiply and
/// subtract in the scalar's order), so the same bits.
#[inline(always)]
unsafe fn delta_below8(gs: &mut [f32], dots: __m256, ys: &[f32], below: Activation) {
    let (y, one, zero) = (
        _mm256_loadu_ps(ys[..8].as_ptr()),
        _mm256_set1_ps(1.0),
        _mm256_setzero_ps(),
    );
    let g = match below {
        Activation::Linear | Activation::Softmax => _mm256_mul_ps(dots, one),
        // 1.0 where y > 0, else 0.0; then +0.0 where y == 0.
        Activation::Relu => {
            let d = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(y, zero), one);
            let g = _mm256_mul_ps(dots, d);
            _mm256_andnot_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(y, zero), g)
        }
        Activation::Sigmoid => _mm256_mul_ps(dots, _mm256_mul_ps(y, _mm256_sub_ps(one, y))),
        Activation::Tanh => _mm256_mul_ps(dots, _mm256_sub_ps(one, _mm256_mul_ps(y, y))),
    };
    _mm256_storeu_ps(gs[..8].as_mut_ptr(), g);
}

/// Layers up to this many outputs run backprop by [`backprop_narrow`].
const NARROW: usize = 64;

/// Backprop's first `rows` (a multiple of 8) rows when `units <= NARROW` (such as 10
/// classes, where a dot product is mostly its tree of sums): eight weight rows at a
/// time, transposed once into registers' lanes and reused for every sample, so that
/// each lane carries one row's dot product through `sparse::dot`'s very steps (its
/// eight accumulators, its tail and its tree, each a vector here).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn backprop_narrow(
    weights: &[f32],
    prev: &[f32],
    deltas: &[f32],
    deltas_prev: &mut [f32],
    units: usize,
    below: Activation,
    rows: usize,
    fan_in: usize,
    n: usize,
) {
    let chunks = units / 8;
    let mut wt = [_mm256_setzero_ps(); NARROW];
    for i in (0..rows).step_by(8) {
        let w = weights.as_ptr().add(i * units);
        for (k, t) in wt.iter_mut().enumerate().take(units) {
            let at = |r: usize| *w.add(r * units + k);
            *t = _mm256_setr_ps(at(0), at(1), at(2), at(3), at(4), at(5), at(6), at(7));
        }
        for s in 0..n {
            let d = deltas.as_ptr().add(s * units);
            let term = |k: usize| _mm256_mul_ps(wt[k], _mm256_set1_ps(*d.add(k)));
            let mut acc = [_mm256_setzero_ps(); 8];
            for c in 0..chunks {
                for (l, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_add_ps(*a, term(8 * c + l));
                }
            }
            let mut tail = _mm256_setzero_ps();
            for k in chunks * 8..units {
                tail = _mm256_add_ps(tail, term(k));
            }
            let (a, add) = (&acc, |x, y| _mm256_add_ps(x, y));
            let left = add(add(a[0], a[4]), add(a[1], a[5]));
            let right = add(add(a[2], a[6]), add(a[3], a[7]));
            let dots = add(add(left, right), tail);
            let at = s * fan_in + i;
            let (ys, gs) = (&prev[at..at + 8], &mut deltas_prev[at..at + 8]);
            delta_below8(gs, dots, ys, below);
        }
    }
}

/// `dots[s][r] = sparse::dot(w[r·units..][..units], d[s·units..][..units])` for `s < S`,
/// `r < R`, in that function's order.
#[inline(always)]
unsafe fn dot_tile<const S: usize, const R: usize>(
    w: *const f32,
    d: *const f32,
    units: usize,
    dots: &mut [[f32; 4]; 2],
) {
    let chunks = units / 8;
    let mut acc = [[_mm256_setzero_ps(); R]; S];
    for c in 0..chunks {
        let wv: [__m256; R] = core::array::from_fn(|r| _mm256_loadu_ps(w.add(r * units + 8 * c)));
        for (s, acc) in acc.iter_mut().enumerate() {
            let dv = _mm256_loadu_ps(d.add(s * units + 8 * c));
            for (a, &wr) in acc.iter_mut().zip(&wv) {
                *a = _mm256_add_ps(*a, _mm256_mul_ps(wr, dv));
            }
        }
    }
    for (s, acc) in acc.iter().enumerate() {
        for (r, &a) in acc.iter().enumerate() {
            // ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7)) + tail, as `sparse::dot`.
            let mut h = [0.0f32; 4];
            _mm_storeu_ps(
                h.as_mut_ptr(),
                _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a)),
            );
            let mut tail = 0.0f32;
            for k in chunks * 8..units {
                tail += *w.add(r * units + k) * *d.add(s * units + k);
            }
            dots[s][r] = ((h[0] + h[1]) + (h[2] + h[3])) + tail;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::super::dense::{dense_backprop_loops, dense_forward_loops, dense_gradients_loops};
    use super::super::x86_testing::{bits, sgd_cases, skipped_without_avx2};
    use super::*;
    use crate::rng::Rng;

    /// Mostly non-zero values of both signs, with some exact zeros of both signs (the
    /// skipped terms) and a few wide magnitudes, so that rounding depends on the order.
    fn values(rng: &mut Rng, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| match rng.below(16) {
                0 => 0.0,
                1 => -0.0,
                2 => (rng.next_f64() as f32 - 0.5) * 1e4,
                _ => rng.next_f64() as f32 - 0.5,
            })
            .collect()
    }

    /// The tiles against the portable loops, bit for bit, on odd shapes: batches not a
    /// multiple of the tile, outputs not a multiple of 8 or of 16, inputs not a multiple
    /// of the row tile, batches over one block of samples.
    #[test]
    fn tiles_give_the_bits_of_the_portable_loops() {
        if skipped_without_avx2("tiles_give_the_bits_of_the_portable_loops") {
            return;
        }
        let mut rng = Rng::new(19);
        for (n, fan_in, units) in [
            (1, 1, 1),
            (3, 5, 7),
            (5, 9, 10),
            (7, 33, 17),
            (16, 32, 256),
            (13, 70, 23),
            (66, 13, 9),
            (64, 256, 10),
            (3, 19, 64),
            (2, 16, 65),
            (9, 24, 3),
        ] {
            let what = std::format!("batch {n}, {fan_in} inputs, {units} outputs");
            let w = values(&mut rng, fan_in * units);
            let b = values(&mut rng, units);
            let mut x = values(&mut rng, n * fan_in);
            // The first sample decides between tile and gather: keep it non-zero.
            x[..fan_in]
                .iter_mut()
                .filter(|v| **v == 0.0)
                .for_each(|v| *v = 0.25);
            // Without zeros too: the tiles then run without a test per input.
            let mut dense = x.clone();
            dense
                .iter_mut()
                .filter(|v| **v == 0.0)
                .for_each(|v| *v = -0.5);
            for x in [&x, &dense] {
                let x = x.clone();
                let mut d = values(&mut rng, n * units);
                // A skipped zero input then shows: 0·∞ would make a NaN.
                d[0] = f32::INFINITY;

                let (mut tiled, mut plain) = (std::vec![0.0; n * units], std::vec![0.0; n * units]);
                assert!(forward(&w, &b, &x, &mut tiled), "{what}");
                dense_forward_loops(&w, &b, &x, &mut plain);
                assert_eq!(bits(&tiled), bits(&plain), "forward, {what}");

                for below in [
                    Activation::Linear,
                    Activation::Relu,
                    Activation::Tanh,
                    Activation::Sigmoid,
                ] {
                    let y: Vec<f32> = match below {
                        Activation::Relu => x.iter().map(|v| v.max(0.0)).collect(),
                        _ => x.clone(),
                    };
                    let mut tiled = std::vec![1.0; n * fan_in];
                    let mut plain = std::vec![2.0; n * fan_in];
                    assert!(backprop(&w, &y, &d, &mut tiled, units, below), "{what}");
                    dense_backprop_loops(&w, &y, &d, &mut plain, units, below);
                    assert_eq!(bits(&tiled), bits(&plain), "backprop {below:?}, {what}");
                }

                for (update, sgd) in sgd_cases() {
                    if update && n > Nonzeros::BLOCK {
                        continue;
                    }
                    let len = fan_in * units + units;
                    let mut tiled: Vec<f32> = values(&mut rng, len);
                    let mut plain = tiled.clone();
                    let mut v1 = if sgd.needs_state() {
                        values(&mut rng, len)
                    } else {
                        Vec::new()
                    };
                    let mut v2 = v1.clone();
                    // One row of inputs all zero, to exercise the rows skipped by plain SGD.
                    let mut x = x.clone();
                    if fan_in >= 8 {
                        x.chunks_exact_mut(fan_in).for_each(|s| s[fan_in / 2] = 0.0);
                    }
                    let (mut v3, mut parts) = (v1.clone(), tiled.clone());
                    let all = GradientRows {
                        first: 0,
                        fan_in,
                        biases: true,
                    };
                    assert!(
                        gradients(&x, &d, &mut tiled, &mut v1, units, update, sgd, all),
                        "{what}"
                    );
                    let args = (0, fan_in, true);
                    let (p, v) = (&mut plain, &mut v2);
                    dense_gradients_loops(&x, &d, p, v, units, update, sgd, args.0, args.1, args.2);
                    assert_eq!(bits(&tiled), bits(&plain), "gradients {sgd:?}, {what}");
                    assert_eq!(bits(&v1), bits(&v2), "velocity {sgd:?}, {what}");
                    // In two parts (as two threads run them): rows ..half, then the rest
                    // with the biases.
                    let half = fan_in / 2;
                    let (p1, p2) = parts.split_at_mut(half * units);
                    let cut = if v3.is_empty() { 0 } else { half * units };
                    let (q1, q2) = v3.split_at_mut(cut);
                    for (first, p, v, biases) in [(0, p1, q1, false), (half, p2, q2, true)] {
                        let rows = GradientRows {
                            first,
                            fan_in,
                            biases,
                        };
                        super::super::dense::dense_gradient_rows(
                            &x, &d, p, v, units, update, sgd, rows,
                        );
                    }
                    assert_eq!(bits(&parts), bits(&plain), "in parts, {sgd:?}, {what}");
                    assert_eq!(bits(&v3), bits(&v2), "in parts, velocity {sgd:?}, {what}");
                }
            }
        }
    }

    /// Below three quarters non-zero, the sparse tiles (`x86_sparse`) take the layer.
    #[test]
    fn mostly_nonzero_picks_the_tiles() {
        assert!(mostly_nonzero(&[1.0, -2.0, 0.0, 3.0]));
        assert!(!mostly_nonzero(&[1.0, 0.0, -0.0, 3.0]));
    }
}
