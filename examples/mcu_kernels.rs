//! The exported C kernels' cost on emulated microcontrollers: instructions per MAC of the portable and
//! the DSP-extension (SMLAD) kernels on the Cortex-M4 and Cortex-M7, per op type and end to end for the
//! MobileNetV2-0.35 of `mcu_deploy` and the digits CNN, and the in-place depthwise convolution against
//! the out-of-place one. Needs arm-none-eabi-gcc and qemu-system-arm.
//!
//! `cargo run --release --example mcu_kernels [-- --seed S] [--quick] [--out DIR]` runs the registered
//! `mcu_kernels` experiment and writes `results/mcu_kernels/` (metrics, the instructions-per-MAC chart,
//! the table in the report).

fn main() -> std::process::ExitCode {
    tinylab::experiments::example_main("mcu_kernels")
}
