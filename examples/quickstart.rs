//! Quick start: simulate embedded OpenQASM circuits, read out probabilities, Pauli expectations and
//! seeded counts, and time gate fusion on a 20-qubit layered circuit.
//!
//! `cargo run --release --example quickstart [-- --seed S]` writes `results/quickstart/` with
//! `config.json` and `metrics.json`.

use std::time::Instant;
use tinylab_quantum::fusion::FusionConfig;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::statevector::measure::counts_as_bitstrings;
use tinylab_quantum::{Statevector, qasm};

/// A 9-qubit random product state followed by the quantum Fourier transform.
const QFT_CIRCUIT: &str = include_str!("data/qft_prepared_n9.qasm");
/// The 20-qubit, 10-layer benchmark circuit that Qiskit Aer is timed on (`../shared/peers`).
const LAYERED_CIRCUIT: &str = include_str!("../benches/circuits/layered_n20_l10.qasm");

fn seconds_of(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

#[allow(clippy::print_stdout)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed: u64 = match std::env::args().skip_while(|a| a != "--seed").nth(1) {
        Some(s) => s.parse()?,
        None => 7,
    };
    let shots = 4096;

    let circuit = qasm::parse(QFT_CIRCUIT)?;
    let state = Statevector::from_circuit(&circuit, &[], &[])?;
    let probabilities = state.probabilities();
    let mut top: Vec<usize> = (0..probabilities.len()).collect();
    top.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
    println!("QFT of a random product state, {} qubits; most likely outcomes:", circuit.n_qubits());
    for &i in &top[..5] {
        println!("  |{i:09b}>  p = {:.6}", probabilities[i]);
    }
    let observable = PauliSum::from_labels(&[(1.0, "ZZIIIIIII"), (0.5, "IIIIIIIXX"), (-0.25, "YIIIIIIIY")])?;
    let energy = observable.expectation(&state)?;
    println!("<ZZ(8,7) + 0.5 XX(1,0) - 0.25 YY(8,0)> = {energy:.12}");
    let counts = counts_as_bitstrings(&state.sample(shots, seed)?, circuit.n_qubits());
    let mut frequent: Vec<_> = counts.iter().collect();
    frequent.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    println!("{shots} shots (seed {seed}); most frequent: {:?}", &frequent[..3]);

    let layered = qasm::parse(LAYERED_CIRCUIT)?;
    let mut timings = Vec::new();
    for (label, fusion) in [("unfused", FusionConfig::disabled()), ("fused", FusionConfig::default())] {
        let options = SimOptions { fusion, ..SimOptions::default() };
        let mut sv = Statevector::new(layered.n_qubits())?;
        let secs = seconds_of(|| sv.run(&layered, &[], &[], &options).expect("valid circuit"));
        println!("layered 20 qubits x 10 layers, {label}: {secs:.3} s");
        timings.push((label, secs, sv));
    }
    let agreement = timings[0].2.distance_up_to_phase(&timings[1].2);
    println!("fused vs unfused max amplitude difference: {agreement:.2e}");

    let out = std::path::Path::new("results/quickstart");
    std::fs::create_dir_all(out)?;
    let config =
        serde_json::json!({ "seed": seed, "shots": shots, "circuits": ["qft_prepared_n9", "layered_n20_l10"] });
    std::fs::write(out.join("config.json"), serde_json::to_string_pretty(&config)?)?;
    let metrics = serde_json::json!({
        "qft_top_outcome": top[0],
        "qft_top_probability": probabilities[top[0]],
        "observable_expectation": energy,
        "counts_distinct": counts.len(),
        "layered20_unfused_seconds": timings[0].1,
        "layered20_fused_seconds": timings[1].1,
        "fused_vs_unfused_max_diff": agreement,
    });
    std::fs::write(out.join("metrics.json"), serde_json::to_string_pretty(&metrics)?)?;
    println!("wrote {}", out.display());
    Ok(())
}
