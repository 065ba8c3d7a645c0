//! `tinylab-mcu-export`: int8 graphs to dependency-free C99 for Cortex-M microcontrollers.
//!
//! TinyEngine-style code generation (Lin et al., MCUNet, NeurIPS 2020) from the int8 graph of
//! `tinylab-classical`, bit-exact with its engine: weights and requantization parameters as `const`
//! arrays (flash), one kernel call per layer with buffer offsets fixed at export time, one static arena
//! (SRAM). The arena is planned greedy-by-size (TFLite Micro), with TinyEngine's in-place depthwise
//! convolution, or with MCUNetV2's patch-based inference (Lin et al., NeurIPS 2021). Targets: the host
//! (gcc) and Cortex-M4/M7 boards under qemu; on the Cortex-M the kernels use the Arm DSP extension
//! (SMLAD on pairs of q15, [`kernels::Kernels::Dsp`]), bit-exact with the portable ones.
//!
//! [`nas`] costs sub-networks of `tinylab_classical::nas` search spaces as this crate would deploy
//! them (flash, peak SRAM per planner, a per-op latency table measured under qemu).
//!
//! Dependency rule: may import `tinylab-classical`.

#![forbid(unsafe_code)]

pub mod codegen;
pub mod error;
pub mod export;
pub mod graph;
pub mod harness;
pub mod kernels;
pub mod kws;
pub mod nas;
pub mod plan;
pub mod target;
pub mod toolchain;

pub use error::{ExportError, Result};

/// The C kernel library's header, copied into every export.
pub const KERNELS_H: &str = include_str!("../c/tl_kernels.h");
/// The C kernel library, copied into every export.
pub const KERNELS_C: &str = include_str!("../c/tl_kernels.c");
