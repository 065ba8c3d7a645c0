//! `tinylab-quantum`: circuits, OpenQASM 2 and fast, exact statevector simulation.
//!
//! The pipeline: a [`circuit::Circuit`] (built with the builder API or read by [`qasm::parse`]) holds
//! [`gate::Gate`]s with [`circuit::Angle`]s; [`ops::lower`] turns each gate, once its angles have values,
//! into [`ops::Op`]s (a dense or diagonal matrix on target qubits, controls as a mask);
//! [`fusion`] merges runs of ops on few qubits into one matrix; the kernels of [`statevector`] apply
//! them to amplitudes (qubit 0 is the least significant bit of a basis index, as in Qiskit).
//! [`statevector::BatchedStatevector`] evolves many states through one circuit for QML, and
//! [`pauli`] gives expectation values of Pauli strings and their weighted sums. [`library`] holds the
//! constructions of the algorithms literature (Pauli evolution, UCC excitations, QAOA MaxCut, ansatz
//! templates), and [`qml::tasks`] the pooled-digits classification tasks.
//!
//! Dependency rule: this crate imports `tinylab-classical` only (and nothing above it).

pub mod circuit;
pub mod density;
pub mod error;
pub mod fusion;
pub mod gate;
pub mod grad;
pub mod library;
pub mod matrix;
pub mod ops;
pub mod pauli;
pub mod qasm;
pub mod qml;
pub mod statevector;
mod synthesis;
pub mod transpile;

pub use circuit::{Angle, AngleSource, Circuit};
pub use density::DensityMatrix;
pub use error::{BackendError, QuantumError, Result};
pub use gate::{Gate, StandardGate};
pub use matrix::{C64, Matrix};
pub use statevector::{BatchedStatevector, Statevector};
