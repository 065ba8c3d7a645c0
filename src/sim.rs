//! `tinylab sim`: OpenQASM 2 in, probabilities and counts out.

use clap::Args;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use tinylab_noise::{DeviceProfile, NoiseError, NoiseModel};
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::statevector::measure::{counts_as_bitstrings, outcome_to_clbits, sample_indices};
use tinylab_quantum::transpile::{self, Target, TranspileError};
use tinylab_quantum::{Circuit, QuantumError, Statevector, qasm};

/// How to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Exact pure-state simulation (no noise).
    Statevector,
    /// Exact mixed-state simulation with the noise model (up to about 13 qubits).
    Density,
    /// Monte-Carlo quantum trajectories with the noise model (one trajectory per shot).
    Trajectories,
}

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
    /// Simulation method (default: statevector, or density with --noise).
    #[arg(long, value_enum)]
    method: Option<Method>,
    /// Noise model: a built-in device (manila, lima, quito, belem, jakarta, nairobi, guadalupe) or a
    /// profile JSON file in the same schema.
    #[arg(long)]
    noise: Option<String>,
    /// Translate and route the circuit onto the device (identity initial layout) when it is not in the
    /// device basis or violates its coupling map.
    #[arg(long)]
    transpile: bool,
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
    /// The noise model or noisy simulation refused.
    #[error("{path}: {source}")]
    Noise {
        /// The input file.
        path: String,
        /// What went wrong.
        source: NoiseError,
    },
    /// The circuit does not run on the device as written.
    #[error("{path}: {source} (add --transpile to translate and route it onto the device)")]
    Transpile {
        /// The input file.
        path: String,
        /// What went wrong.
        source: TranspileError,
    },
    /// Options that do not go together.
    #[error("{0}")]
    Usage(String),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

/// The noise model `spec` names: a built-in device or a profile file.
fn load_model(spec: &str) -> Result<NoiseModel, NoiseError> {
    let path = std::path::Path::new(spec);
    if spec.ends_with(".json") || path.exists() {
        NoiseModel::from_profile(&DeviceProfile::load(path)?)
    } else {
        NoiseModel::builtin(spec)
    }
}

/// Checks (or with `--transpile`, transpiles) `circuit` for the device of `model`; returns the circuit
/// to simulate and the final layout when it was transpiled.
fn fit_to_device(
    circuit: Circuit,
    model: &NoiseModel,
    transpile_it: bool,
) -> Result<(Circuit, Option<Vec<usize>>), TranspileError> {
    let Some(n) = model.device_qubits() else { return Ok((circuit, None)) };
    let target = Target::new(n, model.basis_gates().iter().cloned(), model.coupling_map())?;
    match transpile::check(&circuit, &target) {
        Ok(()) if circuit.n_qubits() <= n => Ok((circuit, None)),
        Err(_) | Ok(()) if transpile_it => {
            let layout = transpile::trivial_layout(circuit.n_qubits());
            let (routed, final_layout) = transpile::transpile(&circuit, &target, &layout)?;
            Ok((routed, Some(final_layout)))
        }
        Ok(()) => Err(TranspileError::TooManyQubits { circuit_qubits: circuit.n_qubits(), target_qubits: n }),
        Err(e) => Err(e),
    }
}

/// Runs `tinylab sim`.
pub fn run(args: &SimArgs) -> Result<(), SimError> {
    let path = args.file.display().to_string();
    let wrap = |source: QuantumError| SimError::Quantum { path: path.clone(), source };
    let wrap_noise = |source: NoiseError| SimError::Noise { path: path.clone(), source };
    let circuit = qasm::parse_file(&args.file).map_err(|e| wrap(e.into()))?;
    let mut options = SimOptions::default();
    options.fusion.enabled = !args.no_fusion;
    let model = args.noise.as_deref().map(load_model).transpose().map_err(wrap_noise)?;
    let method = args.method.unwrap_or(if model.is_some() { Method::Density } else { Method::Statevector });
    if method == Method::Statevector && model.is_some() {
        return Err(SimError::Usage(
            "--method statevector ignores noise; use --method density or trajectories with --noise".into(),
        ));
    }
    let (circuit, final_layout) = match &model {
        Some(m) => fit_to_device(circuit, m, args.transpile)
            .map_err(|source| SimError::Transpile { path: path.clone(), source })?,
        None if args.transpile => return Err(SimError::Usage("--transpile needs a device: add --noise NAME".into())),
        None => (circuit, None),
    };
    let (probabilities, measured) = match (method, &model) {
        (Method::Statevector, _) => {
            let mut state = Statevector::new(circuit.n_qubits()).map_err(wrap)?;
            state.run(&circuit, &[], &[], &options).map_err(wrap)?;
            (state.probabilities(), None)
        }
        (Method::Density | Method::Trajectories, model) => {
            let ideal = NoiseModel::new("ideal");
            let model = model.as_ref().unwrap_or(&ideal);
            let noisy = if method == Method::Density {
                tinylab_noise::sim::probabilities_density(&circuit, &[], &[], model, &options)
            } else {
                let shots = args.shots.unwrap_or(1000);
                tinylab_noise::trajectories::probabilities_trajectories(
                    &circuit,
                    &[],
                    &[],
                    model,
                    shots,
                    args.seed,
                    &options,
                )
                .map(|(p, _)| p)
            }
            .map_err(wrap_noise)?;
            let measured = model.has_readout_errors().then_some(noisy.measured_probabilities);
            (noisy.probabilities, measured)
        }
    };
    let sample_from = measured.as_deref().unwrap_or(&probabilities);
    let counts = match args.shots {
        Some(shots) => Some(sample_counts(&circuit, sample_from, shots, args.seed).map_err(wrap)?),
        None => None,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let extra = Extra { measured: measured.as_deref(), final_layout: final_layout.as_deref() };
    if args.json {
        write_json(&mut out, circuit.n_qubits(), &probabilities, counts.as_ref(), &extra)?;
    } else {
        write_summary(&mut out, circuit.n_qubits(), sample_from, counts.as_ref())?;
    }
    out.flush()?;
    Ok(())
}

/// Optional parts of the JSON output.
struct Extra<'a> {
    /// Probabilities after readout error (only with a noise model that has readout errors).
    measured: Option<&'a [f64]>,
    /// Where each virtual qubit ended after transpiling.
    final_layout: Option<&'a [usize]>,
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

/// Writes `[p0, p1, ...]` with the shortest round-trip representation of each value, formatted in
/// parallel and written in order (the text is the same whatever the thread count).
fn write_array(out: &mut impl Write, probabilities: &[f64]) -> std::io::Result<()> {
    out.write_all(b"[")?;
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
    out.write_all(b"]")
}

fn write_json(
    out: &mut impl Write,
    n_qubits: usize,
    probabilities: &[f64],
    counts: Option<&BTreeMap<String, usize>>,
    extra: &Extra<'_>,
) -> std::io::Result<()> {
    write!(out, "{{\"n_qubits\": {n_qubits}, \"probabilities\": ")?;
    write_array(out, probabilities)?;
    if let Some(measured) = extra.measured {
        out.write_all(b", \"measured_probabilities\": ")?;
        write_array(out, measured)?;
    }
    if let Some(layout) = extra.final_layout {
        out.write_all(b", \"final_layout\": ")?;
        serde_json::to_writer(&mut *out, layout)?;
    }
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
