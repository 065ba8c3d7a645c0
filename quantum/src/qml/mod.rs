//! Quantum machine learning: encoders that load features, trainable ansatz templates, and a quantum
//! layer for hybrid models trained with the classical autograd and optimizers.
//!
//! A model in the style of TorchQuantum's MNIST examples:
//!
//! ```
//! use tinylab_quantum::{Circuit, pauli::PauliSum, qml};
//! let mut c = Circuit::new(4);
//! qml::encoders::ryzxy_4x4(&mut c)?;
//! qml::ansatz::u3_cu3(&mut c, 2, "w")?;
//! let readout = (0..4).map(PauliSum::z).collect::<Result<Vec<_>, _>>()?;
//! let layer = qml::QuantumLayer::new(c, readout, 0)?;
//! assert_eq!(layer.weights.len(), 48);
//! # Ok::<(), tinylab_quantum::QuantumError>(())
//! ```

pub mod encoders;
mod layer;
pub mod tasks;

/// The trainable templates, defined in [`crate::library::templates`].
pub use crate::library::templates as ansatz;

pub use layer::{CircuitSampler, LayerBackend, QuantumLayer};
