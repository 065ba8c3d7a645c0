//! Deep Compression (prune, k-means quantize, Huffman-code) of LeNet-300-100 and the reference CNN
//! on the digits, with the size of every stage.
//!
//! `cargo run --release --example deep_compression [-- --seed S] [--quick] [--out DIR]` runs the registered
//! `deep_compression` experiment and writes `results/deep_compression/` (metrics, accuracy curves, report).

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("deep_compression")
}
