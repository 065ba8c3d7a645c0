//! The Aer fixture corpus through every engine: each circuit of `tests/fixtures/circuits/` (one
//! `.qasm` per case, with Qiskit Aer's probabilities beside it in `.json`, see the README there) must
//! give Aer's probabilities to 1e-10 through the statevector (fused, unfused, 5-qubit fusion), the
//! batched statevector, the density matrix without noise, noise-free trajectories, and the
//! transpiler (to a device's basis and coupling map, then simulated and read back through the final
//! layout). Adding a case file adds it to every engine. Each engine's test prints its count of cases,
//! the cases an explicit size rule skipped, and its worst error (`cargo test --test aer_corpus --
//! --nocapture`).

use std::path::{Path, PathBuf};
use tinylab_noise::trajectories::probabilities_trajectories;
use tinylab_noise::{DeviceProfile, NoiseModel};
use tinylab_quantum::fusion::FusionConfig;
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{BatchedStatevector, Circuit, DensityMatrix, Statevector, qasm, transpile};
use tinylab_testkit::corpus::{self, Tally};

/// Largest accepted `|p - p_aer|` for every exact engine.
const TOL: f64 = 1e-10;

/// The corpus must hold at least this many circuits.
const MIN_CASES: usize = 40;

/// Size rule of the density-matrix engine: `4^n` amplitudes, 16 MiB at 10 qubits.
const DENSITY_MAX_QUBITS: usize = 10;

fn corpus_files() -> Vec<PathBuf> {
    corpus::cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/circuits"), "qasm")
}

/// Runs `engine` on every case: `Ok(probabilities)` to compare with Aer, or `Err(reason)` when the
/// engine's size rule leaves the case out. Asserts each case to [`TOL`] and reports the tally.
fn run_corpus(name: &str, engine: impl Fn(&Circuit) -> Result<Vec<f64>, String>) -> Tally {
    let files = corpus_files();
    assert!(files.len() >= MIN_CASES, "only {} fixture circuits", files.len());
    let mut tally = Tally::new(name);
    let mut failures = Vec::new();
    for path in &files {
        let case = corpus::name(path);
        let want = corpus::aer_reference(path);
        let circuit = qasm::parse_file(path).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(circuit.n_qubits(), want.n_qubits, "{case}");
        match engine(&circuit) {
            Ok(got) => {
                let error = corpus::max_abs_diff(&got, &want.probabilities);
                tally.record(&case, error);
                if error.is_nan() || error >= TOL {
                    failures.push(format!("{case}: max |p - p_aer| = {error:.3e}"));
                }
            }
            Err(reason) => tally.skip(&case, reason),
        }
    }
    tally.report(MIN_CASES);
    assert!(failures.is_empty(), "{name}: {} cases off by more than {TOL:e}:\n{}", failures.len(), failures.join("\n"));
    tally
}

fn statevector(circuit: &Circuit, options: &SimOptions) -> Vec<f64> {
    let mut sv = Statevector::new(circuit.n_qubits()).unwrap();
    sv.run(circuit, &[], &[], options).unwrap();
    sv.probabilities()
}

#[test]
fn statevector_fused_matches_aer() {
    run_corpus("statevector fused", |c| Ok(statevector(c, &SimOptions::default())));
}

#[test]
fn statevector_unfused_matches_aer() {
    let options = SimOptions { fusion: FusionConfig::disabled(), ..SimOptions::default() };
    run_corpus("statevector unfused", |c| Ok(statevector(c, &options)));
}

#[test]
fn statevector_fused_5q_matches_aer() {
    let options =
        SimOptions { fusion: FusionConfig { max_dense_qubits: 5, ..FusionConfig::default() }, ..SimOptions::default() };
    run_corpus("statevector fused 5q", |c| Ok(statevector(c, &options)));
}

/// Three copies in one batch: every state must be Aer's (the worst of the three is recorded).
#[test]
fn batched_statevector_matches_aer() {
    run_corpus("batched statevector (3 states)", |c| {
        let batch = 3;
        let mut states = BatchedStatevector::new(c.n_qubits(), batch).unwrap();
        states.run(c, &[], &[], &SimOptions::default()).unwrap();
        let first = states.to_statevector(0).unwrap().probabilities();
        for b in 1..batch {
            let other = states.to_statevector(b).unwrap().probabilities();
            assert_eq!(first, other, "state {b} of the batch differs from state 0");
        }
        Ok(first)
    });
}

#[test]
fn density_matrix_without_noise_matches_aer() {
    run_corpus("density matrix", |c| {
        if c.n_qubits() > DENSITY_MAX_QUBITS {
            return Err(format!("{} qubits > DENSITY_MAX_QUBITS = {DENSITY_MAX_QUBITS}", c.n_qubits()));
        }
        let mut rho = DensityMatrix::new(c.n_qubits()).unwrap();
        rho.run(c, &[], &[], &SimOptions::default()).unwrap();
        Ok(rho.probabilities())
    });
}

/// Without noise every trajectory is the ideal state, so the mean of two is exact.
#[test]
fn noise_free_trajectories_match_aer() {
    let ideal = NoiseModel::new("ideal");
    run_corpus("trajectories (no noise, 2 shots)", |c| {
        let (got, std_error) = probabilities_trajectories(c, &[], &[], &ideal, 2, 5, &SimOptions::default()).unwrap();
        assert_eq!(got.probabilities, got.measured_probabilities, "an ideal model has no readout error");
        assert!(std_error.iter().all(|&s| s < 1e-7), "identical trajectories have no spread");
        Ok(got.probabilities)
    });
}

/// The smallest built-in device with at least `n` qubits (manila 5, nairobi 7, guadalupe 16).
fn device_for(n: usize) -> transpile::Target {
    let name = match n {
        0..=5 => "manila",
        6..=7 => "nairobi",
        _ => "guadalupe",
    };
    DeviceProfile::builtin(name).unwrap().target().unwrap()
}

/// Transpiled from a scattered initial layout, simulated on the device's qubits, and read back: the
/// probability of virtual outcome `i` is the physical one with bit `v` of `i` on qubit
/// `final_layout[v]`; every outcome with an unused physical qubit set must have probability zero.
#[test]
fn transpiled_circuits_match_aer_up_to_the_final_layout() {
    run_corpus("transpiled (ibm basis, device coupling) + statevector", |c| {
        let n = c.n_qubits();
        let target = device_for(n);
        let layout = tinylab_testkit::dice::distinct(target.n_qubits, n, n as u64 * 7919);
        let (routed, final_layout) =
            transpile::transpile(c, &target, &layout).unwrap_or_else(|e| panic!("transpile: {e}"));
        transpile::check(&routed, &target).unwrap();
        let physical = statevector(&routed, &SimOptions::default());
        let used: usize = final_layout.iter().map(|&p| 1 << p).sum();
        let stray: f64 = physical.iter().enumerate().filter(|(j, _)| j & !used != 0).map(|(_, p)| p).sum();
        assert!(stray < TOL, "{stray:e} of the probability on unused physical qubits");
        let virtual_p: Vec<f64> = (0..1usize << n)
            .map(|i| physical[final_layout.iter().enumerate().map(|(v, &p)| (i >> v & 1) << p).sum::<usize>()])
            .collect();
        Ok(virtual_p)
    });
}
