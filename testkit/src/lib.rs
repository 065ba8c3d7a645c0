//! The tinylab test kit: one random-circuit generator and the corpus runners' bookkeeping.
//!
//! - [`generate`]: random circuits as plain data ([`GateDraw`]) turned into [`Circuit`]s by one builder
//!   ([`generate::append`]), under a [`Mix`] that says which gates may appear (every [`StandardGate`],
//!   user unitaries, multi-controlled gates) and where angles come from (constants, or trainable
//!   parameters and inputs for the gradient tests). Two front ends draw the data: a seeded [`Dice`]
//!   ([`random_circuit`]) and proptest strategies ([`strategy`]), which shrink by dropping gates.
//! - [`corpus`]: the case directories (one file per case, so that adding a file adds a case to every
//!   engine), Qiskit Aer's reference probabilities, and a per-engine [`corpus::Tally`] of cases run,
//!   cases skipped by an explicit size rule, and the worst error.
//!
//! The crate depends on `tinylab-quantum`, so it is a dev-dependency of the crates whose integration
//! tests use it (`tinylab-quantum` itself included: integration tests link the one library copy).
//!
//! [`Circuit`]: tinylab_quantum::Circuit
//! [`StandardGate`]: tinylab_quantum::StandardGate

pub mod corpus;
pub mod dice;
pub mod generate;
pub mod strategy;

pub use dice::Dice;
pub use generate::{Angles, GateDraw, Mix, observable, random_circuit, random_observable, random_unitary};
