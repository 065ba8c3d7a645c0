//! Fixed-point requantization as TFLite Micro does it (`tensorflow/lite/kernels/internal/common.h`,
//! `quantization_util.cc`, gemmlowp's `fixedpoint.h`).
//!
//! A real multiplier `r > 0` is stored as a Q0.31 integer `M` in `[2^30, 2^31)` and a power-of-two
//! exponent `shift` (positive = left) with `r ≈ M 2^(shift - 31)` ([`quantize_multiplier`]). An i32
//! accumulator is then rescaled by [`multiply_by_quantized_multiplier`] under a [`RoundingPolicy`]:
//!
//! - [`RoundingPolicy::DoubleRounding`] (TFLite's default, gemmlowp's): left shift `x` by
//!   `max(shift, 0)`, [`saturating_rounding_doubling_high_mul`] (`round(x M / 2^31)` with ties towards
//!   +inf), then [`rounding_divide_by_pot`] by `max(-shift, 0)` (ties away from zero). Two roundings.
//! - [`RoundingPolicy::SingleRounding`] (`TFLITE_SINGLE_ROUNDING`): one rounding right shift of the
//!   64-bit product, `floor((x M + 2^(30 - shift)) / 2^(31 - shift))` (ties towards +inf).

use crate::error::{Result, arg_err};

/// How an accumulator is rounded when it is rescaled by a fixed-point multiplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum RoundingPolicy {
    /// TFLite's default: a rounding doubling high multiply, then a rounding right shift.
    #[default]
    DoubleRounding,
    /// `TFLITE_SINGLE_ROUNDING`: one rounding shift of the exact 64-bit product.
    SingleRounding,
}

/// A real multiplier `multiplier * 2^(shift - 31)` with `multiplier` in `[2^30, 2^31)` (or 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct QuantizedMultiplier {
    /// The Q0.31 mantissa.
    pub multiplier: i32,
    /// The exponent: positive shifts left, negative right.
    pub shift: i32,
}

impl QuantizedMultiplier {
    /// True when the kernels can apply it: a non-negative mantissa and a shift in `[-31, 30]` (outside
    /// that the shifts of [`multiply_by_quantized_multiplier`] overflow).
    pub fn in_range(self) -> bool {
        self.multiplier >= 0 && (-31..=30).contains(&self.shift)
    }

    /// The real number this multiplier stands for (exact in f64).
    pub fn to_f64(self) -> f64 {
        self.multiplier as f64 * 2f64.powi(self.shift - 31)
    }
}

/// TFLite's `QuantizeMultiplier`: `frexp` splits `real = q 2^shift` with `q` in `[0.5, 1)`,
/// `M = round(q 2^31)` (half away from zero); `M == 2^31` becomes `2^30` with `shift + 1`; shifts
/// below -31 flush to zero; under single rounding shifts above 30 saturate to `(2^31 - 1, 30)`.
/// Errors on a negative, NaN or infinite multiplier.
pub fn quantize_multiplier(real: f64, policy: RoundingPolicy) -> Result<QuantizedMultiplier> {
    if !real.is_finite() || real < 0.0 {
        return Err(arg_err("quantize_multiplier", format!("multiplier {real} must be finite and non-negative")));
    }
    if real == 0.0 {
        return Ok(QuantizedMultiplier::default());
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = (q * (1u64 << 31) as f64).round() as i64;
    if q_fixed == 1 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    if policy == RoundingPolicy::SingleRounding && shift > 30 {
        shift = 30;
        q_fixed = (1 << 31) - 1;
    }
    if shift > 30 {
        return Err(arg_err("quantize_multiplier", format!("multiplier {real} exceeds 2^30")));
    }
    Ok(QuantizedMultiplier { multiplier: q_fixed as i32, shift })
}

/// `frexp`: `x = q 2^e` with `q` in `[0.5, 1)`, for finite positive `x` (subnormals included).
fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let exp_field = ((bits >> 52) & 0x7ff) as i32;
    if exp_field == 0 {
        // Subnormal: scale into the normal range first.
        let (q, e) = frexp(x * 2f64.powi(64));
        return (q, e - 64);
    }
    let e = exp_field - 1022;
    let q = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (q, e)
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: the high 32 bits of `2 a b` rounded to nearest
/// (`(a b + 2^30) / 2^31` for `a b >= 0`, `(a b + 1 - 2^30) / 2^31` otherwise, division truncating
/// towards zero: ties go towards +inf), saturating the one overflow `a = b = i32::MIN`.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away from zero
/// (`exponent` in `0..=31`).
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// TFLite's `MultiplyByQuantizedMultiplier(x, M, shift)` under `policy` (see the module docs). Under
/// double rounding the left shift wraps in i32 as the C++ multiply does on two's-complement machines;
/// callers keep `x 2^max(shift, 0)` in range.
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, m: QuantizedMultiplier, policy: RoundingPolicy) -> i32 {
    match policy {
        RoundingPolicy::DoubleRounding => {
            let left = m.shift.max(0);
            let right = (-m.shift).max(0);
            rounding_divide_by_pot(
                saturating_rounding_doubling_high_mul(x.wrapping_shl(left as u32), m.multiplier),
                right,
            )
        }
        RoundingPolicy::SingleRounding => {
            let total = 31 - m.shift;
            let round = 1i64 << (total - 1);
            ((x as i64 * m.multiplier as i64 + round) >> total) as i32
        }
    }
}

/// The output stage of a conv / fully connected / add: rescale an i32 accumulator by a (per channel)
/// multiplier, add the output zero point, clamp to the activation range (ReLU / ReLU6 folded in) and
/// narrow to i8.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Requant {
    /// One multiplier per output channel (or one for all).
    pub multipliers: Vec<QuantizedMultiplier>,
    /// Added after rescaling.
    pub output_zero_point: i32,
    /// Lower clamp (at least -128).
    pub act_min: i32,
    /// Upper clamp (at most 127).
    pub act_max: i32,
    /// Rounding of the rescale.
    pub policy: RoundingPolicy,
}

impl Requant {
    /// Checks the zero point and the clamp range lie in i8 and there is at least one multiplier.
    pub fn new(
        multipliers: Vec<QuantizedMultiplier>,
        output_zero_point: i32,
        act_min: i32,
        act_max: i32,
        policy: RoundingPolicy,
    ) -> Result<Self> {
        let i8r = -128..=127;
        if multipliers.is_empty()
            || !i8r.contains(&output_zero_point)
            || !i8r.contains(&act_min)
            || !i8r.contains(&act_max)
            || act_min > act_max
        {
            return Err(arg_err(
                "Requant::new",
                format!(
                    "need a multiplier, zero point and clamp range in [-128, 127]: zp {output_zero_point}, range [{act_min}, {act_max}], {} multipliers",
                    multipliers.len()
                ),
            ));
        }
        if let Some(m) = multipliers.iter().find(|m| !m.in_range()) {
            return Err(arg_err("Requant::new", format!("multiplier {m:?} out of range")));
        }
        Ok(Self { multipliers, output_zero_point, act_min, act_max, policy })
    }

    /// The multiplier of `channel` (the only one when there is a single multiplier).
    #[inline(always)]
    pub fn multiplier(&self, channel: usize) -> QuantizedMultiplier {
        if self.multipliers.len() == 1 { self.multipliers[0] } else { self.multipliers[channel] }
    }

    /// The i8 output of accumulator `acc` in `channel`.
    #[inline(always)]
    pub fn apply(&self, acc: i32, channel: usize) -> i8 {
        let v = multiply_by_quantized_multiplier(acc, self.multiplier(channel), self.policy);
        v.wrapping_add(self.output_zero_point).clamp(self.act_min, self.act_max) as i8
    }

    /// Requantizes a run of accumulators of consecutive channels `first..first + acc.len()` into
    /// `out` (a vectorisable loop: lanes are channels).
    #[inline(always)]
    pub fn apply_channels(&self, acc: &[i32], first: usize, out: &mut [i8]) {
        for (j, (o, &a)) in out.iter_mut().zip(acc).enumerate() {
            *o = self.apply(a, first + j);
        }
    }
}
