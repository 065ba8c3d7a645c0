//! Quantization of the reference CNN on the digits: k-means, linear PTQ and QAT, ternary, binary,
//! and the int8 integer-only engine with its fake-quant twin.
//!
//! `cargo run --release --example quant_lab [-- --seed S] [--quick] [--out DIR]` runs the registered
//! `quant_lab` experiment and writes `results/quant_lab/` (metrics, accuracy curves, report).

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("quant_lab")
}
