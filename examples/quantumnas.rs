//! QuantumNAS on pooled digits 3 vs 6 and 0-3 and the noise models of IBM manila and quito: SuperCircuit training,
//! evolutionary co-search of SubCircuit and qubit mapping vs random search and a human design, pruning.
//!
//! `cargo run --release --example quantumnas [-- --seed S] [--quick] [--out DIR]` runs the registered
//! `quantumnas` experiment (as `tinylab run quantumnas` does) and writes `results/quantumnas/`.

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("quantumnas")
}
