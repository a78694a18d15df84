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
