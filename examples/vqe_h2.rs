//! Runs the registered `vqe_h2` experiment (see `src/experiments/vqe_h2.rs`).
//!
//! `cargo run --release --example vqe_h2 [-- --seed S] [--quick] [--out DIR]` does what
//! `tinylab run vqe_h2` does and writes `results/vqe_h2/`: `metrics.json`, `config.json`, the plots (PNG
//! and SVG) and `report.md`.

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("vqe_h2")
}
