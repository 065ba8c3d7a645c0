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
    /// A channel that cannot be built from what was given (no Kraus operators, a non-finite entry).
    #[error("channel `{channel}` {reason}")]
    InvalidChannel {
        /// The channel's name.
        channel: String,
        /// What is wrong, as a predicate ("has no Kraus operators").
        reason: &'static str,
    },
    /// A register of a size the operation does not take: a depolarizing channel on 4 qubits, more
    /// logical qubits than the device has.
    #[error("{what} takes {min} to {max} qubits, got {got}")]
    QubitCount {
        /// The operation.
        what: &'static str,
        /// Fewest qubits allowed.
        min: usize,
        /// Most qubits allowed.
        max: usize,
        /// The number given.
        got: usize,
    },
    /// A setting of a method (a search, a trainer, a quantizer, an extrapolation) outside what the
    /// method accepts.
    #[error("{setting} = {value}: {requirement}")]
    InvalidSetting {
        /// The setting, as its field or argument is called.
        setting: &'static str,
        /// The value given, formatted.
        value: String,
        /// What the method needs.
        requirement: &'static str,
    },
    /// A collection that must not be empty is.
    #[error("{what} is empty: {requirement}")]
    Empty {
        /// The collection.
        what: &'static str,
        /// Why it needs an element.
        requirement: &'static str,
    },
    /// An index past the end of a collection.
    #[error("{what} index {index} out of range for {len} entries")]
    IndexOutOfRange {
        /// What is indexed.
        what: &'static str,
        /// The index given.
        index: usize,
        /// The number of entries.
        len: usize,
    },
    /// A tensor of a rank or shape the operation does not take.
    #[error("{what} takes {expected}, got shape {got:?}")]
    InvalidShape {
        /// The operation.
        what: &'static str,
        /// The shape needed, in words ("(batch, outputs)").
        expected: &'static str,
        /// The shape given.
        got: Vec<usize>,
    },
    /// Readout errors that a method can only model as a symmetric bit flip are asymmetric.
    #[error("{method} needs symmetric readout errors; qubit {qubit} has P(1|0) = {p01} and P(0|1) = {p10}")]
    AsymmetricReadout {
        /// The method that needs symmetry.
        method: &'static str,
        /// The qubit.
        qubit: usize,
        /// P(read 1 | prepared 0).
        p01: f64,
        /// P(read 0 | prepared 1).
        p10: f64,
    },
    /// A readout confusion matrix that cannot be inverted, so its error cannot be mitigated.
    #[error("readout confusion matrix of qubit {qubit} is singular (determinant {determinant:.3e})")]
    SingularConfusion {
        /// The qubit.
        qubit: usize,
        /// The matrix's determinant.
        determinant: f64,
    },
    /// An observable the backend cannot measure.
    #[error("observable {index} {reason}")]
    UnsupportedObservable {
        /// The observable's position in the list given.
        index: usize,
        /// Why it cannot be measured.
        reason: &'static str,
    },
    /// A search that could not find enough distinct candidates within its budget.
    #[error(
        "{search} found {found} of {wanted} distinct candidates within the budget {budget} after {proposals} proposals"
    )]
    BudgetNotMet {
        /// The search ("random search", "evolution").
        search: &'static str,
        /// Distinct candidates found.
        found: usize,
        /// Candidates wanted.
        wanted: usize,
        /// The budget, formatted.
        budget: String,
        /// Proposals drawn.
        proposals: usize,
    },
    /// The loss of a training step did not depend on the quantity whose gradient is needed (a model
    /// wired so that backpropagation cannot reach it).
    #[error("the loss does not depend on {what}, so it has no gradient")]
    NoGradient {
        /// The quantity.
        what: &'static str,
    },
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
