//! QuantumNAT ablation (noise injection, normalization, quantization) on three tasks,
//! evaluated on the manila and jakarta noise models with 8192 shots.
//!
//! `cargo run --release --example quantumnat [-- --seed S] [--quick] [--out DIR]` runs the registered
//! `quantumnat` experiment (as `tinylab run quantumnat` does) and writes `results/quantumnat/`.

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("quantumnat")
}
