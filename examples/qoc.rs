//! Trains a 4-qubit digits 3-vs-6 classifier on IBM manila's noise model from shot-based
//! parameter-shift gradients (QOC), with and without probabilistic gradient pruning, and plots device
//! test accuracy against circuit executions.
//!
//! `cargo run --release --example qoc [-- --seed S] [--quick] [--out DIR]` runs the registered `qoc`
//! experiment (as `tinylab run qoc` does) and writes `results/qoc/`.

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("qoc")
}
