//! The one error type of the quantum crate.

use thiserror::Error;

/// Everything that can go wrong when building, importing or simulating a circuit.
///
/// Messages are lower case and name the offending argument and its value, so the CLI can print them
/// as one line.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum QuantumError {
    /// A gate or observable names a qubit the register does not have.
    #[error("qubit index {qubit} out of range for a register of {n_qubits} qubits")]
    QubitOutOfRange {
        /// The index that was asked for.
        qubit: usize,
        /// The number of qubits that exist.
        n_qubits: usize,
    },
    /// A classical bit index beyond the classical register.
    #[error("classical bit index {clbit} out of range for {n_clbits} classical bits")]
    ClbitOutOfRange {
        /// The index that was asked for.
        clbit: usize,
        /// The number of classical bits that exist.
        n_clbits: usize,
    },
    /// The same qubit appears twice among one gate's operands.
    #[error("gate `{gate}` acts on qubit {qubit} more than once")]
    RepeatedQubit {
        /// The gate's name.
        gate: String,
        /// The repeated qubit.
        qubit: usize,
    },
    /// A gate was given the wrong number of qubits.
    #[error("gate `{gate}` takes {expected} qubits, got {got}")]
    QubitCount {
        /// The gate's name.
        gate: String,
        /// The number it takes.
        expected: usize,
        /// The number it was given.
        got: usize,
    },
    /// A gate was given the wrong number of angles.
    #[error("gate `{gate}` takes {expected} parameters, got {got}")]
    ParamCount {
        /// The gate's name.
        gate: String,
        /// The number it takes.
        expected: usize,
        /// The number it was given.
        got: usize,
    },
    /// A matrix offered as a gate is not unitary.
    #[error("matrix is not unitary: max |U^dagger U - I| = {deviation:.3e} (tolerance {tolerance:.1e})")]
    NotUnitary {
        /// The largest entry of `U^dagger U - I` in absolute value.
        deviation: f64,
        /// The tolerance it was checked against.
        tolerance: f64,
    },
    /// A matrix with the wrong number of entries for the qubits it should act on.
    #[error("a {n_qubits}-qubit unitary needs {expected} entries, got {got}")]
    MatrixShape {
        /// Qubits the matrix should act on.
        n_qubits: usize,
        /// Entries needed (4^n).
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// A circuit needs values for its trainable parameters or input features that were not given.
    #[error("circuit has {expected} {what}, got {got} values")]
    BindingCount {
        /// "trainable parameters" or "input features".
        what: &'static str,
        /// How many the circuit declares.
        expected: usize,
        /// How many values were given.
        got: usize,
    },
    /// Two parameters with one name.
    #[error("parameter `{0}` is already defined")]
    DuplicateParameter(String),
    /// The state would not fit in memory.
    #[error(
        "{n_qubits} qubits need {bytes_needed} bytes of amplitudes{}",
        match bytes_available { Some(a) => format!(", but only {a} bytes are available"), None => String::from(", more than this machine can address") }
    )]
    TooLarge {
        /// Qubits asked for.
        n_qubits: usize,
        /// Bytes the amplitudes would take (saturating at `u128::MAX`).
        bytes_needed: u128,
        /// Bytes this machine reports available, when it reports them.
        bytes_available: Option<u64>,
    },
    /// Two objects that must agree in size do not.
    #[error("{what}: expected {expected}, got {got}")]
    SizeMismatch {
        /// What was compared.
        what: String,
        /// The size that was needed.
        expected: usize,
        /// The size that was given.
        got: usize,
    },
    /// An operation that this simulator does not support, with the reason.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A Pauli label with a character other than I, X, Y, Z.
    #[error("invalid pauli label `{label}`: character `{ch}` at position {position} is not one of I X Y Z")]
    InvalidPauli {
        /// The label given.
        label: String,
        /// The bad character.
        ch: char,
        /// Its position (0-based, from the left).
        position: usize,
    },
    /// A graph that cannot be built or drawn as asked (an edge off the graph, a self-loop, a repeated
    /// edge, or no regular graph with these parameters).
    #[error("graph on {nodes} nodes: {reason}")]
    InvalidGraph {
        /// Nodes of the graph asked for.
        nodes: usize,
        /// What is wrong.
        reason: String,
    },
    /// A fermionic excitation whose orbitals the circuit cannot take (repeated, or interleaved in a
    /// way the Jordan-Wigner circuits here do not cover).
    #[error("excitation of orbitals {from:?} to {to:?}: {reason}")]
    InvalidExcitation {
        /// The orbitals emptied.
        from: Vec<usize>,
        /// The orbitals filled.
        to: Vec<usize>,
        /// What is wrong.
        reason: &'static str,
    },
    /// A probability distribution that cannot be sampled (not finite or all zero).
    #[error("cannot sample: {0}")]
    Sampling(String),
    /// A probability backend defined in another crate (a noise model) failed; the backend's own error
    /// is kept whole (reach it with [`BackendError::downcast_ref`]).
    #[error(transparent)]
    Backend(BackendError),
    /// Errors from the OpenQASM 2 reader and writer (boxed: they carry positions and names, and would
    /// otherwise make every `Result` of this crate large).
    #[error(transparent)]
    Qasm(Box<crate::qasm::QasmError>),
}

impl From<crate::qasm::QasmError> for QuantumError {
    fn from(e: crate::qasm::QasmError) -> Self {
        QuantumError::Qasm(Box::new(e))
    }
}

/// The error of a backend defined in another crate (a noise model's density matrix or trajectories),
/// carried inside [`QuantumError::Backend`] without flattening it to text: `Display` and `source()`
/// are the backend error's own, and [`BackendError::downcast_ref`] gives back its type.
#[derive(Debug, Clone)]
pub struct BackendError(std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>);

impl BackendError {
    /// Wraps a backend's error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(error))
    }

    /// The backend's error as its own type, if it is a `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Two backend errors are equal when they are the same error or say the same thing (the wrapped
/// types need not be comparable).
impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = QuantumError> = std::result::Result<T, E>;
