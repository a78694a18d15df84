//! The f32 dense-layer kernels: forward (`x·W + b` for a batch), a layer's gradients
//! (optionally fused with the SGD update) and the delta one layer down. Every sum runs in
//! a fixed order, so the AVX2 twins, the portable loops and the Cortex-M4F assembly give
//! the same bits.
#![allow(clippy::too_many_arguments)] // the kernels take plain slices and numbers
use super::sparse::{self, Nonzeros};
use super::{block_width, multiversion, with_width, WIDEST};
use crate::{Activation, Sgd};

// The kernels the core calls: on x86-64 with AVX2 the register tiles of `x86_tiled`
// where they apply (same bits), else the loops below, which define the bits.

/// `out_s = b + Σ_i x_s[i]·W[i]` for every sample s (see [`dense_forward_loops`]).
pub(crate) fn dense_forward(weights: &[f32], biases: &[f32], inputs: &[f32], outputs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::x86_tiled::forward(weights, biases, inputs, outputs) {
        return;
    }
    dense_forward_loops(weights, biases, inputs, outputs)
}

/// A layer's gradients, or its fused SGD update (see [`dense_gradients_loops`]).
pub(crate) fn dense_gradients(
    prev: &[f32],
    deltas: &[f32],
    into: &mut [f32],
    velocity: &mut [f32],
    units: usize,
    update: bool,
    sgd: Sgd,
) {
    let fan_in = prev.len() / (deltas.len() / units.max(1)).max(1);
    let rows = GradientRows {
        first: 0,
        fan_in,
        biases: true,
    };
    dense_gradient_rows(prev, deltas, into, velocity, units, update, sgd, rows)
}

/// Which rows of a layer's gradients a call computes: weight rows `first..` (as many
/// as `into` holds) of the layer's `fan_in`, then the biases' row when `biases`. Rows
/// are independent sums, so parts of a layer can run on several threads.
#[derive(Clone, Copy)]
pub(crate) struct GradientRows {
    pub(crate) first: usize,
    pub(crate) fan_in: usize,
    pub(crate) biases: bool,
}

/// [`dense_gradients`] for some of its rows: `into` (and `velocity`, unless empty) hold
/// just those rows.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense_gradient_rows(
    prev: &[f32],
    deltas: &[f32],
    into: &mut [f32],
    velocity: &mut [f32],
    units: usize,
    update: bool,
    sgd: Sgd,
    rows: GradientRows,
) {
    let GradientRows {
        first,
        fan_in,
        biases,
    } = rows;
    #[cfg(target_arch = "x86_64")]
    if super::x86_tiled::gradients(prev, deltas, into, velocity, units, update, sgd, rows) {
        return;
    }
    dense_gradients_loops(
        prev, deltas, into, velocity, units, update, sgd, first, fan_in, biases,
    )
}

/// The delta one layer down (see [`dense_backprop_loops`]).
pub(crate) fn dense_backprop(
    weights: &[f32],
    prev: &[f32],
    deltas: &[f32],
    deltas_prev: &mut [f32],
    units: usize,
    below: Activation,
) {
    #[cfg(target_arch = "x86_64")]
    if super::x86_tiled::backprop(weights, prev, deltas, deltas_prev, units, below) {
        return;
    }
    dense_backprop_loops(weights, prev, deltas, deltas_prev, units, below)
}

multiversion! {
    /// `out_s = b + Σ_i x_s[i]·W[i]` for every sample s, summed in input order. Zero
    /// inputs are skipped (adding 0·W[i] changes nothing but the sign of a zero). Outputs
    /// are taken up to 16 at a time and kept in registers over a block of inputs, so each
    /// multiply-add costs about one load and one instruction. A block of inputs is done
    /// for the whole batch before the next, so its weight rows stay in a PC's L1 cache
    /// across samples instead of coming from L2 for each.
    fn dense_forward_loops(weights: &[f32], biases: &[f32], inputs: &[f32], outputs: &mut [f32]) {
        let units = biases.len();
        let fan_in = weights.len() / units;
        for out in outputs.chunks_exact_mut(units) {
            out.copy_from_slice(biases);
        }
        let mut nonzeros = Nonzeros::new();
        for (b, rows) in weights.chunks(Nonzeros::BLOCK * units).enumerate() {
            let first = b * Nonzeros::BLOCK;
            let width = rows.len() / units;
            for (x, out) in inputs.chunks_exact(fan_in).zip(outputs.chunks_exact_mut(units)) {
                let (values, found) = nonzeros.gather(&x[first..first + width]);
                let mut column = 0;
                while column < units {
                    let (out, rows) = (&mut out[column..], &rows[column..]);
                    column += with_width!(
                        block_width(units - column),
                        accumulate(out, rows, units, values, found)
                    );
                }
            }
        }
    }
}

/// `out[..W] += Σ_n values[n]·rows[found[n]·units..][..W]`, in order, with the `W` sums in
/// registers; returns `W`. `rows` starts at the block's first row (at some column), each
/// row `units` long; `found` holds row numbers within the block, and `out` and every row
/// have at least `W` elements from there.
#[inline(always)]
fn accumulate<const W: usize>(
    out: &mut [f32],
    rows: &[f32],
    units: usize,
    values: &[f32],
    found: &[u8],
) -> usize {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    if W == 16 {
        super::arm_f32::accumulate16(&mut out[..16], rows, units, values, found);
        return W;
    }
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    if W == 8 {
        super::arm_f32::accumulate8(&mut out[..8], rows, units, values, found);
        return W;
    }
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    if W == 2 {
        super::arm_f32::accumulate2(&mut out[..2], rows, units, values, found);
        return W;
    }
    let mut acc = [0.0f32; W];
    acc.copy_from_slice(&out[..W]);
    for (&xi, &k) in values.iter().zip(found) {
        let at = usize::from(k) * units;
        debug_assert!(at + W <= rows.len());
        // SAFETY: `found` indexes rows of the current block, which all lie inside the
        // weight matrix, and the column plus W stays within a row (see the caller), so
        // `rows[at..at + W]` is in bounds. Unchecked because this is the innermost loop.
        let w: &[f32; W] = unsafe { &*rows.as_ptr().add(at).cast() };
        for l in 0..W {
            acc[l] += xi * w[l];
        }
    }
    out[..W].copy_from_slice(&acc);
    W
}

multiversion! {
    /// A layer's gradients, `dW[i] = Σ_s prev_s[i]·d_s` and `db = Σ_s d_s`, summed in
    /// sample order, row by row and up to 16 columns at a time in registers. `into` is
    /// the layer's weights then biases (laid out like its parameters): with `update` false
    /// the gradients are written there; with it true each block updates the parameters
    /// there by `sgd` as soon as it is summed (then at most one block of samples). Zero
    /// inputs are skipped, and rows with none under plain SGD are left alone (their
    /// update would subtract zero).
    /// `into` may hold only weight rows `row0..` of `fan_in` (then the biases when
    /// `biases`), for a part of the layer.
    fn dense_gradients_loops(
        prev: &[f32],
        deltas: &[f32],
        into: &mut [f32],
        velocity: &mut [f32],
        units: usize,
        update: bool,
        sgd: Sgd,
        row0: usize,
        fan_in: usize,
        biases: bool,
    ) {
        let n = deltas.len() / units;
        let held = (into.len() - if biases { units } else { 0 }) / units;
        let plain = !sgd.needs_state() && sgd.weight_decay == 0.0;
        let mut nonzeros = Nonzeros::new();
        let ones = [1.0f32; Nonzeros::BLOCK];
        let all: [u8; Nonzeros::BLOCK] = core::array::from_fn(|k| k as u8);
        let (weights, bias_row) = into.split_at_mut(held * units);
        let (velocity_w, velocity_b) = velocity.split_at_mut(velocity.len().min(held * units));
        for first in (0..n).step_by(Nonzeros::BLOCK) {
            let count = (n - first).min(Nonzeros::BLOCK);
            let chunk = &deltas[first * units..][..count * units];
            let (add, xs) = (first > 0, &prev[first * fan_in..][..count * fan_in]);
            for (c, rows) in weights.chunks_mut(64 * units).enumerate() {
                let first_row = c * 64;
                let samples = sparse::nonzero_samples(xs, fan_in, row0 + first_row);
                for (k, row) in rows.chunks_exact_mut(units).enumerate() {
                    let r = first_row + k;
                    if samples[k] == 0 && update && plain {
                        continue;
                    }
                    let (values, found) = nonzeros.gather_bits(samples[k], xs, fan_in, row0 + r);
                    // Only momentum reads a velocity row.
                    let v = match sgd.needs_state() {
                        true => velocity_w.get_mut(r * units..(r + 1) * units),
                        false => None,
                    };
                    let v = v.unwrap_or(&mut []);
                    row_gradient(row, v, chunk, units, values, found, add, update, sgd);
                }
            }
            if biases {
                let (values, found) = (&ones[..count], &all[..count]);
                let v = velocity_b.get_mut(..units).unwrap_or(&mut []);
                row_gradient(bias_row, v, chunk, units, values, found, add, update, sgd);
            }
        }
    }
}

/// One row of [`dense_gradients`]: `Σ_n values[n]·deltas[found[n]]` over the row's
/// columns, then stored (added to what is there when `add`) or applied by `sgd`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn row_gradient(
    row: &mut [f32],
    velocity: &mut [f32],
    deltas: &[f32],
    units: usize,
    values: &[f32],
    found: &[u8],
    add: bool,
    update: bool,
    sgd: Sgd,
) {
    let mut column = 0;
    // The Cortex-M4F sums and updates its blocks of 16 and 8 columns in registers.
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    if update && !sgd.needs_state() {
        let (lr, wd) = (sgd.lr, sgd.weight_decay);
        // SAFETY: `found` lists samples of this block of deltas (`dense_gradients` gathers
        // them from the bits of its `count` samples), each `units` long.
        column = unsafe { super::arm_f32::sgd_row(row, deltas, units, values, found, lr, wd) };
    }
    while column < units {
        let width = block_width(units - column);
        let mut acc = [0.0f32; WIDEST];
        with_width!(
            width,
            sum_block(&mut acc, deltas, units, column, values, found)
        );
        let out = &mut row[column..column + width];
        let v = velocity.get_mut(column..column + width).unwrap_or(&mut []);
        finish(out, v, &acc[..width], add, update, sgd);
        column += width;
    }
}

/// Stores the sums `acc` of a block of a gradient row into `out` (added to what is
/// there when `add`), or applies them to the parameters `out` by `sgd` when `update`.
#[inline(always)]
pub(super) fn finish(
    out: &mut [f32],
    velocity: &mut [f32],
    acc: &[f32],
    add: bool,
    update: bool,
    sgd: Sgd,
) {
    if update {
        sgd.update(out, acc, velocity);
    } else if add {
        out.iter_mut().zip(acc).for_each(|(o, a)| *o += a);
    } else {
        out.copy_from_slice(acc);
    }
}

/// `acc[..W] = Σ_n values[n]·deltas[found[n]·units + column..][..W]`, in order.
#[inline(always)]
fn sum_block<const W: usize>(
    acc: &mut [f32; WIDEST],
    deltas: &[f32],
    units: usize,
    column: usize,
    values: &[f32],
    found: &[u8],
) {
    // The same sums from +0.0 as the loop below: the Cortex-M4F's `accumulate` kernels.
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    if W == 16 || W == 8 || W == 2 {
        acc[..W].fill(0.0);
        let rows = &deltas[column..];
        if W == 16 {
            super::arm_f32::accumulate16(&mut acc[..16], rows, units, values, found);
        } else if W == 8 {
            super::arm_f32::accumulate8(&mut acc[..8], rows, units, values, found);
        } else {
            super::arm_f32::accumulate2(&mut acc[..2], rows, units, values, found);
        }
        return;
    }
    let mut sum = [0.0f32; W];
    for (&x, &s) in values.iter().zip(found) {
        let d = &deltas[usize::from(s) * units + column..][..W];
        for l in 0..W {
            sum[l] += x * d[l];
        }
    }
    acc[..W].copy_from_slice(&sum);
}

multiversion! {
    /// `d_prev_s[i] = f'(prev_s[i]) · (W[i] · d_s)`: the delta one layer down.
    fn dense_backprop_loops(
        weights: &[f32],
        prev: &[f32],
        deltas: &[f32],
        deltas_prev: &mut [f32],
        units: usize,
        below: Activation,
    ) {
        let fan_in = weights.len() / units;
        let mut nonzeros = Nonzeros::new();
        for ((d, dp), xs) in deltas
            .chunks_exact(units)
            .zip(deltas_prev.chunks_exact_mut(fan_in))
            .zip(prev.chunks_exact(fan_in))
        {
            if below != Activation::Relu {
                for ((g, row), &y) in dp.iter_mut().zip(weights.chunks_exact(units)).zip(xs) {
                    *g = sparse::dot(row, d) * below.derivative_from_output(y);
                }
                continue;
            }
            // A ReLU's derivative is zero wherever its output is (about half the units),
            // so only the others need a dot product. The zeros written instead are +0.0
            // where dot·0 could be -0.0: no sum downstream can tell them apart, as every
            // sum starts at +0.0.
            dp.fill(0.0);
            let blocks = xs.chunks(Nonzeros::BLOCK).zip(dp.chunks_mut(Nonzeros::BLOCK));
            for (b, (ys, gs)) in blocks.enumerate() {
                let (values, found) = nonzeros.gather(ys);
                let rows = &weights[b * Nonzeros::BLOCK * units..];
                for (&y, &k) in values.iter().zip(found) {
                    let k = usize::from(k);
                    let row = rows.get(k * units..(k + 1) * units);
                    if let (Some(g), Some(row)) = (gs.get_mut(k), row) {
                        *g = sparse::dot(row, d) * below.derivative_from_output(y);
                    }
                }
            }
        }
    }
}
