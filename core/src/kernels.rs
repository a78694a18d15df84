//! The hot loops, over contiguous slices. Sums use eight independent accumulators in a
//! fixed order: deterministic on every target, and free for the compiler to vectorize.

/// Σ a[k]·b[k] over the shorter length.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
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

/// Gathers the non-zero elements of a block of up to [`Nonzeros::BLOCK`] values, with
/// their positions, without a branch per element (MNIST's zero pixels are too irregular
/// to predict). Callers loop over `x.chunks(Nonzeros::BLOCK)`; plain loops rather than a
/// closure, so the body is compiled into each caller's AVX2 twin.
pub struct Nonzeros {
    found: [u8; Self::BLOCK],
    values: [f32; Self::BLOCK],
}

impl Nonzeros {
    pub const BLOCK: usize = 64;

    #[inline(always)]
    pub fn new() -> Self {
        Nonzeros {
            found: [0; Self::BLOCK],
            values: [0.0; Self::BLOCK],
        }
    }

    /// The block's non-zero values in order, and their positions within the block.
    #[inline(always)]
    pub fn gather(&mut self, block: &[f32]) -> (&[f32], &[u8]) {
        self.gather_strided(block, 1, block.len())
    }

    /// As [`Nonzeros::gather`] over `x[0], x[stride], x[2·stride], …` (`count` of them,
    /// at most a block): a column of a row-major matrix.
    #[inline(always)]
    pub fn gather_strided(&mut self, x: &[f32], stride: usize, count: usize) -> (&[f32], &[u8]) {
        let mut n = 0;
        let count = count.min(Self::BLOCK);
        for (k, &v) in x.iter().step_by(stride.max(1)).take(count).enumerate() {
            // n <= k < BLOCK: written always, kept only when v is not zero.
            self.found[n] = k as u8;
            self.values[n] = v;
            n += usize::from(v != 0.0);
        }
        (&self.values[..n], &self.found[..n])
    }
}

/// The widest block of outputs kept in registers: eight AVX registers on x86-64 (enough
/// independent sums to hide the adder's latency), sixteen floats elsewhere (a Cortex-M4F
/// has 32 single-precision registers).
pub const WIDEST: usize = if cfg!(target_arch = "x86_64") { 64 } else { 16 };

/// The block width to use with `left` outputs to go: the widest that fits. On x86-64 a
/// narrow rest (such as 10 classes) is one exact-width block, so its sums run side by
/// side instead of in separate passes, each waiting on its own adder.
#[inline(always)]
pub fn block_width(left: usize) -> usize {
    match left {
        _ if left >= WIDEST => WIDEST,
        32.. if WIDEST >= 32 => 32,
        16.. => 16,
        _ if cfg!(target_arch = "x86_64") => left,
        8.. => 8,
        4.. => 4,
        _ => 1,
    }
}

/// `$f::<W>(args)` with the const `W` equal to `$width`, one of [`block_width`]'s values.
#[cfg(target_arch = "x86_64")]
macro_rules! with_width {
    ($width:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $width {
            64 => $f::<64>($($arg),*),
            32 => $f::<32>($($arg),*),
            16 => $f::<16>($($arg),*),
            15 => $f::<15>($($arg),*),
            14 => $f::<14>($($arg),*),
            13 => $f::<13>($($arg),*),
            12 => $f::<12>($($arg),*),
            11 => $f::<11>($($arg),*),
            10 => $f::<10>($($arg),*),
            9 => $f::<9>($($arg),*),
            8 => $f::<8>($($arg),*),
            7 => $f::<7>($($arg),*),
            6 => $f::<6>($($arg),*),
            5 => $f::<5>($($arg),*),
            4 => $f::<4>($($arg),*),
            3 => $f::<3>($($arg),*),
            2 => $f::<2>($($arg),*),
            _ => $f::<1>($($arg),*),
        }
    };
}

#[cfg(not(target_arch = "x86_64"))]
macro_rules! with_width {
    ($width:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $width {
            16 => $f::<16>($($arg),*),
            8 => $f::<8>($($arg),*),
            4 => $f::<4>($($arg),*),
            _ => $f::<1>($($arg),*),
        }
    };
}
pub(crate) use with_width;

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
}
