//! Fine-grained and channel pruning of the reference CNN (digits) and a small VGG (synthetic 32x32):
//! sensitivity, accuracy vs sparsity with and without fine-tuning, size and MACs, schedules.
//!
//! `cargo run --release --example prune_lab [-- --seed S] [--quick] [--out DIR]` runs the registered
//! `prune_lab` experiment and writes `results/prune_lab/` (metrics, accuracy curves, report).

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("prune_lab")
}
