//! A circuit lowered for differentiation: its ops in order, each with its inverse and, for every
//! angle that depends on something we differentiate by, the derivative of its matrix and how the
//! angle depends on parameters and inputs.

use super::derivative::base_derivative;
use crate::circuit::{AngleSource, Circuit, GateApplication, Instruction};
use crate::error::{QuantumError, Result};
use crate::ops::{self, Op, OpMatrix, single_op_matrix};
use crate::statevector::check_op;

/// What to differentiate by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wrt {
    /// The trainable parameters.
    pub params: bool,
    /// The input features.
    pub inputs: bool,
}

impl Wrt {
    /// Parameters only (training).
    pub const PARAMS: Wrt = Wrt { params: true, inputs: false };
    /// Parameters and inputs (a quantum layer inside a larger model).
    pub const ALL: Wrt = Wrt { params: true, inputs: true };
    /// Nothing: a tape for evaluation only.
    pub const NONE: Wrt = Wrt { params: false, inputs: false };

    pub(crate) fn wants(&self, source: AngleSource) -> bool {
        match source {
            AngleSource::Param(_) => self.params,
            AngleSource::Input(_) => self.inputs,
        }
    }
}

/// The derivative of one op with respect to one of its gate's angles.
#[derive(Debug, Clone)]
pub(crate) struct AngleDerivative {
    /// `∂angle/∂source` for each parameter or input the angle depends on.
    pub sources: Vec<(AngleSource, f64)>,
    /// `∂M/∂angle` of the op's matrix on its targets (zero where a control is 0).
    pub matrix: OpMatrix,
}

/// One op of the tape.
#[derive(Debug, Clone)]
pub(crate) struct TapeStep {
    pub op: Op,
    pub inverse: Op,
    pub derivatives: Vec<AngleDerivative>,
}

/// For each angle of `app` that depends on what `wrt` asks for: its position and partials.
fn derivative_sources(
    app: &GateApplication,
    params: &[f64],
    inputs: &[f64],
    wrt: Wrt,
) -> Vec<(usize, Vec<(AngleSource, f64)>)> {
    app.angles
        .iter()
        .enumerate()
        .map(|(k, a)| (k, a.partials(params, inputs).into_iter().filter(|(s, _)| wrt.wants(*s)).collect::<Vec<_>>()))
        .filter(|(_, s)| !s.is_empty())
        .collect()
}

/// The single op of a gate with angles, its inverse, and the derivatives listed in `sources`.
fn differentiable_step(
    app: &GateApplication,
    params: &[f64],
    inputs: &[f64],
    sources: Vec<(usize, Vec<(AngleSource, f64)>)>,
) -> Result<TapeStep> {
    let angles: Vec<f64> = app.angles.iter().map(|a| a.resolve(params, inputs)).collect();
    let (n_controls, matrix) = single_op_matrix(&app.gate, &angles)?;
    let op = Op { controls: app.qubits[..n_controls].to_vec(), targets: app.qubits[n_controls..].to_vec(), matrix };
    let derivatives = sources
        .into_iter()
        .map(|(k, sources)| Ok(AngleDerivative { sources, matrix: base_derivative(&app.gate, &angles, k)? }))
        .collect::<Result<Vec<_>>>()?;
    Ok(TapeStep { inverse: op.dagger(), op, derivatives })
}

/// A circuit lowered, with bindings, for adjoint differentiation.
#[derive(Debug, Clone)]
pub struct Tape {
    pub(crate) n_qubits: usize,
    pub(crate) n_params: usize,
    pub(crate) n_inputs: usize,
    pub(crate) steps: Vec<TapeStep>,
    /// `(step, instruction)` of every step whose angles read input features, for [`Tape::rebind_inputs`].
    input_steps: Vec<(usize, usize)>,
    wrt: Wrt,
}

impl Tape {
    /// Lowers `circuit` at `params` and `inputs`, keeping derivatives for what `wrt` asks.
    pub fn new(circuit: &Circuit, params: &[f64], inputs: &[f64], wrt: Wrt) -> Result<Tape> {
        circuit.check_bindings(params, inputs)?;
        if circuit.has_mid_circuit_measurement() {
            return Err(QuantumError::Unsupported(
                "gradients need a circuit whose measurements (if any) come at the end".into(),
            ));
        }
        let n = circuit.n_qubits();
        let mut steps = Vec::with_capacity(circuit.instructions().len());
        let mut input_steps = Vec::new();
        let mut lowered = Vec::new();
        for (index, inst) in circuit.instructions().iter().enumerate() {
            let Instruction::Gate(app) = inst else { continue };
            if app.angles.iter().any(|a| a.is_input()) {
                input_steps.push((steps.len(), index));
            }
            let sources = derivative_sources(app, params, inputs, wrt);
            if sources.is_empty() {
                lowered.clear();
                ops::lower(app, params, inputs, &mut lowered)?;
                for op in lowered.drain(..) {
                    check_op(&op, n)?;
                    steps.push(TapeStep { inverse: op.dagger(), op, derivatives: Vec::new() });
                }
                continue;
            }
            let step = differentiable_step(app, params, inputs, sources)?;
            check_op(&step.op, n)?;
            steps.push(step);
        }
        Ok(Tape { n_qubits: n, n_params: circuit.n_params(), n_inputs: circuit.n_inputs(), steps, input_steps, wrt })
    }

    /// Re-binds the input features (same circuit, same parameters, new `inputs`): only the steps
    /// whose angles read inputs are recomputed, which is what a batch needs per sample.
    pub fn rebind_inputs(&mut self, circuit: &Circuit, params: &[f64], inputs: &[f64]) -> Result<()> {
        circuit.check_bindings(params, inputs)?;
        for &(step, index) in &self.input_steps {
            let Some(Instruction::Gate(app)) = circuit.instructions().get(index) else {
                return Err(QuantumError::Unsupported("the tape was made from another circuit".into()));
            };
            let sources = derivative_sources(app, params, inputs, self.wrt);
            self.steps[step] = differentiable_step(app, params, inputs, sources)?;
        }
        Ok(())
    }

    /// Number of qubits.
    pub fn n_qubits(&self) -> usize {
        self.n_qubits
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// True for a circuit without gates.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}
