//! TFLite's requantization rule, for int8 models imported from `.tflite` files, so that
//! they give LiteRT's integers bit for bit.
//!
//! TFLite holds a multiplier `M = m · 2^(e − 31)` (`m` in `[2^30, 2^31)`, exponent `e` in
//! `−31..=30`) and applies it with `MultiplyByQuantizedMultiplier`. LiteRT as built for
//! PyPI (TensorFlow 2.21) uses its single-rounding form (`TFLITE_SINGLE_ROUNDING`), in its
//! reference and optimized kernels alike (the fixtures show 0 differences between the two
//! and with this function):
//!
//! ```text
//! y = (acc · m + 2^(30 − e)) >> (31 − e)        64-bit product, arithmetic shift
//! ```
//!
//! The core's own rule ([`super::requantize`]) stands for the same `M` with the same `m`
//! (its shift is `s = −1 − e`) but rounds twice: first the high word `(acc·m + 2^31) >> 32`,
//! then `(t + 2^(s−1)) >> s`. Where the first rounding carries into the bits the second
//! one looks at, the result is one higher than TFLite's (never lower: both round ties
//! upwards). It also has no left shift (`M < 1/2`, `e ≤ −2`), and below `2^−63` it keeps a
//! denormalized `m` where TFLite's `QuantizeMultiplier` gives 0. (gemmlowp's double-rounding
//! `SaturatingRoundingDoublingHighMul` + `RoundingDivideByPOT`, which TFLite uses when
//! built without single rounding, rounds ties away from zero and differs again.)
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

/// TFLite's single-rounding `MultiplyByQuantizedMultiplier(acc, m, e)` (module docs);
/// `e` is taken within `−31..=30`, `m ≥ 0` (as the blob validation ensures).
#[inline]
pub fn requantize_tflite(acc: i32, m: i32, e: i32) -> i32 {
    let total = (31 - e.clamp(-31, 30)) as u32; // 1..=62
    ((i64::from(acc) * i64::from(m) + (1i64 << (total - 1))) >> total) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Against the definition on exact integers (i128): `acc · m / 2^(31 − e)` rounded
    /// half up, once.
    #[test]
    fn matches_the_definition_on_exact_integers() {
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
            let den = 1i128 << (31 - e);
            let want = (2 * i128::from(acc) * i128::from(m) + den).div_euclid(2 * den);
            // Results that fit in i32 (small multipliers of large accumulators always do).
            if let Ok(want) = i32::try_from(want) {
                assert_eq!(requantize_tflite(acc, m, e), want, "{acc} {m} {e}");
            }
        }
        // Left shifts (M ≥ 1).
        let (m, e) = tflite_multiplier(3.0).unwrap();
        assert_eq!((m, e), (3 << 29, 2));
        assert_eq!(requantize_tflite(-1000, m, e), -3000);
        assert_eq!(requantize_tflite(7, m, e), 21);
    }

    /// Where the two rules part: the core's first rounding carries.
    #[test]
    fn differs_from_the_core_rule_where_documented() {
        // M = 1/8: TFLite (m = 2^30, e = −2), core (m = 2^30, s = 1): the same m.
        let (m, e) = tflite_multiplier(0.125).unwrap();
        let (cm, cs) = super::super::quantize_multiplier(0.125).unwrap();
        assert_eq!((m, e, cm, cs), (1 << 30, -2, 1 << 30, 1));
        // 2 / 8 = 0.25: TFLite 0; the core's high word rounds 0.5 up to 1, then 1/2 up to 1.
        assert_eq!(requantize_tflite(2, m, e), 0);
        assert_eq!(super::super::requantize(2, cm, cs), 1);
        let mut rng = Rng::new(3);
        let mut higher = 0;
        for _ in 0..100_000 {
            let acc = rng.below(200_001) as i32 - 100_000;
            let real = libm::exp2(-(4.0 + 8.0 * rng.next_f64()));
            let (m, e) = tflite_multiplier(real).unwrap();
            let (cm, cs) = super::super::quantize_multiplier(real).unwrap();
            assert_eq!((m, -1 - e), (cm, i32::from(cs)));
            let (a, b) = (
                requantize_tflite(acc, m, e),
                super::super::requantize(acc, cm, cs),
            );
            assert!(b == a || b == a + 1, "{acc} {real}: {a} vs {b}");
            higher += usize::from(b != a);
        }
        assert!(higher > 0, "the rules never differed");
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

    /// A TFLite-rule blob: the output layer keeps its zero point and clamps as int8; a
    /// blob mixing the two rules is refused.
    #[test]
    fn tflite_rule_blobs_run_and_mixed_rules_are_refused() {
        use crate::int8::{write_int8_blob, Int8Layer, Int8Network, QuantParams};
        use crate::{sizes, Activation, Error, Layer, Topology};
        const LAYERS: [Layer; 1] = [Layer::new(2, Activation::Softmax)];
        let t = Topology::new(2, &LAYERS).unwrap();
        let (m, e) = tflite_multiplier(0.25).unwrap();
        let byte = tflite_shift_byte(e).unwrap();
        let write = |shifts: &[u8], zp: i32, blob: &mut [u8]| {
            let layer = Int8Layer {
                weights: &[1, 0, 0, 1],
                biases: &[0, 1000],
                multipliers: &[m, m],
                shifts,
                output: QuantParams {
                    scale: 0.5,
                    zero_point: zp,
                },
            };
            let input = QuantParams {
                scale: 1.0,
                zero_point: 0,
            };
            write_int8_blob(&t, input, &[layer], blob)
        };
        let mut blob = [0u8; sizes::int8_blob_len(2, &LAYERS)];
        write(&[byte, byte], 5, &mut blob).unwrap();
        let net = Int8Network::parse(&blob).unwrap();
        let (mut scratch, mut out) = ([0u32; 8], [0i32; 2]);
        net.logits(&[-42, 40], &mut scratch[..net.scratch_len()], &mut out)
            .unwrap();
        // −42/4 = −10.5 → −10 (ties up); (1000 + 40)/4 = 260 → 260 + 5 clamps to 127.
        assert_eq!(out, [-10, 127 - 5]);
        assert_eq!(
            write(&[byte, 3], 0, &mut blob),
            Err(Error::QuantShift {
                layer: 0,
                unit: 1,
                shift: 3
            })
        );
        // The core's rule still demands a zero output zero point.
        let (cm, cs) = super::super::quantize_multiplier(0.25).unwrap();
        assert_eq!((cm, cs), (m, 0));
        assert!(matches!(
            write(&[cs, cs], 5, &mut blob),
            Err(Error::ZeroPoint { tensor: 1, .. })
        ));
    }
}
