//! Quick start: simulate embedded OpenQASM circuits (QFT probabilities, a Pauli-sum expectation, seeded
//! counts) and time gate fusion on a 20-qubit layered circuit.
//!
//! `cargo run --release --example quickstart [-- --seed S] [--quick] [--out DIR]` runs the registered
//! `quickstart` experiment (as `tinylab run quickstart` does) and writes `results/quickstart/`:
//! `config.json`, `metrics.json`, plots (PNG and SVG) and `report.md`.

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("quickstart")
}
