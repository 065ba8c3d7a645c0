//! `tinylab-classical`: the shared base of every classical model in tinylab.
//!
//! - [`tensor`]: the f32 [`Tensor`] (an ndarray array) and its shape checks.
//! - [`autograd`]: a reverse-mode tape. A [`Var`] is a node holding a value; ops record how to
//!   propagate gradients; [`Var::backward`] walks the graph once in reverse topological order. Ops
//!   implement [`autograd::Op`], which crates outside this one can implement too (the quantum layer is
//!   one).
//! - [`ops`]: the differentiable operations (matmul on the crate's packed GEMM, broadcasting arithmetic,
//!   reductions, shape ops, conv2d by im2col + GEMM, pooling, normalisation, activations, losses).
//! - [`nn`]: layers owning [`nn::Param`]s, composition, and `named_params` views used by the
//!   compression passes.
//! - [`optim`], [`train`], [`data`], [`checkpoint`]: optimizers (one update rule each for f32 tensors
//!   and f64 vectors) and schedules, the training API ([`train::Trainer`] over [`train::Batches`],
//!   [`optim::Optimizer::backward_step`] for hand-written loops), bundled and synthetic data with
//!   loaders, versioned checkpoints.
//! - [`seed`]: the one seed-derivation scheme every crate uses.
//! - [`stats`]: rank correlation, least-squares line / exponential / power-law fits, and means with
//!   Student-t confidence intervals over seeds.
//! - [`graph`]: a model traced once into typed nodes, and the passes on it (BN folding, activation
//!   fusion, cost, channel groups) that pruning, int8 conversion and the MCU exporter share.
//! - [`compress`]: the compression passes every model shares (magnitude and channel pruning with
//!   schedules, sensitivity analysis, sparse storage, k-means and linear quantization, QAT, Huffman
//!   sizes, distillation).
//! - [`nas`]: the MCUNet / once-for-all search space, the cost-model trait and the searches.
//! - [`int8`]: the integer-only inference engine with TFLite Micro's int8 arithmetic, and the
//!   converter from a float model.
//!
//! Determinism: every random choice takes a seed, and every kernel computes each output element with a
//! fixed order of operations, so results are bit-identical at any thread count.
//!
//! Dependency rule: this crate imports no other tinylab crate.

pub mod autograd;
pub mod checkpoint;
pub mod compress;
pub mod data;
pub mod error;
pub mod graph;
pub mod int8;
pub mod nas;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod seed;
pub mod stats;
pub mod tensor;
pub mod train;

pub use autograd::Var;
pub use error::{ClassicalError, Result};
pub use tensor::Tensor;
