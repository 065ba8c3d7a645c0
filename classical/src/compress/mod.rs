//! Compression passes shared by every model: pruning, quantization and distillation.
//!
//! The passes work on a model's parameter view ([`crate::nn::named_params`] and
//! [`crate::nn::Module::visit_params_mut`]), so the same magnitude pruning, k-means and linear
//! quantization, fake-quant training and distillation loss apply to a CNN, a transformer, a point-cloud
//! net or the angles of a quantum circuit. Structured (channel) pruning rewrites the layers themselves
//! and so understands the layer types of [`crate::nn`].
//!
//! - [`quant`]: affine (linear) quantization parameters, quantize / dequantize, per tensor or per channel.
//! - [`calibrate`]: activation range estimation (min-max, percentile, MSE, KL / entropy).
//! - [`fold`]: batch-norm folding into the preceding convolution or linear layer.
//! - [`qat`]: fake quantization with the straight-through estimator, binary and ternary weights.
//! - [`prune`]: fine-grained magnitude pruning (per layer or global) with masks kept through training.
//! - [`schedule`]: one-shot, iterative, automated gradual (Zhu & Gupta) pruning and lottery-ticket rewinding.
//! - [`sensitivity`]: accuracy versus sparsity per layer, and sparsity allocation from it.
//! - [`channel`]: structured channel / filter pruning that physically shrinks the model.
//! - [`sparse`]: CSR and bitmask storage with sparse x dense kernels.
//! - [`kmeans`]: weight sharing by k-means with codebook fine-tuning (Deep Compression).
//! - [`huffman`]: Huffman coding of quantized indices, for the compressed size.
//! - [`distill`]: knowledge distillation losses and a student training loop.

pub mod calibrate;
pub mod channel;
pub mod distill;
pub mod fold;
pub mod huffman;
pub mod kmeans;
pub mod prune;
pub mod qat;
pub mod quant;
pub mod schedule;
pub mod sensitivity;
pub mod sparse;
