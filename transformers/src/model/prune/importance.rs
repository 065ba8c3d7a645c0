//! Scores of a [`Gpt`]'s query heads and MLP channels for structured pruning.
//!
//! By weight magnitude alone, a structure's score is the L1 or L2 norm of all its weights taken as
//! one vector: a query head's rows of `q_proj` and columns of `o_proj` (the key/value rows are
//! shared by the group and left out), an MLP channel's rows of `gate_proj` / `up_proj` (`fc1`) and
//! column of `down_proj` (`fc2`). With calibration inputs ([`crate::model::Gpt::calibrate`]) the
//! score is that of the output projection's columns weighted by how large their inputs are, Wanda's
//! `|W_ij| ||X_j||_2` (Sun et al. 2023) summed over the structure's columns: `sum_j ||W[:, j]||_p
//! ||X[:, j]||_2` with `X` the rows the output projection saw, so that a head or channel whose
//! output is small on real text scores low even with large weights. Sums are in f64, in a fixed
//! order.

use crate::model::block::Block;
use crate::model::gpt::Gpt;
use crate::model::qlinear::Calibration;
use ndarray::Axis;
use tinylab_classical::compress::channel::Importance;
use tinylab_classical::error::{arg_err, shape_err};
use tinylab_classical::tensor::contiguous;
use tinylab_classical::{Result, Tensor};

/// Per block, the score of every query head and of every MLP channel (higher is more important).
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// `heads[block][h]` for the block's query heads.
    pub heads: Vec<Vec<f32>>,
    /// `channels[block][c]` for the block's MLP channels.
    pub channels: Vec<Vec<f32>>,
}

/// Accumulates `|x|` (L1) or `x^2` (L2) of a weight's entries.
fn add(kind: Importance, acc: &mut f64, values: impl Iterator<Item = f32>) {
    for v in values {
        let v = v as f64;
        *acc += if kind == Importance::L1 { v.abs() } else { v * v };
    }
}

/// The norm of an accumulation of [`add`].
fn finish(kind: Importance, acc: f64) -> f32 {
    (if kind == Importance::L1 { acc } else { acc.sqrt() }) as f32
}

/// The scores of every block of `model` by `kind` (L1 or L2), weighted by the activation norms of
/// `calibration` when given (see the module doc). Errors for the other importance kinds and for a
/// calibration that lacks a block's output projections or was recorded on other shapes.
pub fn scores(model: &Gpt, kind: Importance, calibration: Option<&Calibration>) -> Result<Scores> {
    const OP: &str = "structured_scores";
    if !matches!(kind, Importance::L1 | Importance::L2) {
        return Err(arg_err(
            OP,
            format!("{kind:?} importance is not available for heads and MLP channels: use L1 or L2"),
        ));
    }
    let mut heads = Vec::with_capacity(model.blocks.len());
    let mut channels = Vec::with_capacity(model.blocks.len());
    for (i, block) in model.blocks.iter().enumerate() {
        let (h, c) = match calibration {
            None => weight_scores(block, kind),
            Some(cal) => {
                let attn = activation_scores(
                    OP,
                    &block.attn.o_proj.weight.value,
                    cal.get(&format!("blocks.{i}.attn.o_proj"))?,
                    kind,
                )?;
                let mlp_out = format!("blocks.{i}.mlp.{}", block.mlp.names().1);
                let mlp = activation_scores(OP, &block.mlp.output.weight.value, cal.get(&mlp_out)?, kind)?;
                let dh = block.attn.head_dim;
                (attn.chunks(dh).map(|c| c.iter().sum()).collect(), mlp)
            }
        };
        heads.push(h);
        channels.push(c);
    }
    Ok(Scores { heads, channels })
}

/// Head and channel scores of one block from its weights alone.
fn weight_scores(block: &Block, kind: Importance) -> (Vec<f32>, Vec<f32>) {
    let (hq, dh) = (block.attn.n_heads, block.attn.head_dim);
    let (q, o) = (&block.attn.q_proj.weight.value, &block.attn.o_proj.weight.value);
    let heads = (0..hq)
        .map(|h| {
            let mut acc = 0.0;
            for j in h * dh..(h + 1) * dh {
                add(kind, &mut acc, q.index_axis(Axis(0), j).iter().copied());
                add(kind, &mut acc, o.index_axis(Axis(1), j).iter().copied());
            }
            finish(kind, acc)
        })
        .collect();
    let mlp = &block.mlp;
    let d_ff = mlp.input.weight.value.shape()[0];
    let channels = (0..d_ff)
        .map(|c| {
            let mut acc = 0.0;
            add(kind, &mut acc, mlp.input.weight.value.index_axis(Axis(0), c).iter().copied());
            if let Some(gate) = &mlp.gate {
                add(kind, &mut acc, gate.weight.value.index_axis(Axis(0), c).iter().copied());
            }
            add(kind, &mut acc, mlp.output.weight.value.index_axis(Axis(1), c).iter().copied());
            finish(kind, acc)
        })
        .collect();
    (heads, channels)
}

/// `||W[:, j]||_p ||X[:, j]||_2` for every input column `j` of `weight` `[out, in]`, with `x`
/// `[rows, in]` the inputs the layer saw.
fn activation_scores(op: &'static str, weight: &Tensor, x: &Tensor, kind: Importance) -> Result<Vec<f32>> {
    let inputs = weight.shape()[1];
    if x.ndim() != 2 || x.shape()[1] != inputs {
        return Err(shape_err(
            op,
            x.shape(),
            &[0, inputs],
            "calibration rows of another shape than the layer's inputs",
        ));
    }
    let x = contiguous(x);
    let xs = x.as_slice().expect("contiguous");
    let mut sq = vec![0f64; inputs];
    for row in xs.chunks(inputs) {
        for (s, &v) in sq.iter_mut().zip(row) {
            *s += v as f64 * v as f64;
        }
    }
    Ok((0..inputs)
        .map(|j| {
            let mut acc = 0.0;
            add(kind, &mut acc, weight.index_axis(Axis(1), j).iter().copied());
            (finish(kind, acc) as f64 * sq[j].sqrt()) as f32
        })
        .collect())
}
