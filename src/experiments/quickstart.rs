//! `quickstart`: a tour of the statevector simulator on embedded OpenQASM circuits.
//!
//! A 9-qubit random product state followed by the QFT gives exact probabilities, a Pauli-sum
//! expectation and seeded counts; a layered benchmark circuit (20 qubits, 14 with `--quick`) is run with
//! and without gate fusion, timing both and checking that the final states agree.

use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{BarChart, BarGroup};
use serde_json::json;
use std::time::Instant;
use tinylab_quantum::fusion::FusionConfig;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{Circuit, QuantumError, Statevector, qasm};

/// A 9-qubit random product state followed by the textbook quantum Fourier transform.
const QFT_CIRCUIT: &str = include_str!("../../examples/data/qft_prepared_n9.qasm");
/// The 20-qubit, 10-layer benchmark circuit that Qiskit Aer is timed on (`../shared/peers`).
const LAYERED_N20: &str = include_str!("../../benches/circuits/layered_n20_l10.qasm");
/// Its 14-qubit sibling, for `--quick`.
const LAYERED_N14: &str = include_str!("../../benches/circuits/layered_n14_l10.qasm");

/// The observable: `ZZ` on qubits 8 and 7, `0.5 XX` on 1 and 0, `-0.25 YY` on 8 and 0 (labels list
/// qubit 8 first, as Qiskit prints them).
const OBSERVABLE: [(f64, &str); 3] = [(1.0, "ZZIIIIIII"), (0.5, "IIIIIIIXX"), (-0.25, "YIIIIIIIY")];
/// Shots sampled from the QFT state.
const SHOTS: usize = 4096;
/// Outcomes shown in the probability chart and listed in the metrics.
const TOP: usize = 8;

/// The `quickstart` experiment (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct Quickstart;

impl Experiment for Quickstart {
    fn name(&self) -> &'static str {
        "quickstart"
    }

    fn description(&self) -> &'static str {
        "QFT of a random 9-qubit product state (probabilities, a Pauli-sum expectation, seeded counts) \
         and gate fusion timed on a layered 20-qubit circuit (14 with --quick)"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let (layered_name, layered_source) =
            if ctx.quick { ("layered_n14_l10", LAYERED_N14) } else { ("layered_n20_l10", LAYERED_N20) };
        let repeats = if ctx.quick { 1 } else { 3 };
        ctx.set_config("shots", SHOTS);
        ctx.set_config("qft_circuit", "qft_prepared_n9");
        ctx.set_config("layered_circuit", layered_name);
        ctx.set_config("timing_repeats", repeats);
        ctx.set_config("observable", json!(OBSERVABLE.iter().map(|(c, l)| json!([c, l])).collect::<Vec<_>>()));
        let mut metrics = Metrics::new();

        // Exact probabilities, an expectation value and seeded counts of the QFT state.
        let circuit = parse(QFT_CIRCUIT)?;
        let n = circuit.n_qubits();
        let state = Statevector::from_circuit(&circuit, &[], &[])?;
        let probabilities = state.probabilities();
        let mut order: Vec<usize> = (0..probabilities.len()).collect();
        order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]).then(a.cmp(&b)));
        let energy = PauliSum::from_labels(&OBSERVABLE)?.expectation(&state)?;
        let mut counts = vec![0usize; probabilities.len()];
        for outcome in state.sample(SHOTS, ctx.seed)? {
            counts[outcome] += 1;
        }
        let frequency = |i: usize| counts[i] as f64 / SHOTS as f64;
        let bits = |i: usize| format!("{i:0n$b}");
        let total_variation: f64 =
            0.5 * probabilities.iter().enumerate().map(|(i, p)| (p - frequency(i)).abs()).sum::<f64>();
        let top: Vec<usize> = order.iter().copied().take(TOP).collect();

        metrics
            .insert("qft_n_qubits", n)
            .insert("qft_probability_sum", probabilities.iter().sum::<f64>())
            .insert("qft_top_outcome", top[0])
            .insert("qft_top_probability", probabilities[top[0]])
            .insert(
                "qft_top_outcomes",
                top.iter()
                    .map(|&i| json!({"index": i, "bits": bits(i), "probability": probabilities[i], "frequency": frequency(i)}))
                    .collect::<Vec<_>>(),
            )
            .insert("observable_expectation", energy)
            .insert("shots", SHOTS)
            .insert("counts_distinct", counts.iter().filter(|&&c| c > 0).count())
            .insert("sampling_total_variation", total_variation);

        ctx.plot(
            "qft_outcomes",
            &BarChart {
                title: format!("QFT of a random product state: the {TOP} most likely outcomes"),
                x_label: "outcome (qubit 0 rightmost)".into(),
                y_label: "probability".into(),
                categories: top.iter().map(|&i| bits(i)).collect(),
                groups: vec![
                    BarGroup::new("exact probability", top.iter().map(|&i| probabilities[i]).collect()),
                    BarGroup::new(
                        format!("sampled frequency ({SHOTS} shots, seed {})", ctx.seed),
                        top.iter().map(|&i| frequency(i)).collect(),
                    ),
                ],
                show_values: false,
            },
        )?;

        // Gate fusion: the same circuit with and without, timed; the states must agree.
        let layered = parse(layered_source)?;
        let (unfused_seconds, unfused) = timed_run(&layered, FusionConfig::disabled(), repeats)?;
        let (fused_seconds, fused) = timed_run(&layered, FusionConfig::default(), repeats)?;
        let max_diff = unfused.distance_up_to_phase(&fused);
        metrics
            .insert("layered_circuit", layered_name)
            .insert("layered_n_qubits", layered.n_qubits())
            .insert("fused_vs_unfused_max_diff", max_diff)
            .insert_timing("layered_unfused_seconds", unfused_seconds)
            .insert_timing("layered_fused_seconds", fused_seconds)
            .insert_timing("fusion_speedup", unfused_seconds / fused_seconds);

        ctx.plot(
            "fusion_timing",
            &BarChart {
                title: format!("{layered_name}: statevector run time"),
                x_label: "gate fusion".into(),
                y_label: "seconds (median)".into(),
                categories: vec!["unfused".into(), "fused".into()],
                groups: vec![BarGroup::new(format!("median of {repeats}"), vec![unfused_seconds, fused_seconds])],
                show_values: true,
            },
        )?;
        ctx.note(format!(
            "The {}-qubit layered circuit ran in {unfused_seconds:.3} s without fusion and {fused_seconds:.3} s \
             with it ({:.2}x); the final states differ by at most {max_diff:.1e} per amplitude after removing \
             the global phase. Timings depend on the machine and its load; every other metric is fixed by \
             the seed.",
            layered.n_qubits(),
            unfused_seconds / fused_seconds,
        ));
        Ok(metrics)
    }
}

fn parse(source: &str) -> Result<Circuit, ExperimentError> {
    qasm::parse(source).map_err(|e| ExperimentError::Quantum(QuantumError::from(e)))
}

/// Runs `circuit` from |0...0> `repeats` times with `fusion`; returns the median seconds and the last state.
fn timed_run(circuit: &Circuit, fusion: FusionConfig, repeats: usize) -> Result<(f64, Statevector), ExperimentError> {
    let options = SimOptions { fusion, ..SimOptions::default() };
    let mut seconds = Vec::with_capacity(repeats);
    let mut state = Statevector::new(circuit.n_qubits())?;
    for _ in 0..repeats.max(1) {
        state = Statevector::new(circuit.n_qubits())?;
        let start = Instant::now();
        state.run(circuit, &[], &[], &options)?;
        seconds.push(start.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    Ok((seconds[seconds.len() / 2], state))
}
