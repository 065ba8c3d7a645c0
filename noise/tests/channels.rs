//! Channels: every constructor is CPTP, channels keep random states valid, and the representations
//! (Kraus, superoperator, Choi, Pauli transfer matrix) agree with closed forms.

use proptest::prelude::*;
use tinylab_noise::channel::{CPTP_TOLERANCE, Channel, pauli_product};
use tinylab_noise::{NoiseError, ReadoutError};
use tinylab_quantum::density::metrics;
use tinylab_quantum::statevector::Parallelism;
use tinylab_quantum::{C64, Circuit, DensityMatrix, Matrix};

fn c(re: f64, im: f64) -> C64 {
    C64::new(re, im)
}

/// Every single-qubit constructor with parameters from the proptest.
fn one_qubit_channels(p: f64, q: f64, t1: f64, ratio: f64, time: f64) -> Vec<Channel> {
    vec![
        Channel::depolarizing(p, 1).unwrap(),
        Channel::bit_flip(p).unwrap(),
        Channel::phase_flip(p).unwrap(),
        Channel::bit_phase_flip(p).unwrap(),
        Channel::pauli(p / 3.0, q / 3.0, (1.0 - p) / 3.0).unwrap(),
        Channel::amplitude_damping(p).unwrap(),
        Channel::generalized_amplitude_damping(p, q).unwrap(),
        Channel::phase_damping(q).unwrap(),
        Channel::thermal_relaxation(t1, ratio * 2.0 * t1, time, q).unwrap(),
        Channel::thermal_relaxation(t1, ratio * 2.0 * t1, time, 0.0).unwrap(),
    ]
}

/// A random mixed state of `n` qubits: a random circuit's state, partially damped.
fn random_state(seed: u64, n: usize) -> DensityMatrix {
    let mut circuit = Circuit::new(n);
    let mut s = seed;
    let mut next = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64 * 6.3
    };
    for q in 0..n {
        circuit.u3(next(), next(), next(), q).unwrap();
    }
    for q in 1..n {
        circuit.cx(q - 1, q).unwrap();
        circuit.u3(next(), next(), next(), q).unwrap();
    }
    let mut rho = DensityMatrix::from_circuit(&circuit, &[], &[]).unwrap();
    let damp = Channel::amplitude_damping(next() / 6.3).unwrap();
    rho.apply_kraus(&[0], damp.kraus(), Parallelism::Auto).unwrap();
    rho
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Σ K†K = I for every constructor, and each keeps a random state's trace, Hermiticity and
    /// positivity.
    #[test]
    fn constructors_are_cptp_and_keep_states_valid(
        p in 0.0f64..1.0, q in 0.0f64..1.0, t1 in 1e-6f64..1e-3, ratio in 0.01f64..1.0, time in 0.0f64..1e-5, seed in any::<u64>(),
    ) {
        for ch in one_qubit_channels(p, q, t1, ratio, time) {
            prop_assert!(ch.trace_preservation_deviation() <= CPTP_TOLERANCE, "{}", ch.name());
            let mut rho = random_state(seed, 2);
            rho.apply_kraus(&[1], ch.kraus(), Parallelism::Auto).unwrap();
            prop_assert!((rho.trace() - c(1.0, 0.0)).norm() < 1e-12);
            prop_assert!(metrics::min_eigenvalue(&rho) > -1e-12, "{}", ch.name());
        }
        let two = Channel::depolarizing(p * 16.0 / 15.0, 2).unwrap();
        prop_assert!(two.trace_preservation_deviation() <= CPTP_TOLERANCE);
        let relax = Channel::thermal_relaxation(t1, ratio * 2.0 * t1, time, 0.0).unwrap();
        let composed = two.then(&relax.tensor_high(&relax).unwrap()).unwrap();
        prop_assert!(composed.trace_preservation_deviation() <= CPTP_TOLERANCE);
        let mut rho = random_state(seed, 3);
        rho.apply_kraus(&[2, 0], composed.kraus(), Parallelism::Auto).unwrap();
        prop_assert!((rho.trace() - c(1.0, 0.0)).norm() < 1e-12);
        prop_assert!(metrics::min_eigenvalue(&rho) > -1e-12);
    }

    /// Choi -> Kraus -> Choi is the identity, and the Kraus sets act identically.
    #[test]
    fn choi_round_trip(p in 0.0f64..1.0, q in 0.0f64..1.0, t1 in 1e-6f64..1e-3, ratio in 0.01f64..1.0, time in 0.0f64..1e-5) {
        for ch in one_qubit_channels(p, q, t1, ratio, time) {
            let back = Channel::from_choi("back", &ch.choi()).unwrap();
            prop_assert!(back.choi().max_abs_diff(&ch.choi()) < 1e-12, "{}", ch.name());
            prop_assert!((back.average_gate_fidelity() - ch.average_gate_fidelity()).abs() < 1e-12);
        }
    }
}

/// Closed forms: depolarizing PTM is diag(1, 1-λ, 1-λ, 1-λ); amplitude damping PTM; thermal
/// relaxation's populations and coherences; average gate fidelity of depolarizing `1 - λ/2`.
#[test]
fn representations_meet_closed_forms() {
    let lambda = 0.3;
    let dep = Channel::depolarizing(lambda, 1).unwrap();
    let r = dep.ptm();
    for (i, row) in r.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let want = if i != j {
                0.0
            } else if i == 0 {
                1.0
            } else {
                1.0 - lambda
            };
            assert!((v - want).abs() < 1e-14, "R[{i}][{j}] = {v}");
        }
    }
    // F_avg of Aer's depolarizing(λ) on one qubit: 1 - λ/2.
    assert!((dep.average_gate_fidelity() - (1.0 - lambda / 2.0)).abs() < 1e-14);
    let gamma = 0.2;
    let ad = Channel::amplitude_damping(gamma).unwrap().ptm();
    // PTM of amplitude damping: [[1,0,0,0],[0,√(1-γ),0,0],[0,0,√(1-γ),0],[γ,0,0,1-γ]].
    assert!((ad[3][0] - gamma).abs() < 1e-14 && (ad[3][3] - (1.0 - gamma)).abs() < 1e-14);
    assert!((ad[1][1] - (1.0 - gamma).sqrt()).abs() < 1e-14 && (ad[0][0] - 1.0).abs() < 1e-14);
    // Thermal relaxation of |1><1| and |+><+| for time t: P(1) = e^{-t/T1}, coherence e^{-t/T2} / 2.
    let (t1, t2, t) = (100e-6, 80e-6, 3e-6);
    let th = Channel::thermal_relaxation(t1, t2, t, 0.0).unwrap();
    let one = Matrix::diagonal(&[c(0.0, 0.0), c(1.0, 0.0)]);
    assert!((th.apply_to_matrix(&one).get(1, 1).re - (-t / t1).exp()).abs() < 1e-15);
    let plus = Matrix::from_2x2([[c(0.5, 0.0), c(0.5, 0.0)], [c(0.5, 0.0), c(0.5, 0.0)]]);
    assert!((th.apply_to_matrix(&plus).get(0, 1).re - 0.5 * (-t / t2).exp()).abs() < 1e-15);
    // The 2-qubit Pauli indexing: digit j is qubit j.
    let xi = pauli_product(1, 2);
    assert_eq!(xi.get(0b01, 0b00), c(1.0, 0.0));
}

/// Invalid parameters and non-CPTP sets are errors that name the violation.
#[test]
fn invalid_channels_are_refused() {
    assert!(matches!(Channel::bit_flip(1.5), Err(NoiseError::OutOfRange { .. })));
    assert!(matches!(Channel::thermal_relaxation(50e-6, 120e-6, 1e-6, 0.0), Err(NoiseError::T2AboveTwiceT1 { .. })));
    assert!(Channel::depolarizing(1.5, 1).is_err());
    let err = Channel::depolarizing(0.1, 4).unwrap_err();
    assert!(matches!(err, NoiseError::QubitCount { min: 1, max: 3, got: 4, .. }), "{err:?}");
    let err = Channel::from_kraus("none", vec![]).unwrap_err();
    assert_eq!(err.to_string(), "channel `none` has no Kraus operators");
    let mut nan = Matrix::identity(2);
    nan.set(0, 1, c(f64::NAN, 0.0));
    assert!(matches!(Channel::from_kraus("nan", vec![nan]), Err(NoiseError::InvalidChannel { .. })));
    let half = Matrix::identity(2).scale(c(0.5, 0.0));
    let err = Channel::from_kraus("leaky", vec![half]).unwrap_err();
    assert!(matches!(err, NoiseError::NotTracePreserving { .. }));
    assert!(err.to_string().contains("leaky") && err.to_string().contains("7.500e-1"), "{err}");
    let mut not_cp = Matrix::identity(4);
    not_cp.set(0, 0, c(-0.5, 0.0));
    assert!(matches!(Channel::from_choi("bad", &not_cp), Err(NoiseError::NotCompletelyPositive { .. })));
    assert!(Channel::from_kraus("mixed sizes", vec![Matrix::identity(2), Matrix::identity(4)]).is_err());
    assert!(ReadoutError::new([[0.9, 0.2], [0.1, 0.9]]).is_err());
}

/// Readout error on qubit q mixes outcomes that differ in bit q only.
#[test]
fn readout_error_mixes_one_bit() {
    let err = ReadoutError::asymmetric(0.1, 0.2).unwrap();
    let mut probs = vec![0.0, 1.0, 0.0, 0.0]; // |01>: qubit 0 is 1
    err.apply(&mut probs, 0).unwrap();
    assert!((probs[0] - 0.2).abs() < 1e-15 && (probs[1] - 0.8).abs() < 1e-15);
    err.apply(&mut probs, 1).unwrap();
    assert!((probs[0b10] - 0.02).abs() < 1e-15 && (probs.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    assert!(err.apply(&mut probs, 2).is_err());
}
