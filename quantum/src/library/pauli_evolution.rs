//! The rotation `exp(-i θ/2 P)` about a Pauli string `P` as gates: the building block of Trotterised
//! Hamiltonian evolution and of unitary coupled-cluster circuits (Whitfield, Biamonte & Aspuru-Guzik,
//! "Simulation of electronic structure Hamiltonians using quantum computers", Mol. Phys. 109, 735
//! (2011), Sec. 4).

use crate::circuit::{Angle, Circuit};
use crate::error::{QuantumError, Result};
use crate::pauli::{Pauli, PauliString};
use std::f64::consts::FRAC_PI_2;

/// Appends `exp(-i θ/2 P)` for the Pauli string `pauli` and `θ = angle` (a constant or a trainable
/// parameter, scaled as the [`Angle`] says): a change of basis (`H` for X, `RX(π/2)` for Y) on every
/// qubit of the string, a CNOT ladder that collects the parity onto the string's highest qubit,
/// `RZ(θ)` there, and the ladder and basis changes undone. The identity string is a global phase and
/// appends nothing. Errors when the string reaches beyond the circuit's qubits.
pub fn append_pauli_evolution(circuit: &mut Circuit, pauli: &PauliString, angle: impl Into<Angle>) -> Result<()> {
    let n = circuit.n_qubits();
    if pauli.min_qubits() > n {
        return Err(QuantumError::QubitOutOfRange { qubit: pauli.min_qubits() - 1, n_qubits: n });
    }
    let support: Vec<(usize, Pauli)> = (0..n).map(|q| (q, pauli.get(q))).filter(|&(_, p)| p != Pauli::I).collect();
    let Some(&(last, _)) = support.last() else { return Ok(()) };
    change_basis(circuit, &support, FRAC_PI_2)?;
    for pair in support.windows(2) {
        circuit.cx(pair[0].0, pair[1].0)?;
    }
    circuit.rz(angle, last)?;
    for pair in support.windows(2).rev() {
        circuit.cx(pair[0].0, pair[1].0)?;
    }
    change_basis(circuit, &support, -FRAC_PI_2)
}

/// `H` on the X qubits and `RX(y_angle)` on the Y qubits of `support`: `RX(π/2)` maps the Y
/// eigenbasis to Z's, `RX(-π/2)` maps it back.
fn change_basis(circuit: &mut Circuit, support: &[(usize, Pauli)], y_angle: f64) -> Result<()> {
    for &(q, p) in support {
        match p {
            Pauli::X => {
                circuit.h(q)?;
            }
            Pauli::Y => {
                circuit.rx(y_angle, q)?;
            }
            Pauli::Z | Pauli::I => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Statevector;
    use crate::matrix::{C64, Matrix};
    use crate::pauli::LabelOrder;
    use proptest::prelude::*;

    /// The dense matrix of a Pauli string on `n` qubits (qubit 0 the least significant bit), built as
    /// a Kronecker product of 2x2 matrices, highest qubit first.
    fn dense(pauli: &PauliString, n: usize) -> Matrix {
        let (o, l, i) = (C64::new(0.0, 0.0), C64::new(1.0, 0.0), C64::new(0.0, 1.0));
        let single = |p: Pauli| match p {
            Pauli::I => Matrix::from_2x2([[l, o], [o, l]]),
            Pauli::X => Matrix::from_2x2([[o, l], [l, o]]),
            Pauli::Y => Matrix::from_2x2([[o, -i], [i, o]]),
            Pauli::Z => Matrix::from_2x2([[l, o], [o, -l]]),
        };
        (0..n).rev().fold(Matrix::identity(1), |acc, q| acc.kron(&single(pauli.get(q))))
    }

    /// `exp(-i θ/2 P) = cos(θ/2) I - i sin(θ/2) P`, since `P² = I`.
    fn exponential(pauli: &PauliString, n: usize, theta: f64) -> Matrix {
        let p = dense(pauli, n).scale(C64::new(0.0, -(theta / 2.0).sin()));
        let c = Matrix::identity(1 << n).scale(C64::new((theta / 2.0).cos(), 0.0));
        let data: Vec<C64> = c.data().iter().zip(p.data()).map(|(a, b)| a + b).collect();
        Matrix::from_rows(data).unwrap()
    }

    fn apply(m: &Matrix, v: &[C64]) -> Vec<C64> {
        (0..m.dim()).map(|r| (0..m.dim()).map(|c| m.get(r, c) * v[c]).sum()).collect()
    }

    proptest! {
        /// On random states, the circuit acts as the matrix exponential of the Pauli string, with a
        /// constant angle and with a trainable one.
        #[test]
        fn evolution_equals_the_matrix_exponential(
            label in "[IXYZ]{1,4}",
            theta in -6.3f64..6.3,
            amps in proptest::collection::vec((-1.0f64..1.0, -1.0f64..1.0), 16),
        ) {
            let n = 4;
            let pauli = PauliString::from_label_ordered(&label, LabelOrder::Qubit0First).unwrap();
            let amps: Vec<C64> = amps.into_iter().map(|(re, im)| C64::new(re, im)).collect();
            let norm = amps.iter().map(|a| a.norm_sqr()).sum::<f64>().sqrt();
            prop_assume!(norm > 1e-3);
            let amps: Vec<C64> = amps.iter().map(|a| a / norm).collect();
            // The identity string is the global phase e^{-iθ/2}, which the circuit leaves out.
            let want = if pauli == PauliString::default() { amps.clone() } else { apply(&exponential(&pauli, n, theta), &amps) };
            let mut constant = Circuit::new(n);
            append_pauli_evolution(&mut constant, &pauli, theta).unwrap();
            let mut trainable = Circuit::new(n);
            let t = trainable.param("t").unwrap();
            append_pauli_evolution(&mut trainable, &pauli, t.scaled(2.0)).unwrap();
            for (circuit, params) in [(&constant, vec![]), (&trainable, vec![theta / 2.0])] {
                let mut state = Statevector::from_amplitudes(amps.clone()).unwrap();
                state.run(circuit, &params, &[], &Default::default()).unwrap();
                for (g, w) in state.amplitudes().iter().zip(&want) {
                    prop_assert!((g - w).norm() < 1e-12, "{}: {} vs {}", label, g, w);
                }
            }
        }
    }

    #[test]
    fn identity_appends_nothing_and_wide_strings_are_refused() {
        let mut c = Circuit::new(3);
        append_pauli_evolution(&mut c, &PauliString::default(), 0.4).unwrap();
        assert!(c.instructions().is_empty());
        let wide = PauliString::from_label("XIII").unwrap();
        assert!(matches!(
            append_pauli_evolution(&mut c, &wide, 0.1),
            Err(QuantumError::QubitOutOfRange { qubit: 3, n_qubits: 3 })
        ));
    }
}
