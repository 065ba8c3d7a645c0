//! Expectation values as a black box: what parameter-shift and finite-difference gradients evaluate.
//!
//! An [`Estimator`] turns a bound circuit and observables into expectation values. The exact one
//! reads them off the statevector; [`BasisEstimator`] measures, as hardware does: the observable's
//! terms are grouped into qubit-wise commuting sets, each set is measured after a change of basis
//! (`H` for `X`, `S†` then `H` for `Y`), and each term is the average parity of its qubits over the
//! outcome distribution, exactly or from `shots` seeded samples. The distribution comes from a
//! [`ProbabilityBackend`]: the statevector here, a noisy density matrix or trajectories in
//! `tinylab-noise`.

use crate::circuit::Circuit;
use crate::error::{QuantumError, Result};
use crate::pauli::{PauliString, PauliSum};
use crate::statevector::measure::sample_indices;
use crate::statevector::{SimOptions, Statevector};
use tinylab_classical::seed;

/// Computes expectation values of observables for one binding of a circuit.
pub trait Estimator: Sync {
    /// `<O_j>` for each observable. Estimators that sample use `seed` (the same seed, the same
    /// estimate); exact ones ignore it.
    fn expectations(
        &self,
        circuit: &Circuit,
        params: &[f64],
        inputs: &[f64],
        observables: &[PauliSum],
        seed: u64,
    ) -> Result<Vec<f64>>;
}

/// Exact expectation values from the statevector.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatevectorEstimator {
    /// Simulation options.
    pub options: SimOptions,
}

impl Estimator for StatevectorEstimator {
    fn expectations(
        &self,
        circuit: &Circuit,
        params: &[f64],
        inputs: &[f64],
        observables: &[PauliSum],
        _seed: u64,
    ) -> Result<Vec<f64>> {
        let mut state = Statevector::new(circuit.n_qubits())?;
        state.run(&circuit.without_measurements(), params, inputs, &self.options)?;
        observables.iter().map(|o| o.expectation(&state)).collect()
    }
}

/// The outcome distribution of measuring every qubit at the end of a circuit (index bit `q` is
/// qubit `q`).
pub trait ProbabilityBackend: Sync {
    /// The probabilities of the `2^n` outcomes.
    fn probabilities(&self, circuit: &Circuit, params: &[f64], inputs: &[f64]) -> Result<Vec<f64>>;
}

/// The ideal outcome distribution from the statevector.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatevectorBackend {
    /// Simulation options.
    pub options: SimOptions,
}

impl ProbabilityBackend for StatevectorBackend {
    fn probabilities(&self, circuit: &Circuit, params: &[f64], inputs: &[f64]) -> Result<Vec<f64>> {
        let mut state = Statevector::new(circuit.n_qubits())?;
        state.run(circuit, params, inputs, &self.options)?;
        Ok(state.probabilities())
    }
}

/// Expectation values measured in rotated bases from a [`ProbabilityBackend`]: exact averages of the
/// distribution when `shots` is `None`, else the mean over `shots` seeded samples per basis.
#[derive(Debug, Clone, Copy)]
pub struct BasisEstimator<B> {
    /// Where the distributions come from.
    pub backend: B,
    /// Samples per measured basis; `None` for the exact average.
    pub shots: Option<usize>,
}

/// One measurement setting: the Pauli on each qubit (identity where free), and the terms it serves
/// as `(observable, term)` indices.
struct Setting {
    basis: PauliString,
    terms: Vec<(usize, usize)>,
}

/// True when every qubit on which both strings act non-trivially has the same Pauli on both.
fn qubitwise_compatible(a: PauliString, b: PauliString) -> bool {
    let ((ax, az), (bx, bz)) = (a.masks(), b.masks());
    let overlap = (ax | az) & (bx | bz);
    (ax ^ bx) & overlap == 0 && (az ^ bz) & overlap == 0
}

fn merge(a: PauliString, b: PauliString) -> PauliString {
    let ((ax, az), (bx, bz)) = (a.masks(), b.masks());
    PauliString::from_masks(ax | bx, az | bz)
}

/// Greedy qubit-wise commuting grouping of every term of every observable, in term order.
fn settings(observables: &[PauliSum]) -> Vec<Setting> {
    let mut out: Vec<Setting> = Vec::new();
    for (o, obs) in observables.iter().enumerate() {
        for (t, &(_, p)) in obs.terms().iter().enumerate() {
            match out.iter_mut().find(|s| qubitwise_compatible(s.basis, p)) {
                Some(s) => {
                    s.basis = merge(s.basis, p);
                    s.terms.push((o, t));
                }
                None => out.push(Setting { basis: p, terms: vec![(o, t)] }),
            }
        }
    }
    out
}

/// The circuit followed by the change of basis that maps `basis` to Z measurements.
fn rotated(circuit: &Circuit, basis: PauliString) -> Result<Circuit> {
    let mut c = circuit.without_measurements();
    for q in 0..circuit.n_qubits() {
        match basis.get(q) {
            crate::pauli::Pauli::X => {
                c.h(q)?;
            }
            crate::pauli::Pauli::Y => {
                c.sdg(q)?.h(q)?;
            }
            _ => {}
        }
    }
    Ok(c)
}

impl<B: ProbabilityBackend> Estimator for BasisEstimator<B> {
    fn expectations(
        &self,
        circuit: &Circuit,
        params: &[f64],
        inputs: &[f64],
        observables: &[PauliSum],
        seed: u64,
    ) -> Result<Vec<f64>> {
        if self.shots == Some(0) {
            return Err(QuantumError::Sampling("an estimate needs at least one shot".into()));
        }
        let mut values = vec![0.0; observables.len()];
        for o in observables {
            if o.min_qubits() > circuit.n_qubits() {
                return Err(QuantumError::QubitOutOfRange { qubit: o.min_qubits() - 1, n_qubits: circuit.n_qubits() });
            }
        }
        for (s, setting) in settings(observables).into_iter().enumerate() {
            let probs = self.backend.probabilities(&rotated(circuit, setting.basis)?, params, inputs)?;
            // Outcome weights: exact probabilities, or sample frequencies.
            let weights: Vec<f64> = match self.shots {
                None => probs,
                Some(shots) => {
                    let mut counts = vec![0.0; probs.len()];
                    for i in sample_indices(&probs, shots, seed::derive(seed, &[s as u64]))? {
                        counts[i] += 1.0;
                    }
                    counts.iter().map(|c| c / shots as f64).collect()
                }
            };
            for (o, t) in setting.terms {
                let (w, p) = observables[o].terms()[t];
                let (x, z) = p.masks();
                let support = (x | z) as usize;
                let parity: f64 = weights
                    .iter()
                    .enumerate()
                    .map(|(i, &q)| if (i & support).count_ones() & 1 == 1 { -q } else { q })
                    .sum();
                values[o] += w * parity;
            }
        }
        Ok(values)
    }
}
