//! Pauli expectations against an independent dense computation `<ψ|P|ψ>` with `P` built as a
//! Kronecker product of 2x2 matrices.

use proptest::prelude::*;
use tinylab_quantum::pauli::{Pauli, PauliString, PauliSum};
use tinylab_quantum::{C64, Matrix, Statevector};
use tinylab_testkit::{Dice, Mix, random_circuit};

fn pauli_matrix(p: Pauli) -> Matrix {
    let (o, z, i) = (C64::new(1.0, 0.0), C64::new(0.0, 0.0), C64::new(0.0, 1.0));
    match p {
        Pauli::I => Matrix::identity(2),
        Pauli::X => Matrix::from_2x2([[z, o], [o, z]]),
        Pauli::Y => Matrix::from_2x2([[z, -i], [i, z]]),
        Pauli::Z => Matrix::from_2x2([[o, z], [z, -o]]),
    }
}

fn dense_expectation(label: &str, sv: &Statevector) -> f64 {
    // Qiskit order: the leftmost character is the highest qubit, i.e. the leftmost Kronecker factor.
    let chars: Vec<Pauli> = label
        .chars()
        .map(|c| match c {
            'X' => Pauli::X,
            'Y' => Pauli::Y,
            'Z' => Pauli::Z,
            _ => Pauli::I,
        })
        .collect();
    let p = chars.iter().skip(1).fold(pauli_matrix(chars[0]), |m, &c| m.kron(&pauli_matrix(c)));
    let a = sv.amplitudes();
    let mut acc = C64::new(0.0, 0.0);
    for r in 0..a.len() {
        for c in 0..a.len() {
            acc += a[r].conj() * p.get(r, c) * a[c];
        }
    }
    assert!(acc.im.abs() < 1e-12);
    acc.re
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn pauli_strings_match_dense_matrices(seed in any::<u64>(), n in 1usize..6, letters in proptest::collection::vec(0usize..4, 6)) {
        let sv = Statevector::from_circuit(&random_circuit(&mut Dice::new(seed), n, 25, &Mix::all()), &[], &[]).unwrap();
        let label: String = letters[..n].iter().map(|&l| ['I', 'X', 'Y', 'Z'][l]).collect();
        let got = PauliString::from_label(&label).unwrap().expectation(&sv).unwrap();
        let want = dense_expectation(&label, &sv);
        prop_assert!((got - want).abs() < 1e-12, "{label}: {got} vs {want}");
    }
}

#[test]
fn pauli_sums_are_weighted_sums() {
    let sv = Statevector::from_circuit(&random_circuit(&mut Dice::new(5), 3, 30, &Mix::all()), &[], &[]).unwrap();
    let terms = [(0.5, "XYZ"), (-1.25, "IZZ"), (2.0, "YII")];
    let sum = PauliSum::from_labels(&terms).unwrap().expectation(&sv).unwrap();
    let want: f64 = terms.iter().map(|(w, l)| w * dense_expectation(l, &sv)).sum();
    assert!((sum - want).abs() < 1e-12);
}

/// A Bell state: <ZZ> = <XX> = 1, <YY> = -1, <ZI> = 0.
#[test]
fn bell_state_correlations() {
    let mut c = tinylab_quantum::Circuit::new(2);
    c.h(0).unwrap().cx(0, 1).unwrap();
    let sv = Statevector::from_circuit(&c, &[], &[]).unwrap();
    let e = |l: &str| PauliString::from_label(l).unwrap().expectation(&sv).unwrap();
    assert!((e("ZZ") - 1.0).abs() < 1e-15 && (e("XX") - 1.0).abs() < 1e-15);
    assert!((e("YY") + 1.0).abs() < 1e-15 && e("ZI").abs() < 1e-15);
}
