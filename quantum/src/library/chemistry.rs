//! Circuits of quantum chemistry under the Jordan-Wigner encoding (spin orbital `p` is qubit `p`,
//! `|1>` occupied): the Hartree-Fock reference state and the unitary coupled-cluster (UCC) single and
//! double excitations `exp(θ (τ − τ†))` (Peruzzo et al., Nat. Commun. 5, 4213 (2014); Romero et al.,
//! "Strategies for quantum computing molecular energies using the unitary coupled cluster ansatz",
//! Quantum Sci. Technol. 4, 014008 (2018)). Each excitation is a product of commuting Pauli-string
//! rotations ([`append_pauli_evolution`]), so the circuit is exact, not a Trotter approximation.

use super::pauli_evolution::append_pauli_evolution;
use crate::circuit::{Angle, Circuit};
use crate::error::{QuantumError, Result};
use crate::pauli::{Pauli, PauliString};

/// The Hartree-Fock state of `n_qubits` spin orbitals: `X` on every occupied one. Errors on an
/// orbital beyond the register or listed twice.
pub fn hartree_fock(n_qubits: usize, occupied: &[usize]) -> Result<Circuit> {
    let mut c = Circuit::new(n_qubits);
    for (k, &q) in occupied.iter().enumerate() {
        if occupied[..k].contains(&q) {
            return Err(QuantumError::RepeatedQubit { gate: "hartree-fock occupation".into(), qubit: q });
        }
        c.x(q)?;
    }
    Ok(c)
}

/// The Pauli strings of a double excitation `a†_{p2} a†_{p3} a_{p1} a_{p0} − h.c.` with
/// `p0 < p1 < p2 < p3`, as the Paulis on `p0, p1, p2, p3` and the sign `s` of each: the operator is
/// `(i/8) Σ s P`, each `P` with `Z` on the qubits strictly between `p0` and `p1` and between `p2`
/// and `p3` (the Jordan-Wigner parity strings).
const DOUBLE_TERMS: [(f64, [Pauli; 4]); 8] = {
    use Pauli::{X, Y};
    [
        (1.0, [Y, X, X, X]),
        (1.0, [X, Y, X, X]),
        (-1.0, [X, X, Y, X]),
        (-1.0, [X, X, X, Y]),
        (1.0, [Y, Y, Y, X]),
        (1.0, [Y, Y, X, Y]),
        (-1.0, [Y, X, Y, Y]),
        (-1.0, [X, Y, Y, Y]),
    ]
};

/// The string with `paulis` on `positions` and `Z` strictly inside each `(start, end)` of `gaps`.
fn jordan_wigner_string(positions: &[usize], paulis: &[Pauli], gaps: &[(usize, usize)]) -> Result<PauliString> {
    let mut terms: Vec<(usize, Pauli)> = positions.iter().copied().zip(paulis.iter().copied()).collect();
    for &(start, end) in gaps {
        terms.extend((start + 1..end).map(|q| (q, Pauli::Z)));
    }
    PauliString::new(&terms)
}

/// Appends the single excitation `exp(θ (a†_to a_from − a†_from a_to))`, `θ = angle`: from
/// `|1_from 0_to>` it gives `cos θ |1_from 0_to> + sin θ |0_from 1_to>` (times the parity sign of the
/// orbitals between). Two commuting rotations about `Y X` and `X Y` with `Z` on the orbitals in
/// between. Errors when `from == to` or an orbital is beyond the circuit.
pub fn single_excitation(circuit: &mut Circuit, from: usize, to: usize, angle: impl Into<Angle>) -> Result<()> {
    if from == to {
        return Err(QuantumError::InvalidExcitation { from: vec![from], to: vec![to], reason: "the same orbital" });
    }
    // a†_a a_i − h.c. = (i/2)(Y_i X_a − X_i Y_a) Z..., for i < a; the reverse direction is its negative.
    let (lo, hi, orientation) = if from < to { (from, to, 1.0) } else { (to, from, -1.0) };
    let angle = angle.into();
    let gaps = [(lo, hi)];
    for (paulis, phi) in [([Pauli::Y, Pauli::X], -1.0), ([Pauli::X, Pauli::Y], 1.0)] {
        let string = jordan_wigner_string(&[lo, hi], &paulis, &gaps)?;
        append_pauli_evolution(circuit, &string, angle.scaled(orientation * phi))?;
    }
    Ok(())
}

/// Appends the double excitation `exp(θ (a†_{to[0]} a†_{to[1]} a_{from[1]} a_{from[0]} − h.c.))`,
/// `θ = angle`: from the determinant with `from` occupied and `to` empty it gives `cos θ` of it plus
/// `sin θ` of the determinant with `to` occupied instead (up to the parity signs of the orbitals
/// between). Eight commuting Pauli-string rotations with weights `±1/8`. The two pairs must not
/// interleave (every orbital of one pair below every orbital of the other, as for occupied and
/// virtual orbitals of a reference state); otherwise, or on a repeated orbital, an error.
pub fn double_excitation(
    circuit: &mut Circuit,
    from: [usize; 2],
    to: [usize; 2],
    angle: impl Into<Angle>,
) -> Result<()> {
    let refuse = |reason| QuantumError::InvalidExcitation { from: from.to_vec(), to: to.to_vec(), reason };
    if from[0] == from[1] || to[0] == to[1] || from.iter().any(|o| to.contains(o)) {
        return Err(refuse("an orbital appears twice"));
    }
    // Sorting a pair swaps two fermion operators (a sign); exchanging the roles of the pairs
    // conjugates the excitation, τ − τ† → τ† − τ (another sign).
    let sort = |[a, b]: [usize; 2]| if a < b { ([a, b], 1.0) } else { ([b, a], -1.0) };
    let ((lower, s1), (upper, s2)) = (sort(from), sort(to));
    let (low, high, s3) = if lower[1] < upper[0] {
        (lower, upper, 1.0)
    } else if upper[1] < lower[0] {
        (upper, lower, -1.0)
    } else {
        return Err(refuse("interleaved orbitals are not supported"));
    };
    let orientation = s1 * s2 * s3;
    let angle = angle.into();
    let positions = [low[0], low[1], high[0], high[1]];
    let gaps = [(low[0], low[1]), (high[0], high[1])];
    for (sign, paulis) in DOUBLE_TERMS {
        let string = jordan_wigner_string(&positions, &paulis, &gaps)?;
        // (i/8) s θ P = -i (φ/2) P with φ = -s θ / 4.
        append_pauli_evolution(circuit, &string, angle.scaled(-(orientation * sign) / 4.0))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Statevector;
    use crate::matrix::{C64, Matrix};

    const N: usize = 6;

    /// The Jordan-Wigner creation operator `a†_p` on `N` orbitals as a dense matrix:
    /// `a†_p |x> = (-1)^{#occupied below p} |x + 1_p>` when `p` is empty.
    fn creation(p: usize) -> Matrix {
        let dim = 1 << N;
        let mut m = Matrix::from_rows(vec![C64::new(0.0, 0.0); dim * dim]).unwrap();
        for x in 0..dim {
            if x >> p & 1 == 0 {
                let sign = if (x & ((1 << p) - 1)).count_ones() % 2 == 1 { -1.0 } else { 1.0 };
                m.set(x | 1 << p, x, C64::new(sign, 0.0));
            }
        }
        m
    }

    fn sub(a: &Matrix, b: &Matrix) -> Matrix {
        Matrix::from_rows(a.data().iter().zip(b.data()).map(|(x, y)| x - y).collect()).unwrap()
    }

    /// `exp(θ (τ − τ†))` by its Taylor series (the generator has norm at most one).
    fn exp_anti_hermitian(tau: &Matrix, theta: f64) -> Matrix {
        let g = sub(tau, &tau.dagger()).scale(C64::new(theta, 0.0));
        let mut term = Matrix::identity(g.dim());
        let mut sum = term.clone();
        for k in 1..40 {
            term = term.matmul(&g).scale(C64::new(1.0 / k as f64, 0.0));
            sum = Matrix::from_rows(sum.data().iter().zip(term.data()).map(|(a, b)| a + b).collect()).unwrap();
        }
        sum
    }

    fn annihilation(p: usize) -> Matrix {
        creation(p).dagger()
    }

    /// A fixed, generic state of `N` qubits.
    fn state() -> Vec<C64> {
        let amps: Vec<C64> =
            (0..1 << N).map(|i| C64::new((0.37 * i as f64).sin(), (0.71 * i as f64 + 0.2).cos())).collect();
        let norm = amps.iter().map(|a| a.norm_sqr()).sum::<f64>().sqrt();
        amps.iter().map(|a| a / norm).collect()
    }

    fn check(circuit: &Circuit, theta: f64, want: &Matrix) {
        let amps = state();
        let mut s = Statevector::from_amplitudes(amps.clone()).unwrap();
        s.run(circuit, &[theta], &[], &Default::default()).unwrap();
        for (r, got) in s.amplitudes().iter().enumerate() {
            let w: C64 = (0..amps.len()).map(|c| want.get(r, c) * amps[c]).sum();
            assert!((got - w).norm() < 1e-12, "row {r}: {got} vs {w}");
        }
    }

    #[test]
    fn single_excitations_equal_the_fermionic_exponential() {
        for (from, to) in [(0, 3), (4, 1), (2, 3), (5, 0)] {
            let tau = creation(to).matmul(&annihilation(from));
            for theta in [0.4, -1.3] {
                let mut c = Circuit::new(N);
                let t = c.param("t").unwrap();
                single_excitation(&mut c, from, to, t).unwrap();
                check(&c, theta, &exp_anti_hermitian(&tau, theta));
            }
        }
        assert!(single_excitation(&mut Circuit::new(N), 2, 2, 0.1).is_err());
    }

    #[test]
    fn double_excitations_equal_the_fermionic_exponential() {
        for (from, to) in [([0, 1], [2, 3]), ([0, 2], [3, 5]), ([1, 0], [5, 3]), ([4, 5], [0, 2]), ([3, 1], [4, 5])] {
            let tau =
                creation(to[0]).matmul(&creation(to[1])).matmul(&annihilation(from[1])).matmul(&annihilation(from[0]));
            for theta in [0.7, -2.1] {
                let mut c = Circuit::new(N);
                let t = c.param("t").unwrap();
                double_excitation(&mut c, from, to, t).unwrap();
                check(&c, theta, &exp_anti_hermitian(&tau, theta));
            }
        }
        let mut c = Circuit::new(N);
        assert!(matches!(double_excitation(&mut c, [0, 2], [1, 3], 0.1), Err(QuantumError::InvalidExcitation { .. })));
        assert!(double_excitation(&mut c, [0, 0], [1, 3], 0.1).is_err());
        assert!(double_excitation(&mut c, [0, 1], [1, 3], 0.1).is_err());
    }

    #[test]
    fn hartree_fock_occupies_the_listed_orbitals() {
        let s = Statevector::from_circuit(&hartree_fock(4, &[0, 1]).unwrap(), &[], &[]).unwrap();
        assert!((s.amplitudes()[0b0011].re - 1.0).abs() < 1e-15);
        assert!(hartree_fock(4, &[0, 0]).is_err());
        assert!(hartree_fock(4, &[4]).is_err());
    }
}
