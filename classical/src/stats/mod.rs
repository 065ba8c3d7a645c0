//! Statistics the experiments report: rank correlation ([`spearman`], [`kendall_tau`]),
//! least-squares fits of lines, exponentials and power laws ([`linear_fit`], [`exponential_fit`],
//! [`power_law_fit`]), and the mean, sample standard deviation and Student-t confidence interval of
//! a metric over seeds ([`Summary`]), and the ROC AUC of a detector ([`roc_auc`]).
//!
//! Every function sums in the order of its input, so results are reproducible bit for bit, and
//! refuses inputs it cannot describe (too few values, a constant sample, a non-positive value under
//! a logarithm) with a [`StatsError`].
//!
//! ```
//! use tinylab_classical::stats::{exponential_fit, spearman, Summary};
//! let fit = exponential_fit(&[(1.0, 2.0 * (-0.5f64).exp()), (2.0, 2.0 * (-1.0f64).exp()), (3.0, 2.0 * (-1.5f64).exp())])?;
//! assert!((fit.rate + 0.5).abs() < 1e-12 && (fit.amplitude() - 2.0).abs() < 1e-12);
//! assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 30.0, 20.0])? - 0.5).abs() < 1e-12);
//! let s = Summary::of(&[0.71, 0.74, 0.69])?;
//! assert!(s.ci_low(0.95)? < s.mean && s.mean < s.ci_high(0.95)?);
//! # Ok::<(), tinylab_classical::stats::StatsError>(())
//! ```

mod auc;
mod fit;
mod rank;
mod student_t;
mod summary;

pub use auc::roc_auc;
pub use fit::{ExponentialFit, LinearFit, PowerLawFit, exponential_fit, linear_fit, power_law_fit};
pub use rank::{average_ranks, kendall_tau, pearson, spearman};
pub use student_t::{student_t_cdf, student_t_quantile};
pub use summary::{Summary, mean, sample_std, sample_variance};

/// What the statistics refuse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// Fewer values than the statistic needs.
    #[error("{what} needs at least {needed} values, got {got}")]
    TooFewValues {
        /// The statistic.
        what: &'static str,
        /// Values it needs.
        needed: usize,
        /// Values given.
        got: usize,
    },
    /// Two samples that must pair up have different lengths.
    #[error("{what}: samples of {left} and {right} values do not pair up")]
    LengthMismatch {
        /// The statistic.
        what: &'static str,
        /// Length of the first sample.
        left: usize,
        /// Length of the second.
        right: usize,
    },
    /// A sample (or the abscissae of a fit) without spread, where the statistic divides by it.
    #[error("{what}: the values are all equal")]
    ZeroVariance {
        /// The statistic.
        what: &'static str,
    },
    /// A value that must be finite and positive (under a logarithm) is not.
    #[error("{what}: value {index} is {value}, not finite and positive")]
    NotPositive {
        /// The fit or statistic.
        what: &'static str,
        /// Index of the value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A value that must be finite is not.
    #[error("{what}: value {index} is {value}")]
    NotFinite {
        /// The statistic.
        what: &'static str,
        /// Index of the value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A probability or confidence level outside `(0, 1)`, or degrees of freedom not positive.
    #[error("{what}: {value} is outside its range")]
    OutOfRange {
        /// The argument.
        what: &'static str,
        /// Its value.
        value: f64,
    },
}

/// Errors unless every value is finite.
fn check_finite(what: &'static str, values: impl IntoIterator<Item = f64>) -> Result<(), StatsError> {
    for (index, value) in values.into_iter().enumerate() {
        if !value.is_finite() {
            return Err(StatsError::NotFinite { what, index, value });
        }
    }
    Ok(())
}
