//! Runs the registered `qaoa_maxcut` experiment (see `src/experiments/qaoa_maxcut.rs`).
//!
//! `cargo run --release --example qaoa_maxcut [-- --seed S] [--quick] [--out DIR]` does what
//! `tinylab run qaoa_maxcut` does and writes `results/qaoa_maxcut/`: `metrics.json`, `config.json`, the plots (PNG
//! and SVG) and `report.md`.

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("qaoa_maxcut")
}
