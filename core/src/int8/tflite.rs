//! TFLite's requantization rule, for int8 models imported from `.tflite` files, so that
//! they give LiteRT's integers bit for bit.
//!
//! TFLite holds a multiplier `M = m · 2^(e − 31)` (`m` in `[2^30, 2^31)`, exponent `e`)
//! and applies it with `MultiplyByQuantizedMultiplier`. LiteRT as built for PyPI
//! (TensorFlow 2.21) uses its single-rounding form (`TFLITE_SINGLE_ROUNDING`), in its
//! reference and optimized kernels alike (the import fixtures show 0 differences between
//! the two and with this module):
//!
//! ```text
//! y = (acc · m + 2^(30 − e)) >> (31 − e)        64-bit product, arithmetic shift
//! ```
//!
//! The core's own rule ([`super::requantize`]) holds the same `M` with the same `m` and a
//! shift `s = −1 − e`, but rounds twice: the high word `t = (acc·m + 2^31) >> 32`, then
//! `(t + 2^(s−1)) >> s`. For `s ≥ 1`, TFLite's single rounding equals the same second step
//! on the high word *truncated*, `t = (acc·m) >> 32` (the low word is below one unit of
//! the last place that the `2^(s−1)` term rounds at); for `s = 0` both are the same. So the
//! rules differ only where the core's first rounding carries (its result is then one
//! higher), and the TFLite rule costs one select more than the core's, with no 64-bit
//! shift. Multipliers of 1/2 and more (`e ≥ 0`, a left shift in TFLite) are not supported
//! (the importer refuses them; fully connected layers have `M` far below 1/2).
//! (gemmlowp's double-rounding `SaturatingRoundingDoublingHighMul` + `RoundingDivideByPOT`,
//! which TFLite uses when built without single rounding, rounds ties away from zero and
//! differs again.)
//!
//! In a blob the rule is chosen by the shift byte: `0..=31` is the core's shift `s`, and
//! [`TFLITE_RULE`]` | s` (s in `0..=30`) the TFLite rule with shift `s`. A blob uses one rule
//! for every unit (checked when it is read).

/// The bit of a shift byte that selects TFLite's rule: `byte = TFLITE_RULE | s`.
pub const TFLITE_RULE: u8 = 0x80;

/// The shift byte of TFLite exponent `e` (`s = −1 − e`); `None` outside `−31..=−1`.
pub const fn tflite_shift_byte(e: i32) -> Option<u8> {
    if e < -31 || e > -1 {
        return None;
    }
    Some(TFLITE_RULE | (-1 - e) as u8)
}

/// The shift `s` a TFLite-rule byte holds, if it is one.
pub const fn tflite_shift(byte: u8) -> Option<u8> {
    if byte & TFLITE_RULE != 0 && byte & !TFLITE_RULE <= 30 {
        Some(byte & !TFLITE_RULE)
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

/// Requantization by a shift byte of either rule: the core's ([`super::requantize`]) for
/// `0..=31`, TFLite's single rounding for [`TFLITE_RULE`]` | s` (module docs). `m ≥ 0`.
#[inline(always)]
pub fn requantize_by_byte(acc: i32, m: i32, byte: u8) -> i32 {
    // TFLite with s ≥ 1 truncates the high word; everything else rounds it.
    let round = if byte > TFLITE_RULE { 0 } else { 1u32 << 31 };
    let t = if cfg!(microdense_thumb1) {
        mul_high(acc, m, round)
    } else {
        ((i64::from(acc) * i64::from(m) + i64::from(round)) >> 32) as i32
    };
    let s = u32::from(byte) & 31;
    t.wrapping_add(((1u32 << s) >> 1) as i32) >> s
}

/// `(a·m + round) >> 32` (`m ≥ 0`) from four 16×16-bit products, for Thumb-1 cores: they
/// have no 32×32→64 multiply, and the i64 product is a library call there.
#[inline(always)]
fn mul_high(a: i32, m: i32, round: u32) -> i32 {
    let (ua, um) = (a as u32, m as u32);
    let (al, ah, ml, mh) = (ua & 0xFFFF, ua >> 16, um & 0xFFFF, um >> 16);
    // The middle terms' sum can carry past 32 bits (into bit 48 of the product).
    let (mid, carry) = (al * mh).overflowing_add(ah * ml);
    let (low, c1) = (al * ml).overflowing_add(mid << 16);
    let c2 = low.checked_add(round).is_none();
    let high = (ah * mh)
        .wrapping_add(mid >> 16)
        .wrapping_add(u32::from(carry) << 16)
        .wrapping_add(u32::from(c1))
        .wrapping_add(u32::from(c2));
    // a = ua − 2^32 when negative, so a·m = ua·m − 2^32·m.
    high.wrapping_sub(if a < 0 { um } else { 0 }) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The Thumb-1 product against the i64 one, with and without rounding.
    #[test]
    fn mul_high_matches_the_i64_product() {
        let mut rng = Rng::new(23);
        let edges = [0, 1, -1, i32::MIN, i32::MAX, 0xFFFF, -0x10000, 0x7FFF_0000];
        for round in 0..200_000 {
            let a = match round % 4 {
                0 => edges[rng.below(edges.len())],
                1 => (rng.next_u64() as i32) >> (rng.below(31) as u32),
                _ => rng.next_u64() as i32,
            };
            let m = if round % 5 == 0 {
                i32::MAX
            } else {
                (rng.next_u64() >> 33) as i32
            };
            for r in [0u32, 1 << 31] {
                let want = ((i64::from(a) * i64::from(m) + i64::from(r)) >> 32) as i32;
                assert_eq!(mul_high(a, m, r), want, "{a} · {m} + {r}");
            }
        }
    }

    /// Against the definition on exact integers (i128): `acc · m / 2^(31 − e)` rounded
    /// half up, once.
    #[test]
    fn matches_the_single_rounding_definition() {
        let mut rng = Rng::new(17);
        for round in 0..300_000 {
            let acc = match round % 3 {
                0 => rng.next_u64() as i32,
                1 => (rng.next_u64() as i32) >> (rng.below(31) as u32),
                _ => rng.below(2001) as i32 - 1000,
            };
            let real = libm::exp2(-(1.0 + 31.0 * rng.next_f64())) * 0.999;
            let (m, e) = tflite_multiplier(real).unwrap();
            let Some(byte) = tflite_shift_byte(e) else {
                assert_eq!(m, 0, "{real}");
                continue;
            };
            let den = 1i128 << (31 - e);
            let want = (2 * i128::from(acc) * i128::from(m) + den).div_euclid(2 * den);
            assert_eq!(
                i128::from(requantize_by_byte(acc, m, byte)),
                want,
                "{acc} {m} {e}"
            );
        }
        // Exact ties round up, at the smallest and the largest shift.
        let byte = tflite_shift_byte(-2).unwrap(); // s = 1: M = m / 2^33
        assert_eq!(requantize_by_byte(1, 1 << 31 >> 1, byte), 0); // 2^30 / 2^33 = 1/8
        assert_eq!(requantize_by_byte(4, 1 << 30, byte), 1); // 1/2 → 1
        assert_eq!(requantize_by_byte(-4, 1 << 30, byte), 0); // −1/2 → 0
    }

    /// Where the two rules part: the core's first rounding carries.
    #[test]
    fn differs_from_the_core_rule_where_documented() {
        // M = 1/8: TFLite (m = 2^30, e = −2), core (m = 2^30, s = 1): the same m.
        let (m, e) = tflite_multiplier(0.125).unwrap();
        let (cm, cs) = super::super::quantize_multiplier(0.125).unwrap();
        assert_eq!((m, e, cm, cs), (1 << 30, -2, 1 << 30, 1));
        let byte = tflite_shift_byte(e).unwrap();
        // 2 / 8 = 0.25: TFLite 0; the core's high word rounds 0.5 up to 1, then 1/2 up to 1.
        assert_eq!(requantize_by_byte(2, m, byte), 0);
        assert_eq!(super::super::requantize(2, cm, cs), 1);
        // Core bytes give the core's rule.
        assert_eq!(requantize_by_byte(2, cm, cs), 1);
        let mut rng = Rng::new(3);
        let mut higher = 0;
        for _ in 0..100_000 {
            let acc = rng.below(200_001) as i32 - 100_000;
            let real = libm::exp2(-(1.0 + 11.0 * rng.next_f64()));
            let (m, e) = tflite_multiplier(real).unwrap();
            let (cm, cs) = super::super::quantize_multiplier(real).unwrap();
            assert_eq!((m, -1 - e), (cm, i32::from(cs)));
            let a = requantize_by_byte(acc, m, tflite_shift_byte(e).unwrap());
            let b = super::super::requantize(acc, cm, cs);
            assert_eq!(b, requantize_by_byte(acc, cm, cs));
            assert!(b == a || b == a + 1, "{acc} {real}: {a} vs {b}");
            higher += usize::from(b != a);
        }
        assert!(higher > 0, "the rules never differed");
    }

    #[test]
    fn shift_bytes_round_trip_and_stay_clear_of_core_shifts() {
        for e in -31..=-1 {
            let b = tflite_shift_byte(e).unwrap();
            assert!(b > 31);
            assert_eq!(tflite_shift(b), Some((-1 - e) as u8));
        }
        assert_eq!(tflite_shift_byte(0), None);
        assert_eq!(tflite_shift_byte(-32), None);
        assert_eq!(tflite_shift(TFLITE_RULE | 31), None);
        for b in 0..=31u8 {
            assert_eq!(tflite_shift(b), None);
        }
        assert_eq!(tflite_multiplier(3.0), Some((3 << 29, 2)));
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
        assert_eq!(byte, TFLITE_RULE);
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
