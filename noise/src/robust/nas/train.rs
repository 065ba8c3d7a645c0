//! Training the SuperCircuit and fine-tuning SubCircuits, noise-free with exact adjoint gradients:
//! minibatch Adam on the cross-entropy of the read-out expectation values (the logits of QuantumNAS
//! and TorchQuantum), with a random SubCircuit per step ([`Sampling::Random`], SuperCircuit
//! training) or the active one throughout ([`Sampling::Active`], fine-tuning; pruning masks are kept).

use super::model::SuperCircuitModel;
use super::supercircuit::Architecture;
use crate::error::{NoiseError, Result};
use rand_chacha::rand_core::Rng;
use tinylab_classical::nn::{self, Ctx, Module};
use tinylab_classical::optim::{Adam, LrSchedule, Optimizer};
use tinylab_classical::seed;
use tinylab_classical::train::permutation;
use tinylab_classical::{Var, ops, tensor};

/// Feature rows with a class label each: the inputs of a classifier whose circuit reads
/// `n_features` input angles.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    features: Vec<f32>,
    n_features: usize,
    labels: Vec<usize>,
}

impl Labelled {
    /// Rows of `n_features` values (row-major in `features`), one label each.
    pub fn new(features: Vec<f32>, n_features: usize, labels: Vec<usize>) -> Result<Self> {
        if n_features == 0 || features.len() != n_features * labels.len() {
            return Err(NoiseError::SizeMismatch {
                what: format!("features for {} labels of {n_features} features each", labels.len()),
                expected: n_features * labels.len(),
                got: features.len(),
            });
        }
        Ok(Self { features, n_features, labels })
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features per row.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The labels.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// All features, row-major.
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// Row `i`'s features (`i` below [`len`](Self::len)).
    pub(crate) fn row(&self, i: usize) -> &[f32] {
        &self.features[i * self.n_features..(i + 1) * self.n_features]
    }

    /// The rows `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(NoiseError::IndexOutOfRange { what: "row", index: bad, len: self.len() });
        }
        let features = indices.iter().flat_map(|&i| self.row(i).iter().copied()).collect();
        Ok(Self { features, n_features: self.n_features, labels: indices.iter().map(|&i| self.labels[i]).collect() })
    }

    /// The rows `indices` as a `(rows, n_features)` tensor and their labels.
    fn batch(&self, indices: &[usize]) -> Result<(Var, Vec<usize>)> {
        let x: Vec<f32> = indices.iter().flat_map(|&i| self.row(i).iter().copied()).collect();
        let labels = indices.iter().map(|&i| self.labels[i]).collect();
        Ok((Var::constant(tensor::from_vec(&[indices.len(), self.n_features], x)?), labels))
    }
}

/// Settings of [`train`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TrainSettings {
    /// Passes over the data.
    pub epochs: usize,
    /// Rows per step.
    pub batch_size: usize,
    /// Adam's learning rate per epoch.
    pub lr: LrSchedule,
    /// Seed of the shuffles and of the SubCircuit sampling.
    pub seed: u64,
}

/// Which SubCircuit each step trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Sampling {
    /// A SubCircuit drawn uniformly ([`Architecture::random`]) for every step (SuperCircuit
    /// training); the active SubCircuit is the last one drawn afterwards.
    Random,
    /// Restricted sampling (QuantumNAS, Sec. 3.1; TorchQuantum's `limit_diff`): the first step trains
    /// the full SuperCircuit, every later one redraws `changes` distinct genes of the previous
    /// architecture, so that consecutive SubCircuits stay close.
    Restricted {
        /// Genes redrawn per step.
        changes: usize,
    },
    /// The sandwich rule (Yu et al., BigNAS, ECCV 2020; the largest-network term of OFA's progressive
    /// shrinking): every step adds the gradients of the full SuperCircuit and of a uniformly drawn
    /// SubCircuit before one update, so the shared weights keep serving the full circuit while the
    /// SubCircuits learn to use them. The active SubCircuit is the full one afterwards.
    Sandwich,
    /// The active SubCircuit for every step (fine-tuning).
    Active,
}

/// Trains `model` on `data` with a fresh Adam (PyTorch's defaults); returns the mean training loss of
/// every epoch. Only the parameters of the SubCircuit of a step receive gradients and move. `tick` is
/// called with 1 after every step (for progress bars).
///
/// Adam's step count is shared by all parameters here, where PyTorch counts per parameter: under
/// random sampling, a parameter first sampled late gets a smaller first update than in PyTorch.
pub fn train(
    model: &mut SuperCircuitModel,
    data: &Labelled,
    settings: &TrainSettings,
    sampling: Sampling,
    tick: &mut dyn FnMut(usize),
) -> Result<Vec<f64>> {
    if settings.batch_size == 0 || data.is_empty() {
        return Err(NoiseError::InvalidSetting {
            setting: "(rows, batch size)",
            value: format!("({}, {})", data.len(), settings.batch_size),
            requirement: "training needs rows and a positive batch size",
        });
    }
    let mut optimizer = Adam::new(0.0);
    let supercircuit = model.supercircuit().clone();
    let mut sampler = tensor::rng(seed::derive(settings.seed, &[u64::MAX]));
    let mut arch = Architecture::full(&supercircuit);
    let mut step = 0usize;
    let mut losses = Vec::with_capacity(settings.epochs);
    for epoch in 0..settings.epochs {
        let order = permutation(data.len(), seed::derive(settings.seed, &[epoch as u64]));
        let mut total = 0.0;
        let lr = settings.lr.at(epoch);
        for chunk in order.chunks(settings.batch_size) {
            let (x, labels) = data.batch(chunk)?;
            nn::zero_grads(model);
            let configs: Vec<_> = match sampling {
                Sampling::Active => vec![None],
                Sampling::Random => {
                    arch = Architecture::random(&supercircuit, &mut sampler);
                    vec![Some(arch.config())]
                }
                Sampling::Restricted { changes } => {
                    if step > 0 {
                        let n = arch.n_genes();
                        let genes = permutation(n, sampler.next_u64());
                        for &gene in &genes[..changes.min(n)] {
                            arch.redraw(&supercircuit, gene, &mut sampler);
                        }
                    }
                    vec![Some(arch.config())]
                }
                Sampling::Sandwich => {
                    let drawn = Architecture::random(&supercircuit, &mut sampler).config();
                    vec![Some(drawn), Some(supercircuit.full_config())]
                }
            };
            let mut step_loss = 0.0;
            for config in &configs {
                if let Some(config) = config {
                    model.activate(config)?;
                }
                let mut ctx = Ctx::train(0);
                let logits = model.forward(&x, &mut ctx)?;
                let loss = ops::cross_entropy(&logits, &labels)?;
                step_loss += loss.item()? as f64 / configs.len() as f64;
                loss.backward()?;
                nn::accumulate_grads(model, &ctx);
            }
            total += step_loss * chunk.len() as f64;
            optimizer.step(model, lr);
            step += 1;
            tick(1);
        }
        losses.push(total / data.len() as f64);
    }
    Ok(losses)
}

/// Steps [`train`] makes: batches per epoch times epochs.
pub fn steps(data: &Labelled, settings: &TrainSettings) -> usize {
    data.len().div_ceil(settings.batch_size.max(1)) * settings.epochs
}
