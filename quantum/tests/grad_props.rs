//! Gradient methods agree with each other: adjoint = parameter shift = finite differences on random
//! circuits of the one generator (`tinylab_testkit`: every standard gate, user unitaries,
//! multi-controlled gates; parameters shared and scaled, inputs) and observables; batched = one by one; shot-based estimates are unbiased within their
//! standard error; a parameter-shift gradient on a subset of the parameters equals the full one there
//! and costs exactly the evaluations of the selected angles.

use proptest::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use tinylab_quantum::circuit::Angle;
use tinylab_quantum::grad::{
    self, BasisEstimator, Estimator, GradientMethod, StatevectorBackend, StatevectorEstimator, Wrt, batch_expectations,
    batch_vjp, parameter_shift_selected,
};
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{Circuit, Statevector};
use tinylab_testkit::{Mix, generate, observable, strategy};

/// The generator's mix for gradients: every standard gate, user unitaries, up to two controls, and
/// angles from 3 parameters (shared, scaled and shifted) and 2 inputs.
fn mix() -> Mix {
    Mix { max_controls: 2, ..Mix::all() }.symbolic(3, 2)
}

/// The exact estimator, counting its calls.
#[derive(Default)]
struct Counting {
    calls: AtomicUsize,
}

impl Estimator for Counting {
    fn expectations(
        &self,
        circuit: &Circuit,
        params: &[f64],
        inputs: &[f64],
        observables: &[PauliSum],
        seed: u64,
    ) -> tinylab_quantum::error::Result<Vec<f64>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        StatevectorEstimator::default().expectations(circuit, params, inputs, observables, seed)
    }
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn adjoint_shift_and_finite_differences_agree(
        n in 2usize..5,
        draws in strategy::draws(1..14),
        terms in strategy::pauli_terms(1..4),
        params in prop::collection::vec(-3.0f64..3.0, 3),
        inputs in prop::collection::vec(-2.0f64..2.0, 2),
    ) {
        let c = generate::circuit(n, &draws, &mix());
        let obs = observable(n, &terms);
        let x = &inputs[..c.n_inputs()];
        let opts = SimOptions::default();
        let adj = grad::gradient(GradientMethod::Adjoint, &c, &params, x, &obs, Wrt::ALL, &opts).unwrap();
        let ps = grad::gradient(GradientMethod::ParameterShift, &c, &params, x, &obs, Wrt::ALL, &opts).unwrap();
        let fd = grad::gradient(GradientMethod::FiniteDifference { step: 1e-5 }, &c, &params, x, &obs, Wrt::ALL, &opts).unwrap();
        let direct = obs.expectation(&Statevector::from_circuit(&c, &params, x).unwrap()).unwrap();
        prop_assert!((adj.value - direct).abs() < 1e-12);
        prop_assert!((ps.value - direct).abs() < 1e-12);
        prop_assert!(close(&adj.params, &ps.params, 1e-10), "adjoint {:?} shift {:?}", adj.params, ps.params);
        prop_assert!(close(&adj.inputs, &ps.inputs, 1e-10), "adjoint {:?} shift {:?}", adj.inputs, ps.inputs);
        prop_assert!(close(&adj.params, &fd.params, 1e-8), "adjoint {:?} fd {:?}", adj.params, fd.params);
        prop_assert!(close(&adj.inputs, &fd.inputs, 1e-8), "adjoint {:?} fd {:?}", adj.inputs, fd.inputs);
    }

    #[test]
    fn batched_equals_one_by_one(
        draws in strategy::draws(1..14),
        params in prop::collection::vec(-3.0f64..3.0, 3),
        rows in prop::collection::vec(-2.0f64..2.0, 10),
        cot in prop::collection::vec(-1.0f64..1.0, 10),
    ) {
        let n = 3;
        let mut c = generate::circuit(n, &draws, &mix());
        // Make sure both inputs are read.
        c.ry(Angle::input(0), 0).unwrap().rx(Angle::input(1), 1).unwrap();
        let observables = vec![PauliSum::z(0).unwrap(), observable(n, &[(0.5, 0b00_11_10_01)])];
        let batch = 5;
        let values = batch_expectations(&c, &params, &rows, &observables, &SimOptions::default()).unwrap();
        let vjp = batch_vjp(&c, &params, &rows, &observables, &cot, Wrt::ALL, &SimOptions::default()).unwrap();
        let mut total = vec![0.0; 3];
        for b in 0..batch {
            let x = &rows[2 * b..2 * b + 2];
            for (j, o) in observables.iter().enumerate() {
                let g = grad::adjoint(&c, &params, x, o, Wrt::ALL, &SimOptions::default()).unwrap();
                prop_assert!((values[b * 2 + j] - g.value).abs() < 1e-12);
                for (t, p) in total.iter_mut().zip(&g.params) {
                    *t += cot[b * 2 + j] * p;
                }
                for k in 0..2 {
                    let expected: f64 = (0..2).map(|jj| {
                        let gj = grad::adjoint(&c, &params, x, &observables[jj], Wrt::ALL, &SimOptions::default()).unwrap();
                        cot[b * 2 + jj] * gj.inputs[k]
                    }).sum();
                    prop_assert!((vjp.inputs[b * 2 + k] - expected).abs() < 1e-10);
                }
            }
        }
        prop_assert!(close(&vjp.params, &total, 1e-10), "{:?} vs {:?}", vjp.params, total);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Selected entries equal the full parameter-shift gradient, the others are zero, and the
    /// reported evaluations are the estimator calls made.
    #[test]
    fn selected_gradient_is_the_full_one_restricted(
        draws in strategy::draws(1..14),
        terms in strategy::pauli_terms(1..3),
        params in prop::collection::vec(-3.0f64..3.0, 3),
        inputs in prop::collection::vec(-2.0f64..2.0, 2),
        selected in prop::collection::vec(any::<bool>(), 3),
    ) {
        let c = generate::circuit(3, &draws, &mix());
        let obs = observable(3, &terms);
        let x = &inputs[..c.n_inputs()];
        let exact = StatevectorEstimator::default();
        let full = grad::parameter_shift(&exact, &c, &params, x, &obs, Wrt::PARAMS, 0).unwrap();
        let counting = Counting::default();
        let sub = parameter_shift_selected(&counting, &c, &params, x, &obs, &selected, 0).unwrap();
        prop_assert_eq!(sub.evaluations, counting.calls.load(Ordering::Relaxed));
        for (i, &chosen) in selected.iter().enumerate() {
            let want = if chosen { full.params[i] } else { 0.0 };
            prop_assert!((sub.params[i] - want).abs() < 1e-12, "{i}: {} vs {want}", sub.params[i]);
        }
        if selected.iter().all(|&s| !s) {
            prop_assert_eq!(sub.evaluations, 0);
        }
    }
}

/// Two-term rules: each occurrence of a selected parameter under a Pauli rotation costs two
/// evaluations; `∂<Z0>/∂a` of `RY(a) RX(2a)` on one qubit is `d/da cos(a)cos(2a)`.
#[test]
fn selected_gradient_counts_two_evaluations_per_rotation() {
    let mut c = Circuit::new(2);
    let a = c.param("a").unwrap();
    let b = c.param("b").unwrap();
    c.ry(a, 0).unwrap().rx(a.scaled(2.0), 0).unwrap().ry(b, 1).unwrap().cx(1, 0).unwrap();
    let obs = PauliSum::z(1).unwrap();
    let exact = StatevectorEstimator::default();
    let only_b = parameter_shift_selected(&exact, &c, &[0.4, 0.9], &[], &obs, &[false, true], 0).unwrap();
    assert_eq!(only_b.evaluations, 2);
    assert!((only_b.params[1] + 0.9f64.sin()).abs() < 1e-12, "{:?}", only_b.params);
    assert_eq!(only_b.params[0], 0.0);
    let z0 = PauliSum::from_labels(&[(1.0, "IZ")]).unwrap();
    let mut single = Circuit::new(1);
    let a = single.param("a").unwrap();
    single.ry(a, 0).unwrap().rx(a.scaled(2.0), 0).unwrap();
    let only_a = parameter_shift_selected(&exact, &single, &[0.4], &[], &z0, &[true], 0).unwrap();
    assert_eq!(only_a.evaluations, 4);
    let t: f64 = 0.4;
    let want = -t.sin() * (2.0 * t).cos() - 2.0 * t.cos() * (2.0 * t).sin();
    assert!((only_a.params[0] - want).abs() < 1e-12, "{} vs {want}", only_a.params[0]);
    assert!(parameter_shift_selected(&exact, &single, &[0.4], &[], &z0, &[true, false], 0).is_err());
}

#[test]
fn basis_estimator_is_exact_without_shots_and_unbiased_with_them() {
    let mut c = Circuit::new(3);
    c.ry(0.7, 0).unwrap().cx(0, 1).unwrap().rx(-1.1, 2).unwrap().h(1).unwrap().rz(0.4, 2).unwrap();
    let obs = PauliSum::from_labels(&[(0.8, "XZY"), (-0.3, "ZIX"), (1.1, "IYY"), (0.25, "III")]).unwrap();
    let exact = StatevectorEstimator::default();
    use tinylab_quantum::grad::Estimator;
    let truth = exact.expectations(&c, &[], &[], std::slice::from_ref(&obs), 0).unwrap()[0];
    let basis = BasisEstimator { backend: StatevectorBackend::default(), shots: None };
    let measured = basis.expectations(&c, &[], &[], std::slice::from_ref(&obs), 0).unwrap()[0];
    assert!((truth - measured).abs() < 1e-12, "{truth} vs {measured}");
    let shots = 20_000;
    let sampled = BasisEstimator { backend: StatevectorBackend::default(), shots: Some(shots) };
    let estimate = sampled.expectations(&c, &[], &[], std::slice::from_ref(&obs), 42).unwrap()[0];
    // Each term's estimate has variance <= w^2 / shots; terms measured in different settings are
    // independent, terms sharing a setting are bounded by the sum of their weights.
    let sigma = (0.8f64 + 0.3 + 1.1) / (shots as f64).sqrt();
    assert!((estimate - truth).abs() < 5.0 * sigma, "{estimate} vs {truth} (sigma {sigma})");
    let again = sampled.expectations(&c, &[], &[], std::slice::from_ref(&obs), 42).unwrap()[0];
    assert_eq!(estimate.to_bits(), again.to_bits());
}

#[test]
fn shot_gradients_converge_to_the_exact_gradient() {
    let mut c = Circuit::new(2);
    let t0 = c.param("a").unwrap();
    let t1 = c.param("b").unwrap();
    c.ry(t0, 0).unwrap().crx(t1, 0, 1).unwrap().rz(t0.scaled(0.5), 1).unwrap();
    let obs = PauliSum::from_labels(&[(1.0, "ZZ"), (0.5, "XI")]).unwrap();
    let params = [0.9, -1.3];
    let opts = SimOptions::default();
    let exact = grad::gradient(GradientMethod::Adjoint, &c, &params, &[], &obs, Wrt::PARAMS, &opts).unwrap();
    let shots = 50_000;
    let sampled =
        grad::gradient(GradientMethod::Shots { shots, seed: 3 }, &c, &params, &[], &obs, Wrt::PARAMS, &opts).unwrap();
    // Per evaluation standard error <= 1.5/sqrt(shots); each entry sums at most 4 terms with
    // coefficients <= 0.5, in absolute value, per angle occurrence (two occurrences for `a`).
    let bound = 5.0 * 2.0 * 4.0 * 0.5 * 1.5 / (shots as f64).sqrt();
    for (e, s) in exact.params.iter().zip(&sampled.params) {
        assert!((e - s).abs() < bound, "exact {e} sampled {s} bound {bound}");
    }
}

#[test]
fn errors_are_typed() {
    let mut c = Circuit::new(2);
    let t = c.param("t").unwrap();
    c.rx(t, 0).unwrap();
    let opts = SimOptions::default();
    let obs = PauliSum::z(0).unwrap();
    assert!(grad::adjoint(&c, &[], &[], &obs, Wrt::PARAMS, &opts).is_err());
    let far = PauliSum::z(5).unwrap();
    let err = grad::adjoint(&c, &[0.1], &[], &far, Wrt::PARAMS, &opts).unwrap_err();
    assert!(err.to_string().contains('5'), "{err}");
    assert!(batch_vjp(&c, &[0.1], &[], &[obs], &[], Wrt::PARAMS, &opts).is_err());
}
