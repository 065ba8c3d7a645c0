//! `tinylab-transformers`: attention variants and efficient transformer models.
//!
//! - [`attention`]: scaled dot-product attention over `[batch, heads, tokens, head_dim]` with causal,
//!   padding, sliding-window and attention-sink masks and grouped-query heads, as an autograd op of
//!   `tinylab-classical` (naive: the full probability matrix; flash-style: tiles and an online softmax).
//! - [`quant`]: LLM compression with integer kernels: W8A8 with SmoothQuant, weight-only int4 (RTN,
//!   AWQ, GPTQ), KV-cache quantization.
//!
//! Dependency rule: may import `tinylab-classical`.

#![forbid(unsafe_code)]

pub mod attention;
pub mod quant;
