//! Noise injection by gate insertion (QuantumNAT, Wang et al., DAC 2022, Sec. 3.3): each training
//! forward pass runs the circuit with Pauli errors drawn from the device's noise model inserted after
//! the gates that carry them, and readout errors drawn as `X` flips before measurement.
//!
//! Every gate error is replaced by its Pauli twirl ([`Channel::pauli_twirl`](crate::Channel::pauli_twirl)),
//! a mixture of Pauli products, so the *average* of the sampled circuits' density matrices is exactly
//! the density-matrix evolution under [`NoiseModel::pauli_twirled`]; for Pauli and depolarizing
//! channels that is the device model itself, and thermal relaxation keeps its Pauli-transfer
//! diagonal (its average fidelity). The noise factor scales every error probability (QuantumNAT's
//! knob: more noise in training than on the device regularises more).

use crate::error::{NoiseError, Result};
use crate::model::NoiseModel;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::collections::BTreeMap;
use tinylab_quantum::circuit::Instruction;
use tinylab_quantum::gate::StandardGate;
use tinylab_quantum::qml::CircuitSampler;
use tinylab_quantum::{Angle, BackendError, Circuit, QuantumError};

/// The non-identity terms of a Pauli channel: Pauli indices (base-4 digit `j` on the gate's `j`-th
/// qubit, 0..3 = I X Y Z) with their probabilities, already scaled by the noise factor.
#[derive(Debug, Clone, PartialEq)]
struct PauliErrors {
    terms: Vec<(usize, f64)>,
}

impl PauliErrors {
    fn new(probabilities: &[f64], factor: f64, what: &str) -> Result<Self> {
        let terms: Vec<(usize, f64)> = probabilities
            .iter()
            .enumerate()
            .skip(1)
            .filter(|&(_, &p)| p > 0.0)
            .map(|(i, &p)| (i, p * factor))
            .collect();
        let total: f64 = terms.iter().map(|t| t.1).sum();
        if total > 1.0 + 1e-12 {
            return Err(NoiseError::OutOfRange {
                what: format!("error probability of {what} times the noise factor {factor}"),
                value: total,
                lo: 0.0,
                hi: 1.0,
            });
        }
        Ok(Self { terms })
    }

    /// The Pauli index drawn with the uniform number `u` (0 = no error).
    fn draw(&self, u: f64) -> usize {
        let mut acc = 0.0;
        for &(i, p) in &self.terms {
            acc += p;
            if u < acc {
                return i;
            }
        }
        0
    }
}

/// Draws noisy variants of circuits compiled for a device: the sampler of QuantumNAT's noise
/// injection (see the module documentation). Plug it into a quantum layer with
/// `LayerBackend::Sampled`.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseInjector {
    gate_errors: BTreeMap<(String, Vec<usize>), PauliErrors>,
    all_qubit_errors: BTreeMap<String, PauliErrors>,
    readout_flips: BTreeMap<usize, f64>,
    factor: f64,
}

impl NoiseInjector {
    /// The sampler of `model` with every error probability multiplied by `factor` (1 = the device's
    /// noise). Errors for a negative or non-finite factor, a factor that pushes an error probability
    /// above 1, and asymmetric readout errors (an `X` flip reproduces only the symmetric ones).
    pub fn new(model: &NoiseModel, factor: f64) -> Result<Self> {
        if !(factor >= 0.0 && factor.is_finite()) {
            return Err(NoiseError::OutOfRange { what: "noise factor".into(), value: factor, lo: 0.0, hi: f64::MAX });
        }
        let mut gate_errors = BTreeMap::new();
        for (gate, qubits, noise) in model.gate_errors() {
            let what = format!("`{gate}` on {qubits:?}");
            gate_errors.insert(
                (gate.to_string(), qubits.to_vec()),
                PauliErrors::new(&noise.channel.pauli_twirl(), factor, &what)?,
            );
        }
        let mut all_qubit_errors = BTreeMap::new();
        for (gate, noise) in model.all_qubit_errors() {
            let what = format!("`{gate}`");
            all_qubit_errors.insert(gate.to_string(), PauliErrors::new(&noise.channel.pauli_twirl(), factor, &what)?);
        }
        let mut readout_flips = BTreeMap::new();
        for (q, e) in model.readout_errors() {
            let [[_, p01], [p10, _]] = e.probabilities;
            if (p01 - p10).abs() > 1e-12 {
                return Err(NoiseError::AsymmetricReadout {
                    method: "noise injection (readout errors drawn as X flips)",
                    qubit: q,
                    p01,
                    p10,
                });
            }
            let p = p01 * factor;
            if p > 1.0 {
                return Err(NoiseError::OutOfRange {
                    what: format!("readout error of qubit {q} times the noise factor {factor}"),
                    value: p,
                    lo: 0.0,
                    hi: 1.0,
                });
            }
            if p > 0.0 {
                readout_flips.insert(q, p);
            }
        }
        Ok(Self { gate_errors, all_qubit_errors, readout_flips, factor })
    }

    /// The noise factor.
    pub fn factor(&self) -> f64 {
        self.factor
    }

    fn errors_of(&self, gate: &str, qubits: &[usize]) -> Option<&PauliErrors> {
        self.gate_errors.get(&(gate.to_string(), qubits.to_vec())).or_else(|| {
            self.all_qubit_errors.get(gate).filter(|e| e.terms.iter().all(|&(i, _)| i < 1 << (2 * qubits.len())))
        })
    }

    /// `circuit` with errors drawn from `rng` inserted: after every gate the model names, the Pauli
    /// product drawn from its twirled channel (nothing for the identity); before the measurements
    /// (at the end when there are none), an `X` on each qubit whose readout flip is drawn.
    pub fn sample_with(&self, circuit: &Circuit, rng: &mut ChaCha8Rng) -> Result<Circuit> {
        let mut out = Circuit::with_registers(circuit.qregs().to_vec(), circuit.cregs().to_vec());
        for name in circuit.param_names() {
            out.param(name)?;
        }
        let pauli_gates = [StandardGate::X, StandardGate::Y, StandardGate::Z];
        let mut flips_done = false;
        let flip_readout = |out: &mut Circuit, rng: &mut ChaCha8Rng| -> Result<()> {
            for (&q, &p) in &self.readout_flips {
                if q < out.n_qubits() && uniform(rng) < p {
                    out.append(StandardGate::X.into(), &[q], &[])?;
                }
            }
            Ok(())
        };
        for inst in circuit.instructions() {
            if let Instruction::Measure { .. } = inst
                && !flips_done
            {
                flip_readout(&mut out, rng)?;
                flips_done = true;
            }
            out.append_instruction(inst, &|index| index)?;
            if let Instruction::Gate(app) = inst
                && let Some(errors) = self.errors_of(&app.gate.name(), &app.qubits)
            {
                let pauli = errors.draw(uniform(rng));
                for (j, &q) in app.qubits.iter().enumerate() {
                    let digit = pauli >> (2 * j) & 3;
                    if digit != 0 {
                        out.append(pauli_gates[digit - 1].into(), &[q], &[] as &[Angle])?;
                    }
                }
            }
        }
        if !flips_done {
            flip_readout(&mut out, rng)?;
        }
        Ok(out)
    }
}

fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

impl CircuitSampler for NoiseInjector {
    fn sample(&self, circuit: &Circuit, seed: u64) -> std::result::Result<Circuit, QuantumError> {
        self.sample_with(circuit, &mut ChaCha8Rng::seed_from_u64(seed)).map_err(|e| match e {
            NoiseError::Quantum(q) => q,
            other => QuantumError::Backend(BackendError::new(other)),
        })
    }
}
