//! Proptest front end of the generator: strategies for draws, circuits and observables. Circuits
//! shrink by dropping and simplifying their draws.

use crate::generate::{self, GateDraw, Mix};
use proptest::prelude::*;
use std::ops::{Range, RangeInclusive};
use tinylab_quantum::Circuit;
use tinylab_quantum::pauli::PauliSum;

/// One gate's random choices.
pub fn gate_draw() -> impl Strategy<Value = GateDraw> {
    (any::<u64>(), any::<u64>(), prop::array::uniform4(-1.0f64..1.0), prop::array::uniform4(any::<u8>()), any::<u64>())
        .prop_map(|(kind, qubits, angles, sources, matrix)| GateDraw { kind, qubits, angles, sources, matrix })
}

/// A list of draws with a length in `len`.
pub fn draws(len: Range<usize>) -> impl Strategy<Value = Vec<GateDraw>> {
    prop::collection::vec(gate_draw(), len)
}

/// A circuit of `mix` on a number of qubits in `n` with a number of gates in `len`.
pub fn circuit(n: RangeInclusive<usize>, len: Range<usize>, mix: Mix) -> impl Strategy<Value = Circuit> {
    (n, draws(len)).prop_map(move |(n, d)| generate::circuit(n, &d, &mix))
}

/// `(weight, letters)` terms for [`generate::observable`], weights in `[-1.5, 1.5)`, a count in `len`.
pub fn pauli_terms(len: Range<usize>) -> impl Strategy<Value = Vec<(f64, u64)>> {
    prop::collection::vec((-1.5f64..1.5, any::<u64>()), len)
}

/// An observable on `n` qubits with a number of terms in `len`.
pub fn observable(n: usize, len: Range<usize>) -> impl Strategy<Value = PauliSum> {
    pauli_terms(len).prop_map(move |t| generate::observable(n, &t))
}
