//! Multi-head self-attention (causal, or both ways for an encoder) with grouped-query heads (Ainslie et al. 2023): the `q_proj`,
//! `k_proj`, `v_proj` and `o_proj` projections of PyTorch / Llama, optional rotary positions, and the
//! kernel of [`crate::attention`]; with a [`KvStore`] it appends the new keys and values and attends
//! over everything held. With [`CachePositions::InCache`] (StreamingLLM, Xiao et al. 2023) the keys
//! are cached un-rotated and rotated by their slot in the store when read.

use super::cache::{CachePositions, KvStore};
use super::init::{Init, linear};
use super::qlinear::{LinearSlot, LinearVisitor};
use super::rope::rope;
use crate::attention::{AttentionKernel, AttentionMask, attention};
use tinylab_classical::autograd::Var;
use tinylab_classical::error::arg_err;
use tinylab_classical::nn::{Ctx, Linear, Module, Param, join};
use tinylab_classical::{Result, ops};

/// The sizes of the tokens one forward pass sees, and where they sit.
#[derive(Debug)]
pub struct Step<'a> {
    /// Sequences in the batch.
    pub batch: usize,
    /// New tokens per sequence.
    pub tokens: usize,
    /// Absolute position of the first new token.
    pub position: usize,
    /// How rotary positions are assigned on the incremental-decoding path (ignored without a cache).
    pub positions: CachePositions,
    /// This layer's cache, on the incremental-decoding path.
    pub cache: Option<&'a mut (dyn KvStore + 'static)>,
    /// This layer's convolution history (LSRA), on the incremental-decoding path: the last
    /// `kernel - 1` inputs of each sequence, `[batch, kernel - 1, channels]`, empty before the first
    /// step.
    pub history: Option<&'a mut Vec<f32>>,
}

/// A self-attention layer over rows `[batch * tokens, width]` (sequence-major).
#[derive(Debug, Clone)]
pub struct SelfAttention {
    /// `[n_heads * head_dim, width]`.
    pub q_proj: Linear,
    /// `[n_kv_heads * head_dim, width]`.
    pub k_proj: Linear,
    /// `[n_kv_heads * head_dim, width]`.
    pub v_proj: Linear,
    /// `[width, n_heads * head_dim]`.
    pub o_proj: Linear,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
    /// Width of a head.
    pub head_dim: usize,
    /// RoPE's base, when positions are rotary.
    pub rope_base: Option<f32>,
    /// The attention kernel.
    pub kernel: AttentionKernel,
    /// Queries see no later key (a decoder); otherwise every token sees every token.
    pub causal: bool,
    /// Inference replacements of `q_proj`, `k_proj`, `v_proj`, `o_proj`, in that order.
    pub slots: [LinearSlot; 4],
}

/// Which projections a [`SelfAttention`] builds with, beyond its sizes.
#[derive(Debug, Clone, Copy)]
pub struct AttentionSpec {
    /// Input and output width.
    pub width: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
    /// Width of a head (`width / n_heads` before any head was pruned).
    pub head_dim: usize,
    /// Projections carry biases.
    pub bias: bool,
    /// RoPE's base, when positions are rotary.
    pub rope_base: Option<f32>,
    /// The attention kernel.
    pub kernel: AttentionKernel,
    /// Queries see no later key (a decoder); otherwise every token sees every token.
    pub causal: bool,
}

impl SelfAttention {
    /// A freshly initialised layer.
    pub fn new(spec: AttentionSpec, init: &mut Init) -> Self {
        let AttentionSpec { width, n_heads, n_kv_heads, head_dim, bias, rope_base, kernel, causal } = spec;
        Self {
            q_proj: linear(width, n_heads * head_dim, bias, init.std, init),
            k_proj: linear(width, n_kv_heads * head_dim, bias, init.std, init),
            v_proj: linear(width, n_kv_heads * head_dim, bias, init.std, init),
            o_proj: linear(n_heads * head_dim, width, bias, init.residual_std, init),
            n_heads,
            n_kv_heads,
            head_dim,
            rope_base,
            kernel,
            causal,
            slots: Default::default(),
        }
    }

    /// The input (and output) width: the columns of `q_proj`, which pruning heads leaves alone.
    pub fn width(&self) -> usize {
        self.q_proj.weight.value.shape().get(1).copied().unwrap_or(0)
    }

    /// The attention output for `x` `[batch * tokens, width]`.
    pub fn forward(&mut self, x: &Var, step: &mut Step, ctx: &mut Ctx) -> Result<Var> {
        let (hq, hkv, dh) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let mut q = split_heads(&self.slots[0].project(&mut self.q_proj, x, ctx)?, step, hq, dh)?;
        let mut k = split_heads(&self.slots[1].project(&mut self.k_proj, x, ctx)?, step, hkv, dh)?;
        let mut v = split_heads(&self.slots[2].project(&mut self.v_proj, x, ctx)?, step, hkv, dh)?;
        let in_cache = step.cache.is_some() && step.positions == CachePositions::InCache;
        if let Some(base) = self.rope_base.filter(|_| !in_cache) {
            q = rope(&q, step.position, base)?;
            k = rope(&k, step.position, base)?;
        }
        let mut mask = AttentionMask { causal: self.causal, ..AttentionMask::default() };
        if let Some(store) = step.cache.as_deref_mut() {
            store.append(k.value(), v.value())?;
            // The new keys are the store's last `tokens` (an evicting store may have dropped older
            // ones), so query i sees the keys up to and including its own.
            mask.query_offset = store.len().checked_sub(step.tokens).ok_or_else(|| {
                arg_err("attention", format!("the KV store holds {} keys after appending {}", store.len(), step.tokens))
            })?;
            k = Var::constant(store.keys());
            v = Var::constant(store.values());
            if let Some(base) = self.rope_base.filter(|_| in_cache) {
                // Held key j sits at slot j; the new queries at the slots their keys took.
                q = rope(&q, mask.query_offset, base)?;
                k = rope(&k, 0, base)?;
            }
        }
        let o = attention(&q, &k, &v, &mask, None, self.kernel)?;
        let o = ops::permute(&o, &[0, 2, 1, 3])?;
        let o = ops::reshape(&o, &[step.batch * step.tokens, self.n_heads * self.head_dim])?;
        self.slots[3].project(&mut self.o_proj, &o, ctx)
    }

    /// Calls `f` with the path and value of each parameter.
    pub fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        self.q_proj.visit_params(&join(prefix, "q_proj"), f);
        self.k_proj.visit_params(&join(prefix, "k_proj"), f);
        self.v_proj.visit_params(&join(prefix, "v_proj"), f);
        self.o_proj.visit_params(&join(prefix, "o_proj"), f);
    }

    /// Calls `f` with the path, float layer and slot of each projection.
    pub fn visit_linears(&mut self, prefix: &str, f: &mut LinearVisitor) -> Result<()> {
        let layers = [&mut self.q_proj, &mut self.k_proj, &mut self.v_proj, &mut self.o_proj];
        for ((name, layer), slot) in
            ["q_proj", "k_proj", "v_proj", "o_proj"].into_iter().zip(layers).zip(&mut self.slots)
        {
            f(join(prefix, name), layer, slot)?;
        }
        Ok(())
    }

    /// Calls `f` with the path and a mutable reference of each parameter.
    pub fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        self.q_proj.visit_params_mut(&join(prefix, "q_proj"), f);
        self.k_proj.visit_params_mut(&join(prefix, "k_proj"), f);
        self.v_proj.visit_params_mut(&join(prefix, "v_proj"), f);
        self.o_proj.visit_params_mut(&join(prefix, "o_proj"), f);
    }
}

/// `[batch * tokens, heads * head_dim]` rows as `[batch, heads, tokens, head_dim]`.
fn split_heads(x: &Var, step: &Step, heads: usize, head_dim: usize) -> Result<Var> {
    let x = ops::reshape(x, &[step.batch, step.tokens, heads, head_dim])?;
    ops::permute(&x, &[0, 2, 1, 3])
}
