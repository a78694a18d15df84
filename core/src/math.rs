//! Transcendentals. libm by default, so a PC and a Cortex-M compute the same bits; the
//! `fast-math` feature swaps in micromath's approximations (see docs/fast-math.md).

#[cfg(not(feature = "fast-math"))]
#[inline]
pub fn exp(x: f32) -> f32 {
    libm::expf(x)
}

#[cfg(not(feature = "fast-math"))]
#[inline]
pub fn ln(x: f32) -> f32 {
    libm::logf(x)
}

#[cfg(not(feature = "fast-math"))]
#[inline]
pub fn tanh(x: f32) -> f32 {
    libm::tanhf(x)
}

#[cfg(feature = "fast-math")]
#[inline]
pub fn exp(x: f32) -> f32 {
    micromath::F32Ext::exp(x)
}

#[cfg(feature = "fast-math")]
#[inline]
pub fn ln(x: f32) -> f32 {
    micromath::F32Ext::ln(x)
}

#[cfg(feature = "fast-math")]
#[inline]
pub fn tanh(x: f32) -> f32 {
    // tanh(x) = 1 - 2 / (exp(2x) + 1), clamped where exp saturates.
    let x = x.clamp(-15.0, 15.0);
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

#[inline]
pub fn sigmoid(x: f32) -> f32 {
    // Written so exp never overflows: exp of a non-positive number only.
    if x >= 0.0 {
        1.0 / (1.0 + exp(-x))
    } else {
        let e = exp(x);
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    /// Largest relative error against libm over a grid; with `fast-math` off it must be
    /// zero, with it on it must stay within what docs/fast-math.md states.
    fn worst(f: fn(f32) -> f32, exact: fn(f32) -> f32, lo: f32, hi: f32) -> f32 {
        let mut worst = 0.0f32;
        for k in 0..=20_000 {
            let x = lo + (hi - lo) * k as f32 / 20_000.0;
            let (a, b) = (f(x), exact(x));
            worst = worst.max((a - b).abs() / b.abs().max(1e-30));
        }
        worst
    }

    #[test]
    fn error_against_libm() {
        let exp = worst(super::exp, libm::expf, -80.0, 80.0);
        // ln only sees sums of exponentials >= 1 (in the loss): absolute error there.
        let ln = (0..=20_000)
            .map(|k| 1.0 + k as f32 * 0.05)
            .map(|x| (super::ln(x) - libm::logf(x)).abs())
            .fold(0.0f32, f32::max);
        // tanh's error measured where |tanh| is not tiny (relative error near 0 is moot).
        let tanh = worst(super::tanh, libm::tanhf, 0.05, 10.0);
        #[cfg(not(feature = "fast-math"))]
        assert_eq!((exp, ln, tanh), (0.0, 0.0, 0.0));
        #[cfg(feature = "fast-math")]
        {
            extern crate std;
            std::println!(
                "fast-math error: exp {exp:.2e} rel, ln {ln:.2e} abs, tanh {tanh:.2e} rel"
            );
            assert!(exp < 3e-3 && ln < 1e-4 && tanh < 2e-3);
        }
    }
}
