//! MCU deployment: the digits CNN and a MobileNetV2 trained, quantized to int8, exported to C and run
//! on the host and on an emulated Cortex-M4 (when the ARM toolchain is installed), with the greedy,
//! in-place and patch-based arena planners, and the planners on the published anchors' architectures.
//!
//! `cargo run --release --example mcu_deploy [-- --seed S] [--quick] [--out DIR]` runs the registered
//! `mcu_deploy` experiment and writes `results/mcu_deploy/` (metrics, SRAM charts, generated C, int8
//! checkpoints for `tinylab export-mcu`).

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("mcu_deploy")
}
