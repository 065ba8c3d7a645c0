//! Fixed-point requantization: TFLite's known values, the multiplier round trip, and
//! `MultiplyByQuantizedMultiplier` against an exact rational (i128) evaluation.

use proptest::prelude::*;
use tinylab_classical::int8::fixed_point::{
    QuantizedMultiplier, RoundingPolicy, multiply_by_quantized_multiplier, quantize_multiplier, rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
};
use tinylab_classical::int8::reference::requantize_exact;

const DOUBLE: RoundingPolicy = RoundingPolicy::DoubleRounding;
const SINGLE: RoundingPolicy = RoundingPolicy::SingleRounding;

fn qm(multiplier: i32, shift: i32) -> QuantizedMultiplier {
    QuantizedMultiplier { multiplier, shift }
}

#[test]
fn quantize_multiplier_matches_tflite_known_values() {
    // frexp(0.5) = (0.5, 0) -> round(0.5 * 2^31) = 2^30.
    assert_eq!(quantize_multiplier(0.5, DOUBLE).unwrap(), qm(1 << 30, 0));
    assert_eq!(quantize_multiplier(1.0, DOUBLE).unwrap(), qm(1 << 30, 1));
    assert_eq!(quantize_multiplier(0.25, DOUBLE).unwrap(), qm(1 << 30, -1));
    assert_eq!(quantize_multiplier(0.75, DOUBLE).unwrap(), qm(3 << 29, 0));
    assert_eq!(quantize_multiplier(0.0, DOUBLE).unwrap(), qm(0, 0));
    // q * 2^31 rounds up to 2^31: halved, shift + 1.
    assert_eq!(quantize_multiplier(1.0 - 2f64.powi(-40), DOUBLE).unwrap(), qm(1 << 30, 1));
    // Shifts below -31 flush to zero.
    assert_eq!(quantize_multiplier(2f64.powi(-40), DOUBLE).unwrap(), qm(0, 0));
    // Single rounding saturates shifts above 30.
    assert_eq!(quantize_multiplier(2f64.powi(31), SINGLE).unwrap(), qm(i32::MAX, 30));
    assert!(quantize_multiplier(2f64.powi(31), DOUBLE).is_err());
    assert!(quantize_multiplier(-0.5, DOUBLE).is_err());
    assert!(quantize_multiplier(f64::NAN, DOUBLE).is_err());
    // A fully connected layer of a TFLite-converted model (per-tensor multiplier
    // double(float(s_in * s_w)) / double(s_out)) and the multiplier/shift its converter wrote.
    let cases = [
        (1.086_274_5_f32, 0.049_075_074_f32, 29.098_173_f32, 2_014_348_674, -9),
        (29.098_173, 0.019_289_842, 40.184_48, 1_919_755_326, -6),
        (40.184_48, 0.020_012_757, 47.970_394, 1_152_051_287, -5),
        (47.970_394, 0.001_792_834_8, 3.556_443_7, 1_661_795_047, -5),
    ];
    for (s_in, s_w, s_out, m, shift) in cases {
        let real = (s_in * s_w) as f64 / s_out as f64;
        assert_eq!(quantize_multiplier(real, DOUBLE).unwrap(), qm(m, shift), "{s_in} {s_w} {s_out}");
    }
}

#[test]
fn gemmlowp_primitives_round_as_documented() {
    // 0.5 * 0.5 in Q0.31.
    assert_eq!(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
    assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
    // -3 * 0.5 = -1.5: the nudge 1 - 2^30 with truncating division sends ties towards +inf.
    assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
    assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
    // Rounding divide: ties away from zero.
    assert_eq!(rounding_divide_by_pot(5, 1), 3);
    assert_eq!(rounding_divide_by_pot(-5, 1), -3);
    assert_eq!(rounding_divide_by_pot(-5, 2), -1);
    assert_eq!(rounding_divide_by_pot(6, 2), 2);
    assert_eq!(rounding_divide_by_pot(-6, 2), -2);
    assert_eq!(rounding_divide_by_pot(7, 0), 7);
    // x * 0.25 = -1.5 after the high mul of -6 * 0.5 = -3, then -3 / 2 -> -2 (away from zero).
    assert_eq!(multiply_by_quantized_multiplier(-6, qm(1 << 30, -1), DOUBLE), -2);
    // Double rounding differs from single rounding: 5 * 0.25 = 1.25; double rounding first rounds the
    // high mul 5 * 0.5 = 2.5 up to 3, then 3 / 2 = 1.5 away from zero to 2; single rounding gives 1.
    assert_eq!(multiply_by_quantized_multiplier(5, qm(1 << 30, -1), DOUBLE), 2);
    assert_eq!(multiply_by_quantized_multiplier(5, qm(1 << 30, -1), SINGLE), 1);
    // Left shifts apply before the high mul.
    assert_eq!(multiply_by_quantized_multiplier(7, qm(1 << 30, 3), DOUBLE), 28);
}

/// `x * M * 2^(shift - 31)` as an exact fraction `num / 2^den_pow`.
fn exact(x: i32, m: QuantizedMultiplier) -> (i128, i32) {
    let num = x as i128 * m.multiplier as i128;
    if m.shift >= 31 { (num << (m.shift - 31), 0) } else { (num, 31 - m.shift) }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn multiplier_round_trip_is_within_2_pow_minus_31(log2 in -30.0f64..20.0, frac in 0.0f64..1.0) {
        let real = 2f64.powf(log2) * (1.0 + frac) / 2.0;
        let m = quantize_multiplier(real, DOUBLE).unwrap();
        prop_assert!((1 << 30..=i32::MAX).contains(&m.multiplier));
        let back = m.multiplier as f64 * 2f64.powi(m.shift - 31);
        prop_assert!(((back - real) / real).abs() <= 2f64.powi(-31), "{real} -> {m:?} = {back}");
    }

    #[test]
    fn requantization_is_bit_exact_against_i128(x in any::<i32>(), log2 in -31.0f64..12.0, single in any::<bool>()) {
        let policy = if single { SINGLE } else { DOUBLE };
        let m = quantize_multiplier(2f64.powf(log2), policy).unwrap();
        // Keep the double-rounding left shift inside i32, as the engine's callers do.
        let x = if m.shift > 0 { x >> m.shift } else { x };
        let (num, e) = exact(x, m);
        prop_assume!(((num >> e.max(0)) + 1).abs() < i32::MAX as i128);
        let got = multiply_by_quantized_multiplier(x, m, policy) as i64;
        prop_assert_eq!(got, requantize_exact(x, m, policy));
        // Either rounding is within one unit of the exact value (two roundings of at most 1/2 each).
        let scaled = got as i128 * (1i128 << e);
        prop_assert!((scaled - num).abs() <= 1i128 << e, "x {x}, {m:?}: {got} vs {num}/2^{e}");
        if single {
            // One rounding: within half a unit.
            prop_assert!((2 * (scaled - num)).abs() <= 1i128 << e);
        }
    }
}
