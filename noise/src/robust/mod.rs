//! Noise-robust quantum machine learning, after the methods of TorchQuantum's authors:
//!
//! - [`device`]: a logical circuit compiled onto a device with its trainable angles and input features
//!   kept symbolic, so training, on-chip gradients and noisy evaluation all run the circuit the device
//!   runs.
//! - [`nas`]: QuantumNAS (Wang et al., HPCA 2022): SuperCircuit training, evolutionary co-search of a
//!   SubCircuit and its qubit mapping under the device's noise, iterative pruning of the angles.
//!
//! Every method here trains on fast statevectors (noiseless, or with sampled noise) and is judged on
//! the density-matrix model of a device, with readout error and finite shots.

pub mod device;
pub mod nas;

pub use device::{CircuitStats, DeviceCircuit};
