//! Noise-robust quantum machine learning, after the methods of TorchQuantum's authors:
//!
//! - [`device`]: a logical circuit compiled onto a device with its trainable angles and input features
//!   kept symbolic, so training, on-chip gradients and noisy evaluation all run the circuit the device
//!   runs.
//! - [`nat`]: QuantumNAT (noise injection, post-measurement normalization and quantization).
//! - [`qoc`]: QOC, training on the device model itself from shot estimates (parameter shift), with
//!   probabilistic gradient pruning to save circuit runs.
//! - [`nas`]: QuantumNAS (Wang et al., HPCA 2022): SuperCircuit training, evolutionary co-search of a
//!   SubCircuit and its qubit mapping under the device's noise, iterative pruning of the angles.
//!
//! Every method here trains on fast statevectors (noiseless, or with sampled noise), or on the
//! device's shots ([`qoc`]), and is judged on the density-matrix model of a device, with readout
//! error and finite shots.

pub mod device;
pub mod nas;
pub mod nat;
pub mod qoc;

pub use device::DeviceCircuit;
