//! Exact gate synthesis shared by the OpenQASM writer ([`crate::qasm::to_qasm`]) and the transpiler
//! ([`crate::transpile`]).
//!
//! Any gate of the crate, once its angles have values, is reduced to *elements*: a 2x2 unitary on one
//! target qubit applied when every one of its control qubits is |1> ([`elements`]):
//!
//! - a one-qubit op is its matrix;
//! - a two-qubit op is reduced by Givens rotations `G6…G1 U = D` into six two-level rotations, each a
//!   singly controlled 2x2 gate (conjugated by `x` on the control when it acts where the control is
//!   0), and a diagonal `D` written with two phases, one controlled phase and a global phase
//!   ([`givens`]);
//! - controls of the op (and of the gate) are added to every element, and a global phase of a
//!   controlled piece becomes a phase element on its last control.
//!
//! [`barenco`] then reduces an element with `k >= 2` controls to elements with one control and
//! multi-controlled X gates (Barenco et al. 1995, Lemma 7.9), and multi-controlled X gates to
//! Toffolis that borrow idle qubits (Lemmas 7.2 and 7.3). [`su2`] holds the 2x2 algebra: ZYZ angles
//! with the global phase, square roots.

pub(crate) mod barenco;
pub(crate) mod elements;
pub(crate) mod su2;

pub(crate) use elements::{Elem, elements};
