//! Sampling on the fixture corpus: Aer's counts for every circuit of `tests/fixtures/circuits/` fit
//! our exact distribution, and our own sampler passes a chi-square test against it. (The exact
//! probabilities against Aer's, through every engine, are `tests/aer_corpus.rs`.)

mod common;

use common::stats::{chi_square, chi_square_critical};
use std::path::{Path, PathBuf};
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::statevector::measure::outcome_to_clbits;
use tinylab_quantum::{Statevector, qasm};
use tinylab_testkit::corpus;

fn fixtures() -> Vec<PathBuf> {
    corpus::cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/circuits"), "qasm")
}

fn simulate(path: &Path, options: &SimOptions) -> (tinylab_quantum::Circuit, Vec<f64>) {
    let circuit = qasm::parse_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut sv = Statevector::new(circuit.n_qubits()).unwrap();
    sv.run(&circuit, &[], &[], options).unwrap();
    let p = sv.probabilities();
    (circuit, p)
}

/// Aer's sampled counts (with the file's own measurements and classical registers) fit the
/// distribution our exact probabilities give to the classical bits: checks how measurements map
/// qubits to classical bits and registers.
#[test]
fn aer_counts_fit_our_measured_distribution() {
    for path in fixtures() {
        let want = corpus::aer_reference(&path);
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
