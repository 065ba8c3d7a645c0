//! Runs the registered `barren_plateau` experiment (see `src/experiments/barren_plateau.rs`).
//!
//! `cargo run --release --example barren_plateau [-- --seed S] [--quick] [--out DIR]` does what
//! `tinylab run barren_plateau` does and writes `results/barren_plateau/`: `metrics.json`, `config.json`, the plots (PNG
//! and SVG) and `report.md`.

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("barren_plateau")
}
