//! Channel importance scores.
//!
//! - [`Importance::L1`] / [`Importance::L2`]: the norm of each output filter (Li et al. 2017, "Pruning
//!   Filters for Efficient ConvNets", use L1), summed over the group's filter owners: producers
//!   (convolution filters `weight[c]`, linear rows) and depthwise convolutions (`weight[c]`).
//! - [`Importance::BnScale`]: `|gamma_c|` of the batch norms over the group, summed (Network Slimming,
//!   Liu et al. 2017); a group without batch norm has no such score and is an error.
//! - [`Importance::Taylor`]: the first-order Taylor estimate of the loss change when a filter is
//!   removed, `|sum_i w_i dL/dw_i|` over the filter's weights (Molchanov et al. 2019, "Importance
//!   Estimation for Neural Network Pruning", with the absolute value of their 2017 criterion), summed
//!   over the same filter owners as L1. It reads each weight's `grad`, which the caller fills with a
//!   forward pass in training mode, `backward` and [`crate::nn::accumulate_grads`] (summed over as many
//!   batches as wanted).
//!
//! Biases are not part of a filter's score. Scores are accumulated in f64 in a fixed order.

use crate::error::{Result, arg_err, shape_err};
use crate::graph::{ChannelGroup, Role};
use crate::nn::{Module, Param, join, named_params};
use crate::tensor::contiguous;
use std::collections::BTreeMap;

/// How to score a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Importance {
    /// L1 norm of the output filter.
    L1,
    /// L2 norm of the output filter.
    L2,
    /// Absolute batch-norm scale `|gamma|`.
    BnScale,
    /// `|sum w * dL/dw|` over the filter (needs gradients).
    Taylor,
}

const OP: &str = "channel_importance";

/// Adds each row's score of the weight (rows along axis 0) to `out`.
fn add_filter_scores(path: &str, weight: &Param, kind: Importance, out: &mut [f64]) -> Result<()> {
    let shape = weight.value.shape();
    if shape.is_empty() || shape[0] != out.len() {
        return Err(shape_err(OP, shape, &[out.len()], format!("`{path}`: one filter per channel of the group")));
    }
    let w = contiguous(&weight.value);
    let w = w.as_slice().expect("standard layout");
    let row = w.len() / out.len().max(1);
    match kind {
        Importance::L1 | Importance::L2 => {
            for (o, f) in out.iter_mut().zip(w.chunks(row.max(1))) {
                *o += if kind == Importance::L1 {
                    f.iter().map(|&x| (x as f64).abs()).sum::<f64>()
                } else {
                    f.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>().sqrt()
                };
            }
        }
        Importance::Taylor => {
            let Some(g) = &weight.grad else {
                return Err(arg_err(
                    OP,
                    format!(
                        "Taylor importance needs the gradient of `{path}.weight`: run a training-mode forward pass, \
                         backward and nn::accumulate_grads first"
                    ),
                ));
            };
            if g.shape() != shape {
                return Err(shape_err(OP, g.shape(), shape, format!("`{path}`: gradient and weight")));
            }
            let g = contiguous(g);
            let g = g.as_slice().expect("standard layout");
            for ((o, f), gf) in out.iter_mut().zip(w.chunks(row.max(1))).zip(g.chunks(row.max(1))) {
                *o += f.iter().zip(gf).map(|(&x, &d)| x as f64 * d as f64).sum::<f64>().abs();
            }
        }
        Importance::BnScale => return Err(arg_err(OP, format!("`{path}`: batch-norm scales are not filter scores"))),
    }
    Ok(())
}

/// The score of every channel of `group` in `model`.
pub(crate) fn group_scores(model: &dyn Module, group: &ChannelGroup, kind: Importance) -> Result<Vec<f32>> {
    let mut out = vec![0.0f64; group.channels];
    let mut used = 0;
    let params: BTreeMap<String, &Param> = named_params(model).into_iter().collect();
    // A member's filters (convolution, linear) or scale (batch norm) is its `weight` parameter.
    let weight_of = |path: &str| {
        params.get(&join(path, "weight")).copied().ok_or_else(|| {
            arg_err(OP, format!("no parameter `{}`: was the model changed after analysis?", join(path, "weight")))
        })
    };
    for m in &group.members {
        match (m.role, kind) {
            (Role::Producer | Role::Depthwise, Importance::L1 | Importance::L2 | Importance::Taylor) => {
                add_filter_scores(&m.path, weight_of(&m.path)?, kind, &mut out)?;
                used += 1;
            }
            (Role::BatchNorm { block }, Importance::BnScale) => {
                let scale = weight_of(&m.path)?;
                let gamma = contiguous(&scale.value);
                let gamma = gamma.as_slice().expect("standard layout");
                if gamma.len() != group.channels * block {
                    return Err(shape_err(
                        OP,
                        scale.value.shape(),
                        &[group.channels, block],
                        format!("`{}`: scales per channel", m.path),
                    ));
                }
                for (o, b) in out.iter_mut().zip(gamma.chunks(block.max(1))) {
                    *o += b.iter().map(|&x| (x as f64).abs()).sum::<f64>();
                }
                used += 1;
            }
            _ => {}
        }
    }
    if used == 0 {
        return Err(arg_err(
            OP,
            format!(
                "group `{}` has no layer that {kind:?} importance can score (BnScale needs a batch norm)",
                group.name
            ),
        ));
    }
    Ok(out.into_iter().map(|x| x as f32).collect())
}
