//! Model surgery: rebuilds every member of a channel group with only the kept channels.
//!
//! Each parameter is sliced along its channel axis, and so are its pruning mask and its gradient when
//! present (a mask keeps masking the same surviving weights; a gradient stays the gradient of the
//! surviving weights). Quantizer hooks are kept. Batch-norm running statistics are sliced with the
//! scale and shift, and a depthwise convolution's `groups` becomes the new channel count.

use super::graph::{ChannelGroup, Role, find_layer_mut};
use crate::error::{Result, arg_err};
use crate::nn::{BatchNorm, Conv2d, Linear, Module, Param};
use crate::tensor::{Tensor, into_contiguous};
use ndarray::Axis;
use std::any::Any;

const OP: &str = "prune_channels";

/// The entries `c * block .. (c + 1) * block` of every kept channel `c`.
fn expand(keep: &[usize], block: usize) -> Vec<usize> {
    keep.iter().flat_map(|&c| c * block..(c + 1) * block).collect()
}

fn take(t: &Tensor, axis: usize, idx: &[usize]) -> Tensor {
    into_contiguous(t.select(Axis(axis), idx))
}

/// Slices a parameter (and its mask and gradient) along `axis`; errors when an index is out of range.
fn slice_param(path: &str, p: &mut Param, axis: usize, idx: &[usize]) -> Result<()> {
    let len = p.value.shape().get(axis).copied().unwrap_or(0);
    if idx.iter().any(|&i| i >= len) {
        return Err(arg_err(OP, format!("`{path}.{}`: axis {axis} has {len} entries, fewer than indexed", p.name)));
    }
    let shape = p.value.shape().to_vec();
    p.value = take(&p.value, axis, idx);
    p.mask = p.mask.as_ref().filter(|m| m.shape() == shape.as_slice()).map(|m| take(m, axis, idx));
    p.grad = p.grad.as_ref().filter(|g| g.shape() == shape.as_slice()).map(|g| take(g, axis, idx));
    Ok(())
}

fn slice_vec(v: &[f32], idx: &[usize]) -> Vec<f32> {
    idx.iter().map(|&i| v[i]).collect()
}

/// Keeps only channels `keep` (sorted, distinct, in range) of `group` in every member layer.
pub(crate) fn shrink(model: &mut dyn Module, group: &ChannelGroup, keep: &[usize]) -> Result<()> {
    for m in &group.members {
        let path = m.path.as_str();
        let layer = find_layer_mut(model, path)
            .ok_or_else(|| arg_err(OP, format!("no layer at `{path}`: was the model changed after analysis?")))?;
        let any = layer as &mut dyn Any;
        let wrong = || arg_err(OP, format!("`{path}` is not the layer type the analysis found there"));
        match m.role {
            Role::Producer | Role::Depthwise => {
                if any.is::<Conv2d>() {
                    let conv = any.downcast_mut::<Conv2d>().ok_or_else(wrong)?;
                    slice_param(path, &mut conv.weight, 0, keep)?;
                    if let Some(b) = &mut conv.bias {
                        slice_param(path, b, 0, keep)?;
                    }
                    if m.role == Role::Depthwise {
                        conv.spec.groups = keep.len();
                    }
                } else {
                    let lin = any.downcast_mut::<Linear>().ok_or_else(wrong)?;
                    slice_param(path, &mut lin.weight, 0, keep)?;
                    if let Some(b) = &mut lin.bias {
                        slice_param(path, b, 0, keep)?;
                    }
                }
            }
            Role::BatchNorm { block } => {
                let bn = any.downcast_mut::<BatchNorm>().ok_or_else(wrong)?;
                let idx = expand(keep, block);
                slice_param(path, &mut bn.gamma, 0, &idx)?;
                slice_param(path, &mut bn.beta, 0, &idx)?;
                if idx.iter().any(|&i| i >= bn.stats.mean.len().min(bn.stats.var.len())) {
                    return Err(arg_err(OP, format!("`{path}`: running statistics shorter than the channels")));
                }
                bn.stats.mean = slice_vec(&bn.stats.mean, &idx);
                bn.stats.var = slice_vec(&bn.stats.var, &idx);
            }
            Role::Consumer { block } => {
                if any.is::<Conv2d>() {
                    let conv = any.downcast_mut::<Conv2d>().ok_or_else(wrong)?;
                    slice_param(path, &mut conv.weight, 1, &expand(keep, block))?;
                } else {
                    let lin = any.downcast_mut::<Linear>().ok_or_else(wrong)?;
                    slice_param(path, &mut lin.weight, 1, &expand(keep, block))?;
                }
            }
        }
    }
    Ok(())
}
