//! Loops over contiguous slices shared by the f32 kernels: a dot product (eight
//! independent accumulators in a fixed order: deterministic on every target, and free
//! for the compiler to vectorize) and the gathering of non-zero inputs.

/// Σ a[k]·b[k] over the shorter length.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    // The Cortex-M4F's `vldm` twin sums in the same order.
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    {
        super::arm_f32::dot(a, b)
    }
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf")))]
    {
        dot_portable(a, b)
    }
}

#[cfg_attr(all(target_arch = "arm", target_abi = "eabihf"), allow(dead_code))]
#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    let mut acc = [0.0f32; 8];
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Bit k set when `block[k]` is not zero (NaN counts as non-zero, -0.0 as zero), for a
/// block of at most 64 values.
#[inline(always)]
pub(crate) fn nonzero_mask(block: &[f32]) -> u64 {
    let block = &block[..block.len().min(64)];
    // One bit per value, from the bits but the sign.
    let bit = |v: &f32| v.to_bits() << 1 != 0;
    #[cfg(target_arch = "x86_64")]
    {
        // Four floats per compare, then the rest one by one.
        use core::arch::x86_64::{_mm_cmpneq_ps, _mm_loadu_ps, _mm_movemask_ps, _mm_setzero_ps};
        let mut mask = 0u64;
        let quads = block.chunks_exact(4);
        let (done, rest) = (block.len() - quads.remainder().len(), quads.remainder());
        for (q, quad) in quads.enumerate() {
            // SAFETY: SSE is part of x86-64, and `quad` holds the four floats read.
            let bits = unsafe {
                _mm_movemask_ps(_mm_cmpneq_ps(_mm_loadu_ps(quad.as_ptr()), _mm_setzero_ps()))
            };
            mask |= u64::from(bits as u8) << (4 * q);
        }
        for (k, v) in rest.iter().enumerate() {
            mask |= u64::from(bit(v)) << (done + k);
        }
        mask
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // Integer tests (no FPU flag transfer per value), into 32-bit words (a 64-bit
        // shift is several instructions on a 32-bit core); a blank quad (most of MNIST's
        // border) costs one test.
        let word = |part: &[f32]| {
            let quads = part.chunks_exact(4);
            let done = part.len() - quads.remainder().len();
            let mut m = 0u32;
            for (q, quad) in quads.enumerate() {
                let b = [0, 1, 2, 3].map(|i| quad[i].to_bits() << 1);
                if b[0] | b[1] | b[2] | b[3] != 0 {
                    let nibble = b
                        .iter()
                        .enumerate()
                        .fold(0u32, |n, (k, &b)| n | u32::from(b != 0) << k);
                    m |= nibble << (4 * q);
                }
            }
            part.iter()
                .enumerate()
                .skip(done)
                .fold(m, |m, (k, v)| m | u32::from(bit(v)) << k)
        };
        let (low, high) = block.split_at(block.len().min(32));
        u64::from(word(low)) | u64::from(word(high)) << 32
    }
}

/// A batch's non-zero inputs by input: for inputs `first..first + 64` of up to 64 samples
/// laid end to end (`fan_in` each), bit s of entry k is set when sample s's input
/// `first + k` is not zero. Built from each sample's contiguous inputs, so it costs a
/// scan of the batch rather than a cache line per sample and input.
#[inline(always)]
pub(crate) fn nonzero_samples(xs: &[f32], fan_in: usize, first: usize) -> [u64; 64] {
    let mut samples = [0u64; 64];
    let width = fan_in.saturating_sub(first).min(64);
    for (s, x) in xs.chunks_exact(fan_in.max(1)).take(64).enumerate() {
        let bits = nonzero_mask(x.get(first..first + width).unwrap_or(&[]));
        for_each_bit(bits, |k| samples[k % 64] |= 1 << s);
    }
    samples
}

/// Gathers the non-zero elements of a block of up to [`Nonzeros::BLOCK`] values, with
/// their positions, without a branch per element (MNIST's zero pixels are too irregular
/// to predict). Callers take inputs a block of up to [`Nonzeros::BLOCK`] at a time; plain
/// loops rather than a closure, so the body is compiled into each caller's AVX2 twin.
pub(crate) struct Nonzeros {
    found: [u8; Self::BLOCK],
    values: [f32; Self::BLOCK],
}

impl Nonzeros {
    pub(crate) const BLOCK: usize = 64;

    #[inline(always)]
    pub(crate) fn new() -> Self {
        Nonzeros {
            found: [0; Self::BLOCK],
            values: [0.0; Self::BLOCK],
        }
    }

    /// The block's non-zero values in order, and their positions within the block.
    /// On x86-64 from a bit mask made four values per compare, visiting only the
    /// non-zeros; elsewhere by skipping blank quads and, in the others, writing every
    /// element and keeping the non-zero ones.
    #[inline(always)]
    pub(crate) fn gather(&mut self, block: &[f32]) -> (&[f32], &[u8]) {
        let block = &block[..block.len().min(Self::BLOCK)];
        if cfg!(target_arch = "x86_64") {
            return self.gather_bits(nonzero_mask(block), block, 1, 0);
        }
        // A value is kept when its bits but the sign are not all zero (as `v != 0.0`,
        // NaN kept), tested on the integer bits: four values at once skip a blank quad
        // (most of MNIST's border) in a few instructions.
        let nonzero = |bits: u32| bits << 1 != 0;
        let mut n = 0;
        let quads = block.chunks_exact(4);
        let tail = block.len() - quads.remainder().len();
        for (q, quad) in quads.enumerate() {
            let bits = [0, 1, 2, 3].map(|i| quad[i].to_bits());
            if !nonzero(bits[0] | bits[1] | bits[2] | bits[3]) {
                continue;
            }
            for (i, b) in bits.into_iter().enumerate() {
                // n <= 4q + i < BLOCK (a power of two): written always, kept only when
                // not zero.
                self.found[n % Self::BLOCK] = (4 * q + i) as u8;
                self.values[n % Self::BLOCK] = f32::from_bits(b);
                n += usize::from(nonzero(b));
            }
        }
        for (k, &v) in block.iter().enumerate().skip(tail) {
            self.found[n % Self::BLOCK] = k as u8;
            self.values[n % Self::BLOCK] = v;
            n += usize::from(v != 0.0);
        }
        (&self.values[..n], &self.found[..n])
    }

    /// For each set bit k of `bits` in order: position k and value `x[k·stride + at]`
    /// (bits past the end of `x` are dropped).
    #[inline(always)]
    pub(crate) fn gather_bits(
        &mut self,
        bits: u64,
        x: &[f32],
        stride: usize,
        at: usize,
    ) -> (&[f32], &[u8]) {
        let mut n = 0;
        for_each_bit(bits, |k| {
            if let (Some(&v), Some(f), Some(slot)) = (
                x.get(k * stride + at),
                self.found.get_mut(n),
                self.values.get_mut(n),
            ) {
                (*f, *slot) = (k as u8, v);
                n += 1;
            }
        });
        (&self.values[..n], &self.found[..n])
    }
}

/// `f(k)` for each set bit k of `bits`, lowest first; on 32-bit cores one 32-bit half at
/// a time (a 64-bit count of trailing zeros and clear of the lowest bit are several
/// instructions there).
#[inline(always)]
fn for_each_bit(bits: u64, mut f: impl FnMut(usize)) {
    if cfg!(target_pointer_width = "64") {
        let mut b = bits;
        while b != 0 {
            f(b.trailing_zeros() as usize);
            b &= b - 1;
        }
    } else {
        for (base, mut b) in [(0, bits as u32), (32, (bits >> 32) as u32)] {
            while b != 0 {
                f(base + b.trailing_zeros() as usize);
                b &= b - 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_nonzeros() {
        let a: [f32; 19] = core::array::from_fn(|i| i as f32);
        let b: [f32; 19] = core::array::from_fn(|i| 1.0 - i as f32 * 0.5);
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(dot(&a, &b), want); // small integers and halves: exact in any order
        assert_eq!(dot(&[], &[]), 0.0);
        let mut x = [0.0f32; 150];
        x[3] = 1.0;
        x[64] = f32::NAN;
        x[149] = -2.0;
        let mut seen = [(0usize, 0.0f32); 3];
        let mut n = 0;
        let mut nz = Nonzeros::new();
        for (b, block) in x.chunks(Nonzeros::BLOCK).enumerate() {
            let (values, found) = nz.gather(block);
            for (&v, &k) in values.iter().zip(found) {
                seen[n] = (b * Nonzeros::BLOCK + usize::from(k), v);
                n += 1;
            }
        }
        assert_eq!(n, 3);
        assert_eq!((seen[0], seen[2]), ((3, 1.0), (149, -2.0)));
        assert!(seen[1].0 == 64 && seen[1].1.is_nan());
    }

    /// The masks against a plain per-element test, over every length up to 64 (the
    /// x86-64 path takes four at a time, then a scalar rest) and awkward values.
    #[test]
    fn masks_match_a_plain_test() {
        let mut rng = crate::rng::Rng::new(9);
        let odd = [0.0, -0.0, f32::NAN, f32::INFINITY, -1e-40, 1.0];
        let xs: [f32; 70 * 5] = core::array::from_fn(|_| odd[rng.below(6)]);
        for len in 0..=64 {
            let block = &xs[..len];
            let want = block
                .iter()
                .enumerate()
                .fold(0u64, |m, (k, &v)| m | (u64::from(v != 0.0) << k));
            assert_eq!(nonzero_mask(block), want, "length {len}");
        }
        // Five samples of 70 inputs: the second group of 64 inputs has only 6.
        for first in [0, 64] {
            let samples = nonzero_samples(&xs, 70, first);
            for (k, &bits) in samples.iter().enumerate() {
                for s in 0..64 {
                    let want = s < 5 && first + k < 70 && xs[s * 70 + first + k] != 0.0;
                    assert_eq!(bits >> s & 1 == 1, want, "input {}, sample {s}", first + k);
                }
            }
            let mut nz = Nonzeros::new();
            let (values, found) = nz.gather_bits(samples[3], &xs, 70, first + 3);
            assert_eq!(values.len(), samples[3].count_ones() as usize);
            for (&v, &s) in values.iter().zip(found) {
                let x = xs[usize::from(s) * 70 + first + 3];
                assert_eq!(v.to_bits(), x.to_bits());
            }
        }
    }
}
