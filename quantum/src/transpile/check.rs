//! Does a circuit run on a target as it stands?

use super::error::TranspileError;
use super::target::Target;
use crate::circuit::{Circuit, Instruction};
use crate::gate::Gate;

/// Checks that `circuit` runs on `target` as it stands: no more qubits than the target, every gate a
/// standard gate whose name is in the basis, every two-qubit gate on a directed coupling pair, no gate
/// on three or more qubits, every qubit in range. Barriers and measurements are always allowed; angles
/// may be symbolic. The error names the first offending instruction (index, gate, qubits).
pub fn check(circuit: &Circuit, target: &Target) -> Result<(), TranspileError> {
    target.validate()?;
    if circuit.n_qubits() > target.n_qubits {
        return Err(TranspileError::TooManyQubits {
            circuit_qubits: circuit.n_qubits(),
            target_qubits: target.n_qubits,
        });
    }
    for (index, inst) in circuit.instructions().iter().enumerate() {
        let (name, qubits): (String, &[usize]) = match inst {
            Instruction::Gate(app) => (app.gate.name(), &app.qubits),
            Instruction::Barrier(q) => ("barrier".into(), q),
            Instruction::Measure { qubit, .. } => ("measure".into(), std::slice::from_ref(qubit)),
        };
        if let Some(&qubit) = qubits.iter().find(|&&q| q >= target.n_qubits) {
            return Err(TranspileError::QubitOutOfRange { index, gate: name, qubit, n_qubits: target.n_qubits });
        }
        let Instruction::Gate(app) = inst else { continue };
        if !matches!(app.gate, Gate::Standard(_)) || !target.supports(&name) {
            return Err(TranspileError::NotInBasis {
                index,
                gate: name,
                qubits: qubits.to_vec(),
                basis: target.basis_list(),
            });
        }
        let coupled = match *qubits {
            [_] => true,
            [a, b] => target.has_edge(a, b),
            _ => false,
        };
        if !coupled {
            return Err(TranspileError::NotCoupled { index, gate: name, qubits: qubits.to_vec() });
        }
    }
    Ok(())
}
