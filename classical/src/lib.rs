//! `tinylab-classical`: the shared base of every classical model in tinylab.
//!
//! Planned contents (see `ARCHITECTURE.md` of the project and the open issues): f32 tensors on
//! ndarray with a reverse-mode autograd tape, `nn` layers that own parameters, optimizers, a training
//! loop with resumable checkpoints, bundled and synthetic data, the compression passes (pruning,
//! quantization, distillation) and the integer-only int8 engine that `tinylab-mcu-export` matches bit
//! for bit.
//!
//! Dependency rule: this crate imports no other tinylab crate.
