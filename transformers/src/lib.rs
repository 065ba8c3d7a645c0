//! `tinylab-transformers`: attention variants and efficient transformer models.
//!
//! - [`attention`]: scaled dot-product attention over `[batch, heads, tokens, head_dim]` with causal,
//!   padding, sliding-window and attention-sink masks and grouped-query heads, as an autograd op of
//!   `tinylab-classical` (naive: the full probability matrix; flash-style: tiles and an online softmax).
//! - [`attention::linear_attention`]: linear attention with the `elu + 1` feature map (Katharopoulos
//!   et al. 2020), causal or not, in time and memory linear in the sequence length.
//! - [`data`]: the bundled Shakespeare corpus, a character tokenizer, next-token windows and the
//!   language-modelling metrics (bits per character) for the classical trainer.
//! - [`model`]: a GPT-style decoder (layer/RMS norm, GELU/SwiGLU, learned/rotary positions,
//!   grouped-query heads, tied head, Lite Transformer's LSRA blocks) as an `nn::Module`, with a KV
//!   cache, seeded sampling and safetensors files that a PyTorch peer reads.
//! - [`quant`]: LLM compression with integer kernels: W8A8 with SmoothQuant, weight-only int4 (RTN,
//!   AWQ, GPTQ), KV-cache quantization.
//! - [`spatten`]: a bidirectional sequence classifier on the model's blocks and SpAtten's cascade
//!   token and head pruning at inference, with the multiply-accumulates it saves.
//!
//! Dependency rule: may import `tinylab-classical`.

#![forbid(unsafe_code)]

pub mod attention;
pub mod data;
pub mod model;
pub mod quant;
pub mod spatten;

/// Element counts below which the element-wise kernels (norms, rotary positions, per-head attention
/// of a decoding step) run on the calling thread: waking rayon's workers for less work than this
/// costs more than the work (a decoding step spent half its time in the scheduler before).
pub(crate) const PARALLEL_MIN_LEN: usize = 1 << 14;
