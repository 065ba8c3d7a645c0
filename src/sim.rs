//! `tinylab sim`: OpenQASM 2 in, probabilities and counts out.

use clap::Args;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::statevector::measure::{counts_as_bitstrings, outcome_to_clbits, sample_indices};
use tinylab_quantum::{Circuit, QuantumError, Statevector, qasm};

/// Arguments of `tinylab sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// The OpenQASM 2.0 file.
    file: PathBuf,
    /// Sample this many shots and report counts.
    #[arg(long)]
    shots: Option<usize>,
    /// Seed of the sampler (the same seed gives the same counts on any machine and thread count).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
    /// Simulate without gate fusion (for comparisons).
    #[arg(long)]
    no_fusion: bool,
}

/// Errors of the `sim` command: one line each.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The simulator or the QASM reader refused.
    #[error("{path}: {source}")]
    Quantum {
        /// The input file.
        path: String,
        /// What went wrong.
        source: QuantumError,
    },
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs `tinylab sim`.
pub fn run(args: &SimArgs) -> Result<(), SimError> {
    let path = args.file.display().to_string();
    let wrap = |source: QuantumError| SimError::Quantum { path: path.clone(), source };
    let circuit = qasm::parse_file(&args.file).map_err(|e| wrap(e.into()))?;
    let mut options = SimOptions::default();
    options.fusion.enabled = !args.no_fusion;
    let mut state = Statevector::new(circuit.n_qubits()).map_err(wrap)?;
    state.run(&circuit, &[], &[], &options).map_err(wrap)?;
    let probabilities = state.probabilities();
    let counts = match args.shots {
        Some(shots) => Some(sample_counts(&circuit, &probabilities, shots, args.seed).map_err(wrap)?),
        None => None,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    if args.json {
        write_json(&mut out, circuit.n_qubits(), &probabilities, counts.as_ref())?;
    } else {
        write_summary(&mut out, circuit.n_qubits(), &probabilities, counts.as_ref())?;
    }
    out.flush()?;
    Ok(())
}

/// Samples `shots` outcomes and maps them to classical bits: the measured bits when the circuit
/// measures (clbit 0 rightmost), otherwise every qubit (as Qiskit's `measure_all`).
fn sample_counts(
    circuit: &Circuit,
    probabilities: &[f64],
    shots: usize,
    seed: u64,
) -> Result<BTreeMap<String, usize>, QuantumError> {
    let outcomes = sample_indices(probabilities, shots, seed)?;
    let measurements = circuit.measurements();
    if measurements.is_empty() {
        return Ok(counts_as_bitstrings(&outcomes, circuit.n_qubits()));
    }
    let clbits: Vec<usize> = outcomes.iter().map(|&o| outcome_to_clbits(o, &measurements)).collect();
    Ok(counts_as_bitstrings(&clbits, circuit.n_clbits()))
}

/// Values per formatting task when printing probabilities.
const FORMAT_CHUNK: usize = 1 << 15;

fn write_json(
    out: &mut impl Write,
    n_qubits: usize,
    probabilities: &[f64],
    counts: Option<&BTreeMap<String, usize>>,
) -> std::io::Result<()> {
    write!(out, "{{\"n_qubits\": {n_qubits}, \"probabilities\": [")?;
    // Format in parallel, write in order: the text is the same whatever the thread count.
    let chunks: Vec<String> = probabilities
        .par_chunks(FORMAT_CHUNK)
        .map(|chunk| {
            let mut s = String::with_capacity(chunk.len() * 24);
            let mut buf = ryu::Buffer::new();
            for p in chunk {
                s.push_str(buf.format_finite(*p));
                s.push_str(", ");
            }
            s
        })
        .collect();
    let last = chunks.len().saturating_sub(1);
    for (i, chunk) in chunks.iter().enumerate() {
        let text = if i == last { chunk.trim_end_matches(", ") } else { chunk.as_str() };
        out.write_all(text.as_bytes())?;
    }
    out.write_all(b"]")?;
    if let Some(counts) = counts {
        out.write_all(b", \"counts\": ")?;
        serde_json::to_writer(&mut *out, counts)?;
    }
    out.write_all(b"}\n")
}

fn write_summary(
    out: &mut impl Write,
    n_qubits: usize,
    probabilities: &[f64],
    counts: Option<&BTreeMap<String, usize>>,
) -> std::io::Result<()> {
    const SHOWN: usize = 16;
    writeln!(out, "{n_qubits} qubits; most likely basis states (qubit 0 rightmost):")?;
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]).then(a.cmp(&b)));
    for &i in order.iter().take(SHOWN) {
        let bits: String = (0..n_qubits).rev().map(|q| if i >> q & 1 == 1 { '1' } else { '0' }).collect();
        writeln!(out, "  |{bits}>  {:.6}", probabilities[i])?;
    }
    if let Some(counts) = counts {
        let mut sorted: Vec<_> = counts.iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        writeln!(out, "counts (most frequent first):")?;
        for (bits, n) in sorted.into_iter().take(SHOWN) {
            writeln!(out, "  {bits}  {n}")?;
        }
    }
    Ok(())
}
