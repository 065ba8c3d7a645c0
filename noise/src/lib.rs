//! `tinylab-noise`: noise channels, device noise models and noise-robust quantum ML.
//!
//! Planned contents: Kraus channels (depolarizing, damping, thermal relaxation, readout error),
//! `NoiseModel` built from calibration data the way Qiskit Aer's `NoiseModel.from_backend` does, device
//! profiles of fake IBM backends, noisy simulation by density matrix and by quantum trajectories,
//! error mitigation, and the QuantumNAT / QuantumNAS / QOC methods.
//!
//! Dependency rule: may import `tinylab-quantum` and `tinylab-classical`.
