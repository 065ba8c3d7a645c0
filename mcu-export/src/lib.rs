//! `tinylab-mcu-export`: int8 graphs to dependency-free C99 for Cortex-M microcontrollers.
//!
//! Planned contents: TinyEngine-style code generation from the int8 graph of `tinylab-classical`,
//! bit-exact with its engine, with arena planning (greedy-by-size, in-place depthwise, MCUNetV2
//! patch-based inference) and host / Cortex-M targets run under qemu.
//!
//! Dependency rule: may import `tinylab-classical`.
