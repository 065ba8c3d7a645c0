//! The density-matrix simulator: pure states agree with the statevector simulator, channels keep
//! states valid, and the state functions meet their closed forms.

use proptest::prelude::*;
use tinylab_quantum::density::{Superop, metrics};
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::statevector::{Parallelism, SimOptions};
use tinylab_quantum::{C64, Circuit, DensityMatrix, Matrix, QuantumError, Statevector};
use tinylab_testkit::{Dice, Mix, random_circuit};

fn c(re: f64, im: f64) -> C64 {
    C64::new(re, im)
}

/// Amplitude damping with probability `gamma` (Nielsen & Chuang 8.3.5).
fn amplitude_damping(gamma: f64) -> Vec<Matrix> {
    vec![
        Matrix::from_2x2([[c(1.0, 0.0), c(0.0, 0.0)], [c(0.0, 0.0), c((1.0 - gamma).sqrt(), 0.0)]]),
        Matrix::from_2x2([[c(0.0, 0.0), c(gamma.sqrt(), 0.0)], [c(0.0, 0.0), c(0.0, 0.0)]]),
    ]
}

/// Two-qubit depolarizing channel with probability `p`: `(1-p) ρ + p I/4` as 16 Kraus operators.
fn depolarizing_2q(p: f64) -> Vec<Matrix> {
    let paulis = [
        Matrix::identity(2),
        Matrix::from_2x2([[c(0.0, 0.0), c(1.0, 0.0)], [c(1.0, 0.0), c(0.0, 0.0)]]),
        Matrix::from_2x2([[c(0.0, 0.0), c(0.0, -1.0)], [c(0.0, 1.0), c(0.0, 0.0)]]),
        Matrix::from_2x2([[c(1.0, 0.0), c(0.0, 0.0)], [c(0.0, 0.0), c(-1.0, 0.0)]]),
    ];
    let mut out = Vec::new();
    for (i, a) in paulis.iter().enumerate() {
        for (j, b) in paulis.iter().enumerate() {
            let w = if i == 0 && j == 0 { 1.0 - 15.0 * p / 16.0 } else { p / 16.0 };
            out.push(a.kron(b).scale(c(w.sqrt(), 0.0)));
        }
    }
    out
}

fn max_entry_diff(rho: &DensityMatrix, m: &Matrix) -> f64 {
    let dim = rho.dim();
    (0..dim * dim).map(|i| (rho.get(i / dim, i % dim) - m.get(i / dim, i % dim)).norm()).fold(0.0, f64::max)
}

fn outer(sv: &Statevector) -> Matrix {
    let a = sv.amplitudes();
    let mut m = Matrix::identity(a.len());
    for r in 0..a.len() {
        for col in 0..a.len() {
            m.set(r, col, a[r] * a[col].conj());
        }
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// A pure state evolved as a density matrix equals the outer product of the evolved statevector,
    /// fused or not, sequential or threaded.
    #[test]
    fn pure_evolution_matches_the_statevector(seed in any::<u64>(), n in 1usize..6, depth in 0usize..40) {
        let circuit = random_circuit(&mut Dice::new(seed), n, depth, &Mix::all());
        let sv = Statevector::from_circuit(&circuit, &[], &[]).unwrap();
        let expected = outer(&sv);
        let rho = DensityMatrix::from_circuit(&circuit, &[], &[]).unwrap();
        prop_assert!(max_entry_diff(&rho, &expected) < 1e-12);
        let mut unfused = DensityMatrix::new(n).unwrap();
        let opts = SimOptions { fusion: tinylab_quantum::fusion::FusionConfig::disabled(), parallelism: Parallelism::Sequential };
        unfused.run(&circuit, &[], &[], &opts).unwrap();
        prop_assert!(max_entry_diff(&unfused, &expected) < 1e-12);
        prop_assert!((rho.purity() - 1.0).abs() < 1e-12);
        // Expectations agree with the statevector's.
        let obs = PauliSum::from_labels(&[(0.7, &"Z".repeat(n)), (-0.3, &"X".repeat(n)), (0.2, &"Y".repeat(n))]).unwrap();
        prop_assert!((obs.expectation_density(&rho).unwrap() - obs.expectation(&sv).unwrap()).abs() < 1e-12);
    }

    /// Channels keep the trace at 1, the matrix Hermitian and positive semi-definite, and never raise
    /// the purity of a pure state.
    #[test]
    fn channels_preserve_trace_and_positivity(seed in any::<u64>(), n in 2usize..5, gamma in 0.0f64..1.0, p in 0.0f64..1.0) {
        let mut dice = Dice::new(seed);
        let circuit = random_circuit(&mut dice, n, 12, &Mix::all());
        let mut rho = DensityMatrix::from_circuit(&circuit, &[], &[]).unwrap();
        let q = dice.qubits(n, 2);
        rho.apply_kraus(&[q[0]], &amplitude_damping(gamma), Parallelism::Auto).unwrap();
        rho.apply_kraus(&q, &depolarizing_2q(p), Parallelism::Auto).unwrap();
        rho.run(&circuit, &[], &[], &SimOptions::default()).unwrap();
        prop_assert!((rho.trace() - c(1.0, 0.0)).norm() < 1e-12);
        for r in 0..rho.dim() {
            for col in 0..rho.dim() {
                prop_assert!((rho.get(r, col) - rho.get(col, r).conj()).norm() < 1e-12);
            }
        }
        prop_assert!(metrics::min_eigenvalue(&rho) > -1e-12);
        prop_assert!(rho.purity() <= 1.0 + 1e-12);
    }

    /// The superoperator path (k <= 3) and the copy-per-Kraus path agree: a 1-qubit channel applied
    /// as a superoperator equals Σ K ρ K† computed on the full matrices.
    #[test]
    fn kraus_application_matches_the_matrix_formula(seed in any::<u64>(), gamma in 0.0f64..1.0) {
        let mut dice = Dice::new(seed);
        let n = 3;
        let circuit = random_circuit(&mut dice, n, 10, &Mix::all());
        let mut rho = DensityMatrix::from_circuit(&circuit, &[], &[]).unwrap();
        let q = dice.below(n);
        let before = rho.to_matrix();
        rho.apply_kraus(&[q], &amplitude_damping(gamma), Parallelism::Auto).unwrap();
        // Full-size Kraus operators: I ⊗ K ⊗ I with K on qubit q.
        let mut expected = Matrix::diagonal(&[c(0.0, 0.0); 8]);
        for k in amplitude_damping(gamma) {
            let mut full = Matrix::identity(1);
            for qubit in (0..n).rev() {
                full = full.kron(&if qubit == q { k.clone() } else { Matrix::identity(2) });
            }
            let term = full.matmul(&before).matmul(&full.dagger());
            for r in 0..8 {
                for col in 0..8 {
                    expected.set(r, col, expected.get(r, col) + term.get(r, col));
                }
            }
        }
        prop_assert!(max_entry_diff(&rho, &expected) < 1e-12);
    }
}

/// Partial traces: a Bell pair's halves are maximally mixed; a product state's are its factors.
#[test]
fn partial_trace_closed_forms() {
    let mut bell = Circuit::new(3);
    bell.h(0).unwrap().cx(0, 2).unwrap().ry(0.8, 1).unwrap();
    let rho = DensityMatrix::from_circuit(&bell, &[], &[]).unwrap();
    let half = rho.partial_trace(&[0]).unwrap();
    assert!((half.get(0, 0).re - 0.5).abs() < 1e-15 && half.get(0, 1).norm() < 1e-15);
    assert!((half.purity() - 0.5).abs() < 1e-15);
    let single = rho.partial_trace(&[1]).unwrap();
    // ry(0.8)|0> = cos(0.4)|0> + sin(0.4)|1>.
    assert!((single.get(0, 0).re - 0.4f64.cos().powi(2)).abs() < 1e-15);
    assert!((single.get(0, 1).re - 0.4f64.cos() * 0.4f64.sin()).abs() < 1e-15);
    assert!((single.purity() - 1.0).abs() < 1e-14);
    // Order of kept qubits: bit j of the result is keep[j].
    let pair = rho.partial_trace(&[2, 0]).unwrap();
    assert!((pair.get(0b11, 0b00).re - 0.5).abs() < 1e-15);
}

/// Fidelity and trace distance against closed forms for pure and mixed states.
#[test]
fn fidelity_and_trace_distance_closed_forms() {
    let zero = DensityMatrix::new(1).unwrap();
    let mut plus_c = Circuit::new(1);
    plus_c.h(0).unwrap();
    let plus = DensityMatrix::from_circuit(&plus_c, &[], &[]).unwrap();
    assert!((metrics::fidelity(&zero, &plus).unwrap() - 0.5).abs() < 1e-12);
    // Pure states: D = sqrt(1 - F).
    assert!((metrics::trace_distance(&zero, &plus).unwrap() - 0.5f64.sqrt()).abs() < 1e-12);
    let mut mixed = zero.clone();
    mixed.apply_kraus(&[0], &depolarizing_1q(1.0), Parallelism::Auto).unwrap();
    assert!((mixed.purity() - 0.5).abs() < 1e-12);
    // F(|0><0|, I/2) = 1/2; D(|0><0|, I/2) = 1/2.
    assert!((metrics::fidelity(&zero, &mixed).unwrap() - 0.5).abs() < 1e-12);
    assert!((metrics::trace_distance(&zero, &mixed).unwrap() - 0.5).abs() < 1e-12);
    assert!((metrics::fidelity(&mixed, &mixed).unwrap() - 1.0).abs() < 1e-12);
}

fn depolarizing_1q(p: f64) -> Vec<Matrix> {
    let x = Matrix::from_2x2([[c(0.0, 0.0), c(1.0, 0.0)], [c(1.0, 0.0), c(0.0, 0.0)]]);
    let y = Matrix::from_2x2([[c(0.0, 0.0), c(0.0, -1.0)], [c(0.0, 1.0), c(0.0, 0.0)]]);
    let z = Matrix::from_2x2([[c(1.0, 0.0), c(0.0, 0.0)], [c(0.0, 0.0), c(-1.0, 0.0)]]);
    let s = |w: f64, m: &Matrix| m.scale(c(w.sqrt(), 0.0));
    vec![s(1.0 - 3.0 * p / 4.0, &Matrix::identity(2)), s(p / 4.0, &x), s(p / 4.0, &y), s(p / 4.0, &z)]
}

/// Measurement collapses with the Born probability, reset returns to |0>.
#[test]
fn measurement_and_reset() {
    let mut circuit = Circuit::new(2);
    circuit.ry(1.2, 0).unwrap().cx(0, 1).unwrap();
    let mut rho = DensityMatrix::from_circuit(&circuit, &[], &[]).unwrap();
    let p1 = rho.measure(0, true).unwrap();
    assert!((p1 - 0.6f64.sin().powi(2)).abs() < 1e-14);
    assert!((rho.get(0b11, 0b11).re - 1.0).abs() < 1e-14);
    assert!(rho.measure(1, false).is_err(), "probability-zero outcome refused");
    rho.reset(0).unwrap();
    rho.reset(1).unwrap();
    assert!((rho.get(0, 0).re - 1.0).abs() < 1e-14);
    assert!((rho.trace() - c(1.0, 0.0)).norm() < 1e-14);
}

/// Bad input is a typed error.
#[test]
fn bad_input_is_refused() {
    let mut rho = DensityMatrix::new(2).unwrap();
    assert!(matches!(
        rho.apply_kraus(&[2], &amplitude_damping(0.1), Parallelism::Auto),
        Err(QuantumError::QubitOutOfRange { qubit: 2, n_qubits: 2 })
    ));
    assert!(rho.apply_kraus(&[0, 1], &amplitude_damping(0.1), Parallelism::Auto).is_err());
    assert!(rho.apply_kraus(&[0, 0], &depolarizing_2q(0.1), Parallelism::Auto).is_err());
    let s = Superop::from_kraus(&amplitude_damping(0.2)).unwrap();
    assert!(rho.apply_superop(&[0, 1], &s, Parallelism::Auto).is_err());
    assert!(matches!(DensityMatrix::new(40), Err(QuantumError::TooLarge { n_qubits: 40, .. })));
    let other = DensityMatrix::new(1).unwrap();
    assert!(metrics::fidelity(&rho, &other).is_err());
    assert!(rho.partial_trace(&[3]).is_err());
}

/// A reference-free consistency check of the pure-state import.
#[test]
fn from_statevector_is_the_outer_product() {
    let mut circuit = Circuit::new(3);
    circuit.h(0).unwrap().cx(0, 1).unwrap().rz(0.3, 2).unwrap().ry(0.9, 2).unwrap();
    let sv = Statevector::from_circuit(&circuit, &[], &[]).unwrap();
    let rho = DensityMatrix::from_statevector(&sv).unwrap();
    assert!(max_entry_diff(&rho, &outer(&sv)) < 1e-15);
    let back = DensityMatrix::from_matrix(&rho.to_matrix()).unwrap();
    assert_eq!(back, rho);
    assert!(DensityMatrix::from_matrix(&Matrix::identity(4)).is_err(), "trace 4 refused");
}
