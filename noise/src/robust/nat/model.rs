//! QuantumNAT classifiers: one or more blocks, each a quantum layer on a device-compiled circuit
//! (trained noise-free or with injected noise) whose measured outcomes are normalized and quantized;
//! the outcomes of one block are the input features of the next, as in the paper's multi-block
//! models, and the last block's outcomes are the logits. Evaluated on the device's density-matrix
//! model with readout error and shots, block by block.

use super::inject::NoiseInjector;
use super::postprocess::PostProcess;
use crate::device::DeviceProfile;
use crate::error::{NoiseError, Result};
use crate::robust::device::DeviceCircuit;
use std::sync::Arc;
use tinylab_classical::nn::{Ctx, Module, Param, join};
use tinylab_classical::seed;
use tinylab_classical::{Var, tensor};
use tinylab_quantum::Circuit;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::{LayerBackend, QuantumLayer};
use tinylab_quantum::statevector::SimOptions;

/// One block: a logical circuit with its readout, compiled for a device, then post-processing.
#[derive(Debug, Clone)]
pub struct NatBlock {
    logical: Circuit,
    logical_observables: Vec<PauliSum>,
    device: DeviceCircuit,
    profile: DeviceProfile,
    /// The quantum layer on the compiled circuit; its weights are the logical circuit's parameters.
    pub layer: QuantumLayer,
    /// Post-measurement processing of the block's outcomes.
    pub post: PostProcess,
}

impl NatBlock {
    /// A block of `logical` (reading `observables`) on `profile` from `initial_layout` (trivial when
    /// `None`), weights drawn uniformly from `[-π, π)` with `seed`, trained noise-free until
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

    /// Input features the block reads.
    pub fn n_inputs(&self) -> usize {
        self.logical.n_inputs()
    }

    /// Outcomes the block produces.
    pub fn n_outputs(&self) -> usize {
        self.logical_observables.len()
    }

    /// The block as the device runs it: weights bound, transpiled again so one-qubit runs merge
    /// (fewer gates, as a hardware compiler would), same layout and noise model.
    pub fn deployed(&self) -> Result<DeviceCircuit> {
        let bound = self.logical.bind_params(&self.layer.weights_f64())?;
        DeviceCircuit::with_model(
            &bound,
            &self.logical_observables,
            &self.profile,
            self.device.model().clone(),
            Some(self.device.initial_layout()),
        )
    }

    /// Post-processed outcomes of a batch on the statevector (with injected noise in training).
    pub fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let outcomes = self.layer.forward(x, ctx)?;
        self.post.apply(&outcomes)
    }

    /// Post-processed outcomes of the rows of `inputs` (`rows x n_inputs`) on the device: each row's
    /// expectation values from the density matrix with readout error, exactly (`shots = None`) or
    /// from `shots` samples (row `i` seeded by `seed::derive(seed, &[i])`), then post-processed over all
    /// rows as one batch.
    pub fn device_forward(
        &self,
        deployed: &DeviceCircuit,
        inputs: &[f64],
        shots: Option<usize>,
        seed: u64,
    ) -> Result<Vec<f64>> {
        let outcomes = deployed.expectations_rows(&[], inputs, shots, |i| seed::derive(seed, &[i as u64]))?;
        let rows = outcomes.len() / self.n_outputs();
        let batch = tensor::from_vec(&[rows, self.n_outputs()], outcomes.iter().map(|&v| v as f32).collect())?;
        let processed = self.post.apply(&Var::constant(batch))?;
        Ok(processed.value().iter().map(|&v| v as f64).collect())
    }
}

/// A chain of blocks (see the module documentation).
#[derive(Debug, Clone)]
pub struct NatClassifier {
    /// The blocks, first to last; block `k + 1` reads block `k`'s outcomes as features.
    pub blocks: Vec<NatBlock>,
}

impl NatClassifier {
    /// A classifier from its blocks, checked: at least one, and each block reads as many features as
    /// the one before produces.
    pub fn new(blocks: Vec<NatBlock>) -> Result<Self> {
        if blocks.is_empty() {
            return Err(NoiseError::Empty {
                what: "the block list",
                requirement: "a QuantumNAT classifier needs at least one block",
            });
        }
        for (k, pair) in blocks.windows(2).enumerate() {
            if pair[1].n_inputs() != pair[0].n_outputs() {
                return Err(NoiseError::SizeMismatch {
                    what: format!("features read by block {} (the outcomes of block {k})", k + 1),
                    expected: pair[0].n_outputs(),
                    got: pair[1].n_inputs(),
                });
            }
        }
        Ok(Self { blocks })
    }

    /// Every block trained with noise injected at `factor`, block `k` drawing with
    /// `seed::derive(seed, &[k])`.
    pub fn with_noise_injection(self, factor: f64, seed: u64) -> Result<Self> {
        let blocks = self
            .blocks
            .into_iter()
            .enumerate()
            .map(|(k, b)| b.with_noise_injection(factor, seed::derive(seed, &[k as u64])))
            .collect::<Result<_>>()?;
        Ok(Self { blocks })
    }

    /// Logits of a batch on the statevector (with injected noise in training passes).
    pub fn logits(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let mut h = x.clone();
        for block in &mut self.blocks {
            h = block.forward(&h, ctx)?;
        }
        Ok(h)
    }

    /// Logits of the rows of `inputs` on the device (see [`NatBlock::device_forward`]), block after
    /// block; block `k` samples with `seed::derive(seed, &[k])`.
    pub fn device_logits(&self, inputs: &[f64], shots: Option<usize>, seed: u64) -> Result<Vec<f64>> {
        let mut h = inputs.to_vec();
        for (k, block) in self.blocks.iter().enumerate() {
            h = block.device_forward(&block.deployed()?, &h, shots, seed::derive(seed, &[k as u64]))?;
        }
        Ok(h)
    }
}

impl Module for NatClassifier {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> tinylab_classical::Result<Var> {
        self.logits(x, ctx).map_err(|e| match e {
            NoiseError::Classical(c) => c,
            other => {
                tinylab_classical::ClassicalError::Layer { layer: "QuantumNAT classifier", source: Box::new(other) }
            }
        })
    }

    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        for (k, b) in self.blocks.iter().enumerate() {
            b.layer.visit_params(&join(prefix, &format!("block{k}")), f);
        }
    }

    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        for (k, b) in self.blocks.iter_mut().enumerate() {
            b.layer.visit_params_mut(&join(prefix, &format!("block{k}")), f);
        }
    }
}
