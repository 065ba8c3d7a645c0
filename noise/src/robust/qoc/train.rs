//! The on-chip training loop of QOC (Wang et al., DAC 2022, Algorithm 1): each step runs the batch
//! forward on the chip, takes the cross-entropy of the measured expectation values (times a logit
//! scale) and its cotangent on the host, evaluates the parameter-shift gradient of the selected
//! parameters on the chip (all of them, or the sample a [`GradientPruner`] keeps), and updates the
//! weights with Adam. Pruned parameters get a zero gradient, as in TorchQuantum's implementation, so
//! Adam's moments still move them.

use super::chip::{Chip, Executions};
use super::pruning::{GradientPruner, Phase, PruningConfig};
use crate::error::{NoiseError, Result};
use crate::robust::device::DeviceCircuit;
use rayon::prelude::*;
use tinylab_classical::optim::{Adam, LrSchedule, Optimizer};
use tinylab_classical::seed;
use tinylab_classical::{Var, ops, tensor};
use tinylab_quantum::qml::QuantumLayer;

/// Settings of on-chip training.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct QocConfig {
    /// Adam's learning rate per step (TorchQuantum's QOC example: 0.05).
    pub learning_rate: LrSchedule,
    /// Logits are `logit_scale · <O_j>`; 1 reads the expectation values as logits, as TorchQuantum
    /// does.
    pub logit_scale: f32,
    /// Probabilistic gradient pruning, or `None` to evaluate every gradient every step.
    pub pruning: Option<PruningConfig>,
}

impl Default for QocConfig {
    fn default() -> Self {
        Self {
            learning_rate: LrSchedule::Constant { base: 0.05 },
            logit_scale: 1.0,
            pruning: Some(PruningConfig::default()),
        }
    }
}

/// What one training step did.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct StepReport {
    /// Mean cross-entropy of the batch, from the chip's forward estimates.
    pub loss: f64,
    /// Parameters whose gradients were evaluated.
    pub evaluated: usize,
    /// The pruning phase of the step (`None` without pruning).
    pub phase: Option<Phase>,
    /// Executions of this step.
    pub step_executions: Executions,
    /// Executions since training started.
    pub total_executions: Executions,
}

/// Trains a [`QuantumLayer`]'s weights on a [`Chip`] (see the module documentation).
#[derive(Debug)]
pub struct OnChipTrainer {
    layer: QuantumLayer,
    chip: Chip,
    pruner: Option<GradientPruner>,
    optimizer: Adam,
    config: QocConfig,
    seed: u64,
    steps: u64,
}

impl OnChipTrainer {
    /// A trainer for `layer`'s weights on `chip`, whose circuit must be the layer's circuit compiled
    /// (same parameters, inputs and observables). Every shot and pruning draw derives from `seed`.
    pub fn new(layer: QuantumLayer, chip: Chip, config: QocConfig, seed: u64) -> Result<Self> {
        let (logical, compiled) = (layer.circuit(), chip.device().circuit());
        let sizes = [
            ("parameters", logical.n_params(), compiled.n_params()),
            ("inputs", logical.n_inputs(), compiled.n_inputs()),
            ("observables", layer.observables().len(), chip.device().observables().len()),
        ];
        for (what, expected, got) in sizes {
            if expected != got {
                return Err(NoiseError::SizeMismatch {
                    what: format!("chip circuit {what} vs the layer's"),
                    expected,
                    got,
                });
            }
        }
        if !config.logit_scale.is_finite() {
            return Err(NoiseError::InvalidSetting {
                setting: "logit scale",
                value: config.logit_scale.to_string(),
                requirement: "finite",
            });
        }
        let pruner = config
            .pruning
            .map(|p| GradientPruner::new(logical.n_params(), p, seed::derive(seed, &[u64::MAX])))
            .transpose()?;
        Ok(Self { layer, chip, pruner, optimizer: Adam::new(0.0), config, seed, steps: 0 })
    }

    /// The layer with the current weights.
    pub fn layer(&self) -> &QuantumLayer {
        &self.layer
    }

    /// The layer, ending training.
    pub fn into_layer(self) -> QuantumLayer {
        self.layer
    }

    /// The chip and its execution ledger.
    pub fn chip(&self) -> &Chip {
        &self.chip
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One step on a batch: `inputs` holds `labels.len()` rows of the circuit's inputs.
    pub fn step(&mut self, inputs: &[f64], labels: &[usize]) -> Result<StepReport> {
        let before = self.chip.executions();
        let params = self.layer.weights_f64();
        let phase = self.pruner.as_ref().map(GradientPruner::phase);
        let selected = match &mut self.pruner {
            Some(p) => p.selection()?,
            None => vec![true; params.len()],
        };
        let seed = seed::derive(self.seed, &[self.steps]);
        let ChipGradient { loss, gradient } =
            chip_loss_gradient(&mut self.chip, &params, inputs, labels, self.config.logit_scale, &selected, seed)?;
        if let Some(p) = &mut self.pruner {
            p.observe(&gradient)?;
        }
        self.layer.weights.grad =
            Some(tensor::from_vec(&[params.len()], gradient.iter().map(|&g| g as f32).collect())?);
        self.optimizer.step(&mut self.layer, self.config.learning_rate.at(self.steps as usize));
        self.steps += 1;

        let after = self.chip.executions();
        let step_executions =
            Executions { circuits: after.circuits - before.circuits, shots: after.shots - before.shots };
        Ok(StepReport {
            loss,
            evaluated: selected.iter().filter(|&&s| s).count(),
            phase,
            step_executions,
            total_executions: after,
        })
    }
}

/// The mean cross-entropy of a batch and its gradient, both from the chip.
#[derive(Debug, Clone, PartialEq)]
pub struct ChipGradient {
    /// `-(1/B) Σ_b log softmax(s · <O>_b)[label_b]` from the forward estimates.
    pub loss: f64,
    /// Its gradient for the selected parameters (zero for the others).
    pub gradient: Vec<f64>,
}

/// The loss of a batch (`labels.len()` rows of `inputs`) and its gradient with respect to the
/// parameters with `selected[i]`, from the chip alone: one forward execution per row gives the
/// estimates `<O>_b` and, on the host, the loss with logits `logit_scale · <O>_b` and its cotangent
/// `c_b = ∂loss/∂<O>_b`; then per row one parameter shift of `Σ_j c_bj O_j` on the compiled circuit.
/// Rows are summed in order. Forward row `b` is seeded by `seed::derive(seed::derive(seed, &[0]), &[b])`, its
/// gradient by `seed::derive(seed, &[1 + b])`.
pub fn chip_loss_gradient(
    chip: &mut Chip,
    params: &[f64],
    inputs: &[f64],
    labels: &[usize],
    logit_scale: f32,
    selected: &[bool],
    seed: u64,
) -> Result<ChipGradient> {
    let batch = labels.len();
    let n_in = chip.device().circuit().n_inputs();
    let n_obs = chip.device().observables().len();
    if batch == 0 || inputs.len() != batch * n_in {
        return Err(NoiseError::SizeMismatch {
            what: format!("inputs for a non-empty batch of {batch} rows of {n_in} features"),
            expected: batch.max(1) * n_in,
            got: inputs.len(),
        });
    }
    let values = chip.run(params, inputs, batch, seed::derive(seed, &[0]))?;
    let expectations = Var::leaf(tensor::from_vec(&[batch, n_obs], values.iter().map(|&v| v as f32).collect())?);
    let loss = ops::cross_entropy(&ops::scale(&expectations, logit_scale), labels)?;
    loss.backward()?;
    let cotangent: Vec<f64> = expectations
        .grad()
        .ok_or(NoiseError::NoGradient { what: "the expectation values" })?
        .iter()
        .map(|&g| g as f64)
        .collect();
    let mut gradient = vec![0.0; params.len()];
    for b in 0..batch {
        let g = chip.gradient(
            params,
            &inputs[b * n_in..(b + 1) * n_in],
            &cotangent[b * n_obs..(b + 1) * n_obs],
            selected,
            seed::derive(seed, &[1 + b as u64]),
        )?;
        gradient.iter_mut().zip(&g).for_each(|(t, v)| *t += v);
    }
    let loss = loss.item()? as f64;
    Ok(ChipGradient { loss, gradient })
}

/// Fraction of the rows of `inputs` whose largest observable estimate on `device` (exact density
/// matrix with readout when `shots` is `None`, else `shots` seeded samples) is at the index of its
/// label. Rows are evaluated in parallel; the result does not depend on the thread count.
pub fn device_accuracy(
    device: &DeviceCircuit,
    params: &[f64],
    inputs: &[f64],
    labels: &[usize],
    shots: Option<usize>,
    seed: u64,
) -> Result<f64> {
    let n_in = device.circuit().n_inputs();
    if labels.is_empty() || inputs.len() != labels.len() * n_in {
        return Err(NoiseError::SizeMismatch {
            what: format!("inputs for {} labelled rows of {n_in} features", labels.len()),
            expected: labels.len().max(1) * n_in,
            got: inputs.len(),
        });
    }
    let hits: Vec<bool> = labels
        .par_iter()
        .enumerate()
        .map(|(i, &label)| {
            let values = device.expectations(
                params,
                &inputs[i * n_in..(i + 1) * n_in],
                shots,
                seed::derive(seed, &[i as u64]),
            )?;
            let best = (0..values.len()).fold(0, |best, k| if values[k] > values[best] { k } else { best });
            Ok(best == label)
        })
        .collect::<Result<_>>()?;
    Ok(hits.iter().filter(|&&h| h).count() as f64 / labels.len() as f64)
}
