//! Trains the reference CNN (adapted to 8x8 inputs) on the bundled UCI optdigits digits.
//!
//! `cargo run --release --example digits_cnn [-- --seed S] [--quick] [--out DIR]` runs the registered
//! `digits_cnn` experiment (as `tinylab run digits_cnn` does) and writes `results/digits_cnn/`:
//! `metrics.json` (test accuracy, history, confusion matrix), loss and accuracy curves and the confusion
//! matrix (PNG and SVG), `config.json` and `report.md`.

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("digits_cnn")
}
