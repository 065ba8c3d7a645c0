//! The trainable SuperCircuit: one set of weights shared by every SubCircuit, one parameter tensor
//! per gate (as TorchQuantum gives each gate module its own parameters), and an *active* SubCircuit
//! that the forward pass evaluates.
//!
//! The forward pass gathers the active gates' parameters into the SubCircuit's weight vector and
//! evaluates the SubCircuit exactly on the statevector (adjoint gradients). Gates outside the active
//! SubCircuit get no gradient, so an optimizer that skips parameters without gradients (Adam here, as
//! in PyTorch) leaves them untouched: SuperCircuit training with a random SubCircuit per step updates
//! only what was sampled (Wang et al., QuantumNAS, HPCA 2022, Sec. 3.1).

use super::supercircuit::{SubCircuit, SubCircuitConfig, SuperCircuit};
use crate::error::{NoiseError, Result};
use std::sync::Arc;
use tinylab_classical::nn::{Ctx, Module, Param, join};
use tinylab_classical::{Var, ops, tensor};
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::QuantumLayer;

/// The SuperCircuit with its shared weights (see the module documentation).
#[derive(Debug, Clone)]
pub struct SuperCircuitModel {
    supercircuit: Arc<SuperCircuit>,
    observables: Vec<PauliSum>,
    params: Vec<Param>,
    active: SubCircuit,
    layer: QuantumLayer,
}

impl SuperCircuitModel {
    /// The SuperCircuit read out as `observables` (one logit each), weights drawn uniformly from
    /// `[-π, π)` with `seed` (TorchQuantum's initialisation); the full SuperCircuit is active.
    pub fn new(supercircuit: SuperCircuit, observables: Vec<PauliSum>, seed: u64) -> Result<Self> {
        let mut rng = tensor::rng(seed);
        let pi = std::f32::consts::PI;
        let all = tensor::rand_uniform(&[supercircuit.n_params()], -pi, pi, &mut rng);
        let params = supercircuit
            .gates()
            .iter()
            .map(|slot| {
                let values: Vec<f32> = slot.params.clone().map(|i| all[i]).collect();
                Ok(Param::new(&slot.name, tensor::from_vec(&[values.len()], values)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let active = supercircuit.build(&supercircuit.full_config())?;
        let layer = QuantumLayer::new(active.circuit.clone(), observables.clone(), seed)?;
        Ok(Self { supercircuit: Arc::new(supercircuit), observables, params, active, layer })
    }

    /// The SuperCircuit.
    pub fn supercircuit(&self) -> &SuperCircuit {
        &self.supercircuit
    }

    /// The observables read out.
    pub fn observables(&self) -> &[PauliSum] {
        &self.observables
    }

    /// Makes the SubCircuit of `config` the one the forward pass evaluates.
    pub fn activate(&mut self, config: &SubCircuitConfig) -> Result<()> {
        if *config == self.active.config {
            return Ok(());
        }
        let active = self.supercircuit.build(config)?;
        self.layer = QuantumLayer::new(active.circuit.clone(), self.observables.clone(), 0)?;
        self.active = active;
        Ok(())
    }

    /// The active SubCircuit.
    pub fn active(&self) -> &SubCircuit {
        &self.active
    }

    /// All shared weights (masked values), in the SuperCircuit's parameter order.
    pub fn weights(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.supercircuit.n_params()];
        for (slot, p) in self.supercircuit.gates().iter().zip(&self.params) {
            for (i, v) in slot.params.clone().zip(p.effective_value().iter()) {
                out[i] = *v as f64;
            }
        }
        out
    }

    /// Replaces all shared weights (in the SuperCircuit's parameter order); masks stay.
    pub fn set_weights(&mut self, weights: &[f64]) -> Result<()> {
        if weights.len() != self.supercircuit.n_params() {
            return Err(NoiseError::SizeMismatch {
                what: "SuperCircuit weights".into(),
                expected: self.supercircuit.n_params(),
                got: weights.len(),
            });
        }
        for (slot, p) in self.supercircuit.gates().iter().zip(&mut self.params) {
            let values: Vec<f32> = weights[slot.params.clone()].iter().map(|&v| v as f32).collect();
            p.value = tensor::from_vec(&[values.len()], values)?;
            if let Some(m) = &p.mask {
                p.value *= m;
            }
        }
        Ok(())
    }

    /// The active SubCircuit's weights, inherited from the shared ones.
    pub fn active_weights(&self) -> Vec<f64> {
        let all = self.weights();
        self.active.super_index.iter().map(|&i| all[i]).collect()
    }

    /// Names (parameter paths) of the active gates' parameter tensors, for passes that should see
    /// only the active SubCircuit (pruning).
    pub fn active_param_names(&self) -> Vec<String> {
        self.active.gates.iter().map(|&g| self.params[g].name.clone()).collect()
    }

    /// The active SubCircuit as a standalone quantum layer holding its inherited weights.
    pub fn standalone(&self) -> Result<QuantumLayer> {
        let mut layer = QuantumLayer::new(self.active.circuit.clone(), self.observables.clone(), 0)?;
        let w: Vec<f32> = self.active_weights().iter().map(|&v| v as f32).collect();
        layer.weights.value = tensor::from_vec(&[w.len()], w)?;
        Ok(layer)
    }
}

impl Module for SuperCircuitModel {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> tinylab_classical::Result<Var> {
        let parts: Vec<Var> = self.active.gates.iter().map(|&g| ctx.param(&self.params[g])).collect();
        let w = if parts.is_empty() {
            Var::constant(tensor::from_vec(&[0], Vec::new())?)
        } else {
            ops::concat(&parts.iter().collect::<Vec<_>>(), 0)?
        };
        self.layer.forward_with_weights(x, &w, ctx)
    }

    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        for p in &self.params {
            f(join(prefix, &p.name), p);
        }
    }

    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        for p in &mut self.params {
            let name = join(prefix, &p.name);
            f(name, p);
        }
    }
}
