//! Quantization parameters and requantization: the only arithmetic between an int8
//! layer's i32 accumulators and its outputs, integer-only.
//!
//! A real value `r` is stored as an integer `q` with `r = scale · (q − zero_point)`.
//! An accumulator `acc` with scale `s_acc` becomes an output with scale `s_out` through
//! the real multiplier `M = s_acc / s_out`, held as a 31-bit integer `m` and a shift `s`,
//! `M ≈ m · 2^-(32 + s)`, and applied in two rounding steps that the Cortex-M4 does in one
//! instruction (SMMLAR) and every other target in a few:
//!
//! ```text
//! t = (acc · m + 2^31) >> 32          (64-bit product, rounded high word)
//! y = (t + 2^(s − 1)) >> s            (rounding shift; y = t when s = 0)
//! ```
//!
//! Both shifts are arithmetic (floor), so halves round up. `m ≥ 0` and `s ≤ 31` (checked
//! when a blob is read), so `M < 1/2`; the quantizer picks output scales to keep it so.

/// Scale and zero point of a quantized tensor: `real = scale · (q − zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantParams {
    /// Real value of one step of the integer.
    pub scale: f32,
    /// The integer that stands for 0.0.
    pub zero_point: i32,
}

/// How the core's int8 models take images: a pixel `p` (0..=255, read as `p / 255` by
/// the float models) is the int8 value `p − 128` at scale 1/255, zero point −128, so a
/// zero pixel is the zero point and quantizing the input needs no arithmetic beyond a
/// subtraction ([`pixels_to_int8`]).
pub const PIXEL_INPUT: QuantParams = QuantParams {
    scale: 1.0 / 255.0,
    zero_point: -128,
};

/// `q = p − 128` for every pixel: the int8 input of a model whose input is
/// [`PIXEL_INPUT`]. Lengths as the shorter slice.
pub fn pixels_to_int8(pixels: &[u8], out: &mut [i8]) {
    for (q, &p) in out.iter_mut().zip(pixels) {
        *q = (p ^ 0x80) as i8;
    }
}

impl QuantParams {
    /// Asymmetric int8 parameters covering `[min, max]` (widened to include 0, so that
    /// 0.0 is exactly representable): 255 steps over the range. A degenerate range gives
    /// scale 1.
    pub fn from_range(min: f32, max: f32) -> QuantParams {
        let (min, max) = (min.min(0.0), max.max(0.0));
        let span = max - min;
        if !(span.is_finite() && span > 0.0) {
            return QuantParams {
                scale: 1.0,
                zero_point: 0,
            };
        }
        let scale = span / 255.0;
        let zero_point = libm::roundf(-128.0 - min / scale).clamp(-128.0, 127.0) as i32;
        QuantParams { scale, zero_point }
    }

    /// The nearest int8 value of `x`, saturated (NaN gives the zero point).
    pub fn quantize(&self, x: f32) -> i8 {
        let q = libm::roundf(x / self.scale) + self.zero_point as f32;
        if q.is_nan() {
            return self.zero_point.clamp(-128, 127) as i8;
        }
        q.clamp(-128.0, 127.0) as i8
    }

    /// The real value of `q`.
    pub fn dequantize(&self, q: i32) -> f32 {
        self.scale * (q - self.zero_point) as f32
    }
}

/// `(m, s)` with `m · 2^-(32 + s)` as close to `real` as 31 bits allow, for
/// [`requantize`]; `None` unless `0 ≤ real < 1/2` (and finite). Multipliers too small
/// for a normalized `m` at the largest shift lose precision gradually, down to `m = 0`.
pub fn quantize_multiplier(real: f64) -> Option<(i32, u8)> {
    if !(real.is_finite() && (0.0..0.5).contains(&real)) {
        return None;
    }
    if real == 0.0 {
        return Some((0, 0));
    }
    // real = f · 2^e with f in [0.5, 1), e ≤ −1; m = f · 2^31, total shift 31 − e.
    let (f, mut e) = libm::frexp(real);
    let mut m = libm::round(f * (1u64 << 31) as f64) as i64;
    if m == 1 << 31 {
        // f rounded up to 1: renormalize, or just under 1/2 stay at the largest m.
        if e == -1 {
            m = (1 << 31) - 1;
        } else {
            m = 1 << 30;
            e += 1;
        }
    }
    let s = -1 - e; // ≥ 0: real < 1/2 means e ≤ −1
    if s > 31 {
        // Denormalize: the largest shift, and a smaller m.
        let m = libm::round(libm::ldexp(real, 63)) as i64;
        return Some((m as i32, 31));
    }
    Some((m as i32, s as u8))
}

/// The real multiplier that `(m, s)` stands for.
pub fn multiplier_value(m: i32, s: u8) -> f64 {
    f64::from(m) * libm::exp2(-(32.0 + f64::from(s)))
}

/// `acc · m · 2^-(32 + s)`, rounded as in the module docs; exact integer arithmetic, the
/// same on every target. `s` is taken modulo 32.
#[inline(always)]
pub fn requantize(acc: i32, m: i32, s: u8) -> i32 {
    let t = ((i64::from(acc) * i64::from(m) + (1 << 31)) >> 32) as i32;
    let s = u32::from(s) & 31;
    let half = ((1u32 << s) >> 1) as i32;
    t.wrapping_add(half) >> s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn multipliers_are_close_and_normalized() {
        let mut rng = Rng::new(11);
        for _ in 0..10_000 {
            let real = libm::exp2(-40.0 * rng.next_f64()) * 0.4999;
            let (m, s) = quantize_multiplier(real).unwrap();
            assert!(m >= 0 && s <= 31);
            let back = multiplier_value(m, s);
            if s < 31 {
                assert!(m >= 1 << 30, "{real} → ({m}, {s})");
                assert!((back - real).abs() <= real * 1e-9, "{real} vs {back}");
            } else {
                assert!((back - real).abs() <= libm::exp2(-63.0));
            }
        }
        assert_eq!(quantize_multiplier(0.0), Some((0, 0)));
        for bad in [0.5, 1.0, -1e-9, f64::NAN, f64::INFINITY] {
            assert_eq!(quantize_multiplier(bad), None, "{bad}");
        }
        // Rounding up to m = 2^31 must not overflow: just under 1/2 keeps the largest m,
        // elsewhere the pair renormalizes.
        assert_eq!(quantize_multiplier(0.5 - 1e-12), Some((i32::MAX, 0)));
        assert_eq!(quantize_multiplier(0.25 - 1e-13), Some((1 << 30, 0)));
    }

    /// The integer result against the real product on random accumulators and
    /// multipliers: exactly the two-step formula computed in 128 bits, and within half a
    /// step of the real product plus what the double rounding may add (2^-(s+1), only at
    /// near-ties) and what the 31-bit multiplier misses.
    #[test]
    fn requantization_matches_a_float_computation() {
        let mut rng = Rng::new(5);
        let mut off = 0u32;
        for round in 0..200_000 {
            let acc = match round % 3 {
                0 => rng.next_u64() as i32,
                1 => (rng.next_u64() as i32) >> (rng.below(31) as u32),
                _ => rng.below(2001) as i32 - 1000,
            };
            let real = libm::exp2(-(1.0 + 30.0 * rng.next_f64())) * 0.999;
            let (m, s) = quantize_multiplier(real).unwrap();
            let got = requantize(acc, m, s);
            // The formula in i128, written independently.
            let prod = i128::from(acc) * i128::from(m);
            let t = (prod + (1i128 << 31)).div_euclid(1i128 << 32);
            let want = if s == 0 {
                t
            } else {
                (t + (1i128 << (s - 1))).div_euclid(1i128 << s)
            };
            assert_eq!(i128::from(got), want, "acc {acc} m {m} s {s}");
            // The real value, in f64.
            let represented = multiplier_value(m, s);
            let slack = 0.5 + libm::exp2(-f64::from(s) - 1.0) + 1e-6;
            let exact = f64::from(acc) * represented;
            assert!(
                (f64::from(got) - exact).abs() <= slack,
                "acc {acc} M {represented}: {got}"
            );
            let miss = f64::from(acc).abs() * (represented - real).abs();
            let ideal = f64::from(acc) * real;
            assert!(
                (f64::from(got) - ideal).abs() <= slack + miss,
                "acc {acc} real {real}"
            );
            if s >= 8 && f64::from(got) != libm::floor(ideal + 0.5) {
                off += 1;
            }
        }
        // With layer-sized shifts (8 and more) a result differs from the correctly
        // rounded one at fewer than 1 in 500 draws.
        assert!(off < 200_000 / 500, "{off}");
    }

    #[test]
    fn quantize_dequantize_round_trips() {
        let p = QuantParams::from_range(-3.0, 5.0);
        assert!((p.scale - 8.0 / 255.0).abs() < 1e-7);
        for q in -128..=127i32 {
            assert_eq!(i32::from(p.quantize(p.dequantize(q))), q);
        }
        // Zero is exact; values round to the nearest step, saturating outside the range.
        assert_eq!(p.dequantize(i32::from(p.quantize(0.0))), 0.0);
        let mut rng = Rng::new(9);
        for _ in 0..10_000 {
            let x = (rng.next_f64() * 8.0 - 3.0) as f32;
            let back = p.dequantize(i32::from(p.quantize(x)));
            assert!((back - x).abs() <= p.scale * 0.5001, "{x} → {back}");
        }
        assert_eq!(p.quantize(100.0), 127);
        assert_eq!(p.quantize(-100.0), -128);
        assert_eq!(i32::from(p.quantize(f32::NAN)), p.zero_point);
        // Relu ranges put zero at −128; degenerate ranges still give a valid scale.
        assert_eq!(QuantParams::from_range(0.0, 6.0).zero_point, -128);
        assert_eq!(QuantParams::from_range(0.0, 0.0).scale, 1.0);
        // Pixels: p / 255 quantizes to p − 128, exactly what pixels_to_int8 does.
        let mut q = [0i8; 256];
        let pixels: [u8; 256] = core::array::from_fn(|i| i as u8);
        pixels_to_int8(&pixels, &mut q);
        for (p, q) in pixels.iter().zip(q) {
            assert_eq!(PIXEL_INPUT.quantize(f32::from(*p) / 255.0), q);
            assert_eq!(i32::from(q) - PIXEL_INPUT.zero_point, i32::from(*p));
        }
    }
}
