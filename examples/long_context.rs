//! StreamingLLM's attention sinks on a character-level GPT reading past its training context.
//!
//! `cargo run --release --example long_context [-- --seed S] [--quick] [--out DIR]` runs the
//! registered `long_context` experiment (as `tinylab run long_context` does) and writes
//! `results/long_context/`: `metrics.json` (bits per character per method and position bucket),
//! the chart of bits per character against position (PNG and SVG), `config.json` and `report.md`.

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("long_context")
}
