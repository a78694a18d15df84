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

/// y += alpha·x over the shorter length.
#[inline(always)]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yk, xk) in y.iter_mut().zip(x) {
        *yk += alpha * xk;
    }
}

/// Calls `f(first, values, found)` for consecutive blocks of 64 elements of `x`: `values`
/// are the block's non-zero elements in order and `found` their positions within the block
/// (which starts at `x[first]`). They are gathered without a branch per element (MNIST's
/// zero pixels are too irregular to predict), a block at a time so no buffer is needed.
#[inline(always)]
pub fn for_each_nonzero_block(x: &[f32], mut f: impl FnMut(usize, &[f32], &[u8])) {
    const BLOCK: usize = 64;
    let (mut found, mut values) = ([0u8; BLOCK], [0.0f32; BLOCK]);
    for (b, block) in x.chunks(BLOCK).enumerate() {
        let mut n = 0;
        for (k, &v) in block.iter().enumerate() {
            // n <= k < BLOCK: written always, kept only when v is not zero.
            found[n] = k as u8;
            values[n] = v;
            n += usize::from(v != 0.0);
        }
        f(b * BLOCK, &values[..n], &found[..n]);
    }
}

/// Calls `f(i, x[i])` for every non-zero `x[i]`, in order.
#[inline(always)]
pub fn for_each_nonzero(x: &[f32], mut f: impl FnMut(usize, f32)) {
    for_each_nonzero_block(x, |first, values, found| {
        for (&v, &k) in values.iter().zip(found) {
            f(first + usize::from(k), v);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_axpy() {
        let a: [f32; 19] = core::array::from_fn(|i| i as f32);
        let b: [f32; 19] = core::array::from_fn(|i| 1.0 - i as f32 * 0.5);
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(dot(&a, &b), want); // small integers and halves: exact in any order
        let mut y = [1.0f32; 3];
        axpy(2.0, &[1.0, 2.0, 3.0], &mut y);
        assert_eq!(y, [3.0, 5.0, 7.0]);
        assert_eq!(dot(&[], &[]), 0.0);
        let mut x = [0.0f32; 150];
        x[3] = 1.0;
        x[64] = f32::NAN;
        x[149] = -2.0;
        let mut seen = [(0usize, 0.0f32); 3];
        let mut n = 0;
        for_each_nonzero(&x, |i, v| {
            seen[n] = (i, v);
            n += 1;
        });
        assert_eq!(n, 3);
        assert_eq!((seen[0], seen[2]), ((3, 1.0), (149, -2.0)));
        assert!(seen[1].0 == 64 && seen[1].1.is_nan());
    }
}
