//! Noisy simulation by density matrix: each gate, then the error the model attaches to it.
//!
//! The circuit becomes a list of linear ops on the vectorised density matrix (a `2n`-qubit vector,
//! see [`DensityMatrix`]): a noiseless gate `U` is `U` on its row qubits and `conj(U)` on its column
//! qubits; a noisy gate and its channel become one superoperator `S_noise (conj(U) ⊗ U)` on both. The
//! statevector fusion planner then merges neighbouring ops into blocks of up to
//! [`SUPEROP_FUSION_QUBITS`] vector qubits (two physical qubits), as Aer's superoperator fusion
//! does, so a layer of one- and two-qubit noisy gates costs a few passes over the `4^n` entries.

use crate::error::Result;
use crate::model::NoiseModel;
use serde::Serialize;
use std::collections::HashMap;
use tinylab_quantum::circuit::{GateApplication, Instruction};
use tinylab_quantum::fusion::{self, FusionConfig, Step};
use tinylab_quantum::ops::{Op, OpMatrix};
use tinylab_quantum::statevector::{SimOptions, unitary};
use tinylab_quantum::{Angle, Circuit, DensityMatrix, Matrix, QuantumError, ops};

/// Largest fused block, in qubits of the vectorised density matrix.
pub const SUPEROP_FUSION_QUBITS: usize = 4;

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

/// The unitary of one gate application on its own qubits (bit `j` = the gate's `j`-th qubit).
pub(crate) fn gate_unitary(app: &GateApplication, params: &[f64], inputs: &[f64]) -> Result<Matrix> {
    let k = app.qubits.len();
    let mut c = Circuit::new(k);
    let angles: Vec<Angle> = app.angles.iter().map(|a| Angle::Const(a.resolve(params, inputs))).collect();
    c.append(app.gate.clone(), &(0..k).collect::<Vec<_>>(), &angles)?;
    Ok(unitary(&c, &[], &[])?)
}

/// Key of a cached noisy-gate superoperator: gate name, qubits, angle bits.
pub(crate) type CacheKey = (String, Vec<usize>, Vec<u64>);

/// The cache key of a noisy gate at its bound angles: name, qubits and the exact angle bits (shared
/// by the density and trajectory simulators, which both reuse the matrices of repeated gates).
pub(crate) fn cache_key(app: &tinylab_quantum::circuit::GateApplication, params: &[f64], inputs: &[f64]) -> CacheKey {
    (app.gate.name(), app.qubits.clone(), app.angles.iter().map(|a| a.resolve(params, inputs).to_bits()).collect())
}

/// The ops on the `2n`-qubit vector that evolve the density matrix through `circuit` under `model`.
pub fn vectorised_steps(circuit: &Circuit, params: &[f64], inputs: &[f64], model: &NoiseModel) -> Result<Vec<Step>> {
    circuit.check_bindings(params, inputs)?;
    if circuit.has_mid_circuit_measurement() {
        return Err(QuantumError::Unsupported(
            "a gate acts on a qubit after it was measured; noisy simulation handles measurements at the end".into(),
        )
        .into());
    }
    let n = circuit.n_qubits();
    let shift = |qs: &[usize]| qs.iter().map(|q| q + n).collect::<Vec<_>>();
    let mut steps = Vec::new();
    let mut lowered = Vec::new();
    let mut cache: HashMap<CacheKey, Matrix> = HashMap::new();
    for inst in circuit.instructions() {
        match inst {
            Instruction::Gate(app) => match model.gate_error(&app.gate.name(), &app.qubits) {
                None => {
                    lowered.clear();
                    ops::lower(app, params, inputs, &mut lowered)?;
                    for op in lowered.drain(..) {
                        let conj = Op {
                            targets: shift(&op.targets),
                            controls: shift(&op.controls),
                            matrix: match &op.matrix {
                                OpMatrix::Dense(u) => OpMatrix::Dense(u.conj()),
                                OpMatrix::Diagonal(d) => OpMatrix::Diagonal(d.iter().map(|z| z.conj()).collect()),
                            },
                        };
                        steps.push(Step::Op(op));
                        steps.push(Step::Op(conj));
                    }
                }
                Some(noise) => {
                    let key = cache_key(app, params, inputs);
                    let superop = match cache.get(&key) {
                        Some(s) => s.clone(),
                        None => {
                            let u = gate_unitary(app, params, inputs)?;
                            let s = noise.superop.matrix().matmul(&u.conj().kron(&u));
                            cache.insert(key, s.clone());
                            s
                        }
                    };
                    let mut targets = app.qubits.clone();
                    targets.extend(shift(&app.qubits));
                    steps.push(Step::Op(Op { targets, controls: Vec::new(), matrix: OpMatrix::Dense(superop) }));
                }
            },
            Instruction::Barrier(_) => steps.push(Step::Fence),
            Instruction::Measure { .. } => {}
        }
    }
    Ok(steps)
}

/// The final density matrix of `circuit` under `model` (see the module documentation).
pub fn run_density(
    circuit: &Circuit,
    params: &[f64],
    inputs: &[f64],
    model: &NoiseModel,
    options: &SimOptions,
) -> Result<DensityMatrix> {
    let steps = vectorised_steps(circuit, params, inputs, model)?;
    let mut rho = DensityMatrix::new(circuit.n_qubits())?;
    let cfg = if options.fusion.enabled {
        FusionConfig { max_dense_qubits: SUPEROP_FUSION_QUBITS, min_state_qubits: 0, ..options.fusion }
    } else {
        FusionConfig::disabled()
    };
    for op in fusion::fuse(&steps, &cfg) {
        rho.apply_vectorised(&op, options.parallelism)?;
    }
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
