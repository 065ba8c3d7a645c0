//! Circuit and observable constructions of the quantum-algorithms literature, in one place:
//!
//! - [`pauli_evolution`]: `exp(-i θ/2 P)` about any Pauli string, the building block of the rest.
//! - [`chemistry`]: the Hartree-Fock reference state and the UCC single and double excitations under
//!   Jordan-Wigner (VQE, Peruzzo et al. 2014).
//! - [`graph`], [`maxcut`], [`qaoa`]: graphs and random regular graphs, the MaxCut cost as a
//!   [`PauliSum`](crate::pauli::PauliSum), the QAOA ansatz and the INTERP initialisation (Farhi et
//!   al. 2014; Zhou et al. 2020).
//! - [`templates`]: trainable hardware-efficient and other ansatz templates (also
//!   `qml::ansatz`), and the random circuits of barren-plateau studies (McClean et al. 2018).
//!
//! Labels of Hamiltonians read from files name their qubit order with
//! [`LabelOrder`](crate::pauli::LabelOrder).
//!
//! ```
//! use tinylab_quantum::library::{hartree_fock, double_excitation};
//! use tinylab_quantum::Statevector;
//! let mut c = hartree_fock(4, &[0, 1])?;
//! let theta = c.param("theta")?;
//! double_excitation(&mut c, [0, 1], [2, 3], theta)?;
//! let amps = Statevector::from_circuit(&c, &[0.3], &[])?.into_amplitudes();
//! assert!((amps[0b0011].re - 0.3f64.cos()).abs() < 1e-12 && (amps[0b1100].re - 0.3f64.sin()).abs() < 1e-12);
//! # Ok::<(), tinylab_quantum::QuantumError>(())
//! ```

pub mod chemistry;
pub mod graph;
pub mod maxcut;
pub mod pauli_evolution;
pub mod qaoa;
pub mod templates;

pub use chemistry::{double_excitation, hartree_fock, single_excitation};
pub use graph::{Graph, random_regular_graph, random_regular_graph_seeded};
pub use maxcut::maxcut_hamiltonian;
pub use pauli_evolution::append_pauli_evolution;
pub use qaoa::{interleave, interp, interp_params, qaoa_maxcut, split_angles};
