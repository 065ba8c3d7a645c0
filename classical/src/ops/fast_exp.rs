//! `e^x` for f32 in straight-line arithmetic, so that loops over slices vectorise.
//!
//! `f32::exp` is a call into libm per element: softmax rows, the sigmoid of SiLU and the online
//! softmax of flash attention spent 8% of a GPT prefill in `__expf` alone. [`exp`] is Cephes'
//! `expf` (Moshier, "Methods and Programs for Mathematical Functions", 1989): `x = n ln 2 + r` with
//! `n` the nearest integer of `x / ln 2` (by the `1.5 * 2^23` rounding trick) and `ln 2` split in two
//! parts so that `r` is exact, a degree-7 polynomial for `e^r` on `|r| <= ln 2 / 2`, and `2^n`
//! assembled in the exponent bits (as two factors, so that `n = 128` stays representable). Every step is a multiply, an add or a select, with no fused
//! multiply-add, so the result is the same on every target and at every vector width.
//!
//! Accuracy: at most 2 ulp from the correctly rounded `e^x` for `x` in `[-87.33, 88.72]` (tested
//! against f64 over a dense sweep); `e^x` is flushed to `0.0` below that range (where `f32::exp`
//! returns subnormals), `+inf` above it, `exp(-inf) = 0`, `exp(NaN) = NaN`.

/// Below this, the result is flushed to zero (`e^x` would be subnormal).
const LOWEST: f32 = -87.336_55;
/// Above this, `e^x` overflows f32.
const HIGHEST: f32 = 88.722_84;

/// `e^x` (see the module docs for accuracy and the edge cases).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer (nearest, ties even)
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let clamped = x.clamp(LOWEST, HIGHEST); // n in [-126, 128]; NaN passes through clamp
    let shifted = clamped * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_2e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5; // Cephes: 5.0000001201e-1, which rounds to 0.5 in f32
    let e_r = p * (r * r) + r + 1.0;
    let n_int = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    // 2^n as two exact factors 2^(n - h) 2^h, h = floor(n / 2): each exponent stays within the
    // normal range for n up to 128, where a single 2^n would not.
    let half = n_int >> 1;
    let pow2 = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    let y = e_r * pow2(n_int - half) * pow2(half);
    let y = if x < LOWEST { 0.0 } else { y };
    let y = if x > HIGHEST { f32::INFINITY } else { y };
    if x.is_nan() { x } else { y }
}

/// `e^x` for every element, in place.
pub fn exp_in_place(xs: &mut [f32]) {
    pulp::Arch::new().dispatch(ExpInPlace(xs))
}

/// `x <- e^(x - shift)` for every element, returning their sum: the inner step of a softmax. The sum
/// runs in eight interleaved lanes added in a fixed tree, so it vectorises and its bits depend on
/// the slice alone.
pub fn exp_shifted_sum(xs: &mut [f32], shift: f32) -> f32 {
    pulp::Arch::new().dispatch(ExpShiftedSum(xs, shift))
}

/// [`exp_shifted_sum`] on an ndarray lane: on its slice when contiguous, element by element (same
/// values, sequential sum) otherwise. The softmax and cross-entropy ops share it.
pub(crate) fn exp_shifted_sum_lane<D: ndarray::Dimension>(
    mut lane: ndarray::ArrayViewMut<'_, f32, D>,
    shift: f32,
) -> f32 {
    match lane.as_slice_mut() {
        Some(values) => exp_shifted_sum(values, shift),
        None => {
            lane.mapv_inplace(|v| exp(v - shift));
            lane.sum()
        }
    }
}

// The slice loops run under `pulp`'s run-time dispatch: compiled inside a function with AVX2 (and
// AVX-512 where pulp enables it) when the CPU has them, as SSE2 code otherwise. [`exp`] uses no fused
// multiply-add, so every path computes the same bits.
struct ExpInPlace<'a>(&'a mut [f32]);

impl pulp::WithSimd for ExpInPlace<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        self.0.iter_mut().for_each(|x| *x = exp(*x));
    }
}

struct ExpShiftedSum<'a>(&'a mut [f32], f32);

impl pulp::WithSimd for ExpShiftedSum<'_> {
    type Output = f32;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> f32 {
        let ExpShiftedSum(xs, shift) = self;
        xs.iter_mut().for_each(|x| *x = exp(*x - shift));
        let mut lanes = [0f32; 8];
        let mut chunks = xs.chunks_exact(8);
        for chunk in &mut chunks {
            for (lane, &x) in lanes.iter_mut().zip(chunk) {
                *lane += x;
            }
        }
        for (lane, &x) in lanes.iter_mut().zip(chunks.remainder()) {
            *lane += x;
        }
        ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]))
    }
}

/// The logistic function `1 / (1 + e^-x)` on [`exp`].
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Distance in units in the last place between `got` and the f64 value rounded to f32.
    fn ulps(got: f32, want: f64) -> u32 {
        let w = want as f32;
        (got.to_bits() as i64 - w.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn within_two_ulp_over_the_normal_range() {
        let mut worst = 0;
        let steps = 2_000_000;
        for i in 0..=steps {
            let x = LOWEST + (HIGHEST - LOWEST) * i as f32 / steps as f32;
            worst = worst.max(ulps(exp(x), (x as f64).exp()));
        }
        assert!(worst <= 2, "worst error {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(1.0), std::f32::consts::E);
    }

    #[test]
    fn edge_cases() {
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-1000.0), 0.0);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(88.7).is_finite() && exp(88.7) > 3.3e38);
        assert!(exp(LOWEST) > 0.0 && exp(LOWEST) < 1.2e-38);
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(-200.0), 0.0);
        assert_eq!(sigmoid(200.0), 1.0);
    }

    #[test]
    fn shifted_sums_are_the_softmax_denominator() {
        let mut xs: Vec<f32> = (0..29).map(|i| (i as f32 * 0.37).sin() * 5.0).collect();
        let want: f64 = xs.iter().map(|&x| ((x - 2.0) as f64).exp()).sum();
        let copy = xs.clone();
        let sum = exp_shifted_sum(&mut xs, 2.0);
        assert!(((sum as f64 - want) / want).abs() < 1e-6);
        for (&x, &y) in copy.iter().zip(&xs) {
            assert_eq!(y.to_bits(), exp(x - 2.0).to_bits());
        }
        let mut masked = [f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY];
        assert_eq!(exp_shifted_sum(&mut masked, 0.0), 1.0);
        assert_eq!(masked, [0.0, 1.0, 0.0]);
    }

    proptest! {
        #[test]
        fn slices_equal_the_scalar_and_stay_within_two_ulp(xs in prop::collection::vec(-87.0f32..88.0, 0..67)) {
            let mut ys = xs.clone();
            exp_in_place(&mut ys);
            for (&x, &y) in xs.iter().zip(&ys) {
                prop_assert_eq!(y.to_bits(), exp(x).to_bits());
                prop_assert!(ulps(y, (x as f64).exp()) <= 2);
            }
        }
    }
}
