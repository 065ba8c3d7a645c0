//! The gradient corpus through every gradient engine. Each case of `tests/fixtures/gradients/` is a
//! JSON file naming a circuit of the one generator (`tinylab_testkit`: every standard gate, user
//! unitaries, multi-controlled gates, angles that are constants, shared and scaled parameters or
//! inputs), an observable, and the point to differentiate at, all drawn from the case's `seed`:
//! `{"seed", "n_qubits", "gates", "params", "inputs", "terms"}`. Adding a file adds a case.
//!
//! The reference is the expectation `<ψ|O|ψ>` of the statevector for the value, and adjoint
//! differentiation for the gradient, which must agree with
//! - parameter shift (exact expectations) to 1e-10,
//! - central finite differences (step 1e-5, error O(h²) ~ 1e-10 plus rounding ~ 1e-11/h) to 1e-7,
//! - parameter shift on sampled expectations: the mean of [`SHOT_REPEATS`] independent estimates
//!   within 5 standard errors (of that mean, from the spread of the estimates).
//!
//! Each engine prints cases run and worst error (`-- --nocapture`).

use std::path::Path;
use tinylab_quantum::grad::{self, GradientMethod, Wrt};
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{Circuit, Statevector};
use tinylab_testkit::corpus::{self, Tally};
use tinylab_testkit::{Dice, Mix, random_circuit, random_observable};

/// The corpus must hold at least this many cases.
const MIN_CASES: usize = 12;

/// Independent shot-based gradients averaged per case.
const SHOT_REPEATS: usize = 16;

/// Samples per measured basis and evaluation.
const SHOTS: usize = 2000;

struct Case {
    name: String,
    circuit: Circuit,
    observable: PauliSum,
    params: Vec<f64>,
    inputs: Vec<f64>,
}

fn field(v: &serde_json::Value, name: &str, key: &str) -> usize {
    v[key].as_u64().unwrap_or_else(|| panic!("{name}: no integer `{key}`")) as usize
}

/// The generator's mix for gradients: everything, symbolic angles, up to two controls.
fn mix(params: usize, inputs: usize) -> Mix {
    Mix { max_controls: 2, ..Mix::all() }.symbolic(params, inputs)
}

fn cases() -> Vec<Case> {
    let files = corpus::cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gradients"), "json");
    assert!(files.len() >= MIN_CASES, "only {} gradient cases", files.len());
    files
        .iter()
        .map(|path| {
            let name = corpus::name(path);
            let v = corpus::read_json(path);
            let seed = v["seed"].as_u64().unwrap_or_else(|| panic!("{name}: no seed"));
            let (n, gates) = (field(&v, &name, "n_qubits"), field(&v, &name, "gates"));
            let (n_params, n_inputs, terms) =
                (field(&v, &name, "params"), field(&v, &name, "inputs"), field(&v, &name, "terms"));
            let mut dice = Dice::new(seed);
            let circuit = random_circuit(&mut dice, n, gates, &mix(n_params, n_inputs));
            let observable = random_observable(&mut dice, n, terms);
            let params: Vec<f64> = (0..n_params).map(|_| dice.angle()).collect();
            let inputs: Vec<f64> = (0..circuit.n_inputs()).map(|_| dice.angle()).collect();
            Case { name, circuit, observable, params, inputs }
        })
        .collect()
}

fn gradient(case: &Case, method: GradientMethod) -> grad::Gradient {
    grad::gradient(
        method,
        &case.circuit,
        &case.params,
        &case.inputs,
        &case.observable,
        Wrt::ALL,
        &SimOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{}: {method:?}: {e}", case.name))
}

/// The gradient as one vector: parameters, then inputs.
fn flat(g: &grad::Gradient) -> Vec<f64> {
    g.params.iter().chain(&g.inputs).copied().collect()
}

/// Runs `engine` on every case against the adjoint gradient to `tol` and reports the tally.
fn against_adjoint(label: &str, tol: f64, engine: impl Fn(&Case) -> Vec<f64>) {
    let cases = cases();
    let mut tally = Tally::new(label);
    let mut failures = Vec::new();
    let mut entries = 0;
    for case in &cases {
        let want = flat(&gradient(case, GradientMethod::Adjoint));
        let got = engine(case);
        entries += want.len();
        let error = corpus::max_abs_diff(&got, &want);
        tally.record(&case.name, error);
        if error.is_nan() || error > tol {
            failures.push(format!("{}: {got:?} vs adjoint {want:?} (max diff {error:.3e})", case.name));
        }
    }
    tally.report(MIN_CASES);
    assert!(entries >= 3 * MIN_CASES, "only {entries} gradient entries in the corpus");
    assert!(failures.is_empty(), "{label}: beyond {tol:e}:\n{}", failures.join("\n"));
}

/// The adjoint value is the statevector's expectation, and its gradient is not trivially zero.
#[test]
fn adjoint_value_is_the_statevector_expectation() {
    let cases = cases();
    let mut tally = Tally::new("adjoint value vs <psi|O|psi>");
    let mut nonzero = 0;
    for case in &cases {
        let g = gradient(case, GradientMethod::Adjoint);
        let state = Statevector::from_circuit(&case.circuit, &case.params, &case.inputs).unwrap();
        let direct = case.observable.expectation(&state).unwrap();
        let error = (g.value - direct).abs();
        assert!(error < 1e-12, "{}: adjoint value {} vs {direct}", case.name, g.value);
        tally.record(&case.name, error);
        nonzero += usize::from(flat(&g).iter().any(|d| d.abs() > 1e-3));
    }
    tally.report(MIN_CASES);
    assert!(nonzero * 4 >= cases.len() * 3, "only {nonzero} of {} cases have a gradient above 1e-3", cases.len());
}

#[test]
fn parameter_shift_equals_adjoint() {
    against_adjoint("parameter shift vs adjoint", 1e-10, |case| {
        let g = gradient(case, GradientMethod::ParameterShift);
        let adjoint = gradient(case, GradientMethod::Adjoint);
        assert!((g.value - adjoint.value).abs() < 1e-12, "{}: values differ", case.name);
        flat(&g)
    });
}

#[test]
fn finite_differences_approach_adjoint() {
    against_adjoint("finite differences (h = 1e-5) vs adjoint", 1e-7, |case| {
        flat(&gradient(case, GradientMethod::FiniteDifference { step: 1e-5 }))
    });
}

/// The shot-based parameter-shift gradient is unbiased: the mean of [`SHOT_REPEATS`] estimates with
/// independent seeds is within 5 standard errors of the adjoint gradient, entry by entry. The
/// standard error of the mean is the estimates' sample standard deviation over `sqrt(repeats)`; an
/// entry whose estimates all agree exactly (a parameter read by no gate) must equal the reference.
#[test]
fn shot_estimates_are_within_five_standard_errors() {
    let cases = cases();
    let mut deviation = Tally::new(&format!("shots ({SHOTS} x {SHOT_REPEATS} repeats) |mean - adjoint|"));
    let mut z_scores = Tally::new("shots |mean - adjoint| / SE");
    let mut failures = Vec::new();
    for case in &cases {
        let want = flat(&gradient(case, GradientMethod::Adjoint));
        let runs: Vec<Vec<f64>> = (0..SHOT_REPEATS)
            .map(|r| flat(&gradient(case, GradientMethod::Shots { shots: SHOTS, seed: 1 + 7919 * r as u64 })))
            .collect();
        let k = SHOT_REPEATS as f64;
        let (mut worst_d, mut worst_z) = (0.0f64, 0.0f64);
        for (i, &w) in want.iter().enumerate() {
            let mean = runs.iter().map(|r| r[i]).sum::<f64>() / k;
            let var = runs.iter().map(|r| (r[i] - mean).powi(2)).sum::<f64>() / (k - 1.0);
            let se = (var / k).sqrt();
            let d = (mean - w).abs();
            worst_d = worst_d.max(d);
            if se > 0.0 {
                worst_z = worst_z.max(d / se);
            }
            if d.is_nan() || d > 5.0 * se + 1e-12 {
                failures.push(format!("{} entry {i}: mean {mean:.5} vs adjoint {w:.5} (SE {se:.2e})", case.name));
            }
        }
        deviation.record(&case.name, worst_d);
        z_scores.record(&case.name, worst_z);
    }
    deviation.report(MIN_CASES);
    z_scores.report(MIN_CASES);
    assert!(failures.is_empty(), "beyond 5 SE:\n{}", failures.join("\n"));
}
