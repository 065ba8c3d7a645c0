//! Quantum trajectories converge to the density matrix; readout mitigation and zero-noise
//! extrapolation bring noisy expectation values closer to the ideal ones.

// The tests print the measured figures (run with --nocapture) for the issue notes.
#![allow(clippy::print_stderr)]

use tinylab_noise::mitigation::zne::extrapolate;
use tinylab_noise::mitigation::{Extrapolation, fold, mitigate_readout, nearest_distribution, zne_expectation};
use tinylab_noise::sim::probabilities_density;
use tinylab_noise::trajectories::probabilities_trajectories;
use tinylab_noise::{Channel, NoiseModel, ReadoutError};
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{Circuit, DensityMatrix, Statevector};

/// A GHZ state along manila's line 0-1-2-3-4, in the device basis (h = rz sx rz up to phase).
fn ghz_manila(n: usize) -> Circuit {
    let mut c = Circuit::new(n);
    let half_pi = std::f64::consts::FRAC_PI_2;
    c.rz(half_pi, 0).unwrap().sx(0).unwrap().rz(half_pi, 0).unwrap();
    for q in 1..n {
        c.cx(q - 1, q).unwrap();
    }
    c
}

/// The trajectory average of every outcome probability lies within 4 standard errors (plus a
/// small floor) of the density-matrix value, and the run is the same at 1 and 2 threads.
#[test]
fn trajectories_converge_to_the_density_matrix() {
    let model = NoiseModel::builtin("manila").unwrap();
    let mut circuit = ghz_manila(5);
    circuit.rz(0.7, 2).unwrap().sx(2).unwrap().x(4).unwrap().cx(3, 4).unwrap();
    let exact = probabilities_density(&circuit, &[], &[], &model, &SimOptions::default()).unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            probabilities_trajectories(&circuit, &[], &[], &model, 4000, 11, &SimOptions::default()).unwrap()
        })
    };
    let (est, std_error) = run(2);
    for (i, ((&p, &e), &s)) in est.probabilities.iter().zip(&exact.probabilities).zip(&std_error).enumerate() {
        assert!((p - e).abs() <= 4.0 * s + 1e-4, "outcome {i}: trajectories {p}, density {e}, se {s}");
    }
    let (again, _) = run(1);
    assert_eq!(again, est, "thread count changed the result");
}

/// Readout mitigation on manila: the measured GHZ populations of |00000> and |11111> move back
/// towards 1/2 each, and the mitigated vector is a distribution.
#[test]
fn readout_mitigation_moves_ghz_populations_towards_ideal() {
    let model = NoiseModel::builtin("manila").unwrap();
    let circuit = ghz_manila(5);
    let noisy = probabilities_density(&circuit, &[], &[], &model, &SimOptions::default()).unwrap();
    let mitigated = mitigate_readout(&noisy.measured_probabilities, 5, &model).unwrap();
    let ghz_weight = |p: &[f64]| p[0] + p[31];
    let (before, after) = (ghz_weight(&noisy.measured_probabilities), ghz_weight(&mitigated));
    eprintln!("GHZ weight P(00000)+P(11111): measured {before:.4}, mitigated {after:.4}");
    assert!(after > before + 0.05, "GHZ weight {before:.4} -> {after:.4}");
    // Mitigation undoes readout exactly up to the projection: compare with the pre-readout values.
    let pre = ghz_weight(&noisy.probabilities);
    assert!((after - pre).abs() < 0.01, "mitigated {after:.4} vs pre-readout {pre:.4}");
    assert!((mitigated.iter().sum::<f64>() - 1.0).abs() < 1e-12 && mitigated.iter().all(|&p| p >= 0.0));
}

/// Projection onto the simplex: already valid vectors are unchanged; negatives are clipped and the
/// rest renormalised as Smolin, Gambetta and Smith's example shows.
#[test]
fn nearest_distribution_projects_onto_the_simplex() {
    let p = vec![0.1, 0.2, 0.3, 0.4];
    assert!(nearest_distribution(&p).iter().zip(&p).all(|(a, b)| (a - b).abs() < 1e-15));
    let q = nearest_distribution(&[0.6, 0.5, -0.1, 0.0]);
    assert!((q[0] - 0.55).abs() < 1e-12 && (q[1] - 0.45).abs() < 1e-12 && q[2] == 0.0 && q[3] == 0.0, "{q:?}");
}

/// Folding keeps the unitary and scales the gate count; ZNE moves the GHZ correlator <Z0 Z4> and
/// parity <X0 X1 X2 X3 X4> on a noisy device towards their ideal value 1.
#[test]
fn zne_improves_the_ghz_parity() {
    let circuit = ghz_manila(5);
    for scale in [1.0, 1.6, 3.0, 5.0] {
        let (folded, reached) = fold(&circuit, scale).unwrap();
        assert!((reached - scale).abs() < 0.2, "scale {scale} reached {reached}");
        let a = Statevector::from_circuit(&circuit, &[], &[]).unwrap();
        let b = Statevector::from_circuit(&folded, &[], &[]).unwrap();
        assert!(a.distance_up_to_phase(&b) < 1e-12);
    }
    let model = NoiseModel::builtin("manila").unwrap();
    let parity = PauliSum::from_labels(&[(0.5, "ZIIIZ"), (0.5, "XXXXX")]).unwrap();
    let ideal = parity.expectation_density(&DensityMatrix::from_circuit(&circuit, &[], &[]).unwrap()).unwrap();
    // Global folds (odd scales) amplify every gate's noise alike.
    for method in [Extrapolation::Linear, Extrapolation::Richardson] {
        let result = zne_expectation(&circuit, &parity, &model, &[1.0, 3.0, 5.0], method).unwrap();
        eprintln!("values at {:?}: {:?}", result.scales, result.values);
        let (noisy, mitigated) = (result.values[0], result.mitigated);
        eprintln!("{method:?}: ideal {ideal:.4}, noisy {noisy:.4}, ZNE {mitigated:.4}");
        assert!(
            (ideal - mitigated).abs() < 0.5 * (ideal - noisy).abs(),
            "{method:?}: ideal {ideal}, noisy {noisy}, zne {mitigated}"
        );
    }
}

/// Extrapolation closed forms and argument checks.
#[test]
fn extrapolation_closed_forms() {
    // A quadratic through three points is recovered exactly by Richardson.
    let f = |x: f64| 0.9 - 0.1 * x + 0.02 * x * x;
    let xs = [1.0, 2.0, 3.0];
    let ys: Vec<f64> = xs.iter().map(|&x| f(x)).collect();
    assert!((extrapolate(&xs, &ys, Extrapolation::Richardson).unwrap() - 0.9).abs() < 1e-12);
    // A line is recovered exactly by the linear fit.
    let ys: Vec<f64> = xs.iter().map(|&x| 0.8 - 0.1 * x).collect();
    assert!((extrapolate(&xs, &ys, Extrapolation::Linear).unwrap() - 0.8).abs() < 1e-12);
    assert!(extrapolate(&[1.0, 1.0], &[0.5, 0.5], Extrapolation::Linear).is_err());
    assert!(fold(&ghz_manila(2), 0.5).is_err());
}

/// A hand-built model: readout errors only change measured probabilities; a Pauli error on x
/// changes the state as its closed form says.
#[test]
fn hand_built_models() {
    let mut model = NoiseModel::new("toy");
    model.add_quantum_error(Channel::bit_flip(0.25).unwrap(), "x", &[0]).unwrap();
    model.add_readout_error(ReadoutError::asymmetric(0.1, 0.0).unwrap(), 1);
    let mut c = Circuit::new(2);
    c.x(0).unwrap();
    let out = probabilities_density(&c, &[], &[], &model, &SimOptions::default()).unwrap();
    assert!((out.probabilities[1] - 0.75).abs() < 1e-15 && (out.probabilities[0] - 0.25).abs() < 1e-15);
    assert!((out.measured_probabilities[0b10] - 0.025).abs() < 1e-15);
    assert!(model.add_quantum_error(Channel::bit_flip(0.1).unwrap(), "cx", &[0, 1]).is_err());
}

/// A backend failure reaches the quantum crate's callers with the noise crate's typed error intact:
/// `QuantumError::Backend` keeps it (downcast gives it back) instead of flattening it to text.
#[test]
fn backend_errors_keep_their_source() {
    use std::sync::Arc;
    use tinylab_noise::NoiseError;
    use tinylab_noise::qml::TrajectoryBackend;
    use tinylab_quantum::QuantumError;
    use tinylab_quantum::grad::ProbabilityBackend;
    let backend = TrajectoryBackend {
        model: Arc::new(NoiseModel::builtin("manila").unwrap()),
        trajectories: 0,
        seed: 1,
        readout: true,
        options: SimOptions::default(),
    };
    let err = backend.probabilities(&ghz_manila(2), &[], &[]).unwrap_err();
    let QuantumError::Backend(source) = &err else { panic!("expected a backend error, got {err:?}") };
    let noise = source.downcast_ref::<NoiseError>().expect("the noise error is kept");
    assert!(matches!(noise, NoiseError::InvalidSetting { setting: "shots", .. }), "{noise:?}");
    assert_eq!(err.to_string(), "shots = 0: trajectories need at least one shot");
}

/// Invalid arguments of the mitigation methods are typed errors naming the value.
#[test]
fn mitigation_refuses_invalid_arguments() {
    use tinylab_noise::NoiseError;
    let err = extrapolate(&[1.0, 1.0], &[0.5, 0.4], Extrapolation::Linear).unwrap_err();
    assert!(matches!(err, NoiseError::InvalidSetting { .. }), "{err:?}");
    let mut model = NoiseModel::new("stuck");
    model.add_readout_error(ReadoutError::new([[0.5, 0.5], [0.5, 0.5]]).unwrap(), 0);
    let err = mitigate_readout(&[0.5, 0.5], 1, &model).unwrap_err();
    assert!(matches!(err, NoiseError::SingularConfusion { qubit: 0, .. }), "{err:?}");
}
