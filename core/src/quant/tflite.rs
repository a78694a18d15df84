//! TFLite's requantization rule, for int8 models imported from `.tflite` files, so that
//! they give LiteRT's integers bit for bit.
//!
//! TFLite holds a multiplier `M = m · 2^(e − 31)` (`m` in `[2^30, 2^31)`, exponent `e`)
//! and applies it as gemmlowp's `MultiplyByQuantizedMultiplier`:
//!
//! ```text
//! x = acc · 2^max(e, 0)
//! t = (x · m + (x·m ≥ 0 ? 2^30 : 1 − 2^30)) / 2^31     truncating division: ties away from 0
//! y = t / 2^max(−e, 0)                                   rounding half away from zero
//! ```
//!
//! The core's own rule ([`super::requantize`]) differs in three places, so the two disagree
//! by one on some accumulators: its high multiply keeps 32 bits less one shift (`m` stands
//! for `M · 2^(32 + s)`, TFLite's for `M · 2^(31 − e)`), so the first rounding happens one
//! bit lower; both of its roundings take ties upwards (toward +∞) where TFLite's take them
//! away from zero (negative ties differ); and it has no left shift (`M < 1/2`).
//!
//! In a blob the rule is chosen by the shift byte: `0..=31` is the core's shift `s`, and
//! [`TFLITE_SHIFT_BASE`]` + e` (e in `−31..=30`) is TFLite's exponent. A blob uses one rule
//! for every unit (checked when it is read).

/// Shift bytes at or above this hold TFLite exponents: `byte = TFLITE_SHIFT_BASE + e`.
pub const TFLITE_SHIFT_BASE: u8 = 192;

/// The shift byte of TFLite exponent `e`; `None` outside `−31..=30`.
pub const fn tflite_shift_byte(e: i32) -> Option<u8> {
    if e < -31 || e > 30 {
        return None;
    }
    Some((TFLITE_SHIFT_BASE as i32 + e) as u8)
}

/// The TFLite exponent a shift byte holds, if it holds one.
pub const fn tflite_exponent(byte: u8) -> Option<i32> {
    let e = byte as i32 - TFLITE_SHIFT_BASE as i32;
    if byte >= 128 && e >= -31 && e <= 30 {
        Some(e)
    } else {
        None
    }
}

/// TFLite's `QuantizeMultiplier`: `(m, e)` with `m · 2^(e − 31) ≈ real` (ties of the
/// 31-bit rounding away from zero; multipliers too small for `e ≥ −31` become 0).
/// `None` unless `real` is finite, non-negative and below 2^30.
pub fn tflite_multiplier(real: f64) -> Option<(i32, i32)> {
    if !(real.is_finite() && (0.0..libm::ldexp(1.0, 30)).contains(&real)) {
        return None;
    }
    if real == 0.0 {
        return Some((0, 0));
    }
    let (q, mut e) = libm::frexp(real);
    let mut m = libm::round(q * (1u64 << 31) as f64) as i64;
    if m == 1 << 31 {
        m /= 2;
        e += 1;
    }
    if e < -31 {
        return Some((0, 0));
    }
    Some((m as i32, e))
}

/// `MultiplyByQuantizedMultiplier(acc, m, e)` as TFLite's reference kernels compute it
/// (module docs). The left shift wraps like the 32-bit product it is (TFLite leaves an
/// overflow undefined); `e` is taken within `−31..=30`.
#[inline]
pub fn requantize_tflite(acc: i32, m: i32, e: i32) -> i32 {
    let e = e.clamp(-31, 30);
    let x = acc.wrapping_shl(e.max(0) as u32);
    // Saturating rounding doubling high multiply: only MIN · MIN overflows.
    let t = if x == i32::MIN && m == i32::MIN {
        i32::MAX
    } else {
        let ab = i64::from(x) * i64::from(m);
        let nudge = if ab >= 0 {
            1i64 << 30
        } else {
            1 - (1i64 << 30)
        };
        ((ab + nudge) / (1i64 << 31)) as i32
    };
    // Rounding divide by a power of two, ties away from zero.
    let right = (-e).max(0) as u32;
    let mask = ((1i64 << right) - 1) as i32;
    let remainder = t & mask;
    let threshold = (mask >> 1) + i32::from(t < 0);
    (t >> right) + i32::from(remainder > threshold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;

    /// Against the definition computed on exact rationals (i128): the high multiply rounds
    /// `x·m / 2^31` half away from zero, then the shift rounds half away from zero.
    #[test]
    fn matches_the_definition_on_exact_integers() {
        fn round_away(num: i128, den: i128) -> i128 {
            let q = (2 * num.abs() + den) / (2 * den);
            if num < 0 {
                -q
            } else {
                q
            }
        }
        let mut rng = Rng::new(17);
        for round in 0..200_000 {
            let acc = match round % 3 {
                0 => rng.next_u64() as i32,
                1 => (rng.next_u64() as i32) >> (rng.below(31) as u32),
                _ => rng.below(2001) as i32 - 1000,
            };
            let real = libm::exp2(-(30.0 * rng.next_f64())) * 0.999;
            let (m, e) = tflite_multiplier(real).unwrap();
            assert!(e <= 0 && (m == 0 || m >= 1 << 30));
            let t = round_away(i128::from(acc) * i128::from(m), 1 << 31);
            let want = round_away(t, 1i128 << (-e));
            assert_eq!(
                i128::from(requantize_tflite(acc, m, e)),
                want,
                "{acc} {m} {e}"
            );
        }
        // Left shifts (M ≥ 1) on accumulators that stay in range.
        let (m, e) = tflite_multiplier(3.0).unwrap();
        assert_eq!((m, e), (3 << 29, 2));
        assert_eq!(requantize_tflite(-1000, m, e), -3000);
        assert_eq!(requantize_tflite(7, m, e), 21);
    }

    /// Where the two rules part: a negative tie, and the lower first rounding.
    #[test]
    fn differs_from_the_core_rule_where_documented() {
        // M = 1/4: TFLite (m = 2^30, e = −1), core (m = 2^30, s = 0).
        let (m, e) = tflite_multiplier(0.25).unwrap();
        assert_eq!((m, e), (1 << 30, -1));
        let (cm, cs) = crate::quantize_multiplier(0.25).unwrap();
        // −2 / 4 = −0.5: away from zero gives −1, the core's upward tie gives 0.
        assert_eq!(requantize_tflite(-2, m, e), -1);
        assert_eq!(crate::requantize(-2, cm, cs), 0);
        // +2 / 4 = 0.5: both give 1.
        assert_eq!(requantize_tflite(2, m, e), 1);
        assert_eq!(crate::requantize(2, cm, cs), 1);
        let mut rng = Rng::new(3);
        let mut differ = 0;
        for _ in 0..100_000 {
            let acc = rng.below(200_001) as i32 - 100_000;
            let real = libm::exp2(-(4.0 + 8.0 * rng.next_f64()));
            let (m, e) = tflite_multiplier(real).unwrap();
            let (cm, cs) = crate::quantize_multiplier(real).unwrap();
            let (a, b) = (requantize_tflite(acc, m, e), crate::requantize(acc, cm, cs));
            assert!((a - b).abs() <= 1);
            differ += usize::from(a != b);
        }
        assert!(differ > 0, "the rules never differed");
    }

    #[test]
    fn shift_bytes_round_trip_and_stay_clear_of_core_shifts() {
        for e in -31..=30 {
            let b = tflite_shift_byte(e).unwrap();
            assert!(b > 31);
            assert_eq!(tflite_exponent(b), Some(e));
        }
        assert_eq!(tflite_shift_byte(31), None);
        assert_eq!(tflite_shift_byte(-32), None);
        for b in 0..=31u8 {
            assert_eq!(tflite_exponent(b), None);
        }
        assert_eq!(tflite_multiplier(-1.0), None);
        assert_eq!(tflite_multiplier(f64::NAN), None);
        assert_eq!(tflite_multiplier(1e-12), Some((0, 0)));
    }
}
