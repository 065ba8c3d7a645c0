//! The architecture of a [`super::Gpt`]: one serialisable record, checked once by
//! [`GptConfig::validated`] so that the layers can trust it.

use crate::attention::AttentionKernel;
use serde::{Deserialize, Serialize};
use tinylab_classical::Result;
use tinylab_classical::error::arg_err;

/// Which normalisation the pre-norm blocks and the final norm use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NormKind {
    /// Layer normalisation (Ba et al. 2016): centre, scale to unit variance, then `weight` and (with
    /// `bias`) `bias`. GPT-2's choice.
    LayerNorm,
    /// Root-mean-square normalisation (Zhang & Sennrich 2019): scale by `1/rms(x)`, then `weight`; no
    /// centring, no bias. Llama's choice.
    RmsNorm,
}

/// Which feed-forward network the blocks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MlpKind {
    /// `fc2(gelu(fc1(x)))` with the exact (erf) GELU (Hendrycks & Gimpel 2016), PyTorch's `nn.GELU()`.
    Gelu,
    /// `down(silu(gate(x)) * up(x))` (Shazeer 2020, "GLU variants improve transformer").
    SwiGlu,
}

/// How token positions enter the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Positions {
    /// A learned table `pos_emb` of `context` rows added to the token embeddings (GPT-2).
    Learned,
    /// Rotary position embeddings on queries and keys (Su et al. 2021), the rotate-half convention of
    /// Llama / Hugging Face, frequencies `rope_base^(-2i/head_dim)`.
    Rotary,
}

/// What one block computes between its residual additions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockKind {
    /// `x + attn(norm1(x))`, then `x + mlp(norm2(x))`.
    Standard,
    /// Lite Transformer's long-short range attention (Wu et al. 2020): half the channels go through
    /// attention, the other half through a depthwise causal 1-d convolution of width `kernel`, the two
    /// halves concatenated; then the MLP as in a standard block.
    Lsra {
        /// Width of the causal depthwise convolution (taps over the current and `kernel - 1` earlier
        /// tokens).
        kernel: usize,
    },
}

/// The sizes of one block that structured pruning ([`super::prune`]) may change: its query and
/// key/value heads (each head keeps the width [`GptConfig::head_dim`]) and its MLP width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockShape {
    /// Query heads of the block's attention.
    pub n_heads: usize,
    /// Key/value heads (divides `n_heads`).
    pub n_kv_heads: usize,
    /// Hidden width of the block's MLP.
    pub d_ff: usize,
}

/// The architecture of a GPT-style decoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    /// Vocabulary size (rows of `tok_emb`).
    pub vocab: usize,
    /// The most positions a sequence (cache included) may span.
    pub context: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Number of blocks.
    pub n_layers: usize,
    /// Query heads per attention layer (before structured pruning: [`GptConfig::block_shape`] gives
    /// a block's own count); fixes the head width [`GptConfig::head_dim`].
    pub n_heads: usize,
    /// Key/value heads (divides `n_heads`; fewer is grouped-query attention, Ainslie et al. 2023);
    /// per block after structured pruning.
    pub n_kv_heads: usize,
    /// Hidden width of the MLP; per block after structured pruning.
    pub d_ff: usize,
    /// The normalisation.
    pub norm: NormKind,
    /// The feed-forward network.
    pub mlp: MlpKind,
    /// The position encoding.
    pub positions: Positions,
    /// The output head is the token embedding transposed (Press & Wolf 2017) instead of `lm_head`.
    pub tied: bool,
    /// Linear layers (and layer norms) carry biases.
    pub bias: bool,
    /// Added to the variance (layer norm) or the mean square (RMS norm).
    pub norm_eps: f32,
    /// RoPE's frequency base (10000 in Su et al.).
    pub rope_base: f32,
    /// The block kind.
    pub block: BlockKind,
    /// The attention kernel every layer calls.
    pub attention: AttentionKernel,
    /// Queries see no later token (a decoder, the default); `false` makes every block attend both
    /// ways, the encoder of a sequence classifier (BERT, Devlin et al. 2019). Stored files without
    /// the field are causal.
    #[serde(default = "causal_by_default")]
    pub causal: bool,
    /// Per-block sizes after structured pruning, one per block; empty (the default, and what files
    /// without the field mean) gives every block `n_heads`, `n_kv_heads` and `d_ff`. The head width
    /// stays [`GptConfig::head_dim`] (that of `n_heads` heads), so `n_heads` keeps describing the
    /// unpruned model. Read it through [`GptConfig::block_shape`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub block_shapes: Vec<BlockShape>,
}

/// The `causal` of a stored configuration that does not name it: decoders came first.
fn causal_by_default() -> bool {
    true
}

impl GptConfig {
    /// A GPT-2-like configuration (layer norm, GELU, learned positions, tied head, biases,
    /// multi-head attention) of the given sizes; `d_ff = 4 d_model`.
    pub fn gpt2_like(vocab: usize, context: usize, d_model: usize, n_layers: usize, n_heads: usize) -> Self {
        Self {
            vocab,
            context,
            d_model,
            n_layers,
            n_heads,
            n_kv_heads: n_heads,
            d_ff: 4 * d_model,
            norm: NormKind::LayerNorm,
            mlp: MlpKind::Gelu,
            positions: Positions::Learned,
            tied: true,
            bias: true,
            norm_eps: 1e-5,
            rope_base: 10000.0,
            block: BlockKind::Standard,
            attention: AttentionKernel::Naive,
            causal: true,
            block_shapes: Vec::new(),
        }
    }

    /// A Llama-like configuration (RMS norm, SwiGLU, rotary positions, untied head, no biases) with
    /// `n_kv_heads` key/value heads.
    pub fn llama_like(
        vocab: usize,
        context: usize,
        d_model: usize,
        n_layers: usize,
        n_heads: usize,
        n_kv_heads: usize,
        d_ff: usize,
    ) -> Self {
        Self {
            n_kv_heads,
            d_ff,
            norm: NormKind::RmsNorm,
            mlp: MlpKind::SwiGlu,
            positions: Positions::Rotary,
            tied: false,
            bias: false,
            ..Self::gpt2_like(vocab, context, d_model, n_layers, n_heads)
        }
    }

    /// The configuration if it describes a buildable model; otherwise an error saying which field is
    /// wrong and why.
    pub fn validated(self) -> Result<Self> {
        const OP: &str = "GptConfig";
        for (name, value) in [
            ("vocab", self.vocab),
            ("context", self.context),
            ("d_model", self.d_model),
            ("n_layers", self.n_layers),
            ("n_heads", self.n_heads),
            ("n_kv_heads", self.n_kv_heads),
            ("d_ff", self.d_ff),
        ] {
            if value == 0 {
                return Err(arg_err(OP, format!("{name} must be positive")));
            }
        }
        if !self.d_model.is_multiple_of(self.n_heads) {
            return Err(arg_err(OP, format!("d_model {} is not a multiple of n_heads {}", self.d_model, self.n_heads)));
        }
        if !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return Err(arg_err(
                OP,
                format!("n_heads {} is not a multiple of n_kv_heads {}", self.n_heads, self.n_kv_heads),
            ));
        }
        if self.positions == Positions::Rotary && !self.head_dim().is_multiple_of(2) {
            return Err(arg_err(OP, format!("rotary positions need an even head width, got {}", self.head_dim())));
        }
        if !(self.norm_eps.is_finite() && self.norm_eps >= 0.0) {
            return Err(arg_err(OP, format!("norm_eps {} must be finite and non-negative", self.norm_eps)));
        }
        if !(self.rope_base.is_finite() && self.rope_base > 1.0) {
            return Err(arg_err(OP, format!("rope_base {} must be finite and above 1", self.rope_base)));
        }
        if let BlockKind::Lsra { kernel } = self.block {
            if kernel == 0 || kernel > self.context {
                return Err(arg_err(
                    OP,
                    format!("the LSRA kernel of {kernel} taps must be between 1 and the context ({})", self.context),
                ));
            }
            if !self.d_model.is_multiple_of(2) || !(self.d_model / 2).is_multiple_of(self.n_heads) {
                return Err(arg_err(
                    OP,
                    format!(
                        "LSRA gives attention d_model / 2 = {} channels, which must be a multiple of n_heads {}",
                        self.d_model / 2,
                        self.n_heads
                    ),
                ));
            }
        }
        self.check_block_shapes()?;
        Ok(self)
    }

    /// Refuses per-block shapes of the wrong count, with an empty dimension, or with key/value heads
    /// that do not divide the query heads.
    fn check_block_shapes(&self) -> Result<()> {
        const OP: &str = "GptConfig";
        if !self.block_shapes.is_empty() && self.block_shapes.len() != self.n_layers {
            return Err(arg_err(
                OP,
                format!(
                    "{} block shapes for {} blocks: give one per block or none",
                    self.block_shapes.len(),
                    self.n_layers
                ),
            ));
        }
        for (i, s) in self.block_shapes.iter().enumerate() {
            if s.n_heads == 0 || s.n_kv_heads == 0 || s.d_ff == 0 {
                return Err(arg_err(OP, format!("block {i}'s shape {s:?} has an empty dimension")));
            }
            if !s.n_heads.is_multiple_of(s.n_kv_heads) {
                return Err(arg_err(
                    OP,
                    format!("block {i}: n_heads {} is not a multiple of n_kv_heads {}", s.n_heads, s.n_kv_heads),
                ));
            }
        }
        Ok(())
    }

    /// The sizes of block `i`: its entry of `block_shapes`, or the uniform `n_heads`, `n_kv_heads`,
    /// `d_ff` when there are none.
    pub fn block_shape(&self, i: usize) -> BlockShape {
        self.block_shapes.get(i).copied().unwrap_or_else(|| self.uniform_shape())
    }

    /// The sizes every block has without per-block shapes.
    fn uniform_shape(&self) -> BlockShape {
        BlockShape { n_heads: self.n_heads, n_kv_heads: self.n_kv_heads, d_ff: self.d_ff }
    }

    /// True when every block has the uniform sizes (no structured pruning changed one).
    pub fn is_uniform(&self) -> bool {
        self.block_shapes.iter().all(|s| *s == self.uniform_shape())
    }

    /// Width of the channels the attention branch sees: `d_model`, or half of it in an LSRA block.
    pub fn attn_width(&self) -> usize {
        match self.block {
            BlockKind::Standard => self.d_model,
            BlockKind::Lsra { .. } => self.d_model / 2,
        }
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.attn_width() / self.n_heads.max(1)
    }
}
