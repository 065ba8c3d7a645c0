//! Translation of every gate of the crate into the IBM basis `rz`, `sx`, `x`, `cx` (and `id`).

use super::angles::constant;
use super::error::TranspileError;
use super::euler::{self, gate};
use super::rules;
use crate::circuit::{Angle, Circuit, GateApplication, Instruction};
use crate::gate::{Gate, StandardGate};
use crate::synthesis::barenco::{self, McxRule, Piece};
use crate::synthesis::su2::{IDENTITY, X, zyz};
use crate::synthesis::{Elem, elements};

/// Why one gate could not be translated (the caller adds the instruction index and gate name).
enum Failure {
    Symbolic(String),
    Other(String),
}

impl Failure {
    fn at(self, index: usize, gate: String) -> TranspileError {
        match self {
            Failure::Symbolic(reason) => TranspileError::SymbolicAngle { index, gate, reason },
            Failure::Other(reason) => TranspileError::Untranslatable { index, gate, reason },
        }
    }
}

/// The circuit with every gate replaced by `rz`, `sx`, `x` and `cx` gates (`id` stays `id`), equal to
/// it up to a global phase. Barriers and measurements are kept; registers and parameters too.
///
/// - one-qubit gates become at most `rz sx rz sx rz` (see [`super::euler`]);
/// - `cz`, `cy`, `ch`, `swap`, `crx`, `cry`, `crz`, `cp`/`cu1`, `cu3`, `cu`, `csx`, `rxx`, `ryy`,
///   `rzz`, `rzx`, `iswap`, `ccx` (6 `cx`), `cswap`, `rccx`, `rc3x` follow Qiskit's definitions;
/// - `c3x`, `c3sqrtx`, `c4x`, user unitaries and controlled gates are lowered to elements (2x2
///   unitaries with controls; two-qubit matrices through six Givens rotations), each singly controlled
///   element becomes `cu` (2 `cx`), and elements with `k >= 2` controls follow Barenco et al.'s
///   Lemma 7.9 with multi-controlled X gates from Toffolis (Lemmas 7.2 and 7.3), as the OpenQASM
///   writer does.
///
/// Symbolic angles (trainable parameters, input features) are kept symbolic in `rz` angles for the
/// standard gates, which all decompose affinely in their angles; the exceptions are errors
/// ([`TranspileError::SymbolicAngle`]): `cu3`/`cu` whose `φ` and `λ` depend on different sources, and
/// controlled gates with a symbolic base angle (translated through their matrix).
pub fn translate_to_basis(circuit: &Circuit) -> Result<Circuit, TranspileError> {
    let mut out = Vec::with_capacity(circuit.instructions().len());
    let mut gates = Vec::new();
    for (index, inst) in circuit.instructions().iter().enumerate() {
        match inst {
            Instruction::Gate(app) => {
                gates.clear();
                translate(&app.gate, &app.qubits, &app.angles, &mut gates).map_err(|f| f.at(index, app.gate.name()))?;
                out.extend(gates.drain(..).map(Instruction::Gate));
            }
            other => out.push(other.clone()),
        }
    }
    super::rebuild(circuit, circuit.qregs().to_vec(), out)
}

/// Appends the basis gates of `gate` on `qubits` with `angles`.
fn translate(gate_: &Gate, qubits: &[usize], angles: &[Angle], out: &mut Vec<GateApplication>) -> Result<(), Failure> {
    match gate_ {
        Gate::Standard(StandardGate::Cx) => out.push(gate(StandardGate::Cx, qubits, Vec::new())),
        Gate::Standard(g) if g.n_qubits() == 1 => {
            euler::one_qubit_standard(*g, angles, qubits[0], out).map_err(Failure::Other)?;
        }
        Gate::Standard(g) => match rules::expand(*g, qubits, angles).map_err(Failure::Symbolic)? {
            Some(steps) => {
                for s in steps {
                    translate(&s.gate, &s.qubits, &s.angles, out)?;
                }
            }
            None => via_elements(gate_, qubits, angles, out)?,
        },
        Gate::Unitary(_) | Gate::Controlled { .. } => via_elements(gate_, qubits, angles, out)?,
    }
    Ok(())
}

/// Translation through the gate's matrix: needs constant angles.
fn via_elements(
    gate_: &Gate,
    qubits: &[usize],
    angles: &[Angle],
    out: &mut Vec<GateApplication>,
) -> Result<(), Failure> {
    let values = angles
        .iter()
        .enumerate()
        .map(|(i, a)| {
            constant(a).ok_or_else(|| {
                Failure::Symbolic(format!(
                    "angle {i} depends on a trainable parameter or input feature, and this gate is translated \
                     through its matrix, which needs constant angles"
                ))
            })
        })
        .collect::<Result<Vec<f64>, Failure>>()?;
    for e in elements(gate_, qubits, &values, &[]).map_err(Failure::Other)? {
        element(&e, out)?;
    }
    Ok(())
}

/// Appends one element: a 2x2 unitary on `e.target` where all of `e.controls` are |1>.
fn element(e: &Elem, out: &mut Vec<GateApplication>) -> Result<(), Failure> {
    if (0..4).all(|i| (e.m[i / 2][i % 2] - IDENTITY[i / 2][i % 2]).norm() <= 1e-15) {
        return Ok(());
    }
    match e.controls.as_slice() {
        [] => euler::matrix_to_basis(&e.m, e.target, out),
        [c] if e.m == X => out.push(gate(StandardGate::Cx, &[*c, e.target], Vec::new())),
        [c] => {
            // C(e^{iγ} u3(θ,φ,λ)) = cu(θ,φ,λ,γ).
            let [theta, phi, lambda, gamma] = zyz(&e.m);
            let angles = [theta, phi, lambda, gamma].map(Angle::Const);
            translate(&Gate::Standard(StandardGate::Cu), &[*c, e.target], &angles, out)?;
        }
        controls if e.m == X => mcx(controls, e.target, &[], out)?,
        controls => pieces(&barenco::square_root_steps(controls, e.target, &e.m), out)?,
    }
    Ok(())
}

/// Appends `C^m X` from `controls` to `target`, borrowing the `dirty` qubits.
fn mcx(controls: &[usize], target: usize, dirty: &[usize], out: &mut Vec<GateApplication>) -> Result<(), Failure> {
    match controls.len() {
        0 => out.push(gate(StandardGate::X, &[target], Vec::new())),
        1 => out.push(gate(StandardGate::Cx, &[controls[0], target], Vec::new())),
        2 => translate(&Gate::Standard(StandardGate::Ccx), &[controls[0], controls[1], target], &[], out)?,
        m => {
            let steps = match barenco::mcx_rule(m, dirty.len()) {
                McxRule::Staircase => barenco::staircase(controls, target, dirty),
                McxRule::OneDirty => barenco::one_dirty(controls, target, dirty[0]),
                McxRule::SquareRoot => barenco::square_root_steps(controls, target, &X),
            };
            pieces(&steps, out)?;
        }
    }
    Ok(())
}

fn pieces(steps: &[Piece], out: &mut Vec<GateApplication>) -> Result<(), Failure> {
    for p in steps {
        match p {
            Piece::Elem(e) => element(e, out)?,
            Piece::Mcx { controls, target, dirty } => mcx(controls, *target, dirty, out)?,
        }
    }
    Ok(())
}
