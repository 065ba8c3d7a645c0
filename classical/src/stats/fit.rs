//! Ordinary least-squares fits of a line, and of exponentials and power laws through their
//! logarithms (the decay-rate fits of barren-plateau studies: McClean et al., Nat. Commun. 9, 4812
//! (2018)).

use super::{StatsError, check_finite};

/// The least-squares line `y = slope · x + intercept`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearFit {
    /// The slope.
    pub slope: f64,
    /// The value at `x = 0`.
    pub intercept: f64,
    /// The coefficient of determination `r² = s_xy² / (s_xx s_yy)` (1 when every `y` is equal, which
    /// the line fits exactly).
    pub r_squared: f64,
}

/// `y = amplitude · exp(rate · x)`, fitted as a line through `(x, ln y)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialFit {
    /// The growth rate (negative for a decay: `Var ∝ e^{−r n}` has `rate = −r`).
    pub rate: f64,
    /// `ln amplitude`, the intercept of the log-linear fit.
    pub log_amplitude: f64,
    /// `r²` of the log-linear fit.
    pub r_squared: f64,
}

impl ExponentialFit {
    /// The amplitude `exp(log_amplitude)`.
    pub fn amplitude(&self) -> f64 {
        self.log_amplitude.exp()
    }
}

/// `y = amplitude · x^exponent`, fitted as a line through `(ln x, ln y)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerLawFit {
    /// The exponent (negative for a decay: `Var ∝ n^{−k}` has `exponent = −k`).
    pub exponent: f64,
    /// `ln amplitude`, the intercept of the log-log fit.
    pub log_amplitude: f64,
    /// `r²` of the log-log fit.
    pub r_squared: f64,
}

/// The least-squares line through `points` `(x, y)`. Errors with fewer than two points, a value that
/// is not finite, or a single `x`.
pub fn linear_fit(points: &[(f64, f64)]) -> Result<LinearFit, StatsError> {
    if points.len() < 2 {
        return Err(StatsError::TooFewValues { what: "linear fit", needed: 2, got: points.len() });
    }
    check_finite("linear fit", points.iter().flat_map(|&(x, y)| [x, y]))?;
    let k = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / k;
    let my = points.iter().map(|p| p.1).sum::<f64>() / k;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my) * (p.1 - my)).sum();
    if sxx <= 0.0 {
        return Err(StatsError::ZeroVariance { what: "linear fit (x)" });
    }
    let slope = sxy / sxx;
    let r_squared = if syy == 0.0 { 1.0 } else { sxy * sxy / (sxx * syy) };
    Ok(LinearFit { slope, intercept: my - slope * mx, r_squared })
}

/// `ln v`, or an error naming `index` when `v` is not finite and positive.
fn log_of(what: &'static str, index: usize, value: f64) -> Result<f64, StatsError> {
    if value.is_finite() && value > 0.0 { Ok(value.ln()) } else { Err(StatsError::NotPositive { what, index, value }) }
}

/// The exponential `y = a e^{b x}` through `points` by least squares on `ln y`. Errors as
/// [`linear_fit`], and on a `y` that is not positive (filter those first where zeros mean "below
/// resolution").
pub fn exponential_fit(points: &[(f64, f64)]) -> Result<ExponentialFit, StatsError> {
    let logs = points
        .iter()
        .enumerate()
        .map(|(i, &(x, y))| Ok((x, log_of("exponential fit (y)", i, y)?)))
        .collect::<Result<Vec<_>, StatsError>>()?;
    let line = linear_fit(&logs)?;
    Ok(ExponentialFit { rate: line.slope, log_amplitude: line.intercept, r_squared: line.r_squared })
}

/// The power law `y = a x^b` through `points` by least squares on `(ln x, ln y)`. Errors as
/// [`linear_fit`], and on an `x` or `y` that is not positive.
pub fn power_law_fit(points: &[(f64, f64)]) -> Result<PowerLawFit, StatsError> {
    let logs = points
        .iter()
        .enumerate()
        .map(|(i, &(x, y))| Ok((log_of("power-law fit (x)", i, x)?, log_of("power-law fit (y)", i, y)?)))
        .collect::<Result<Vec<_>, StatsError>>()?;
    let line = linear_fit(&logs)?;
    Ok(PowerLawFit { exponent: line.slope, log_amplitude: line.intercept, r_squared: line.r_squared })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_recover_exact_parameters_of_noiseless_data() {
        let line: Vec<(f64, f64)> =
            (0..6).map(|i| (i as f64 * 0.5 - 1.0, 3.0 * (i as f64 * 0.5 - 1.0) - 0.25)).collect();
        let f = linear_fit(&line).unwrap();
        assert!(
            (f.slope - 3.0).abs() < 1e-14 && (f.intercept + 0.25).abs() < 1e-14 && (f.r_squared - 1.0).abs() < 1e-14
        );
        let decay: Vec<(f64, f64)> = (1..6).map(|n| (n as f64, 3.0 * (-0.7 * n as f64).exp())).collect();
        let e = exponential_fit(&decay).unwrap();
        assert!((e.rate + 0.7).abs() < 1e-12 && (e.amplitude() - 3.0).abs() < 1e-12, "{e:?}");
        let power: Vec<(f64, f64)> = (1..6).map(|n| (n as f64, 0.5 * (n as f64).powf(-2.0))).collect();
        let p = power_law_fit(&power).unwrap();
        assert!((p.exponent + 2.0).abs() < 1e-12 && (p.log_amplitude - 0.5f64.ln()).abs() < 1e-12, "{p:?}");
        assert_eq!(linear_fit(&[(0.0, 2.0), (1.0, 2.0)]).unwrap().r_squared, 1.0);
    }

    #[test]
    fn r_squared_of_noisy_data_is_below_one() {
        let f = linear_fit(&[(0.0, 0.0), (1.0, 1.0), (2.0, 0.0), (3.0, 1.0)]).unwrap();
        // s_xx = 5, s_xy = 1, s_yy = 1: slope 0.2, r² 0.2.
        assert!(
            (f.slope - 0.2).abs() < 1e-15 && (f.r_squared - 0.2).abs() < 1e-15 && (f.intercept - 0.2).abs() < 1e-15
        );
    }

    #[test]
    fn fits_refuse_what_they_cannot_fit() {
        assert!(matches!(linear_fit(&[(1.0, 1.0)]), Err(StatsError::TooFewValues { .. })));
        assert!(matches!(linear_fit(&[(1.0, 1.0), (1.0, 2.0)]), Err(StatsError::ZeroVariance { .. })));
        assert!(matches!(linear_fit(&[(1.0, f64::NAN), (2.0, 2.0)]), Err(StatsError::NotFinite { .. })));
        assert!(matches!(exponential_fit(&[(1.0, 0.0), (2.0, 1.0)]), Err(StatsError::NotPositive { index: 0, .. })));
        assert!(matches!(power_law_fit(&[(1.0, 1.0), (-2.0, 1.0)]), Err(StatsError::NotPositive { index: 1, .. })));
    }
}
