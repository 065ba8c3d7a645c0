//! A GPT-style decoder on the classical autograd, with the variations that efficient models use.
//!
//! - [`config`]: [`GptConfig`], the architecture (norm, MLP, positions, heads, tying, biases, block
//!   kind, attention kernel), validated once.
//! - [`norm`]: layer norm and RMS norm (an op with its own backward); [`rope`]: rotary positions (an
//!   op); [`mlp`]: GELU and SwiGLU networks (a fused `silu(gate) * up` op); [`attn`]: grouped-query
//!   causal self-attention; [`lsra`]: Lite Transformer's convolution branch (a causal depthwise
//!   convolution op); [`block`]: pre-norm blocks; [`gpt`]: the model, an `nn::Module`;
//!   [`decode`]: the tape-free linear layers of a decoding step.
//! - [`cache`]: the KV cache of incremental decoding, storage behind a trait, absolute or in-cache
//!   positions; [`sink_window`]: StreamingLLM's evicting store; [`sample`]: seeded
//!   greedy / temperature / top-k / top-p sampling and [`generate`].
//! - [`qlinear`]: inference replacements of the linear layers ([`crate::quant`]'s layers) and
//!   calibration taps; [`quantize`]: [`Gpt::quantize_linears`] and [`Gpt::calibrate`]; [`qkv`]: a
//!   quantized KV store; [`smoothing`]: SmoothQuant folded into a model's norms.
//! - [`prune`]: the shared fine-grained passes on the linear weights (magnitude pruning, QAT) and
//!   structured pruning of attention heads and MLP channels that shrinks the weights.
//! - [`weights`]: safetensors files with PyTorch's parameter names and the configuration in the
//!   metadata.

pub mod attn;
pub mod block;
pub mod cache;
pub mod config;
pub mod decode;
pub mod gpt;
mod init;
pub mod lsra;
pub mod mlp;
pub mod norm;
pub mod prune;
pub mod qkv;
pub mod qlinear;
pub mod quantize;
pub mod rope;
pub mod sample;
pub mod sink_window;
pub mod smoothing;
pub mod weights;

pub use cache::{CachePositions, DenseKv, KvCache, KvStore};
pub use config::{BlockKind, BlockShape, GptConfig, MlpKind, NormKind, Positions};
pub use gpt::Gpt;
pub use qkv::QuantKv;
pub use qlinear::{Calibration, InputScaled, LinearSlot};
pub use sample::{Sampler, generate};
pub use sink_window::SinkWindowKv;
pub use weights::{load_gpt, load_safetensors, read_config, save_safetensors};
