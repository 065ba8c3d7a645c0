//! The error type of the noise crate.

use thiserror::Error;

/// Everything that can go wrong building channels and noise models or simulating with them. Messages
/// are lower case and name the offending value.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NoiseError {
    /// A probability or rate outside its range.
    #[error("{what} = {value} is outside [{lo}, {hi}]")]
    OutOfRange {
        /// The parameter.
        what: String,
        /// Its value.
        value: f64,
        /// Lowest allowed value.
        lo: f64,
        /// Highest allowed value.
        hi: f64,
    },
    /// Kraus operators that do not form a completely positive, trace-preserving map.
    #[error(
        "channel `{channel}` is not trace preserving: max |Σ K†K - I| = {deviation:.3e} (tolerance {tolerance:.0e})"
    )]
    NotTracePreserving {
        /// The channel's name.
        channel: String,
        /// Largest entry of `Σ K†K - I` in absolute value.
        deviation: f64,
        /// The tolerance.
        tolerance: f64,
    },
    /// A map whose Choi matrix has a negative eigenvalue: not completely positive.
    #[error("channel `{channel}` is not completely positive: its Choi matrix has eigenvalue {eigenvalue:.3e}")]
    NotCompletelyPositive {
        /// The channel's name.
        channel: String,
        /// The most negative eigenvalue.
        eigenvalue: f64,
    },
    /// Thermal relaxation with `T2 > 2 T1` (not physical).
    #[error("thermal relaxation needs T2 <= 2 T1, got T1 = {t1}, T2 = {t2}")]
    T2AboveTwiceT1 {
        /// T1.
        t1: f64,
        /// T2.
        t2: f64,
    },
    /// Objects that must agree in size do not.
    #[error("{what}: expected {expected}, got {got}")]
    SizeMismatch {
        /// What was compared.
        what: String,
        /// The size needed.
        expected: usize,
        /// The size given.
        got: usize,
    },
    /// Anything else that is not supported, with the reason.
    #[error("{0}")]
    Unsupported(String),
    /// A device profile could not be read or is inconsistent.
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
    /// The quantum simulator refused.
    #[error(transparent)]
    Quantum(#[from] tinylab_quantum::QuantumError),
    /// Transpiling a circuit onto a device failed.
    #[error(transparent)]
    Transpile(#[from] tinylab_quantum::transpile::TranspileError),
    /// A tensor operation or layer of the classical crate failed (post-processing, training).
    #[error(transparent)]
    Classical(#[from] tinylab_classical::ClassicalError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = NoiseError> = std::result::Result<T, E>;

/// Checks `lo <= value <= hi` (NaN fails).
pub fn check_range(what: &str, value: f64, lo: f64, hi: f64) -> Result<()> {
    if value >= lo && value <= hi {
        Ok(())
    } else {
        Err(NoiseError::OutOfRange { what: what.to_string(), value, lo, hi })
    }
}
