//! Compression of a [`Gpt`] with the shared passes of `tinylab_classical::compress`, and structured
//! pruning of its attention heads and MLP channels.
//!
//! - Fine-grained: [`linear_weight`] selects the linear layers' weights (not the embeddings, norms or
//!   LSRA's depthwise convolution) for `compress::prune::prune_magnitude` (Han et al. 2015) and
//!   `compress::qat::attach_quantizer` (fake quantization with the straight-through estimator).
//!   Every weight of the model goes through `Ctx::param` in training and through its effective value
//!   on the tape-free decoding path, so masks and quantizers hold in both, and the optimizers
//!   re-apply masks after each step.
//! - Structured: [`prune_structured`] scores heads and MLP channels ([`scores`]), keeps the best of
//!   each block ([`select`]) and physically shrinks the weights ([`apply`]); the model is then an
//!   ordinary smaller dense model (fewer multiply-accumulates per token, a smaller KV cache) that
//!   trains, decodes and saves as before. Its per-block sizes go into
//!   [`GptConfig::block_shapes`](super::GptConfig::block_shapes), so safetensors files of a pruned
//!   model load back with [`super::load_gpt`].
//!
//! # What is removed
//!
//! - A query head `h` of a block: rows `h dh .. (h + 1) dh` of `q_proj` (and its bias) and the same
//!   columns of `o_proj`.
//! - With grouped-query attention (query head `h` reads key/value head `h / r`, `r = n_heads /
//!   n_kv_heads`) every kept key/value group must keep the same number of query heads, so that the
//!   pruned block is again grouped-query attention. [`HeadUnit::KvGroup`] removes whole groups (the
//!   key/value heads' rows of `k_proj` and `v_proj` with their query heads: the KV cache shrinks too);
//!   [`HeadUnit::QueryHead`] removes query heads evenly in every group (the KV cache stays). For
//!   multi-head attention (`r = 1`) every head is its own group: use [`HeadUnit::KvGroup`].
//! - An MLP channel `c`: row `c` of `fc1` / `up_proj` and `gate_proj` (and their biases) and column `c`
//!   of `fc2` / `down_proj`.
//!
//! The head width stays [`GptConfig::head_dim`](super::GptConfig::head_dim). References: Michel et
//! al. 2019, "Are Sixteen Heads Really Better than One?" (pruning heads); Voita et al. 2019; Ma et al.
//! 2023, "LLM-Pruner" (coupled structures: a head with its projections, a channel with its gate, up and
//! down weights); Sun et al. 2023, "Wanda" (weight magnitude times input activation norm).

mod importance;
mod surgery;

pub use importance::{Scores, scores};

use super::gpt::Gpt;
use super::qlinear::Calibration;
use std::collections::BTreeMap;
use tinylab_classical::Result;
use tinylab_classical::compress::channel::{Importance, top_k};
use tinylab_classical::error::arg_err;
use tinylab_classical::nn::{Param, param_count};

const OP: &str = "prune_structured";

/// The parameters of a [`Gpt`] the shared fine-grained passes work on: the weight of every linear
/// layer (attention projections, MLP layers, LSRA's `conv.out_proj`, an untied `lm_head`).
/// Embeddings (a tied head is the token embedding), norms, biases and LSRA's depthwise convolution
/// are left out.
pub fn linear_weight(name: &str, p: &Param) -> bool {
    const LINEARS: [&str; 11] = [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
        "fc1",
        "fc2",
        "out_proj",
        "lm_head",
    ];
    p.value.ndim() == 2
        && name.strip_suffix(".weight").is_some_and(|layer| {
            let last = layer.rsplit('.').next().unwrap_or(layer);
            LINEARS.contains(&last)
        })
}

/// What one removed attention structure is (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadUnit {
    /// A key/value head with the query heads of its group.
    KvGroup,
    /// A query head; every group loses as many.
    QueryHead,
}

/// How much structure to keep in every block, and how to score it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StructuredPlan {
    /// Fraction of the heads to keep, in `(0, 1]`: of the key/value groups with
    /// [`HeadUnit::KvGroup`], of each group's query heads with [`HeadUnit::QueryHead`]; rounded to
    /// the nearest count, at least one.
    pub heads: f32,
    /// The attention unit removed.
    pub unit: HeadUnit,
    /// Fraction of each block's MLP channels to keep, in `(0, 1]` (rounded, at least one).
    pub channels: f32,
    /// [`Importance::L1`] or [`Importance::L2`] (the other kinds need batch norms or gradients).
    pub importance: Importance,
}

/// The structures to keep, per block index (blocks not listed keep all of theirs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keep {
    /// The query heads kept (original indices, ascending); every group with a kept head must keep
    /// the same number.
    pub heads: BTreeMap<usize, Vec<usize>>,
    /// The MLP channels kept (original indices, ascending).
    pub channels: BTreeMap<usize, Vec<usize>>,
}

/// The sizes of the model before and after [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructuredReport {
    /// Scalar parameters before.
    pub params_before: usize,
    /// Scalar parameters after.
    pub params_after: usize,
    /// Query heads, key/value heads and MLP channels of every block after.
    pub shapes: Vec<super::config::BlockShape>,
}

/// The count kept of `n` at fraction `f`: the nearest whole number, at least one.
fn kept_count(n: usize, f: f32) -> usize {
    ((f as f64 * n as f64).round() as usize).clamp(1, n.max(1))
}

fn check_fraction(f: f32, what: &str) -> Result<()> {
    if !(f.is_finite() && f > 0.0 && f <= 1.0) {
        return Err(arg_err(OP, format!("the fraction of {what} to keep ({f}) must lie in (0, 1]")));
    }
    Ok(())
}

/// The heads and channels to keep in every block under `plan`: the top-scoring ones by
/// [`scores`] (with `calibration`, weight norms times activation norms). Blocks where nothing is
/// removed are not listed.
pub fn select(model: &Gpt, plan: &StructuredPlan, calibration: Option<&Calibration>) -> Result<Keep> {
    check_fraction(plan.heads, "heads")?;
    check_fraction(plan.channels, "MLP channels")?;
    let s = scores(model, plan.importance, calibration)?;
    let mut keep = Keep::default();
    for (i, block) in model.blocks.iter().enumerate() {
        let (hq, hkv) = (block.attn.n_heads, block.attn.n_kv_heads);
        let r = hq / hkv;
        let heads: Vec<usize> = match plan.unit {
            HeadUnit::KvGroup => {
                let group: Vec<f32> = s.heads[i].chunks(r).map(|c| c.iter().sum()).collect();
                top_k(&group, kept_count(hkv, plan.heads)).into_iter().flat_map(|g| g * r..(g + 1) * r).collect()
            }
            HeadUnit::QueryHead => {
                let m = kept_count(r, plan.heads);
                s.heads[i]
                    .chunks(r)
                    .enumerate()
                    .flat_map(|(g, c)| top_k(c, m).into_iter().map(move |h| g * r + h))
                    .collect()
            }
        };
        if heads.len() < hq {
            keep.heads.insert(i, heads);
        }
        let c = &s.channels[i];
        let channels = top_k(c, kept_count(c.len(), plan.channels));
        if channels.len() < c.len() {
            keep.channels.insert(i, channels);
        }
    }
    Ok(keep)
}

/// Keeps exactly the heads and channels of `keep` and shrinks the weights (with their masks and
/// quantizers; gradients are dropped, and optimizer state, keyed by path, holds the old shapes: use a
/// fresh optimizer). Every list must be non-empty, strictly increasing and in range, head lists must
/// keep as many query heads in every group they touch, and the model must hold no quantized layer
/// (prune the float model, then quantize); nothing changes when a check fails.
pub fn apply(model: &mut Gpt, keep: &Keep) -> Result<StructuredReport> {
    let n = model.blocks.len();
    for (what, lists) in [("heads", &keep.heads), ("MLP channels", &keep.channels)] {
        if let Some(&i) = lists.keys().find(|&&i| i >= n) {
            return Err(arg_err(OP, format!("{what} listed for block {i} of a model of {n} blocks")));
        }
    }
    for (&i, list) in &keep.heads {
        surgery::check_heads(&model.blocks[i].attn, list).map_err(|e| arg_err(OP, format!("block {i}: {e}")))?;
    }
    for (&i, list) in &keep.channels {
        surgery::check_channels(&model.blocks[i].mlp, list).map_err(|e| arg_err(OP, format!("block {i}: {e}")))?;
    }
    if model.blocks.iter().any(surgery::has_quantized_layer) {
        return Err(arg_err(OP, "the model has quantized linear layers: prune the float model, then quantize"));
    }
    let params_before = param_count(model);
    for (&i, list) in &keep.heads {
        surgery::keep_heads(&mut model.blocks[i].attn, list);
    }
    for (&i, list) in &keep.channels {
        surgery::keep_channels(&mut model.blocks[i].mlp, list);
    }
    let shapes = model.blocks.iter().map(surgery::shape_of).collect::<Vec<_>>();
    model.set_block_shapes(shapes.clone())?;
    Ok(StructuredReport { params_before, params_after: param_count(model), shapes })
}

/// [`select`] then [`apply`]: the structured pruning of `plan`, in place.
pub fn prune_structured(
    model: &mut Gpt,
    plan: &StructuredPlan,
    calibration: Option<&Calibration>,
) -> Result<StructuredReport> {
    let keep = select(model, plan, calibration)?;
    apply(model, &keep)
}

#[cfg(test)]
mod tests;
