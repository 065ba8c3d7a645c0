//! Model surgery: rebuilds every member of a channel group with only the kept channels.
//!
//! Each parameter is sliced along its channel axis, and so are its pruning mask and its gradient when
//! present (a mask keeps masking the same surviving weights; a gradient stays the gradient of the
//! surviving weights). Quantizer hooks are kept. Batch-norm running statistics are sliced with the
//! scale and shift, and a depthwise convolution's `groups` becomes the new channel count. Members are
//! found by the paths of their parameters and buffers (`path.weight`, `path.bias`,
//! `path.running_mean`, `path.running_var`), so any module that names them so can be pruned.

use crate::error::{Result, arg_err};
use crate::graph::{ChannelGroup, Role};
use crate::nn::{Conv2d, Module, Param, join, module_at_mut};
use crate::tensor::{Tensor, into_contiguous};
use ndarray::Axis;
use std::any::Any;
use std::collections::BTreeMap;

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
        return Err(arg_err(OP, format!("`{path}`: axis {axis} has {len} entries, fewer than indexed")));
    }
    let shape = p.value.shape().to_vec();
    p.value = take(&p.value, axis, idx);
    p.mask = p.mask.as_ref().filter(|m| m.shape() == shape.as_slice()).map(|m| take(m, axis, idx));
    p.grad = p.grad.as_ref().filter(|g| g.shape() == shape.as_slice()).map(|g| take(g, axis, idx));
    Ok(())
}

/// Keeps only channels `keep` (sorted, distinct, in range) of `group` in every member layer.
pub(crate) fn shrink(model: &mut dyn Module, group: &ChannelGroup, keep: &[usize]) -> Result<()> {
    // Per parameter path: the axes to slice and the indices to keep (a layer can be both the producer
    // and a consumer of one group, through a residual addition).
    let mut params: BTreeMap<String, Vec<(usize, Vec<usize>)>> = BTreeMap::new();
    let mut slice = |name: String, axis: usize, idx: Vec<usize>| params.entry(name).or_default().push((axis, idx));
    let mut buffers: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut depthwise = Vec::new();
    for m in &group.members {
        let (weight, bias) = (join(&m.path, "weight"), join(&m.path, "bias"));
        match m.role {
            Role::Producer | Role::Depthwise => {
                slice(weight, 0, keep.to_vec());
                slice(bias, 0, keep.to_vec());
                if m.role == Role::Depthwise {
                    depthwise.push(m.path.clone());
                }
            }
            Role::BatchNorm { block } => {
                let idx = expand(keep, block);
                slice(weight, 0, idx.clone());
                slice(bias, 0, idx.clone());
                buffers.insert(join(&m.path, "running_mean"), idx.clone());
                buffers.insert(join(&m.path, "running_var"), idx);
            }
            Role::Consumer { block } => {
                slice(weight, 1, expand(keep, block));
            }
        }
    }
    let mut error = None;
    model.visit_params_mut("", &mut |name, p| {
        for (axis, idx) in params.get(&name).into_iter().flatten() {
            if error.is_none()
                && let Err(e) = slice_param(&name, p, *axis, idx)
            {
                error = Some(e);
            }
        }
    });
    model.visit_buffers_mut("", &mut |name, b| {
        if let Some(idx) = buffers.get(&name)
            && error.is_none()
        {
            if idx.iter().any(|&i| i >= b.len()) {
                error = Some(arg_err(OP, format!("`{name}`: running statistics shorter than the channels")));
                return;
            }
            *b = idx.iter().map(|&i| b[i]).collect();
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    for path in depthwise {
        let layer = module_at_mut(model, &path)
            .ok_or_else(|| arg_err(OP, format!("no layer at `{path}`: was the model changed after analysis?")))?;
        let conv = (layer as &mut dyn Any)
            .downcast_mut::<Conv2d>()
            .ok_or_else(|| arg_err(OP, format!("`{path}` is not the depthwise convolution the analysis found")))?;
        conv.spec.groups = keep.len();
    }
    Ok(())
}
