//! The GPT-style decoder: token embedding (plus a learned position table, or rotary positions in
//! the attention layers), a stack of pre-norm [`Block`]s, a final norm and the output head (the
//! embedding transposed when tied). Parameter paths are those of the PyTorch peer
//! (`benches/peers/gpt_peer.py`), so safetensors files move between the two.

use super::attn::Step;
use super::block::Block;
use super::cache::{CachePositions, KvCache};
use super::config::{BlockShape, GptConfig, Positions};
use super::decode;
use super::init::{Init, linear};
use super::norm::Norm;
use super::qlinear::{LinearSlot, LinearVisitor};
use tinylab_classical::autograd::Var;
use tinylab_classical::error::{arg_err, shape_err};
use tinylab_classical::nn::{Ctx, Linear, Module, Param, join};
use tinylab_classical::tensor::randn;
use tinylab_classical::{Result, Tensor, ops};

/// A decoder-only transformer language model (Radford et al. 2018/2019; Llama's variations are
/// configuration choices). As an [`nn::Module`](Module) its input is token ids as an f32 tensor
/// `[batch, tokens]` and its output the logits `[batch, tokens, vocab]`.
#[derive(Debug, Clone)]
pub struct Gpt {
    config: GptConfig,
    /// `tok_emb.weight` `[vocab, d_model]` (also the output head when tied).
    pub tok_emb: Param,
    /// `pos_emb.weight` `[context, d_model]` with learned positions.
    pub pos_emb: Option<Param>,
    /// `blocks.{i}.*`.
    pub blocks: Vec<Block>,
    /// `norm_f.*`.
    pub norm_f: Norm,
    /// `lm_head.weight` `[vocab, d_model]` when untied.
    pub lm_head: Option<Linear>,
    /// The inference replacement of `lm_head` (a tied head has none).
    pub lm_head_slot: LinearSlot,
}

impl Gpt {
    /// A model of `config` (validated first) with GPT-2's initialisation drawn from `seed`.
    pub fn new(config: GptConfig, seed: u64) -> Result<Self> {
        let config = config.validated()?;
        let mut init = Init::gpt2(seed, config.n_layers);
        let d = config.d_model;
        let tok_emb = Param::new("weight", randn(&[config.vocab, d], init.std, &mut init.rng));
        let pos_emb = (config.positions == Positions::Learned)
            .then(|| Param::new("weight", randn(&[config.context, d], init.std, &mut init.rng)));
        let blocks = (0..config.n_layers).map(|i| Block::new(&config, i, &mut init)).collect();
        let norm_f = Norm::new(config.norm, d, config.bias, config.norm_eps);
        let lm_head = (!config.tied).then(|| linear(d, config.vocab, false, init.std, &mut init));
        Ok(Self { config, tok_emb, pos_emb, blocks, norm_f, lm_head, lm_head_slot: LinearSlot::default() })
    }

    /// The architecture.
    pub fn config(&self) -> &GptConfig {
        &self.config
    }

    /// Records the sizes of every block after structured pruning (validated; per-block shapes equal
    /// to the uniform ones are stored as none, so an unpruned model keeps its plain configuration).
    pub(crate) fn set_block_shapes(&mut self, shapes: Vec<BlockShape>) -> Result<()> {
        let mut config = GptConfig { block_shapes: shapes, ..self.config.clone() };
        if config.is_uniform() {
            config.block_shapes.clear();
        }
        self.config = config.validated()?;
        Ok(())
    }

    /// Calls `f` with the path (`blocks.{i}.attn.q_proj`, ..., `lm_head`), float layer and slot of
    /// every linear layer, in order.
    pub fn visit_linears(&mut self, f: &mut LinearVisitor) -> Result<()> {
        for (i, block) in self.blocks.iter_mut().enumerate() {
            block.visit_linears(&format!("blocks.{i}"), f)?;
        }
        match &mut self.lm_head {
            Some(head) => f("lm_head".into(), head, &mut self.lm_head_slot),
            None => Ok(()),
        }
    }

    /// The token ids of `x` `[batch, tokens]` (whole numbers below `vocab`), with the batch and length.
    pub fn token_ids(&self, x: &Tensor) -> Result<(Vec<usize>, usize, usize)> {
        if x.ndim() != 2 {
            return Err(shape_err("gpt", x.shape(), &[0, 0], "token ids must be [batch, tokens]"));
        }
        let vocab = self.config.vocab;
        let ids = x
            .iter()
            .map(|&v| {
                if v.fract() == 0.0 && v >= 0.0 && (v as usize) < vocab {
                    Ok(v as usize)
                } else {
                    Err(arg_err("gpt", format!("token id {v} is not a whole number below the vocabulary {vocab}")))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((ids, x.shape()[0], x.shape()[1]))
    }

    /// The logits `[batch * tokens, vocab]` of `ids` (sequence-major) whose first token sits at
    /// `position`; with a cache, each layer's keys and values are appended to it.
    fn run(
        &mut self,
        ids: &[usize],
        (batch, tokens, position): (usize, usize, usize),
        ctx: &mut Ctx,
        cache: Option<&mut KvCache>,
    ) -> Result<Var> {
        let (h, table) = self.hidden(ids, (batch, tokens, position), ctx, cache)?;
        match (&mut self.lm_head, table) {
            (Some(head), _) => self.lm_head_slot.project(head, &h, ctx),
            (None, Some(table)) => ops::linear(&h, &table, None),
            (None, None) => decode::tied_head(&self.tok_emb, &h),
        }
    }

    /// The final-normed hidden states `[batch * tokens, d_model]` of `ids` (what the output head
    /// reads), and the token table as a tape variable when it was looked up on the tape (for a tied
    /// head).
    pub(crate) fn hidden(
        &mut self,
        ids: &[usize],
        (batch, tokens, position): (usize, usize, usize),
        ctx: &mut Ctx,
        mut cache: Option<&mut KvCache>,
    ) -> Result<(Var, Option<Var>)> {
        self.check_positions(tokens, position, cache.as_deref())?;
        let positions = cache.as_deref().map_or(CachePositions::Absolute, KvCache::positions);
        let (mut x, table) = self.embed(ids, (batch, tokens, position), ctx)?;
        for (i, block) in self.blocks.iter_mut().enumerate() {
            let (store, history) = match cache.as_deref_mut() {
                Some(c) => (Some(c.layers[i].as_mut()), Some(&mut c.histories[i])),
                None => (None, None),
            };
            let mut step = Step { batch, tokens, position, positions, cache: store, history };
            x = block.forward(&x, &mut step, ctx)?;
        }
        Ok((self.norm_f.forward(&x, ctx)?, table))
    }

    /// The residual stream entering the first block, `[batch * tokens, d_model]`: token embeddings
    /// plus (learned positions) the position rows; errors for an empty batch (the caller checks the
    /// positions: [`Gpt::hidden`] does). Also the token table as a tape variable when it was looked up on the tape.
    pub(crate) fn embed(
        &self,
        ids: &[usize],
        (batch, tokens, position): (usize, usize, usize),
        ctx: &mut Ctx,
    ) -> Result<(Var, Option<Var>)> {
        if batch == 0 || tokens == 0 {
            return Err(arg_err("gpt", format!("needs at least one token, got a [{batch}, {tokens}] batch")));
        }
        let tape_free = decode::tape_free(ctx);
        // Without the tape the tables are read in place (no copy of a whole table per call).
        let lookup = |table: &Param, rows: &[usize], ctx: &mut Ctx| -> Result<(Var, Option<Var>)> {
            if tape_free {
                return Ok((decode::gather(table, rows)?, None));
            }
            let t = ctx.param(table);
            Ok((ops::embedding(&t, rows)?, Some(t)))
        };
        let (mut x, table) = lookup(&self.tok_emb, ids, ctx)?;
        if let Some(pos) = &self.pos_emb {
            let rows: Vec<usize> = (0..batch).flat_map(|_| position..position + tokens).collect();
            x = ops::add(&x, &lookup(pos, &rows, ctx)?.0)?;
        }
        Ok((x, table))
    }

    /// Refuses a step of `tokens` tokens at `position` whose positions the model does not know: with
    /// absolute positions every one must be below the context; with positions within the cache
    /// (rotary models only) every store must keep the new tokens and hold at most `context` keys.
    fn check_positions(&self, tokens: usize, position: usize, cache: Option<&KvCache>) -> Result<()> {
        let context = self.config.context;
        match cache {
            Some(c) if c.positions() == CachePositions::InCache => {
                if self.config.positions != Positions::Rotary {
                    return Err(arg_err("gpt", "positions within the cache need rotary positions".to_string()));
                }
                for (i, store) in c.layers.iter().enumerate() {
                    let held = store.held_after(tokens)?;
                    if held > context {
                        return Err(arg_err(
                            "gpt",
                            format!("layer {i}'s store would hold {held} keys, past the context of {context} slots"),
                        ));
                    }
                }
                Ok(())
            }
            _ if position + tokens > context => Err(arg_err(
                "gpt",
                format!("positions {position}..{} run past the context of {context} positions", position + tokens),
            )),
            _ => Ok(()),
        }
    }

    /// Incremental decoding without a tape: the logits `[batch, tokens, vocab]` of the new tokens
    /// `ids` `[batch, tokens]`, which follow the `cache.position()` tokens the cache has seen; their
    /// keys and values are appended. A prefill followed by one token at a time gives the logits of the
    /// full forward pass. With an evicting store and [`CachePositions::InCache`] a rotary model
    /// streams past its context (StreamingLLM). A bidirectional model (`causal: false`), bad ids, a
    /// batch other than the cache's and a step past the context are refused before anything is
    /// appended; after an error from a store itself the cache may hold a partial step and should be
    /// dropped.
    pub fn forward_cached(&mut self, ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        if !self.config.causal {
            return Err(arg_err("gpt", "a bidirectional model (causal: false) has no incremental decoding"));
        }
        let (ids, batch, tokens) = self.token_ids(ids)?;
        if cache.batch != batch || cache.layers.len() != self.blocks.len() {
            return Err(arg_err(
                "gpt",
                format!(
                    "the cache is for {} sequences and {} layers, the call has {batch} sequences and the model {} layers",
                    cache.batch,
                    cache.layers.len(),
                    self.blocks.len()
                ),
            ));
        }
        cache.histories.resize(cache.layers.len(), Vec::new());
        let position = cache.position();
        let logits = self.run(&ids, (batch, tokens, position), &mut Ctx::eval(), Some(cache))?;
        cache.advance(tokens);
        let vocab = self.config.vocab;
        Ok(logits.value().clone().into_shape_with_order(ndarray::IxDyn(&[batch, tokens, vocab])).expect("sized"))
    }
}

impl Module for Gpt {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let (ids, batch, tokens) = self.token_ids(x.value())?;
        let logits = self.run(&ids, (batch, tokens, 0), ctx, None)?;
        ops::reshape(&logits, &[batch, tokens, self.config.vocab])
    }

    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        f(join(prefix, "tok_emb.weight"), &self.tok_emb);
        if let Some(p) = &self.pos_emb {
            f(join(prefix, "pos_emb.weight"), p);
        }
        for (i, block) in self.blocks.iter().enumerate() {
            block.visit(&join(prefix, &format!("blocks.{i}")), f);
        }
        self.norm_f.visit(&join(prefix, "norm_f"), f);
        if let Some(head) = &self.lm_head {
            head.visit_params(&join(prefix, "lm_head"), f);
        }
    }

    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        f(join(prefix, "tok_emb.weight"), &mut self.tok_emb);
        if let Some(p) = &mut self.pos_emb {
            f(join(prefix, "pos_emb.weight"), p);
        }
        for (i, block) in self.blocks.iter_mut().enumerate() {
            block.visit_mut(&join(prefix, &format!("blocks.{i}")), f);
        }
        self.norm_f.visit_mut(&join(prefix, "norm_f"), f);
        if let Some(head) = &mut self.lm_head {
            head.visit_params_mut(&join(prefix, "lm_head"), f);
        }
    }
}
