//! Quick start: simulate embedded OpenQASM circuits (QFT probabilities, a Pauli-sum expectation, seeded
//! counts) and time gate fusion on a 20-qubit layered circuit.
//!
//! `cargo run --release --example quickstart [-- --seed S] [--quick]` runs the registered `quickstart`
//! experiment (the same as `tinylab run quickstart`) and writes `results/quickstart/` with
//! `config.json`, `metrics.json`, plots (PNG and SVG) and `report.md`.

use tinylab::experiments::{DEFAULT_SEED, run_experiment};

#[allow(clippy::print_stdout)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let seed = match args.iter().position(|a| a == "--seed") {
        Some(i) => args.get(i + 1).ok_or("--seed needs a value")?.parse()?,
        None => DEFAULT_SEED,
    };
    let quick = args.iter().any(|a| a == "--quick");
    let summary = run_experiment("quickstart", seed, quick, None)?;
    println!("{}", std::fs::read_to_string(summary.out_dir.join("report.md"))?);
    println!("results in {}", summary.out_dir.display());
    Ok(())
}
