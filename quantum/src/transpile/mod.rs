//! Transpiling circuits for a device: translation to its basis gates and routing onto its coupling
//! map.
//!
//! A [`Target`] is a device: qubit count, basis gate names (IBM's `rz`, `sx`, `x`, `cx`, `id` with
//! [`Target::ibm`]) and a directed coupling map. The pipeline of [`transpile`]:
//!
//! 1. [`translate_to_basis`]: every gate becomes `rz`, `sx`, `x`, `cx` (and `id`), exactly up to a
//!    global phase: one-qubit gates through ZYZ angles (`u3(θ,φ,λ) = rz(λ) sx rz(θ+π) sx rz(φ+π)`,
//!    module `euler`), standard multi-qubit gates through Qiskit's definitions, unitaries and
//!    multi-controlled gates through Givens rotations and Barenco et al.'s constructions (shared with
//!    the OpenQASM writer). Symbolic angles stay symbolic where the decomposition is affine in them.
//! 2. [`route`]: virtual qubits are placed by an initial layout and moved by SWAPs (three oriented
//!    `cx`) along shortest paths so every two-qubit gate acts on a coupled pair; `cx` gates against the
//!    coupling direction are reversed with `h` conjugations (greedy, no look-ahead).
//! 3. [`merge_single_qubit_runs`]: runs of constant one-qubit gates per qubit are multiplied out and
//!    re-synthesised (at most five gates; `id` gates are kept).
//! 4. [`check`]: the result runs on the target as it stands.
//!
//! ```
//! use tinylab_quantum::{Circuit, transpile::{Target, transpile, check}};
//! let manila = Target::ibm(5, &[(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 3)])?;
//! let mut ghz = Circuit::new(3);
//! ghz.h(0)?.cx(0, 1)?.cx(0, 2)?; // qubits 0 and 2 are not coupled once placed on 0 and 4
//! let (routed, final_layout) = transpile(&ghz, &manila, &[0, 2, 4])?;
//! assert_eq!(routed.n_qubits(), 5);
//! check(&routed, &manila)?;
//! assert_eq!(final_layout.len(), 3);
//! # Ok::<(), tinylab_quantum::transpile::TranspileError>(())
//! ```

mod angles;
mod basis;
mod check;
mod error;
pub mod euler;
mod optimize;
mod route;
mod rules;
mod target;

pub use basis::translate_to_basis;
pub use check::check;
pub use error::TranspileError;
pub use optimize::merge_single_qubit_runs;
pub use route::{route, trivial_layout};
pub use target::{IBM_BASIS, Target};

use crate::circuit::{Circuit, Instruction, Register};

/// Translates `circuit` to the basis, routes it onto `target` from `initial_layout` (virtual qubit
/// `v` on physical qubit `initial_layout[v]`), merges one-qubit runs and checks the result. Returns
/// the circuit on `target.n_qubits` qubits and the final layout (where each virtual qubit ends).
///
/// The output uses `rz`, `sx`, `x`, `cx` and the circuit's `id` gates; a target whose basis lacks one
/// of those fails the final [`check`] with [`TranspileError::NotInBasis`] naming the gate.
pub fn transpile(
    circuit: &Circuit,
    target: &Target,
    initial_layout: &[usize],
) -> Result<(Circuit, Vec<usize>), TranspileError> {
    target.validate()?;
    route::check_layout(circuit, target, initial_layout)?;
    let translated = translate_to_basis(circuit)?;
    let (routed, final_layout) = route(&translated, target, initial_layout)?;
    let merged = merge_single_qubit_runs(&routed)?;
    check(&merged, target)?;
    Ok((merged, final_layout))
}

/// A circuit with `qregs`, the classical registers and parameters of `like`, and `instructions`
/// (appended through the checked builder).
pub(crate) fn rebuild(
    like: &Circuit,
    qregs: Vec<Register>,
    instructions: impl IntoIterator<Item = Instruction>,
) -> Result<Circuit, TranspileError> {
    let mut c = Circuit::with_registers(qregs, like.cregs().to_vec());
    for name in like.param_names() {
        c.param(name)?;
    }
    for inst in instructions {
        match inst {
            Instruction::Gate(app) => c.append(app.gate, &app.qubits, &app.angles)?,
            Instruction::Barrier(q) => c.barrier(&q)?,
            Instruction::Measure { qubit, clbit } => c.measure(qubit, clbit)?,
        };
    }
    Ok(c)
}

#[cfg(test)]
mod tests;
