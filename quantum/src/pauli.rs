//! Pauli strings and weighted sums of them (observables), with exact expectation values on
//! statevectors.
//!
//! A Pauli string on up to 64 qubits is stored as two bit masks: `x` (qubits with X or Y) and `z`
//! (qubits with Z or Y). With `Y = iXZ`, `P|i> = i^{#Y} (-1)^{|i ∧ z|} |i ⊕ x>`, so
//! `<ψ|P|ψ> = i^{#Y} Σ_i conj(ψ_{i⊕x}) (-1)^{|i∧z|} ψ_i`: one pass over the state, no copy.
//!
//! Text labels such as `"XIZY"` are read in one of two qubit orders, named by [`LabelOrder`]
//! (Qiskit's rightmost-is-qubit-0 by default; PennyLane's and OpenFermion's wire order on request).
//! [`PauliSum::relabel`] moves an observable's qubits through a layout (logical to physical qubits
//! after transpilation).

use crate::density::DensityMatrix;
use crate::error::{QuantumError, Result};
use crate::matrix::C64;
use crate::statevector::Statevector;
use crate::statevector::measure::chunked_sum;

mod label;
mod relabel;

pub use label::LabelOrder;

/// One single-qubit Pauli operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pauli {
    /// Identity.
    I,
    /// Pauli X.
    X,
    /// Pauli Y.
    Y,
    /// Pauli Z.
    Z,
}

/// A tensor product of Paulis on numbered qubits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PauliString {
    x: u64,
    z: u64,
}

impl PauliString {
    /// The string with `pauli` on each listed qubit (identity elsewhere); qubits must be < 64 and
    /// distinct.
    pub fn new(terms: &[(usize, Pauli)]) -> Result<Self> {
        let mut s = PauliString::default();
        for (i, &(q, p)) in terms.iter().enumerate() {
            if q >= 64 {
                return Err(QuantumError::QubitOutOfRange { qubit: q, n_qubits: 64 });
            }
            if terms[..i].iter().any(|&(other, _)| other == q) {
                return Err(QuantumError::RepeatedQubit { gate: "pauli string".into(), qubit: q });
            }
            let bit = 1u64 << q;
            match p {
                Pauli::I => {}
                Pauli::X => s.x |= bit,
                Pauli::Z => s.z |= bit,
                Pauli::Y => {
                    s.x |= bit;
                    s.z |= bit
                }
            }
        }
        Ok(s)
    }

    /// The Pauli on qubit `q`.
    pub fn get(&self, q: usize) -> Pauli {
        if q >= 64 {
            return Pauli::I;
        }
        match (self.x >> q & 1, self.z >> q & 1) {
            (0, 0) => Pauli::I,
            (1, 0) => Pauli::X,
            (0, 1) => Pauli::Z,
            _ => Pauli::Y,
        }
    }

    /// The string with the given `(x, z)` masks (see [`PauliString::masks`]).
    pub fn from_masks(x: u64, z: u64) -> Self {
        Self { x, z }
    }

    /// The `(x, z)` bit masks: bit `q` of `x` is set for X or Y on qubit `q`, of `z` for Z or Y.
    pub fn masks(&self) -> (u64, u64) {
        (self.x, self.z)
    }

    /// Highest qubit with a non-identity Pauli, plus one (0 for the identity).
    pub fn min_qubits(&self) -> usize {
        64 - (self.x | self.z).leading_zeros() as usize
    }

    /// `<ψ|P|ψ>` (real, since P is Hermitian).
    pub fn expectation(&self, state: &Statevector) -> Result<f64> {
        self.expectation_of(state.amplitudes(), state.n_qubits())
    }

    /// `<ψ|P|ψ>` for raw amplitudes of `n_qubits` qubits.
    pub fn expectation_of(&self, amps: &[C64], n_qubits: usize) -> Result<f64> {
        if self.min_qubits() > n_qubits {
            return Err(QuantumError::QubitOutOfRange { qubit: self.min_qubits() - 1, n_qubits });
        }
        let (x, z) = (self.x as usize, self.z as usize);
        let sign = |i: usize| if (i & z).count_ones() & 1 == 1 { -1.0 } else { 1.0 };
        if x == 0 {
            return Ok(chunked_sum(amps.len(), |r| r.map(|i| sign(i) * amps[i].norm_sqr()).sum::<f64>()));
        }
        let sum = chunked_sum(amps.len(), |r| {
            r.map(|i| amps[i ^ x].conj() * amps[i] * sign(i)).fold(C64::new(0.0, 0.0), |a, b| a + b)
        });
        Ok(self.times_i_to_the_y_count(sum))
    }

    /// Multiplies by `i^{#Y}` and keeps the real part.
    fn times_i_to_the_y_count(&self, sum: C64) -> f64 {
        match (self.x & self.z).count_ones() % 4 {
            0 => sum.re,
            1 => -sum.im,
            2 => -sum.re,
            _ => sum.im,
        }
    }

    /// `Tr(ρ P)` of a density matrix: `i^{#Y} Σ_i (-1)^{|i∧z|} ρ[i][i⊕x]` (the statevector formula with
    /// `ψ_i conj(ψ_j)` replaced by `ρ[i][j]`).
    pub fn expectation_density(&self, rho: &DensityMatrix) -> Result<f64> {
        let n = rho.n_qubits();
        if self.min_qubits() > n {
            return Err(QuantumError::QubitOutOfRange { qubit: self.min_qubits() - 1, n_qubits: n });
        }
        let (x, z) = (self.x as usize, self.z as usize);
        let sum: C64 = (0..rho.dim())
            .map(|i| {
                let v = rho.get(i, i ^ x);
                if (i & z).count_ones() & 1 == 1 { -v } else { v }
            })
            .sum();
        Ok(self.times_i_to_the_y_count(sum))
    }
}

/// A weighted sum of Pauli strings: an observable such as a Hamiltonian.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PauliSum {
    terms: Vec<(f64, PauliString)>,
}

impl PauliSum {
    /// An observable from `(weight, string)` terms.
    pub fn new(terms: Vec<(f64, PauliString)>) -> Self {
        Self { terms }
    }

    /// The terms.
    pub fn terms(&self) -> &[(f64, PauliString)] {
        &self.terms
    }

    /// Highest qubit any term acts on, plus one.
    pub fn min_qubits(&self) -> usize {
        self.terms.iter().map(|(_, p)| p.min_qubits()).max().unwrap_or(0)
    }

    /// `Σ_j c_j O_j`: the weighted combination of several observables (the observable whose
    /// gradient is a vector-Jacobian product), terms concatenated in order.
    pub fn combination(observables: &[PauliSum], weights: &[f64]) -> PauliSum {
        let terms =
            observables.iter().zip(weights).flat_map(|(o, &c)| o.terms.iter().map(move |&(w, p)| (c * w, p))).collect();
        PauliSum { terms }
    }

    /// The observable times `factor` (every weight scaled, terms kept in order): `-H` for a
    /// minimiser that should maximise `<H>`.
    pub fn scaled(&self, factor: f64) -> PauliSum {
        PauliSum { terms: self.terms.iter().map(|&(w, p)| (factor * w, p)).collect() }
    }

    /// `Z` on qubit `q` alone, weight 1: the usual readout of a QML model.
    pub fn z(q: usize) -> Result<PauliSum> {
        Ok(PauliSum { terms: vec![(1.0, PauliString::new(&[(q, Pauli::Z)])?)] })
    }

    /// `Σ_k w_k <ψ|P_k|ψ>`.
    pub fn expectation(&self, state: &Statevector) -> Result<f64> {
        self.terms.iter().try_fold(0.0, |acc, (w, p)| Ok(acc + w * p.expectation(state)?))
    }

    /// `Σ_k w_k Tr(ρ P_k)`.
    pub fn expectation_density(&self, rho: &DensityMatrix) -> Result<f64> {
        self.terms.iter().try_fold(0.0, |acc, (w, p)| Ok(acc + w * p.expectation_density(rho)?))
    }
}
