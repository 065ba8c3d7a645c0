//! Knowledge distillation on the bundled digits: a half-width student alone, distilled, and distilled
//! with a feature hint.
//!
//! `cargo run --release --example distill_lab [-- --seed S] [--quick] [--out DIR]` runs the registered
//! `distill_lab` experiment and writes `results/distill_lab/` (metrics, accuracy curves, report).

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("distill_lab")
}
