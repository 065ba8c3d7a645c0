//! The fixture corpus: every circuit of `tests/fixtures/circuits/` against the probabilities Qiskit Aer
//! gave for it (see `tests/fixtures/README.md`), fused and unfused, and our own sampler against the
//! exact distribution by a chi-square test.

mod common;

use common::stats::{chi_square, chi_square_critical};
use std::path::{Path, PathBuf};
use tinylab_quantum::fusion::FusionConfig;
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::statevector::measure::outcome_to_clbits;
use tinylab_quantum::{Statevector, qasm};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/circuits");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "qasm"))
        .collect();
    files.sort();
    files
}

struct Reference {
    n_qubits: usize,
    probabilities: Vec<f64>,
    counts: Vec<(String, usize)>,
}

fn reference(qasm_path: &Path) -> Reference {
    let text = std::fs::read_to_string(qasm_path.with_extension("json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    Reference {
        n_qubits: v["n_qubits"].as_u64().unwrap() as usize,
        probabilities: v["probabilities"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect(),
        counts: v["counts"]
            .as_object()
            .map(|m| m.iter().map(|(k, c)| (k.clone(), c.as_u64().unwrap() as usize)).collect())
            .unwrap_or_default(),
    }
}

fn simulate(path: &Path, options: &SimOptions) -> (tinylab_quantum::Circuit, Vec<f64>) {
    let circuit = qasm::parse_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut sv = Statevector::new(circuit.n_qubits()).unwrap();
    sv.run(&circuit, &[], &[], options).unwrap();
    let p = sv.probabilities();
    (circuit, p)
}

#[test]
fn corpus_is_large_enough() {
    assert!(fixtures().len() >= 30, "only {} fixture circuits", fixtures().len());
}

#[test]
fn probabilities_match_qiskit_aer_to_1e_10() {
    let configs = [
        ("fused", SimOptions::default()),
        ("unfused", SimOptions { fusion: FusionConfig::disabled(), ..SimOptions::default() }),
        (
            "fused-5q",
            SimOptions {
                fusion: FusionConfig { max_dense_qubits: 5, ..FusionConfig::default() },
                ..SimOptions::default()
            },
        ),
    ];
    for path in fixtures() {
        let want = reference(&path);
        for (label, options) in &configs {
            let (circuit, got) = simulate(&path, options);
            assert_eq!(circuit.n_qubits(), want.n_qubits, "{}", path.display());
            let worst = got.iter().zip(&want.probabilities).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-10, "{} ({label}): max |p - p_aer| = {worst:e}", path.display());
        }
    }
}

/// Aer's sampled counts (with the file's own measurements and classical registers) fit the
/// distribution our exact probabilities give to the classical bits: checks how measurements map
/// qubits to classical bits and registers.
#[test]
fn aer_counts_fit_our_measured_distribution() {
    for path in fixtures() {
        let want = reference(&path);
        if want.counts.is_empty() {
            continue;
        }
        let (circuit, probabilities) = simulate(&path, &SimOptions::default());
        let measurements = circuit.measurements();
        let n_bits = if measurements.is_empty() { circuit.n_qubits() } else { circuit.n_clbits() };
        let mut expected = vec![0.0; 1 << n_bits];
        for (outcome, p) in probabilities.iter().enumerate() {
            let bits = if measurements.is_empty() { outcome } else { outcome_to_clbits(outcome, &measurements) };
            expected[bits] += p;
        }
        let mut observed = vec![0usize; 1 << n_bits];
        for (key, count) in &want.counts {
            observed[usize::from_str_radix(key, 2).unwrap()] += count;
        }
        let (stat, df) = chi_square(&observed, &expected);
        let critical = chi_square_critical(df, 1e-4);
        assert!(stat < critical, "{}: chi2 = {stat:.1} > {critical:.1} (df {df})", path.display());
    }
}

/// Our seeded sampler: 20000 shots per fixture pass a chi-square test against the exact
/// probabilities, and the same seed gives the same shots.
#[test]
fn sampled_counts_pass_chi_square() {
    for path in fixtures() {
        let circuit = qasm::parse_file(&path).unwrap();
        let sv = Statevector::from_circuit(&circuit, &[], &[]).unwrap();
        let probabilities = sv.probabilities();
        let shots = sv.sample(20_000, 7).unwrap();
        assert_eq!(shots, sv.sample(20_000, 7).unwrap());
        let mut observed = vec![0usize; probabilities.len()];
        for s in shots {
            observed[s] += 1;
        }
        let (stat, df) = chi_square(&observed, &probabilities);
        let critical = chi_square_critical(df, 1e-4);
        assert!(stat < critical, "{}: chi2 = {stat:.1} > {critical:.1} (df {df})", path.display());
    }
}
