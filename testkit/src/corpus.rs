//! Corpora as data: a directory of case files, read in name order, and a per-engine tally of what
//! ran, what an explicit rule skipped, and the worst error.

use std::path::{Path, PathBuf};

/// The files of `dir` ending in `.{ext}`, sorted by name. Panics when the directory cannot be read.
pub fn cases(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus directory {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

/// A case's name: its file stem.
pub fn name(path: &Path) -> String {
    path.file_stem().unwrap_or_default().to_string_lossy().into_owned()
}

/// Reads and parses a JSON file, panicking with its path on failure.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The numbers of a JSON array field, panicking with the field's name when it is missing.
pub fn f64s(value: &serde_json::Value, field: &str) -> Vec<f64> {
    value[field]
        .as_array()
        .unwrap_or_else(|| panic!("no array `{field}`"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| panic!("`{field}` holds {x}")))
        .collect()
}

/// What Qiskit Aer gave for one circuit of `tests/fixtures/circuits/` (see the README there).
#[derive(Debug, Clone, PartialEq)]
pub struct AerReference {
    /// Qubits of the circuit.
    pub n_qubits: usize,
    /// Exact probability of each basis state, qubit 0 the least significant bit.
    pub probabilities: Vec<f64>,
    /// Aer's sampled counts by bit string (empty when the file has none).
    pub counts: Vec<(String, usize)>,
}

/// The Aer reference beside `qasm_path` (same stem, `.json`).
pub fn aer_reference(qasm_path: &Path) -> AerReference {
    let v = read_json(&qasm_path.with_extension("json"));
    AerReference {
        n_qubits: v["n_qubits"].as_u64().expect("n_qubits") as usize,
        probabilities: f64s(&v, "probabilities"),
        counts: v["counts"]
            .as_object()
            .map(|m| m.iter().map(|(k, c)| (k.clone(), c.as_u64().unwrap() as usize)).collect())
            .unwrap_or_default(),
    }
}

/// Largest entry-wise `|a - b|`; panics when the lengths differ.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "compared vectors differ in length");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// What one engine did with a corpus: cases run, cases skipped (with the rule's reason) and the
/// worst error seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    /// The engine's name, for the report.
    pub engine: String,
    /// Cases run and compared.
    pub run: usize,
    /// Cases left out, with why.
    pub skipped: Vec<(String, String)>,
    /// The largest error recorded, and the case it came from.
    pub worst: (f64, String),
}

impl Tally {
    /// An empty tally for `engine`.
    pub fn new(engine: &str) -> Self {
        Tally { engine: engine.into(), run: 0, skipped: Vec::new(), worst: (0.0, String::new()) }
    }

    /// Records a case run with error `error` (a NaN error becomes the worst).
    pub fn record(&mut self, case: &str, error: f64) {
        self.run += 1;
        if error.is_nan() || error > self.worst.0 || self.run == 1 {
            self.worst = (if error.is_nan() { f64::INFINITY } else { error }, case.into());
        }
    }

    /// Records a case left out by the engine's size rule, with the reason.
    pub fn skip(&mut self, case: &str, reason: String) {
        self.skipped.push((case.into(), reason));
    }

    /// One line: engine, cases run, cases skipped and by what, worst error and its case.
    pub fn summary(&self) -> String {
        let skipped = if self.skipped.is_empty() {
            String::from("0 skipped")
        } else {
            let list: Vec<String> = self.skipped.iter().map(|(c, r)| format!("{c}: {r}")).collect();
            format!("{} skipped ({})", self.skipped.len(), list.join("; "))
        };
        format!(
            "{}: {} cases run, {skipped}, worst error {:.3e} ({})",
            self.engine, self.run, self.worst.0, self.worst.1
        )
    }

    /// Prints [`Tally::summary`] to stderr (shown by `cargo test -- --nocapture`) and asserts that at
    /// least `min_run` cases ran.
    pub fn report(&self, min_run: usize) {
        // The report is the point of a corpus runner: which engine ran how much, and how well.
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{}", self.summary());
        }
        assert!(self.run >= min_run, "{}: only {} cases ran (at least {min_run} expected)", self.engine, self.run);
    }
}
