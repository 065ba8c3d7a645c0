//! The "chip" of on-chip training: a [`DeviceCircuit`] run only through finite shots on its noisy
//! model (density matrix, device noise, readout error, `shots` seeded samples), with every circuit
//! run counted.
//!
//! The readout is in the computational basis (diagonal observables such as `<Z_i>`), so one
//! estimate of any weighted sum of the observables is one circuit execution of `shots` shots, as on
//! hardware. A forward pass is one execution per input; a gradient is the parameter-shift rule of
//! the compiled circuit ([`parameter_shift_selected`]): two executions per occurrence of an
//! evaluated parameter in a rotation, none for a pruned one (Wang et al., DAC 2022, Sec. 3.1).

use crate::error::{NoiseError, Result};
use crate::robust::device::DeviceCircuit;
use rayon::prelude::*;
use tinylab_classical::seed;
use tinylab_quantum::grad::{Estimator, parameter_shift_selected};
use tinylab_quantum::pauli::PauliSum;

/// Circuit executions on the chip: each distinct circuit run with `shots` shots counts once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Executions {
    /// Circuits run.
    pub circuits: u64,
    /// Shots taken, `circuits × shots`.
    pub shots: u64,
}

/// A compiled circuit evaluated only by shots, with an execution ledger (see the module
/// documentation).
#[derive(Debug, Clone)]
pub struct Chip {
    device: DeviceCircuit,
    shots: usize,
    executions: Executions,
}

impl Chip {
    /// The chip running `device` with `shots` shots per circuit. Errors for zero shots or an
    /// observable with an `X` or `Y` factor (the chip measures in the computational basis only).
    pub fn new(device: DeviceCircuit, shots: usize) -> Result<Self> {
        if shots == 0 {
            return Err(NoiseError::InvalidSetting {
                setting: "shots",
                value: "0".into(),
                requirement: "the chip needs at least one shot per circuit",
            });
        }
        for (j, o) in device.observables().iter().enumerate() {
            if o.terms().iter().any(|(_, p)| p.masks().0 != 0) {
                return Err(NoiseError::UnsupportedObservable {
                    index: j,
                    reason: "has an X or Y factor; the chip reads Z-basis observables only",
                });
            }
        }
        Ok(Self { device, shots, executions: Executions::default() })
    }

    /// The compiled circuit, its observables and noise model.
    pub fn device(&self) -> &DeviceCircuit {
        &self.device
    }

    /// Shots per circuit.
    pub fn shots(&self) -> usize {
        self.shots
    }

    /// Executions so far.
    pub fn executions(&self) -> Executions {
        self.executions
    }

    fn count(&mut self, circuits: usize) {
        self.executions.circuits += circuits as u64;
        self.executions.shots += (circuits * self.shots) as u64;
    }

    /// The observables' estimates for `batch` rows of inputs (`batch × n_inputs` values), row-major
    /// `batch × n_observables`: one execution per row, row `b` sampled with `seed::derive(seed, &[b])`.
    /// Rows run in parallel; the result does not depend on the thread count.
    pub fn run(&mut self, params: &[f64], inputs: &[f64], batch: usize, seed: u64) -> Result<Vec<f64>> {
        let n_in = self.device.circuit().n_inputs();
        if inputs.len() != batch * n_in {
            return Err(NoiseError::SizeMismatch {
                what: format!("inputs for {batch} rows of {n_in} features"),
                expected: batch * n_in,
                got: inputs.len(),
            });
        }
        let rows: Vec<Vec<f64>> = (0..batch)
            .into_par_iter()
            .map(|b| {
                let x = &inputs[b * n_in..(b + 1) * n_in];
                self.device.expectations(params, x, Some(self.shots), seed::derive(seed, &[b as u64]))
            })
            .collect::<Result<_>>()?;
        self.count(batch);
        Ok(rows.concat())
    }

    /// `Σ_j c_j ∂<O_j>/∂θ_i` for the parameters with `selected[i]` (zero for the others), `c` the
    /// cotangent of the observables, by parameter shift on the compiled circuit: the observables are
    /// combined first, so every shifted circuit is one execution.
    pub fn gradient(
        &mut self,
        params: &[f64],
        inputs: &[f64],
        cotangent: &[f64],
        selected: &[bool],
        seed: u64,
    ) -> Result<Vec<f64>> {
        let observables = self.device.observables();
        if cotangent.len() != observables.len() {
            return Err(NoiseError::SizeMismatch {
                what: "cotangent entries (one per observable)".into(),
                expected: observables.len(),
                got: cotangent.len(),
            });
        }
        let observable = PauliSum::combination(observables, cotangent);
        let estimator: &dyn Estimator = &self.device.estimator(Some(self.shots));
        let g =
            parameter_shift_selected(estimator, self.device.circuit(), params, inputs, &observable, selected, seed)?;
        self.count(g.evaluations);
        Ok(g.params)
    }
}
