//! Noisy forward passes for quantum machine learning: the estimators of `tinylab_quantum::grad`
//! backed by a density matrix or by trajectories under a [`NoiseModel`], and a trained model prepared
//! for a device (weights bound, transpiled to the device's basis and coupling map, readout observables
//! moved to where the logical qubits end), evaluated with finite shots and readout error as hardware
//! would (the QuantumNAT setting, Wang et al., DAC 2022).

use crate::device::DeviceProfile;
use crate::error::{NoiseError, Result};
use crate::model::NoiseModel;
use crate::robust::DeviceCircuit;
use crate::sim::probabilities_density;
use crate::trajectories::probabilities_trajectories;
use std::sync::Arc;
use tinylab_quantum::grad::ProbabilityBackend;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{BackendError, Circuit, QuantumError};

fn as_quantum(e: NoiseError) -> QuantumError {
    match e {
        NoiseError::Quantum(q) => q,
        other => QuantumError::Backend(BackendError::new(other)),
    }
}

/// Outcome distributions from the density matrix under a noise model, after readout error when
/// `readout` is set (what a device reports).
#[derive(Debug, Clone)]
pub struct DensityBackend {
    /// The noise model.
    pub model: Arc<NoiseModel>,
    /// Apply the model's readout errors.
    pub readout: bool,
    /// Simulation options.
    pub options: SimOptions,
}

impl ProbabilityBackend for DensityBackend {
    fn probabilities(&self, circuit: &Circuit, params: &[f64], inputs: &[f64]) -> tinylab_quantum::Result<Vec<f64>> {
        let p = probabilities_density(circuit, params, inputs, &self.model, &self.options).map_err(as_quantum)?;
        Ok(if self.readout { p.measured_probabilities } else { p.probabilities })
    }
}

/// Outcome distributions averaged over seeded quantum trajectories (for more qubits than a density
/// matrix allows), after readout error when `readout` is set.
#[derive(Debug, Clone)]
pub struct TrajectoryBackend {
    /// The noise model.
    pub model: Arc<NoiseModel>,
    /// Trajectories per distribution.
    pub trajectories: usize,
    /// Seed of the trajectories.
    pub seed: u64,
    /// Apply the model's readout errors.
    pub readout: bool,
    /// Simulation options.
    pub options: SimOptions,
}

impl ProbabilityBackend for TrajectoryBackend {
    fn probabilities(&self, circuit: &Circuit, params: &[f64], inputs: &[f64]) -> tinylab_quantum::Result<Vec<f64>> {
        let (p, _) = probabilities_trajectories(
            circuit,
            params,
            inputs,
            &self.model,
            self.trajectories,
            self.seed,
            &self.options,
        )
        .map_err(as_quantum)?;
        Ok(if self.readout { p.measured_probabilities } else { p.probabilities })
    }
}

/// A trained model on a device: its circuit with the weights bound, transpiled onto the device, the
/// readout observables on the physical qubits where the logical ones end, and the device's noise
/// model. The bound case of [`DeviceCircuit`], which keeps the angles symbolic.
#[derive(Debug, Clone)]
pub struct DeviceModel {
    compiled: DeviceCircuit,
}

impl DeviceModel {
    /// Prepares `circuit` with `weights` for `profile`, placing logical qubit `v` on physical qubit
    /// `initial_layout[v]` (`0, 1, 2, ...` when `None`).
    pub fn new(
        circuit: &Circuit,
        weights: &[f64],
        observables: &[PauliSum],
        profile: &DeviceProfile,
        initial_layout: Option<&[usize]>,
    ) -> Result<Self> {
        let bound = circuit.bind_params(weights)?;
        Ok(Self { compiled: DeviceCircuit::new(&bound, observables, profile, initial_layout)? })
    }

    /// The transpiled circuit (device qubits, inputs still symbolic).
    pub fn circuit(&self) -> &Circuit {
        self.compiled.circuit()
    }

    /// Where each logical qubit ends.
    pub fn final_layout(&self) -> &[usize] {
        self.compiled.final_layout()
    }

    /// The readout expectation values for one input row: exact under the noise model (with readout
    /// error) when `shots` is `None`, else estimated from `shots` seeded samples per measured basis.
    pub fn expectations(&self, inputs: &[f64], shots: Option<usize>, seed: u64) -> Result<Vec<f64>> {
        self.compiled.expectations(&[], inputs, shots, seed)
    }
}
