//! A QuantumNAT classifier: a quantum layer on the device-compiled circuit, trained noise-free or
//! with injected noise, followed by post-measurement normalization and quantization; evaluated on the
//! device's density-matrix model with readout error and shots.

use super::inject::NoiseInjector;
use super::postprocess::PostProcess;
use crate::device::DeviceProfile;
use crate::error::Result;
use crate::qml::DeviceModel;
use crate::robust::device::DeviceCircuit;
use rayon::prelude::*;
use std::sync::Arc;
use tinylab_classical::nn::{Ctx, Module, Param};
use tinylab_classical::{Var, tensor};
use tinylab_quantum::Circuit;
use tinylab_quantum::grad::derive_seed;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::{LayerBackend, QuantumLayer};
use tinylab_quantum::statevector::SimOptions;

/// A logical QML circuit with its readout, compiled for one device, trained with the QuantumNAT
/// options (see the module documentation).
#[derive(Debug, Clone)]
pub struct NatClassifier {
    logical: Circuit,
    logical_observables: Vec<PauliSum>,
    device: DeviceCircuit,
    profile: DeviceProfile,
    /// The quantum layer on the compiled circuit; its weights are the logical circuit's parameters.
    pub layer: QuantumLayer,
    /// Post-measurement processing.
    pub post: PostProcess,
}

impl NatClassifier {
    /// A classifier of `logical` (reading `observables`) on `profile` from `initial_layout` (trivial
    /// when `None`), weights drawn uniformly from `[-π, π)` with `seed`, trained noise-free until
    /// [`with_noise_injection`](Self::with_noise_injection) is called.
    pub fn new(
        logical: &Circuit,
        observables: &[PauliSum],
        profile: &DeviceProfile,
        initial_layout: Option<&[usize]>,
        post: PostProcess,
        seed: u64,
    ) -> Result<Self> {
        let device = DeviceCircuit::new(logical, observables, profile, initial_layout)?;
        let layer = QuantumLayer::new(device.circuit().clone(), device.observables().to_vec(), seed)?;
        Ok(Self {
            logical: logical.clone(),
            logical_observables: observables.to_vec(),
            device,
            profile: profile.clone(),
            layer,
            post,
        })
    }

    /// Trains with noise injected from the device's model scaled by `factor` (training passes only),
    /// draws seeded by `seed`.
    pub fn with_noise_injection(mut self, factor: f64, seed: u64) -> Result<Self> {
        let injector = NoiseInjector::new(self.device.model(), factor)?;
        self.layer = self.layer.with_backend(LayerBackend::Sampled {
            sampler: Arc::new(injector),
            seed,
            options: SimOptions::default(),
        });
        Ok(self)
    }

    /// The compiled circuit the layer trains.
    pub fn device_circuit(&self) -> &DeviceCircuit {
        &self.device
    }

    /// The model as the device runs it: weights bound, transpiled again so one-qubit runs merge
    /// (fewer gates, as a hardware compiler would), same layout.
    pub fn deployed(&self) -> Result<DeviceModel> {
        DeviceModel::new(
            &self.logical,
            &self.layer.weights_f64(),
            &self.logical_observables,
            &self.profile,
            Some(self.device.initial_layout()),
        )
    }

    /// Logits of a batch on the noise-free statevector (with injected noise in training passes).
    pub fn logits(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let outcomes = self.layer.forward(x, ctx)?;
        self.post.apply(&outcomes)
    }

    /// Logits of the rows of `inputs` (`rows x n_inputs`) on the device: each row's expectation values
    /// from the density matrix with readout error, exactly (`shots = None`) or from `shots` samples
    /// (row `i` seeded by `derive_seed(seed, i)`), then post-processed over all rows as one batch.
    pub fn device_logits(
        &self,
        deployed: &DeviceModel,
        inputs: &[f64],
        shots: Option<usize>,
        seed: u64,
    ) -> Result<Vec<f64>> {
        let n_in = self.logical.n_inputs();
        let rows = inputs.len() / n_in.max(1);
        let outcomes: Vec<Vec<f64>> = (0..rows)
            .into_par_iter()
            .map(|i| deployed.expectations(&inputs[i * n_in..(i + 1) * n_in], shots, derive_seed(seed, i as u64)))
            .collect::<Result<_>>()?;
        let width = self.logical_observables.len();
        let batch = tensor::from_vec(&[rows, width], outcomes.concat().iter().map(|&v| v as f32).collect())?;
        let logits = self.post.apply(&Var::constant(batch))?;
        Ok(logits.value().iter().map(|&v| v as f64).collect())
    }
}

impl Module for NatClassifier {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> tinylab_classical::Result<Var> {
        self.logits(x, ctx).map_err(|e| match e {
            crate::NoiseError::Classical(c) => c,
            other => {
                tinylab_classical::ClassicalError::Layer { layer: "QuantumNAT classifier", source: Box::new(other) }
            }
        })
    }

    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        self.layer.visit_params(prefix, f);
    }

    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        self.layer.visit_params_mut(prefix, f);
    }
}
