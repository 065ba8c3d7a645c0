//! The error type of the transpiler.

use crate::error::QuantumError;
use thiserror::Error;

/// Everything that can go wrong when checking, translating or routing a circuit for a [`Target`].
///
/// `index` fields are positions in the circuit's instruction list (from 0), `qubits` the gate's
/// operands as the circuit names them (virtual qubits before routing, physical after).
///
/// [`Target`]: super::Target
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum TranspileError {
    /// A gate that the target cannot execute: its name is not in the target's basis.
    #[error("instruction {index}: gate `{gate}` on qubits {qubits:?} is not in the target basis {{{basis}}}")]
    NotInBasis {
        /// Position of the instruction.
        index: usize,
        /// The gate's name.
        gate: String,
        /// Its qubits.
        qubits: Vec<usize>,
        /// The target's basis, comma separated.
        basis: String,
    },
    /// A multi-qubit gate on qubits that are not a directed pair of the coupling map.
    #[error("instruction {index}: gate `{gate}` on qubits {qubits:?} is not on a pair of the coupling map")]
    NotCoupled {
        /// Position of the instruction.
        index: usize,
        /// The gate's name.
        gate: String,
        /// Its qubits.
        qubits: Vec<usize>,
    },
    /// A gate, measurement or barrier on a qubit the target does not have.
    #[error("instruction {index}: `{gate}` acts on qubit {qubit}, but the target has {n_qubits} qubits")]
    QubitOutOfRange {
        /// Position of the instruction.
        index: usize,
        /// The gate's name (`measure`, `barrier` for those).
        gate: String,
        /// The qubit.
        qubit: usize,
        /// Qubits of the target.
        n_qubits: usize,
    },
    /// A circuit with more qubits than the target (or than a layout places).
    #[error("the circuit has {circuit_qubits} qubits, more than the {target_qubits} of the target")]
    TooManyQubits {
        /// Qubits of the circuit.
        circuit_qubits: usize,
        /// Qubits of the target.
        target_qubits: usize,
    },
    /// An initial layout whose length is not the circuit's qubit count.
    #[error("initial layout has {got} entries, the circuit has {expected} qubits")]
    LayoutLength {
        /// The circuit's qubit count.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// An initial layout that places two virtual qubits on one physical qubit.
    #[error("initial layout places virtual qubits {first} and {second} both on physical qubit {physical}")]
    LayoutDuplicate {
        /// The physical qubit used twice.
        physical: usize,
        /// The first virtual qubit placed there.
        first: usize,
        /// The second.
        second: usize,
    },
    /// An initial layout entry beyond the target.
    #[error("initial layout puts virtual qubit {virtual_qubit} on physical qubit {physical}, beyond {n_qubits} qubits")]
    LayoutOutOfRange {
        /// The virtual qubit.
        virtual_qubit: usize,
        /// Where the layout puts it.
        physical: usize,
        /// Qubits of the target.
        n_qubits: usize,
    },
    /// A coupling-map pair that names a qubit beyond the target or a qubit twice.
    #[error("coupling map entry {position} ({a}, {b}) is invalid for a target of {n_qubits} qubits: {reason}")]
    InvalidCoupling {
        /// Position of the pair in the coupling map.
        position: usize,
        /// First qubit (control side of `cx`).
        a: usize,
        /// Second qubit.
        b: usize,
        /// Qubits of the target.
        n_qubits: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Routing needs a path between two physical qubits that the coupling map does not connect.
    #[error("instruction {index}: physical qubits {from} and {to} are not connected by the coupling map")]
    Disconnected {
        /// Position of the instruction.
        index: usize,
        /// One end.
        from: usize,
        /// The other end.
        to: usize,
    },
    /// Routing was given a gate on three or more qubits (translate to the basis first).
    #[error("instruction {index}: gate `{gate}` acts on {n_qubits} qubits; routing takes 1- and 2-qubit gates only")]
    WideGate {
        /// Position of the instruction.
        index: usize,
        /// The gate's name.
        gate: String,
        /// Its qubit count.
        n_qubits: usize,
    },
    /// A gate whose translation needs a constant angle got a trainable parameter or input feature.
    #[error("instruction {index}: gate `{gate}` cannot be translated with symbolic angles: {reason}")]
    SymbolicAngle {
        /// Position of the instruction.
        index: usize,
        /// The gate's name.
        gate: String,
        /// Why (which angle, and what the translation needs).
        reason: String,
    },
    /// A gate the translation cannot decompose.
    #[error("instruction {index}: cannot translate gate `{gate}`: {reason}")]
    Untranslatable {
        /// Position of the instruction.
        index: usize,
        /// The gate's name.
        gate: String,
        /// Why.
        reason: String,
    },
    /// An error of the circuit being built (it would mean a transpiler bug, reported rather than
    /// panicking).
    #[error(transparent)]
    Circuit(#[from] QuantumError),
}
