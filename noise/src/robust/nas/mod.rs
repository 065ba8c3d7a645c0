//! QuantumNAS: noise-adaptive search of a circuit architecture and its qubit mapping, and iterative
//! pruning of its angles (Wang et al., "QuantumNAS: Noise-Adaptive Search for Robust Quantum
//! Circuits", HPCA 2022).
//!
//! The pipeline, one module per step:
//!
//! 1. [`supercircuit`]: the design space. A [`SuperCircuit`] is an encoder and up to `max_blocks`
//!    blocks of layers (`U3` then `RZZ` on the ring, or `RZZ` then `RY`, ...); a
//!    [`SubCircuitConfig`] keeps some blocks and the first `k` gates of each layer (front sharing),
//!    and [`SuperCircuit::build`] gives its [`SubCircuit`] with parameters named and indexed as in
//!    the SuperCircuit.
//! 2. [`model`] and [`mod@train`]: the [`SuperCircuitModel`] holds one set of weights that every
//!    SubCircuit shares; [`train()`] with [`Sampling::Random`] trains it noise-free with a random
//!    SubCircuit per step (only the sampled gates move), and with [`Sampling::Active`] fine-tunes one
//!    SubCircuit.
//!    The logits are [`readout`]: a scale times summed `<Z>` of qubit groups.
//! 3. [`evaluate`]: a SubCircuit with its weights bound, compiled for a device from a layout and
//!    scored (cross-entropy, accuracy) under the device's density-matrix noise model with readout
//!    error ([`DeviceEvaluator`]), or noiselessly.
//! 4. [`search`]: evolutionary co-search of architecture and layout scored by the noisy validation
//!    loss of the inherited weights, under a gate or depth [`Budget`]; random search of equal cost
//!    as the baseline.
//! 5. [`prune`]: iterative magnitude pruning of the angles through the classical crate's pruning
//!    pass, with fine-tuning; gates whose angles are all zero are dropped from the circuit.

pub mod evaluate;
pub mod model;
pub mod prune;
pub mod readout;
pub mod search;
pub mod supercircuit;
pub mod train;

pub use evaluate::{DeviceEvaluator, Scores, noiseless_scores};
pub use model::SuperCircuitModel;
pub use prune::{PruneStep, drop_identity_gates, iterative_prune, wrap_angle};
pub use readout::{class_readout, default_groups};
pub use search::{
    Budget, Candidate, EvolutionSettings, Scored, SearchOutcome, SearchProblem, evolutionary_search, random_search,
};
pub use supercircuit::{Architecture, LayerKind, SubCircuit, SubCircuitConfig, SuperCircuit, ring_pairs};
pub use train::{Labelled, Sampling, TrainSettings, train};
