//! Noisy density-matrix simulation against Qiskit Aer: every fixture circuit of
//! `tests/fixtures/noisy/` (device-basis circuits on seven fake IBM devices, made by
//! `tests/fixtures/gen_noisy_fixtures.py` with `../shared/peers/qiskit_noisy.py`) must give Aer's
//! `probabilities` and `measured_probabilities` to 1e-9 with the model `NoiseModel::builtin(device)`.

// The tests print the measured figures (run with --nocapture) for the issue notes.
#![allow(clippy::print_stderr)]

use std::path::Path;
use tinylab_noise::NoiseModel;
use tinylab_noise::sim::probabilities_density;
use tinylab_quantum::qasm;
use tinylab_quantum::statevector::SimOptions;

fn fixtures() -> Vec<(String, std::path::PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/noisy");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

fn max_diff(a: &[f64], b: &[serde_json::Value]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y.as_f64().unwrap()).abs()).fold(0.0, f64::max)
}

#[test]
fn density_matrix_matches_aer_on_every_fixture() {
    let cases = fixtures();
    assert!(cases.len() >= 20, "only {} fixtures", cases.len());
    let mut devices = std::collections::BTreeSet::new();
    let mut worst = 0.0f64;
    for (name, json_path) in &cases {
        let want: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
        let device = want["device"].as_str().expect("fixture names its device");
        devices.insert(device.to_string());
        let model = NoiseModel::builtin(device).unwrap();
        let circuit = qasm::parse_file(&json_path.with_extension("qasm")).unwrap();
        let got = probabilities_density(&circuit, &[], &[], &model, &SimOptions::default()).unwrap();
        let p = max_diff(&got.probabilities, want["probabilities"].as_array().unwrap());
        let m = max_diff(&got.measured_probabilities, want["measured_probabilities"].as_array().unwrap());
        assert!(p < 1e-9 && m < 1e-9, "{name}: max |Δp| = {p:.2e}, max |Δ measured| = {m:.2e}");
        worst = worst.max(p).max(m);
    }
    eprintln!("{} fixtures on {} devices agree with Aer; largest difference {worst:.2e}", cases.len(), devices.len());
    assert!(devices.len() >= 5, "fixtures cover {devices:?}");
}
