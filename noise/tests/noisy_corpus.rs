//! The noisy Aer corpus through every noisy engine: each case of `tests/fixtures/noisy/` (a
//! device-basis circuit `.qasm` on one of seven fake IBM devices and Aer's `probabilities` and
//! `measured_probabilities` in `.json`, made by `tests/fixtures/gen_noisy_fixtures.py` with
//! `../shared/peers/qiskit_noisy.py`) with the model `NoiseModel::builtin(device)`:
//!
//! - the density matrix gives Aer's numbers to 1e-9;
//! - trajectories give them within 4 standard errors per outcome, before and after readout error
//!   (1000 trajectories per case; 20000 in the ignored heavy variant).
//!
//! Adding a case file adds it to both. Each test prints its tally (`-- --nocapture`).

use std::path::{Path, PathBuf};
use tinylab_noise::NoiseModel;
use tinylab_noise::sim::probabilities_density;
use tinylab_noise::trajectories::probabilities_trajectories;
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{Circuit, qasm};
use tinylab_testkit::corpus::{self, Tally};

/// The corpus must hold at least this many cases.
const MIN_CASES: usize = 25;

/// Largest accepted `|p - p_aer|` of the density matrix.
const DENSITY_TOL: f64 = 1e-9;

/// Accepted deviation of a trajectory mean, in its standard errors.
const Z_MAX: f64 = 4.0;

struct Case {
    name: String,
    device: String,
    circuit: Circuit,
    probabilities: Vec<f64>,
    measured: Vec<f64>,
}

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/noisy");
    let files: Vec<PathBuf> = corpus::cases(&dir, "json");
    assert!(files.len() >= MIN_CASES, "only {} noisy fixtures", files.len());
    files
        .iter()
        .map(|path| {
            let want = corpus::read_json(path);
            let name = corpus::name(path);
            let circuit = qasm::parse_file(&path.with_extension("qasm")).unwrap_or_else(|e| panic!("{name}: {e}"));
            Case {
                device: want["device"].as_str().unwrap_or_else(|| panic!("{name} names no device")).to_string(),
                probabilities: corpus::f64s(&want, "probabilities"),
                measured: corpus::f64s(&want, "measured_probabilities"),
                circuit,
                name,
            }
        })
        .collect()
}

#[test]
fn density_matrix_matches_aer_on_every_case() {
    let cases = cases();
    let mut tally = Tally::new("density matrix (noisy)");
    let mut devices = std::collections::BTreeSet::new();
    for case in &cases {
        devices.insert(case.device.clone());
        let model = NoiseModel::builtin(&case.device).unwrap();
        let got = probabilities_density(&case.circuit, &[], &[], &model, &SimOptions::default()).unwrap();
        let p = corpus::max_abs_diff(&got.probabilities, &case.probabilities);
        let m = corpus::max_abs_diff(&got.measured_probabilities, &case.measured);
        assert!(p < DENSITY_TOL && m < DENSITY_TOL, "{}: max |Δp| = {p:.2e}, max |Δ measured| = {m:.2e}", case.name);
        tally.record(&case.name, p.max(m));
    }
    tally.report(MIN_CASES);
    assert!(devices.len() >= 5, "cases cover {devices:?}");
}

/// Runs trajectories on every case and checks each outcome (and each outcome after readout) within
/// [`Z_MAX`] standard errors of Aer's.
///
/// The standard error is the larger of the sample one and the worst case for a mean of `shots`
/// values in `[0, 1]` with Aer's mean `p`, `sqrt(p (1 - p) / shots)`: a trajectory follows a Kraus
/// branch of probability below about `1/shots` rarely or never, so for outcomes reached mostly
/// through such branches the sample standard error is far too small (often zero). After readout the
/// standard error is bounded by the readout map applied to the standard errors (the standard
/// deviation of a sum is at most the sum of the standard deviations; the map has non-negative
/// entries).
fn trajectories_match_aer(shots: usize) {
    let cases = cases();
    let mut deviation = Tally::new(&format!("trajectories ({shots} shots): max |Δp|"));
    let mut z_scores = Tally::new(&format!("trajectories ({shots} shots): max |Δp| / SE"));
    let mut failures = Vec::new();
    for case in &cases {
        let model = NoiseModel::builtin(&case.device).unwrap();
        let (got, std_error) =
            probabilities_trajectories(&case.circuit, &[], &[], &model, shots, 17, &SimOptions::default()).unwrap();
        let k = shots as f64;
        let std_error: Vec<f64> =
            std_error.iter().zip(&case.probabilities).map(|(&s, &p)| s.max((p * (1.0 - p) / k).sqrt())).collect();
        let mut measured_error = std_error.clone();
        model.apply_readout(&mut measured_error, case.circuit.n_qubits()).unwrap();
        let (mut worst_abs, mut worst_z) = (0.0f64, 0.0f64);
        for (what, mean, want, se) in [
            ("p", &got.probabilities, &case.probabilities, &std_error),
            ("measured p", &got.measured_probabilities, &case.measured, &measured_error),
        ] {
            assert_eq!(mean.len(), want.len(), "{}", case.name);
            for (i, ((&m, &w), &s)) in mean.iter().zip(want).zip(se).enumerate() {
                let d = (m - w).abs();
                worst_abs = worst_abs.max(d);
                worst_z = worst_z.max(d / s.max(f64::MIN_POSITIVE));
                if d.is_nan() || d > Z_MAX * s {
                    failures.push(format!("{} {what}[{i}]: {m:.6} vs Aer {w:.6} (SE {s:.2e})", case.name));
                }
            }
        }
        deviation.record(&case.name, worst_abs);
        z_scores.record(&case.name, worst_z);
    }
    deviation.report(MIN_CASES);
    z_scores.report(MIN_CASES);
    assert!(failures.is_empty(), "{} outcomes beyond {Z_MAX} SE:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn trajectories_match_aer_within_four_standard_errors() {
    trajectories_match_aer(1000);
}

/// The same with 20 times the shots (minutes).
#[test]
#[ignore = "heavy: 20000 trajectories per case"]
fn trajectories_match_aer_within_four_standard_errors_many_shots() {
    trajectories_match_aer(20_000);
}
