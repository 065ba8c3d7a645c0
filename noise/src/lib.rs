//! `tinylab-noise`: noise channels, device noise models and noisy simulation.
//!
//! - [`channel`]: validated Kraus channels (depolarizing, Pauli, flips, amplitude/phase damping,
//!   thermal relaxation, user sets), composition, superoperator / Choi / Pauli-transfer forms.
//! - [`readout`]: per-qubit readout confusion matrices, applied to probability vectors.
//! - [`device`]: device calibration profiles (seven fake IBM devices built in, or your own JSON).
//! - [`model`]: [`NoiseModel`], including `from_profile` (Aer's `NoiseModel.from_backend`).
//! - [`mitigation`]: readout-error mitigation and zero-noise extrapolation.
//! - [`sim`]: noisy simulation by density matrix; [`trajectories`]: by Monte-Carlo trajectories.
//!
//! Conventions follow Qiskit Aer so that a noise model built from the same calibration gives the same
//! probabilities in both simulators.
//!
//! Dependency rule: may import `tinylab-quantum` and `tinylab-classical`.

#![forbid(unsafe_code)]

pub mod channel;
pub mod device;
pub mod error;
pub mod mitigation;
pub mod model;
pub mod qml;
pub mod readout;
pub mod robust;
pub mod sim;
pub mod trajectories;

pub use channel::Channel;
pub use device::DeviceProfile;
pub use error::{NoiseError, Result};
pub use model::NoiseModel;
pub use readout::ReadoutError;
