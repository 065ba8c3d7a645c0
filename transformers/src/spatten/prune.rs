//! SpAtten's cascade token and head pruning at inference (Wang, Zhang & Han 2021, "SpAtten: Efficient
//! Sparse Attention Architecture with Cascade Token and Head Pruning").
//!
//! Each sequence is run on its own, layer by layer, through the classifier's own norms, projections
//! and MLPs. Before layer `l` the tokens and heads it will not compute are dropped, for good:
//! - token importance is the attention probability a token receives, summed over the kept heads and
//!   the kept queries of every layer so far; the layer keeps the top `k_l` tokens still present;
//! - head importance is the summed magnitude `sum |o|` of a head's attention output (before the output
//!   projection) over the tokens, dimensions and layers so far; the layer keeps the top `m_l` heads
//!   still present (a head index is pruned in all later layers).
//!
//! Only the kept tokens' rows and the kept heads' slices of the projection weights are multiplied, and
//! [`MacCount`] counts exactly those products. The classifier's head reads the mean over the tokens the
//! last layer kept.

use super::classifier::SequenceClassifier;
use super::macs::{LayerWork, MacCount};
use super::schedule::{KeepCounts, PruneSchedule, TokenSelection, top_k};
use crate::attention::{AttentionMask, attention_probs};
use crate::model::attn::SelfAttention;
use crate::model::decode::project;
use crate::model::{BlockKind, Positions};
use ndarray::{Axis, Ix4};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;
use tinylab_classical::autograd::Var;
use tinylab_classical::error::arg_err;
use tinylab_classical::nn::{Ctx, Linear, Param};
use tinylab_classical::tensor::rng;
use tinylab_classical::{Result, Tensor, ops};

/// What one sequence's pruned pass kept and how it scored.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceTrace {
    /// Per layer, the tokens it processed (positions in the input, ascending).
    pub tokens: Vec<Vec<usize>>,
    /// Per layer, the query heads it computed (ascending).
    pub heads: Vec<Vec<usize>>,
    /// Per layer, the cumulative token importance after it (one entry per input token; a pruned
    /// token's entry stays where it was).
    pub token_scores: Vec<Vec<f64>>,
    /// Per layer, the cumulative head importance after it (one entry per head).
    pub head_scores: Vec<Vec<f64>>,
}

/// The result of [`prune_forward`] over a set of sequences.
#[derive(Debug, Clone)]
pub struct PrunedOutput {
    /// Class logits `[sequences, classes]`.
    pub logits: Tensor,
    /// Multiply-accumulates executed over all sequences.
    pub macs: MacCount,
    /// One trace per sequence, in order.
    pub traces: Vec<SequenceTrace>,
}

/// The classifier's logits for token ids `ids` `[sequences, tokens]` with the cascade pruning of
/// `schedule` (see the module doc). With [`TokenSelection::Random`] one generator seeded by its seed
/// draws for the sequences in order. With nothing pruned ([`PruneSchedule::none`]) the logits are
/// those of the unpruned forward pass. Errors for bad ids, an empty batch, a schedule that does not
/// fit the model (see [`PruneSchedule::counts`]) and for models whose tokens cannot be dropped: rotary
/// positions (the kept tokens would need their original positions), LSRA's convolutions, causal
/// attention.
pub fn prune_forward(model: &mut SequenceClassifier, ids: &Tensor, schedule: &PruneSchedule) -> Result<PrunedOutput> {
    const OP: &str = "prune_forward";
    let config = model.config().clone();
    if config.positions != Positions::Learned {
        return Err(arg_err(OP, "token pruning needs learned positions (rotary ones would need the kept positions)"));
    }
    if config.block != BlockKind::Standard {
        return Err(arg_err(OP, "token pruning needs standard blocks (LSRA's convolution reads its neighbours)"));
    }
    if !config.is_uniform() {
        return Err(arg_err(
            OP,
            "token pruning needs every block of one shape (no structurally pruned heads or MLP channels)",
        ));
    }
    if model.encoder.blocks.iter().any(|b| b.attn.causal) {
        return Err(arg_err(OP, "token pruning needs bidirectional attention"));
    }
    let (all_ids, n, t) = model.encoder.token_ids(ids)?;
    if n == 0 || t == 0 {
        return Err(arg_err(OP, format!("needs at least one token, got a [{n}, {t}] batch")));
    }
    let counts = schedule.counts(config.n_layers, t, config.n_heads)?;
    let mut random = match schedule.selection {
        TokenSelection::Attention => None,
        TokenSelection::Random { seed } => Some(rng(seed)),
    };
    let mut logits = Vec::with_capacity(n * model.classes());
    let (mut macs, mut traces) = (MacCount::default(), Vec::with_capacity(n));
    for seq in all_ids.chunks(t) {
        let (row, seq_macs, trace) = run_sequence(model, seq, &counts, random.as_mut())?;
        logits.extend(row);
        macs.add(seq_macs);
        traces.push(trace);
    }
    let logits = Tensor::from_shape_vec(ndarray::IxDyn(&[n, model.classes()]), logits).expect("sized");
    Ok(PrunedOutput { logits, macs, traces })
}

/// One sequence's pruned pass: its logits, the work done and the trace.
fn run_sequence(
    model: &mut SequenceClassifier,
    ids: &[usize],
    counts: &KeepCounts,
    mut random: Option<&mut ChaCha8Rng>,
) -> Result<(Vec<f32>, MacCount, SequenceTrace)> {
    let ctx = &mut Ctx::eval();
    let t = ids.len();
    let (d, d_ff, mlp, n_heads) = {
        let c = model.config();
        (c.d_model, c.d_ff, c.mlp, c.n_heads)
    };
    let (mut x, _) = model.encoder.embed(ids, (1, t, 0), ctx)?;
    let mut kept: Vec<usize> = (0..t).collect();
    let mut heads: Vec<usize> = (0..n_heads).collect();
    let (mut token_score, mut head_score) = (vec![0f64; t], vec![0f64; n_heads]);
    let mut trace = SequenceTrace { tokens: vec![], heads: vec![], token_scores: vec![], head_scores: vec![] };
    let mut macs = MacCount::default();
    for (l, block) in model.encoder.blocks.iter_mut().enumerate() {
        if counts.tokens[l] < kept.len() {
            let next = match random.as_deref_mut() {
                None => top_k(&token_score, &kept, counts.tokens[l]),
                Some(r) => random_subset(&kept, counts.tokens[l], r),
            };
            let rows: Vec<usize> = next.iter().map(|i| kept.binary_search(i).expect("a kept token")).collect();
            x = Var::constant(x.value().select(Axis(0), &rows));
            kept = next;
        }
        if counts.heads[l] < heads.len() {
            heads = top_k(&head_score, &heads, counts.heads[l]);
        }
        let h = block.norm1.forward(&x, ctx)?;
        let (mixed, probs, head_out, kv_heads) = attend(&mut block.attn, &h, &heads, ctx)?;
        for (hi, &head) in heads.iter().enumerate() {
            let p = probs.index_axis(Axis(0), hi).into_dimensionality::<ndarray::Ix2>().expect("two axes");
            for (ki, &token) in kept.iter().enumerate() {
                token_score[token] += p.column(ki).iter().map(|&v| v as f64).sum::<f64>();
            }
            head_score[head] += head_out.index_axis(Axis(0), hi).iter().map(|v| v.abs() as f64).sum::<f64>();
        }
        let x1 = ops::add(&x, &mixed)?;
        let h = block.norm2.forward(&x1, ctx)?;
        x = ops::add(&x1, &block.mlp.forward(&h, ctx)?)?;
        let work = LayerWork {
            tokens: kept.len(),
            q_heads: heads.len(),
            kv_heads,
            head_dim: block.attn.head_dim,
            d_model: d,
            d_ff,
            mlp,
        };
        macs.add(work.macs());
        trace.tokens.push(kept.clone());
        trace.heads.push(heads.clone());
        trace.token_scores.push(token_score.clone());
        trace.head_scores.push(head_score.clone());
    }
    let h = model.encoder.norm_f.forward(&x, ctx)?;
    let logits = model.classify(&h, 1, kept.len(), ctx)?;
    Ok((logits.value().iter().copied().collect(), macs, trace))
}

/// The attention of the kept `heads` over the rows `h` `[tokens, width]`: the layer's output
/// `[tokens, width]`, the probabilities `[heads, tokens, tokens]`, each head's output
/// `[heads, tokens, head_dim]` and how many key/value heads were computed.
fn attend(attn: &mut SelfAttention, h: &Var, heads: &[usize], ctx: &mut Ctx) -> Result<(Var, Tensor, Tensor, usize)> {
    let (dh, group, t) = (attn.head_dim, attn.n_heads / attn.n_kv_heads, h.shape()[0]);
    let mut kv: Vec<usize> = heads.iter().map(|&q| q / group).collect();
    kv.dedup(); // heads ascend, so their key/value heads do
    let kv_of: Vec<usize> = heads.iter().map(|&q| kv.binary_search(&(q / group)).expect("listed")).collect();
    let split = |y: &Var, n: usize| -> Result<Tensor> {
        let y = ops::permute(&ops::reshape(y, &[1, t, n, dh])?, &[0, 2, 1, 3])?;
        Ok(y.value().clone())
    };
    let q = split(&project(&mut rows_of(&attn.q_proj, heads, dh), h, ctx)?, heads.len())?;
    let k = split(&project(&mut rows_of(&attn.k_proj, &kv, dh), h, ctx)?, kv.len())?;
    let v = split(&project(&mut rows_of(&attn.v_proj, &kv, dh), h, ctx)?, kv.len())?;
    // Each kept query head reads its own key/value head (a grouping the kernel's h / group cannot
    // express for an arbitrary subset).
    let (k, v) = (k.select(Axis(1), &kv_of), v.select(Axis(1), &kv_of));
    let (o, probs) = attention_probs(&q, &k, &v, &AttentionMask::full(), None)?;
    let o = Var::constant(o);
    let merged = ops::reshape(&ops::permute(&o, &[0, 2, 1, 3])?, &[t, heads.len() * dh])?;
    let out = project(&mut columns_of(&attn.o_proj, heads, dh), &merged, ctx)?;
    let first = |x: Tensor| -> Tensor {
        let x = x.into_dimensionality::<Ix4>().expect("four axes");
        x.index_axis(Axis(0), 0).to_owned().into_dyn()
    };
    Ok((out, first(probs), first(o.value().clone()), kv.len()))
}

/// The linear layer restricted to the outputs of `heads` (each `dh` rows of the weight and bias).
fn rows_of(layer: &Linear, heads: &[usize], dh: usize) -> Linear {
    let rows: Vec<usize> = heads.iter().flat_map(|&h| h * dh..(h + 1) * dh).collect();
    let part = |p: &Param| Param::new(&p.name, p.effective_value().select(Axis(0), &rows));
    Linear { weight: part(&layer.weight), bias: layer.bias.as_ref().map(part) }
}

/// The output projection restricted to the inputs of `heads` (each `dh` columns; the bias whole).
fn columns_of(layer: &Linear, heads: &[usize], dh: usize) -> Linear {
    let cols: Vec<usize> = heads.iter().flat_map(|&h| h * dh..(h + 1) * dh).collect();
    Linear {
        weight: Param::new(&layer.weight.name, layer.weight.effective_value().select(Axis(1), &cols)),
        bias: layer.bias.as_ref().map(|b| Param::new(&b.name, b.effective_value())),
    }
}

/// `k` of `kept` drawn uniformly without replacement (a partial Fisher-Yates shuffle), ascending.
fn random_subset(kept: &[usize], k: usize, r: &mut ChaCha8Rng) -> Vec<usize> {
    let mut pool = kept.to_vec();
    for i in 0..k.min(pool.len()) {
        let span = (pool.len() - i) as u128;
        let j = i + ((r.next_u64() as u128 * span) >> 64) as usize;
        pool.swap(i, j);
    }
    pool.truncate(k);
    pool.sort_unstable();
    pool
}
