//! Calibration of activation ranges for post-training quantization.
//!
//! A [`RangeObserver`] watches the values a tensor takes over a calibration set and proposes the range
//! `[min, max]` its quantizer should cover:
//!
//! - [`Calibration::MinMax`]: the extremes seen (TFLite's converter, PyTorch's `MinMaxObserver`).
//! - [`Calibration::Percentile`]: the `p`-th and `(100 - p)`-th percentiles, clipping rare outliers.
//! - [`Calibration::Mse`]: the clipping of `[min, max]` that minimises the mean squared error between
//!   the values and their quantized versions (a grid search over 100 shrink factors).
//! - [`Calibration::Entropy`]: TensorRT's KL-divergence calibration (Migacz, "8-bit Inference with
//!   TensorRT", GTC 2017): a 2048-bin histogram of `|x|`, and the threshold whose quantized
//!   distribution is closest in KL divergence to the clipped reference.
//!
//! The observer keeps the values it saw (calibration sets are small), so every method sees the same data
//! and the result does not depend on batch boundaries.

use super::quant::{QuantParams, Symmetry};
use crate::error::{Result, arg_err};

/// How a range is chosen from the observed values.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Calibration {
    /// Smallest and largest value.
    MinMax,
    /// Percentile clipping: keep `[P(100 - p), P(p)]`, e.g. `p = 99.99`.
    Percentile(f64),
    /// Minimum mean squared quantization error.
    Mse,
    /// Minimum KL divergence between the clipped histogram and its quantized version (TensorRT).
    Entropy,
}

/// Collects a tensor's values over a calibration set and proposes its quantization range.
#[derive(Debug, Clone)]
pub struct RangeObserver {
    method: Calibration,
    bits: u8,
    values: Vec<f32>,
    lo: f32,
    hi: f32,
}

/// Histogram bins of the entropy method (TensorRT's choice).
const ENTROPY_BINS: usize = 2048;
/// Shrink factors tried by the MSE method.
const MSE_STEPS: usize = 100;

impl RangeObserver {
    /// An observer for an 8-bit quantizer.
    pub fn new(method: Calibration) -> Self {
        Self { method, bits: 8, values: Vec::new(), lo: f32::INFINITY, hi: f32::NEG_INFINITY }
    }

    /// The same for a `bits`-bit quantizer (the MSE and entropy methods depend on the grid).
    pub fn with_bits(self, bits: u8) -> Self {
        Self { bits, ..self }
    }

    /// The method.
    pub fn method(&self) -> Calibration {
        self.method
    }

    /// Records a batch of values (NaNs are skipped).
    pub fn observe(&mut self, x: &[f32]) {
        // Not `min_max`, whose `(0, 0)` for an empty input would put 0 into the range of a batch
        // that holds only NaNs.
        for &v in x.iter().filter(|v| !v.is_nan()) {
            self.lo = self.lo.min(v);
            self.hi = self.hi.max(v);
        }
        if self.method != Calibration::MinMax {
            self.values.extend(x.iter().copied().filter(|v| !v.is_nan()));
        }
    }

    /// The proposed range; an error before any value was observed or for an infinite value.
    pub fn range(&self) -> Result<(f32, f32)> {
        if self.lo > self.hi {
            return Err(arg_err("calibrate", "no values observed"));
        }
        if !(self.lo.is_finite() && self.hi.is_finite()) {
            return Err(arg_err("calibrate", format!("observed range [{}, {}] is not finite", self.lo, self.hi)));
        }
        match self.method {
            Calibration::MinMax => Ok((self.lo, self.hi)),
            Calibration::Percentile(p) => percentile_range(&self.values, p),
            Calibration::Mse => mse_range(&self.values, (self.lo, self.hi), self.bits),
            Calibration::Entropy => Ok(entropy_range(&self.values, (self.lo, self.hi), self.bits)),
        }
    }

    /// Asymmetric quantization parameters for the proposed range.
    pub fn params(&self) -> Result<QuantParams> {
        let (lo, hi) = self.range()?;
        QuantParams::from_range(lo, hi, self.bits, Symmetry::Asymmetric)
    }
}

/// `[P(100 - p), P(p)]` by nearest rank.
fn percentile_range(values: &[f32], p: f64) -> Result<(f32, f32)> {
    if !(50.0..=100.0).contains(&p) {
        return Err(arg_err("calibrate", format!("percentile {p} must lie in [50, 100]")));
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    let rank = |q: f64| -> f32 {
        let i = ((q / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[i.min(sorted.len() - 1)]
    };
    Ok((rank(100.0 - p), rank(p)))
}

/// Mean squared error of quantizing `values` on the grid of `[lo, hi]`.
fn quantization_mse(values: &[f32], lo: f32, hi: f32, bits: u8) -> Result<f64> {
    let params = QuantParams::from_range(lo, hi, bits, Symmetry::Asymmetric)?;
    let sum: f64 = values
        .iter()
        .map(|&v| {
            let e = (params.dequantize_value(params.quantize_value(v, 0), 0) - v) as f64;
            e * e
        })
        .sum();
    Ok(sum / values.len().max(1) as f64)
}

/// The shrink by `a` in `{1/100, ..., 1}` of least quantization MSE (the widest on ties).
///
/// The quantizer's range always contains 0, so the shrink acts on `[min(lo, 0), max(hi, 0)]` towards 0
/// and is then clamped into the data's `[lo, hi]`: data that does not straddle 0 (all positive, say)
/// gets a clip of its far end only, never a range reaching below its minimum (the plain shrink
/// `[a lo, a hi]` would, with the same quantizer after widening to 0).
fn mse_range(values: &[f32], (lo, hi): (f32, f32), bits: u8) -> Result<(f32, f32)> {
    let shrink = |a: f32| ((a * lo.min(0.0)).clamp(lo, hi), (a * hi.max(0.0)).clamp(lo, hi));
    let mut best = ((lo, hi), quantization_mse(values, lo, hi, bits)?);
    for step in (1..MSE_STEPS).rev() {
        let (l, h) = shrink(step as f32 / MSE_STEPS as f32);
        let err = quantization_mse(values, l, h, bits)?;
        if err < best.1 {
            best = ((l, h), err);
        }
    }
    Ok(best.0)
}

/// KL divergence `sum p log(p / q)` of two unnormalised histograms (bins where `p = 0` add nothing;
/// a bin with `p > 0` and `q = 0` is smoothed with a tiny mass, as TensorRT's implementation does).
fn kl_divergence(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    if sp == 0.0 || sq == 0.0 {
        return f64::INFINITY;
    }
    p.iter()
        .zip(q)
        .filter(|(pi, _)| **pi > 0.0)
        .map(|(pi, qi)| {
            let (pn, qn) = (pi / sp, (qi / sq).max(1e-12));
            pn * (pn / qn).ln()
        })
        .sum()
}

/// TensorRT's entropy calibration on `|x|`: the clipping threshold whose `levels`-bin quantized
/// histogram is closest in KL divergence to the reference (clipped) histogram.
fn entropy_range(values: &[f32], (lo, hi): (f32, f32), bits: u8) -> (f32, f32) {
    let absmax = lo.abs().max(hi.abs());
    if absmax == 0.0 || values.is_empty() {
        return (lo, hi);
    }
    // Non-negative data uses the whole grid on one side; signed data half of it per side.
    let levels = if lo >= 0.0 { 1usize << bits } else { 1usize << (bits - 1) };
    let width = absmax as f64 / ENTROPY_BINS as f64;
    let mut hist = vec![0f64; ENTROPY_BINS];
    for &v in values {
        hist[((v.abs() as f64 / width) as usize).min(ENTROPY_BINS - 1)] += 1.0;
    }
    let mut best = (ENTROPY_BINS, f64::INFINITY);
    for end in levels..=ENTROPY_BINS {
        let mut reference = hist[..end].to_vec();
        reference[end - 1] += hist[end..].iter().sum::<f64>();
        // Merge the `end` bins into `levels` groups, then spread each group's mass evenly over its
        // non-empty bins.
        let mut candidate = vec![0f64; end];
        for level in 0..levels {
            let (start, stop) = (level * end / levels, ((level + 1) * end / levels).max(level * end / levels + 1));
            let stop = stop.min(end);
            let mass: f64 = hist[start..stop].iter().sum();
            let nonzero = hist[start..stop].iter().filter(|&&h| h > 0.0).count();
            if nonzero > 0 {
                for i in start..stop {
                    if hist[i] > 0.0 {
                        candidate[i] = mass / nonzero as f64;
                    }
                }
            }
        }
        let kl = kl_divergence(&reference, &candidate);
        if kl < best.1 {
            best = (end, kl);
        }
    }
    let threshold = (best.0 as f64 * width) as f32;
    (lo.max(-threshold), hi.min(threshold))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe(method: Calibration, values: &[f32]) -> (f32, f32) {
        let mut o = RangeObserver::new(method);
        for chunk in values.chunks(7) {
            o.observe(chunk);
        }
        o.range().unwrap()
    }

    #[test]
    fn min_max_is_the_extremes() {
        assert_eq!(observe(Calibration::MinMax, &[0.5, -2.0, 3.0, 1.0]), (-2.0, 3.0));
    }

    #[test]
    fn percentile_clips_a_lone_outlier() {
        let mut v: Vec<f32> = (0..10_000).map(|i| i as f32 / 10_000.0).collect();
        v.push(1000.0);
        let (lo, hi) = observe(Calibration::Percentile(99.9), &v);
        assert!((0.0..0.01).contains(&lo), "{lo}");
        assert!(hi > 0.98 && hi < 1.0, "{hi}"); // clipped below the outlier
    }

    #[test]
    fn mse_and_entropy_clip_heavy_tails_but_not_uniform_data() {
        let mut rng = crate::tensor::rng(3);
        let gaussian: Vec<f32> = crate::tensor::randn(&[20_000], 1.0, &mut rng).iter().map(|v| v.abs()).collect();
        let (_, max) = crate::compress::quant::min_max(gaussian.iter().copied());
        for method in [Calibration::Mse, Calibration::Entropy] {
            let (_, hi) = observe(method, &gaussian);
            assert!(hi < max && hi > 1.5, "{method:?}: {hi} of {max}");
        }
        let uniform: Vec<f32> = (0..4096).map(|i| i as f32 / 4095.0).collect();
        let (_, hi) = observe(Calibration::Mse, &uniform);
        assert!(hi > 0.98, "uniform data keeps its range under MSE: {hi}");
    }

    #[test]
    fn mse_range_of_one_signed_data_stays_inside_it() {
        // Two values, both positive, 2 bits: the old plain shrink [a lo, a hi] returned a lower end
        // below the minimum; the clip now only moves the far end.
        let mse_2bit = |v: &[f32]| {
            let mut o = RangeObserver::new(Calibration::Mse).with_bits(2);
            o.observe(v);
            o.range().unwrap()
        };
        let values = [2.899_159_7f32, 3.322_365];
        let (lo, hi) = mse_2bit(&values);
        assert!(values[0] <= lo && lo <= hi && hi <= values[1], "[{lo}, {hi}]");
        let negative: Vec<f32> = values.iter().map(|v| -v).collect();
        let (lo, hi) = mse_2bit(&negative);
        assert!(negative[1] <= lo && lo <= hi && hi <= negative[0], "[{lo}, {hi}]");
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(RangeObserver::new(Calibration::MinMax).range().is_err());
        let mut o = RangeObserver::new(Calibration::Percentile(10.0));
        o.observe(&[1.0]);
        assert!(o.range().is_err());
        let mut o = RangeObserver::new(Calibration::MinMax);
        o.observe(&[f32::INFINITY]);
        assert!(o.range().is_err());
        // A batch of NaNs only is no observation (it must not put 0 into the range).
        let mut o = RangeObserver::new(Calibration::MinMax);
        o.observe(&[f32::NAN]);
        assert!(o.range().is_err());
        o.observe(&[1.0, f32::NAN, 2.0]);
        assert_eq!(o.range().unwrap(), (1.0, 2.0));
    }
}
