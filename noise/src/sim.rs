//! Noisy simulation by density matrix: each gate, then the error the model attaches to it.

use crate::error::Result;
use crate::model::NoiseModel;
use serde::Serialize;
use tinylab_quantum::circuit::Instruction;
use tinylab_quantum::fusion::Step;
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{Circuit, DensityMatrix, QuantumError, ops};

/// Probabilities of a noisy run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoisyProbabilities {
    /// Qubits simulated.
    pub n_qubits: usize,
    /// Outcome probabilities before readout (the density matrix's diagonal).
    pub probabilities: Vec<f64>,
    /// The same after each qubit's readout error.
    pub measured_probabilities: Vec<f64>,
}

/// The final density matrix of `circuit` under `model`. Runs of noiseless gates are fused as
/// `options` say; each noisy gate closes its run and is followed by its channel.
pub fn run_density(
    circuit: &Circuit,
    params: &[f64],
    inputs: &[f64],
    model: &NoiseModel,
    options: &SimOptions,
) -> Result<DensityMatrix> {
    circuit.check_bindings(params, inputs)?;
    if circuit.has_mid_circuit_measurement() {
        return Err(QuantumError::Unsupported(
            "a gate acts on a qubit after it was measured; noisy simulation handles measurements at the end".into(),
        )
        .into());
    }
    let mut rho = DensityMatrix::new(circuit.n_qubits())?;
    let mut pending: Vec<Step> = Vec::new();
    let mut lowered = Vec::new();
    for inst in circuit.instructions() {
        match inst {
            Instruction::Gate(app) => {
                lowered.clear();
                ops::lower(app, params, inputs, &mut lowered)?;
                pending.extend(lowered.drain(..).map(Step::Op));
                if let Some(noise) = model.gate_error(&app.gate.name(), &app.qubits) {
                    rho.run_steps(&pending, options)?;
                    pending.clear();
                    rho.apply_superop(&app.qubits, &noise.superop, options.parallelism)?;
                }
            }
            Instruction::Barrier(_) => pending.push(Step::Fence),
            Instruction::Measure { .. } => {}
        }
    }
    rho.run_steps(&pending, options)?;
    Ok(rho)
}

/// Probabilities before and after readout error of `circuit` under `model` (density matrix).
pub fn probabilities_density(
    circuit: &Circuit,
    params: &[f64],
    inputs: &[f64],
    model: &NoiseModel,
    options: &SimOptions,
) -> Result<NoisyProbabilities> {
    let rho = run_density(circuit, params, inputs, model, options)?;
    let probabilities = rho.probabilities();
    let mut measured_probabilities = probabilities.clone();
    model.apply_readout(&mut measured_probabilities, circuit.n_qubits())?;
    Ok(NoisyProbabilities { n_qubits: circuit.n_qubits(), probabilities, measured_probabilities })
}
