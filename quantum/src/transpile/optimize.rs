//! Merging runs of one-qubit gates.

use super::error::TranspileError;
use super::euler;
use crate::circuit::{Circuit, GateApplication, Instruction};
use crate::gate::{Gate, StandardGate};
use crate::ops;
use crate::synthesis::su2::{self, M2, ZERO};

fn mul(a: &M2, b: &M2) -> M2 {
    let mut m = [[ZERO; 2]; 2];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, x) in row.iter_mut().enumerate() {
            *x = a[i][0] * b[0][j] + a[i][1] * b[1][j];
        }
    }
    m
}

/// The 2x2 matrix of a one-qubit gate with constant angles other than `id`, if it is one.
fn constant_one_qubit(app: &GateApplication) -> Option<M2> {
    if app.qubits.len() != 1 || app.gate == Gate::Standard(StandardGate::Id) {
        return None;
    }
    let values: Option<Vec<f64>> = app.angles.iter().map(super::angles::constant).collect();
    let mut lowered = Vec::new();
    ops::lower_gate(&app.gate, &[0], &values?, &mut lowered).ok()?;
    lowered.iter().try_fold(su2::IDENTITY, |acc, op| Some(mul(&su2::from_matrix(&op.matrix.to_dense())?, &acc)))
}

/// A run of one-qubit gates on one qubit: their product and the gates themselves.
type Run = (M2, Vec<Instruction>);

/// The circuit with each run of consecutive one-qubit gates with constant angles on a qubit (any
/// such gate but `id`) multiplied out and written again as at most `rz sx rz sx rz` (see
/// [`super::euler`]) when that is no longer than the run (a run already shorter than its rewrite, a
/// lone `sx` say, is kept); equal up to a global phase. `id` gates (kept for their idle noise), gates
/// with symbolic angles, multi-qubit gates, barriers and measurements end a run and are kept as they
/// are. The result never has more instructions than the input.
pub fn merge_single_qubit_runs(circuit: &Circuit) -> Result<Circuit, TranspileError> {
    let mut pending: Vec<Option<Run>> = vec![None; circuit.n_qubits()];
    let mut out = Vec::with_capacity(circuit.instructions().len());
    let flush = |q: usize, pending: &mut Vec<Option<Run>>, out: &mut Vec<Instruction>| {
        if let Some((m, original)) = pending[q].take() {
            let mut gates = Vec::new();
            euler::matrix_to_basis(&m, q, &mut gates);
            if gates.len() <= original.len() {
                out.extend(gates.into_iter().map(Instruction::Gate));
            } else {
                out.extend(original);
            }
        }
    };
    for inst in circuit.instructions() {
        let qubits: Vec<usize> = match inst {
            Instruction::Gate(app) => {
                if let Some(m) = constant_one_qubit(app) {
                    let q = app.qubits[0];
                    pending[q] = Some(match pending[q].take() {
                        Some((p, mut run)) => {
                            run.push(inst.clone());
                            (mul(&m, &p), run)
                        }
                        None => (m, vec![inst.clone()]),
                    });
                    continue;
                }
                app.qubits.clone()
            }
            Instruction::Barrier(qs) => qs.clone(),
            Instruction::Measure { qubit, .. } => vec![*qubit],
        };
        for q in qubits {
            flush(q, &mut pending, &mut out);
        }
        out.push(inst.clone());
    }
    for q in 0..circuit.n_qubits() {
        flush(q, &mut pending, &mut out);
    }
    super::rebuild(circuit, circuit.qregs().to_vec(), out)
}
