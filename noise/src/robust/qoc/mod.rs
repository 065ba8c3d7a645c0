//! QOC: on-chip training with parameter shift and probabilistic gradient pruning (Wang, Li, Gu, Ding,
//! Pan, Chong & Han, "QOC: Quantum On-Chip Training with Parameter Shift and Gradient Pruning",
//! DAC 2022).
//!
//! The pipeline: a [`QuantumLayer`](tinylab_quantum::qml::QuantumLayer)'s circuit is compiled for a
//! device ([`DeviceCircuit`](crate::robust::DeviceCircuit)) and wrapped as a [`Chip`], which
//! answers only with shot estimates of its noisy model and counts every circuit it runs. An
//! [`OnChipTrainer`] then trains the layer's weights from those estimates alone: forward runs for the
//! loss, parameter-shift runs for the gradient, Adam for the update. With a [`PruningConfig`], a
//! [`GradientPruner`] alternates accumulation windows (all gradients, magnitudes summed) and pruning
//! windows (a magnitude-weighted random subset of the gradients, [`sample_kept`]), which saves the
//! circuit runs of the pruned parameters. [`device_accuracy`] scores weights on the device.
//!
//! - [`chip`]: the shot-only device and its execution ledger ([`Executions`]).
//! - [`pruning`]: the pruning schedule and its magnitude-weighted sampler.
//! - [`train`]: the training step and the accuracy on the device.

pub mod chip;
pub mod pruning;
pub mod train;

pub use chip::{Chip, Executions};
pub use pruning::{GradientPruner, Phase, PruningConfig, sample_kept};
pub use train::{ChipGradient, OnChipTrainer, QocConfig, StepReport, chip_loss_gradient, device_accuracy};
