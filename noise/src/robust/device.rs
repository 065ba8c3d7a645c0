//! A logical circuit compiled for a device, its trainable parameters and input features still
//! symbolic: translated to the device's `rz`/`sx`/`x`/`cx` basis and routed onto its coupling map
//! from a chosen initial layout (the qubit mapping QuantumNAS searches), with the readout
//! observables moved to where the logical qubits end.
//!
//! Training on this circuit puts the noise where the device has it: every `sx` and `cx` the device
//! executes carries its calibrated error. One-qubit gates translate with symbolic angles (`u3`,
//! rotations), as do `rzz`, `rxx`-style and controlled-Pauli two-qubit gates; gates whose
//! decomposition adds two different symbolic angles (`cu3`) are refused by the transpiler with a
//! message naming the instruction.

use crate::device::DeviceProfile;
use crate::error::{NoiseError, Result};
use crate::model::NoiseModel;
use crate::qml::DensityBackend;
use rayon::prelude::*;
use std::sync::Arc;
use tinylab_quantum::circuit::CircuitStats;
use tinylab_quantum::grad::{BasisEstimator, Estimator};
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{Circuit, transpile};

/// A logical circuit on a device (see the module documentation).
#[derive(Debug, Clone)]
pub struct DeviceCircuit {
    circuit: Circuit,
    observables: Vec<PauliSum>,
    model: Arc<NoiseModel>,
    initial_layout: Vec<usize>,
    final_layout: Vec<usize>,
}

impl DeviceCircuit {
    /// Compiles `logical` (with `observables` on its qubits) for `profile`, logical qubit `v` starting
    /// on physical qubit `initial_layout[v]` (`0, 1, 2, ...` when `None`). The result has the
    /// device's qubit count and the logical circuit's parameters and inputs, in the same order.
    pub fn new(
        logical: &Circuit,
        observables: &[PauliSum],
        profile: &DeviceProfile,
        initial_layout: Option<&[usize]>,
    ) -> Result<Self> {
        let model = Arc::new(NoiseModel::from_profile(profile)?);
        Self::with_model(logical, observables, profile, model, initial_layout)
    }

    /// [`new`](Self::new) with a noise model already built from `profile` (shared between the many
    /// candidates of a search).
    pub fn with_model(
        logical: &Circuit,
        observables: &[PauliSum],
        profile: &DeviceProfile,
        model: Arc<NoiseModel>,
        initial_layout: Option<&[usize]>,
    ) -> Result<Self> {
        let target = profile.target()?;
        let initial_layout = match initial_layout {
            Some(l) => l.to_vec(),
            None => transpile::trivial_layout(logical.n_qubits()),
        };
        let (circuit, final_layout) = transpile::transpile(logical, &target, &initial_layout)?;
        let observables =
            observables.iter().map(|o| o.relabel(&final_layout)).collect::<tinylab_quantum::Result<_>>()?;
        Ok(Self { circuit, observables, model, initial_layout, final_layout })
    }

    /// The compiled circuit: device qubits, basis gates, symbolic parameters and inputs.
    pub fn circuit(&self) -> &Circuit {
        &self.circuit
    }

    /// The observables on the physical qubits where the logical ones end.
    pub fn observables(&self) -> &[PauliSum] {
        &self.observables
    }

    /// The device's noise model.
    pub fn model(&self) -> &Arc<NoiseModel> {
        &self.model
    }

    /// Where each logical qubit starts.
    pub fn initial_layout(&self) -> &[usize] {
        &self.initial_layout
    }

    /// Where each logical qubit ends.
    pub fn final_layout(&self) -> &[usize] {
        &self.final_layout
    }

    /// Gate counts and depth of the compiled circuit.
    pub fn stats(&self) -> CircuitStats {
        CircuitStats::of(&self.circuit)
    }

    /// The estimator of the device: density matrix under the noise model, readout error applied,
    /// expectation values exact (`shots = None`) or from `shots` seeded samples per measured basis.
    pub fn estimator(&self, shots: Option<usize>) -> BasisEstimator<DensityBackend> {
        BasisEstimator {
            backend: DensityBackend { model: self.model.clone(), readout: true, options: SimOptions::default() },
            shots,
        }
    }

    /// The observables' expectation values on the device for one binding (see
    /// [`estimator`](Self::estimator)).
    pub fn expectations(&self, params: &[f64], inputs: &[f64], shots: Option<usize>, seed: u64) -> Result<Vec<f64>> {
        Ok(self.estimator(shots).expectations(&self.circuit, params, inputs, &self.observables, seed)?)
    }

    /// [`expectations`](Self::expectations) of every row of `inputs` (`rows x n_inputs`, row-major),
    /// concatenated in row order; row `i` samples with `row_seed(i)`. Rows run in parallel, so the
    /// result does not depend on the thread count. Errors unless `inputs` is a whole number of rows
    /// of a circuit that reads inputs.
    pub fn expectations_rows(
        &self,
        params: &[f64],
        inputs: &[f64],
        shots: Option<usize>,
        row_seed: impl Fn(usize) -> u64 + Sync,
    ) -> Result<Vec<f64>> {
        let n_in = self.circuit.n_inputs();
        if n_in == 0 || !inputs.len().is_multiple_of(n_in) {
            return Err(NoiseError::SizeMismatch {
                what: format!("input values for a circuit reading {n_in} features (whole rows)"),
                expected: inputs.len() / n_in.max(1) * n_in,
                got: inputs.len(),
            });
        }
        let rows: Vec<Vec<f64>> = inputs
            .par_chunks(n_in)
            .enumerate()
            .map(|(i, x)| self.expectations(params, x, shots, row_seed(i)))
            .collect::<Result<_>>()?;
        Ok(rows.concat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinylab_quantum::grad::StatevectorEstimator;

    fn logical() -> Circuit {
        let mut c = Circuit::new(3);
        c.ry(tinylab_quantum::Angle::input(0), 0).unwrap();
        c.ry(tinylab_quantum::Angle::input(1), 2).unwrap();
        let t = c.param("t").unwrap();
        let u = c.param("u").unwrap();
        let v = c.param("v").unwrap();
        c.u3(t, u, v, 1).unwrap().rzz(u, 0, 2).unwrap().cx(2, 1).unwrap();
        c
    }

    /// The compiled circuit computes the logical one's expectation values (noiseless), with the
    /// parameters still free: two different bindings, same answers as the logical circuit.
    #[test]
    fn compiled_circuit_keeps_parameters_symbolic_and_exact() {
        let profile = DeviceProfile::builtin("manila").unwrap();
        let obs: Vec<PauliSum> = (0..3).map(|q| PauliSum::z(q).unwrap()).collect();
        let dc = DeviceCircuit::new(&logical(), &obs, &profile, Some(&[4, 0, 2])).unwrap();
        assert_eq!(dc.circuit().n_qubits(), 5);
        assert_eq!(dc.circuit().n_params(), 3);
        let exact = StatevectorEstimator::default();
        for (params, inputs) in [([0.3, -1.1, 2.0], [0.7, 1.9]), ([-2.5, 0.4, 0.9], [2.2, 0.1])] {
            let want = exact.expectations(&logical(), &params, &inputs, &obs, 0).unwrap();
            let got = exact.expectations(dc.circuit(), &params, &inputs, dc.observables(), 0).unwrap();
            for (a, b) in want.iter().zip(&got) {
                assert!((a - b).abs() < 1e-10, "{want:?} vs {got:?}");
            }
        }
        let stats = dc.stats();
        assert!(stats.two_qubit_gates >= 3, "{stats:?}");
        assert!(stats.depth > 0 && stats.depth <= stats.gates());
    }
}
