//! QuantumNAT: noise-aware training of quantum classifiers (Wang et al., "QuantumNAT: Quantum
//! Noise-Aware Training with Noise Injection, Quantization and Normalization", DAC 2022).
//!
//! - [`inject`]: Pauli errors sampled from a device's noise model into each training pass.
//! - [`postprocess`]: per-qubit normalization of the measured outcomes over the batch, then
//!   quantization to a few levels.
//! - [`model`]: a classifier on a device-compiled circuit combining both, evaluated on the device's
//!   density-matrix model.

pub mod inject;
pub mod model;
pub mod postprocess;

pub use inject::NoiseInjector;
pub use model::{NatBlock, NatClassifier};
pub use postprocess::{OutcomeQuantizer, PostProcess, normalize};
