//! Trains a 4-qubit quantum classifier (TorchQuantum's MNIST-4 style) on pooled digits 0-3 and on
//! 3 vs 6, then evaluates it on IBM manila's noise model exactly and with 8192 shots.
//!
//! `cargo run --release --example qml_digits4 [-- --seed S] [--quick] [--out DIR]` runs the registered
//! `qml_digits4` experiment (as `tinylab run qml_digits4` does) and writes `results/qml_digits4/`.

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("qml_digits4")
}
