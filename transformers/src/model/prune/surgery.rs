//! The surgery of structured pruning: slicing a block's attention projections by head and its MLP
//! layers by channel, with the checks that come first.

use crate::model::attn::SelfAttention;
use crate::model::block::Block;
use crate::model::config::BlockShape;
use crate::model::mlp::Mlp;
use ndarray::Axis;
use tinylab_classical::nn::{Linear, Param};

/// Why a list of kept indices below `n` is not strictly increasing, non-empty and in range.
fn check_list(list: &[usize], n: usize, what: &str) -> Result<(), String> {
    if list.is_empty() || list.windows(2).any(|w| w[0] >= w[1]) || list.iter().any(|&i| i >= n) {
        return Err(format!("the {what} to keep ({list:?}) must be non-empty, strictly increasing and below {n}"));
    }
    Ok(())
}

/// Why `heads` (query heads to keep) cannot be kept in `attn`: a bad list, or groups that would
/// keep different numbers of query heads.
pub(super) fn check_heads(attn: &SelfAttention, heads: &[usize]) -> Result<(), String> {
    check_list(heads, attn.n_heads, "query heads")?;
    let r = attn.n_heads / attn.n_kv_heads;
    let mut per_group = vec![0usize; attn.n_kv_heads];
    for &h in heads {
        per_group[h / r] += 1;
    }
    let kept: Vec<usize> = per_group.iter().copied().filter(|&c| c > 0).collect();
    if kept.windows(2).any(|w| w[0] != w[1]) {
        return Err(format!(
            "query heads {heads:?} keep {per_group:?} heads of the {} key/value groups: every kept group must keep \
             as many (grouped-query attention)",
            attn.n_kv_heads
        ));
    }
    Ok(())
}

/// Why `channels` cannot be kept in `mlp`.
pub(super) fn check_channels(mlp: &Mlp, channels: &[usize]) -> Result<(), String> {
    check_list(channels, mlp.input.weight.value.shape()[0], "MLP channels")
}

/// True when a linear layer of `block` runs a quantized replacement (whose shapes pruning cannot
/// change).
pub(super) fn has_quantized_layer(block: &Block) -> bool {
    block.attn.slots.iter().chain(&block.mlp.slots).any(|s| s.quantized.is_some())
}

/// Keeps indices `keep` of `axis` of a parameter's value and mask; the gradient is dropped.
fn select(p: &mut Param, axis: usize, keep: &[usize]) {
    p.value = p.value.select(Axis(axis), keep);
    if let Some(m) = &mut p.mask {
        *m = m.select(Axis(axis), keep);
    }
    p.grad = None;
}

/// Keeps output rows `rows` of a linear layer (weight rows and bias entries).
fn keep_outputs(layer: &mut Linear, rows: &[usize]) {
    select(&mut layer.weight, 0, rows);
    if let Some(b) = &mut layer.bias {
        select(b, 0, rows);
    }
}

/// Keeps input columns `columns` of a linear layer (the bias is per output and stays).
fn keep_inputs(layer: &mut Linear, columns: &[usize]) {
    select(&mut layer.weight, 1, columns);
}

/// The rows of heads `heads` of width `dh` (`h dh .. (h + 1) dh` for each).
fn head_rows(heads: &[usize], dh: usize) -> Vec<usize> {
    heads.iter().flat_map(|&h| h * dh..(h + 1) * dh).collect()
}

/// Keeps query heads `heads` (checked by [`check_heads`]) and the key/value groups they read.
pub(super) fn keep_heads(attn: &mut SelfAttention, heads: &[usize]) {
    let (r, dh) = (attn.n_heads / attn.n_kv_heads, attn.head_dim);
    let mut groups: Vec<usize> = heads.iter().map(|&h| h / r).collect();
    groups.dedup();
    let q_rows = head_rows(heads, dh);
    let kv_rows = head_rows(&groups, dh);
    keep_outputs(&mut attn.q_proj, &q_rows);
    keep_outputs(&mut attn.k_proj, &kv_rows);
    keep_outputs(&mut attn.v_proj, &kv_rows);
    keep_inputs(&mut attn.o_proj, &q_rows);
    attn.n_heads = heads.len();
    attn.n_kv_heads = groups.len();
}

/// Keeps MLP channels `channels` (checked by [`check_channels`]): gate and up rows, down columns.
pub(super) fn keep_channels(mlp: &mut Mlp, channels: &[usize]) {
    if let Some(gate) = &mut mlp.gate {
        keep_outputs(gate, channels);
    }
    keep_outputs(&mut mlp.input, channels);
    keep_inputs(&mut mlp.output, channels);
}

/// The sizes of `block` as it is.
pub(super) fn shape_of(block: &Block) -> BlockShape {
    BlockShape {
        n_heads: block.attn.n_heads,
        n_kv_heads: block.attn.n_kv_heads,
        d_ff: block.mlp.input.weight.value.shape()[0],
    }
}
