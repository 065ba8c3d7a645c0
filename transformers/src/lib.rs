//! `tinylab-transformers`: attention variants and efficient transformer models.
//!
//! - [`attention`]: scaled dot-product attention over `[batch, heads, tokens, head_dim]` with causal,
//!   padding, sliding-window and attention-sink masks and grouped-query heads, as an autograd op of
//!   `tinylab-classical` (naive: the full probability matrix; flash-style: tiles and an online softmax).
//! - [`attention::linear_attention`]: linear attention with the `elu + 1` feature map (Katharopoulos
//!   et al. 2020), causal or not, in time and memory linear in the sequence length.
//!
//! Dependency rule: may import `tinylab-classical`.

#![forbid(unsafe_code)]

pub mod attention;
