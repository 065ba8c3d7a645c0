//! Pauli strings as text labels, with the qubit order of the label made explicit.
//!
//! Two conventions are in use: Qiskit prints the highest qubit first (`"XIZY"` has `Y` on qubit 0),
//! while PennyLane, OpenFermion and most chemistry tables list wires in order (`"XIZY"` has `X` on
//! qubit 0). Every label this crate reads names its order with a [`LabelOrder`]; the plain
//! [`PauliString::from_label`] and [`PauliSum::from_labels`] keep Qiskit's order, the crate's default.

use super::{Pauli, PauliString, PauliSum};
use crate::error::{QuantumError, Result};

/// Which end of a Pauli label is qubit 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LabelOrder {
    /// The rightmost character is qubit 0 (Qiskit's order, matching the bit order of a basis index
    /// written in binary): `"XIZY"` is `X_3 Z_1 Y_0`. The default.
    #[default]
    Qubit0Last,
    /// The leftmost character is qubit 0 (PennyLane's and OpenFermion's wire order): `"XIZY"` is
    /// `X_0 Z_2 Y_3`.
    Qubit0First,
}

impl LabelOrder {
    /// The qubit of the character at `position` (0-based from the left) of a label `len` long.
    fn qubit(self, position: usize, len: usize) -> usize {
        match self {
            LabelOrder::Qubit0Last => len - 1 - position,
            LabelOrder::Qubit0First => position,
        }
    }
}

fn pauli_of(ch: char) -> Option<Pauli> {
    match ch {
        'I' => Some(Pauli::I),
        'X' => Some(Pauli::X),
        'Y' => Some(Pauli::Y),
        'Z' => Some(Pauli::Z),
        _ => None,
    }
}

fn char_of(p: Pauli) -> char {
    match p {
        Pauli::I => 'I',
        Pauli::X => 'X',
        Pauli::Y => 'Y',
        Pauli::Z => 'Z',
    }
}

impl PauliString {
    /// From a label such as `"XIZY"` in Qiskit's order (the rightmost character is qubit 0; see
    /// [`LabelOrder::Qubit0Last`]).
    pub fn from_label(label: &str) -> Result<Self> {
        Self::from_label_ordered(label, LabelOrder::default())
    }

    /// From a label of the characters `I`, `X`, `Y`, `Z` read in `order`; labels longer than 64
    /// qubits and other characters are refused.
    pub fn from_label_ordered(label: &str, order: LabelOrder) -> Result<Self> {
        let chars: Vec<char> = label.chars().collect();
        if chars.len() > 64 {
            return Err(QuantumError::QubitOutOfRange { qubit: chars.len() - 1, n_qubits: 64 });
        }
        let mut terms = Vec::with_capacity(chars.len());
        for (position, &ch) in chars.iter().enumerate() {
            let p =
                pauli_of(ch).ok_or_else(|| QuantumError::InvalidPauli { label: label.to_string(), ch, position })?;
            terms.push((order.qubit(position, chars.len()), p));
        }
        Self::new(&terms)
    }

    /// The label of this string on `n_qubits` qubits in `order` (the inverse of
    /// [`from_label_ordered`](Self::from_label_ordered)); errors when the string acts beyond them.
    pub fn to_label(&self, n_qubits: usize, order: LabelOrder) -> Result<String> {
        if self.min_qubits() > n_qubits {
            return Err(QuantumError::QubitOutOfRange { qubit: self.min_qubits() - 1, n_qubits });
        }
        Ok((0..n_qubits).map(|position| char_of(self.get(order.qubit(position, n_qubits)))).collect())
    }
}

impl PauliSum {
    /// From `(weight, label)` pairs, labels in Qiskit's order (the rightmost character is qubit 0;
    /// see [`LabelOrder::Qubit0Last`]).
    pub fn from_labels(terms: &[(f64, &str)]) -> Result<Self> {
        Self::from_labels_ordered(terms, LabelOrder::default())
    }

    /// From `(weight, label)` pairs, every label read in `order`.
    pub fn from_labels_ordered(terms: &[(f64, &str)], order: LabelOrder) -> Result<Self> {
        let terms =
            terms.iter().map(|&(w, l)| Ok((w, PauliString::from_label_ordered(l, order)?))).collect::<Result<_>>()?;
        Ok(Self::new(terms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_two_orders_place_qubit_zero_at_opposite_ends() {
        let last = PauliString::from_label("XIZY").unwrap();
        assert_eq!((last.get(0), last.get(1), last.get(3)), (Pauli::Y, Pauli::Z, Pauli::X));
        let first = PauliString::from_label_ordered("XIZY", LabelOrder::Qubit0First).unwrap();
        assert_eq!((first.get(0), first.get(2), first.get(3)), (Pauli::X, Pauli::Z, Pauli::Y));
        assert_eq!(first.to_label(4, LabelOrder::Qubit0First).unwrap(), "XIZY");
        assert_eq!(first.to_label(6, LabelOrder::Qubit0Last).unwrap(), "IIYZIX");
        assert!(first.to_label(3, LabelOrder::Qubit0First).is_err());
        assert!(matches!(
            PauliString::from_label_ordered("XQ", LabelOrder::Qubit0First),
            Err(QuantumError::InvalidPauli { ch: 'Q', position: 1, .. })
        ));
    }

    fn label() -> impl Strategy<Value = String> {
        proptest::collection::vec(prop_oneof![Just('I'), Just('X'), Just('Y'), Just('Z')], 0..20)
            .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        /// A label read qubit-0-first is the reversed label read qubit-0-last, and printing gives
        /// the label back in either order.
        #[test]
        fn the_orders_are_reverses_of_each_other(label in label()) {
            let reversed: String = label.chars().rev().collect();
            let first = PauliString::from_label_ordered(&label, LabelOrder::Qubit0First).unwrap();
            let last = PauliString::from_label_ordered(&reversed, LabelOrder::Qubit0Last).unwrap();
            prop_assert_eq!(first, last);
            let n = label.chars().count();
            prop_assert_eq!(first.to_label(n, LabelOrder::Qubit0First).unwrap(), label.clone());
            prop_assert_eq!(first.to_label(n, LabelOrder::Qubit0Last).unwrap(), reversed);
            let sum = PauliSum::from_labels_ordered(&[(0.5, label.as_str())], LabelOrder::Qubit0First).unwrap();
            prop_assert_eq!(sum.terms()[0], (0.5, first));
        }
    }
}
