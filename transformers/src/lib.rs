//! `tinylab-transformers`: attention variants and efficient transformer models.
//!
//! - [`attention`]: scaled dot-product attention over `[batch, heads, tokens, head_dim]` with causal,
//!   padding, sliding-window and attention-sink masks and grouped-query heads, as an autograd op of
//!   `tinylab-classical` (naive: the full probability matrix; flash-style: tiles and an online softmax).
//! - [`data`]: the bundled Shakespeare corpus, a character tokenizer, next-token windows and the
//!   language-modelling metrics (bits per character) for the classical trainer.
//! - [`model`]: a GPT-style decoder (layer/RMS norm, GELU/SwiGLU, learned/rotary positions,
//!   grouped-query heads, tied head, Lite Transformer's LSRA blocks) as an `nn::Module`, with a KV
//!   cache, seeded sampling and safetensors files that a PyTorch peer reads.
//! - [`spatten`]: a bidirectional sequence classifier on the model's blocks and SpAtten's cascade
//!   token and head pruning at inference, with the multiply-accumulates it saves.
//!
//! Dependency rule: may import `tinylab-classical`.

#![forbid(unsafe_code)]

pub mod attention;
pub mod data;
pub mod model;
pub mod spatten;
