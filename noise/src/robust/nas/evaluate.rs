//! Scoring a SubCircuit: cross-entropy and accuracy of its read-out logits, noiseless on the
//! statevector or on a device's noisy density-matrix model (readout error included), the circuit
//! compiled with its weights bound, gates that are identities removed and one-qubit runs merged, as
//! a trained model runs on hardware. The noisy validation loss is the score of QuantumNAS's search
//! (Wang et al., HPCA 2022, Sec. 3.2).

use super::prune::drop_identity_gates;
use super::train::Labelled;
use crate::device::DeviceProfile;
use crate::error::Result;
use crate::model::NoiseModel;
use crate::robust::device::DeviceCircuit;
use std::sync::Arc;
use tinylab_classical::seed;
use tinylab_quantum::Circuit;
use tinylab_quantum::grad::batch_expectations;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::statevector::SimOptions;

/// Mean cross-entropy and accuracy of a classifier on a labelled set.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Scores {
    /// Mean cross-entropy of the softmax of the logits.
    pub loss: f64,
    /// Fraction of rows whose largest logit is the label's (first one on ties).
    pub accuracy: f64,
}

/// The scores of `logits` (row-major, `labels.len()` rows of `classes` values).
pub fn scores(logits: &[f64], classes: usize, labels: &[usize]) -> Scores {
    let mut loss = 0.0;
    let mut correct = 0;
    for (row, &label) in logits.chunks(classes.max(1)).zip(labels) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let log_sum = row.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
        loss += log_sum - row.get(label).copied().unwrap_or(f64::NAN);
        let predicted = (0..row.len()).fold(0, |best, k| if row[k] > row[best] { k } else { best });
        correct += (predicted == label) as usize;
    }
    let n = labels.len().max(1) as f64;
    Scores { loss: loss / n, accuracy: correct as f64 / n }
}

/// All feature rows of `data` as `f64`, row-major (what the simulators read).
fn inputs_f64(data: &Labelled) -> Vec<f64> {
    data.features().iter().map(|&v| v as f64).collect()
}

/// The scores of `circuit` with `weights` on the ideal statevector (exact expectation values).
pub fn noiseless_scores(
    circuit: &Circuit,
    weights: &[f64],
    observables: &[PauliSum],
    data: &Labelled,
) -> Result<Scores> {
    let logits = batch_expectations(circuit, weights, &inputs_f64(data), observables, &SimOptions::default())?;
    Ok(scores(&logits, observables.len(), data.labels()))
}

/// A device and the read-out of the classifiers evaluated on it (see the module documentation).
#[derive(Debug, Clone)]
pub struct DeviceEvaluator {
    profile: DeviceProfile,
    model: Arc<NoiseModel>,
    observables: Vec<PauliSum>,
}

impl DeviceEvaluator {
    /// An evaluator for `profile` (its noise model built once) reading `observables` on the logical
    /// qubits.
    pub fn new(profile: &DeviceProfile, observables: Vec<PauliSum>) -> Result<Self> {
        let model = Arc::new(NoiseModel::from_profile(profile)?);
        Ok(Self { profile: profile.clone(), model, observables })
    }

    /// The device.
    pub fn profile(&self) -> &DeviceProfile {
        &self.profile
    }

    /// Physical qubits of the device.
    pub fn n_physical(&self) -> usize {
        self.profile.num_qubits
    }

    /// The observables, on the logical qubits.
    pub fn observables(&self) -> &[PauliSum] {
        &self.observables
    }

    /// `circuit` with `weights` bound, its identity gates removed ([`drop_identity_gates`]: pruned
    /// gates vanish), compiled onto the device from `layout` (logical qubit `v` on physical qubit
    /// `layout[v]`): basis translation, routing, one-qubit runs merged.
    pub fn compile(&self, circuit: &Circuit, weights: &[f64], layout: &[usize]) -> Result<DeviceCircuit> {
        let bound = circuit.bind_params(weights)?;
        let (pruned, _) = drop_identity_gates(&bound, &[])?;
        DeviceCircuit::with_model(&pruned, &self.observables, &self.profile, self.model.clone(), Some(layout))
    }

    /// The scores of a compiled classifier on `data` under the device's noise: each row's
    /// expectation values from the density matrix after readout error, exact (`shots = None`) or
    /// from `shots` samples seeded by `seed` and the row index. Rows run in parallel; the result does
    /// not depend on the thread count.
    pub fn scores(&self, compiled: &DeviceCircuit, data: &Labelled, shots: Option<usize>, seed: u64) -> Result<Scores> {
        let logits = compiled.expectations_rows(&[], &inputs_f64(data), shots, |i| seed::derive(seed, &[i as u64]))?;
        Ok(scores(&logits, self.observables.len(), data.labels()))
    }
}
