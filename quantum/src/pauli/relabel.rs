//! Moving an observable's qubits through a layout: after transpilation logical qubit `q` ends on
//! physical qubit `layout[q]`, and the readout observables must follow it.

use super::{Pauli, PauliString, PauliSum};
use crate::error::{QuantumError, Result};

impl PauliString {
    /// The string with the Pauli of qubit `q` moved to qubit `layout[q]`. Errors when the string
    /// acts on a qubit the layout does not list, or when two of its qubits land on one.
    pub fn relabel(&self, layout: &[usize]) -> Result<PauliString> {
        let moved: Vec<(usize, Pauli)> = (0..self.min_qubits())
            .filter(|&q| self.get(q) != Pauli::I)
            .map(|q| {
                layout
                    .get(q)
                    .map(|&target| (target, self.get(q)))
                    .ok_or(QuantumError::QubitOutOfRange { qubit: q, n_qubits: layout.len() })
            })
            .collect::<Result<_>>()?;
        PauliString::new(&moved)
    }
}

impl PauliSum {
    /// The observable with qubit `q` moved to `layout[q]` in every term (weights and term order
    /// kept); see [`PauliString::relabel`].
    pub fn relabel(&self, layout: &[usize]) -> Result<PauliSum> {
        let terms = self.terms().iter().map(|&(w, p)| Ok((w, p.relabel(layout)?))).collect::<Result<_>>()?;
        Ok(PauliSum::new(terms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Statevector;
    use crate::matrix::C64;
    use proptest::prelude::*;

    /// The state with qubit `q` of `amps` moved to qubit `layout[q]` (`layout` a permutation).
    fn permuted(amps: &[C64], layout: &[usize]) -> Vec<C64> {
        let mut out = vec![C64::new(0.0, 0.0); amps.len()];
        for (i, &a) in amps.iter().enumerate() {
            let j: usize = layout.iter().enumerate().map(|(q, &t)| ((i >> q) & 1) << t).sum();
            out[j] = a;
        }
        out
    }

    #[test]
    fn relabelling_moves_each_pauli_and_checks_the_layout() {
        let p = PauliString::from_label("XIZ").unwrap();
        let moved = p.relabel(&[3, 0, 1]).unwrap();
        assert_eq!(moved, PauliString::new(&[(3, Pauli::Z), (1, Pauli::X)]).unwrap());
        assert!(p.relabel(&[0, 1]).is_err(), "qubit 2 has no place");
        assert!(p.relabel(&[1, 0, 1]).is_err(), "two qubits on one");
        let sum = PauliSum::from_labels(&[(0.5, "ZI"), (-1.0, "II")]).unwrap().relabel(&[4, 2]).unwrap();
        assert_eq!(sum.terms()[0], (0.5, PauliString::new(&[(2, Pauli::Z)]).unwrap()));
        assert_eq!(sum.terms()[1], (-1.0, PauliString::default()));
    }

    proptest! {
        /// `<ψ|O|ψ>` equals `<πψ|O'|πψ>` for the permuted state `πψ` and the relabelled `O'`.
        #[test]
        fn relabelled_observables_read_the_permuted_state_alike(
            amps in proptest::collection::vec((-1.0f64..1.0, -1.0f64..1.0), 16),
            layout in Just(vec![0usize, 1, 2, 3]).prop_shuffle(),
            labels in proptest::collection::vec(("[IXYZ]{4}", -2.0f64..2.0), 1..5),
        ) {
            let amps: Vec<C64> = amps.into_iter().map(|(re, im)| C64::new(re, im)).collect();
            let norm = amps.iter().map(|a| a.norm_sqr()).sum::<f64>().sqrt();
            prop_assume!(norm > 1e-3);
            let amps: Vec<C64> = amps.iter().map(|a| a / norm).collect();
            let terms: Vec<(f64, &str)> = labels.iter().map(|(l, w)| (*w, l.as_str())).collect();
            let observable = PauliSum::from_labels(&terms).unwrap();
            let state = Statevector::from_amplitudes(amps.clone()).unwrap();
            let moved = Statevector::from_amplitudes(permuted(&amps, &layout)).unwrap();
            let before = observable.expectation(&state).unwrap();
            let after = observable.relabel(&layout).unwrap().expectation(&moved).unwrap();
            prop_assert!((before - after).abs() < 1e-12, "{} vs {}", before, after);
        }
    }
}
