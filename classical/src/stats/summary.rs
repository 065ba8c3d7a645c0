//! Mean, sample variance and standard deviation, and the Student-t confidence interval of a mean:
//! what a metric averaged over seeds reports.

use super::student_t::student_t_quantile;
use super::{StatsError, check_finite};

/// The arithmetic mean, summed in order. Errors on an empty sample.
pub fn mean(values: &[f64]) -> Result<f64, StatsError> {
    if values.is_empty() {
        return Err(StatsError::TooFewValues { what: "mean", needed: 1, got: 0 });
    }
    Ok(values.iter().sum::<f64>() / values.len() as f64)
}

/// The unbiased sample variance `Σ (v − mean)² / (n − 1)`, summed in order. Errors with fewer than
/// two values.
pub fn sample_variance(values: &[f64]) -> Result<f64, StatsError> {
    if values.len() < 2 {
        return Err(StatsError::TooFewValues { what: "sample variance", needed: 2, got: values.len() });
    }
    let m = mean(values)?;
    Ok(values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (values.len() - 1) as f64)
}

/// The sample standard deviation, the square root of [`sample_variance`].
pub fn sample_std(values: &[f64]) -> Result<f64, StatsError> {
    Ok(sample_variance(values)?.sqrt())
}

/// A metric over seeds: its count, mean and sample standard deviation, with Student-t confidence
/// intervals of the mean (`mean ± t_{(1+level)/2, n−1} · std / √n`, exact for normally distributed
/// values, and the right width for the 3 to 10 seeds of an experiment where a normal interval is too
/// narrow).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Their sample standard deviation (`n − 1` in the denominator; 0 for one value).
    pub std: f64,
}

impl Summary {
    /// The summary of `values`; errors on an empty sample or a value that is not finite.
    pub fn of(values: &[f64]) -> Result<Self, StatsError> {
        check_finite("summary", values.iter().copied())?;
        let mean = mean(values)?;
        let std = if values.len() < 2 { 0.0 } else { sample_std(values)? };
        Ok(Self { n: values.len(), mean, std })
    }

    /// The standard error of the mean, `std / √n`.
    pub fn standard_error(&self) -> f64 {
        self.std / (self.n as f64).sqrt()
    }

    /// Half the width of the two-sided Student-t confidence interval at `level` (e.g. 0.95). Errors
    /// with fewer than two values or a level outside `(0, 1)`.
    pub fn ci_half_width(&self, level: f64) -> Result<f64, StatsError> {
        if self.n < 2 {
            return Err(StatsError::TooFewValues { what: "confidence interval", needed: 2, got: self.n });
        }
        if !(level > 0.0 && level < 1.0) {
            return Err(StatsError::OutOfRange { what: "confidence level", value: level });
        }
        Ok(student_t_quantile(0.5 + level / 2.0, (self.n - 1) as f64)? * self.standard_error())
    }

    /// The lower end of the confidence interval at `level`.
    pub fn ci_low(&self, level: f64) -> Result<f64, StatsError> {
        Ok(self.mean - self.ci_half_width(level)?)
    }

    /// The upper end of the confidence interval at `level`.
    pub fn ci_high(&self, level: f64) -> Result<f64, StatsError> {
        Ok(self.mean + self.ci_half_width(level)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_variance_of_known_samples() {
        assert_eq!(mean(&[1.0, 2.0, 3.0, 4.0]).unwrap(), 2.5);
        assert!((sample_variance(&[1.0, 2.0, 3.0, 4.0]).unwrap() - 5.0 / 3.0).abs() < 1e-15);
        assert!(
            (sample_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap() - (32.0f64 / 7.0).sqrt()).abs() < 1e-15
        );
        assert!(mean(&[]).is_err() && sample_variance(&[1.0]).is_err());
    }

    #[test]
    fn confidence_intervals_use_student_t() {
        // Three seeds: mean 2, std 1, t_{0.975, 2} = 4.302652729749464.
        let s = Summary::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.n, s.mean, s.std), (3, 2.0, 1.0));
        let half = s.ci_half_width(0.95).unwrap();
        assert!((half - 4.302652729749464 / 3f64.sqrt()).abs() < 1e-9, "{half}");
        assert!((s.ci_low(0.95).unwrap() + s.ci_high(0.95).unwrap() - 4.0).abs() < 1e-12);
        let one = Summary::of(&[0.5]).unwrap();
        assert_eq!(one.std, 0.0);
        assert!(one.ci_half_width(0.95).is_err() && s.ci_half_width(1.0).is_err());
        assert!(Summary::of(&[1.0, f64::INFINITY]).is_err());
    }
}
