//! Model cost: per-sample shape inference through the layers of [`crate::nn`] and a
//! multiply-accumulate (MAC) counter, so that a compression pass can report "model size and MACs
//! before and after".
//!
//! MACs follow the usual convention (the "multiply-adds" of the MobileNetV2 paper, Sandler et al.
//! 2018, table 3): only convolutions and linear layers count. A convolution costs
//! `out_h * out_w * out_channels * (in_channels / groups) * kh * kw` per sample, a linear layer
//! `in * out`; batch norm, activations, pooling, flatten and dropout cost nothing, biases are not
//! counted.

use crate::error::{Result, arg_err, shape_err};
use crate::nn::{
    Act, AvgPool2d, BatchNorm, Conv2d, Dropout, Flatten, GlobalAvgPool, LayerNorm, Linear, MaxPool2d, Module, Residual,
    Sequential, join,
};
use crate::ops::Pool2dSpec;
use std::any::Any;

/// Per-sample output shape of a convolution for a per-sample input shape `(C, H, W)`.
pub(crate) fn conv_out_shape(op: &'static str, path: &str, shape: &[usize], conv: &Conv2d) -> Result<Vec<usize>> {
    let w = conv.weight.value.shape();
    let s = conv.spec;
    let g = s.groups;
    if shape.len() != 3 || w.len() != 4 {
        return Err(shape_err(op, shape, w, format!("`{path}`: a convolution needs a (C, H, W) input")));
    }
    if g == 0 || s.stride.0 == 0 || s.stride.1 == 0 || s.dilation.0 == 0 || s.dilation.1 == 0 {
        return Err(arg_err(op, format!("`{path}`: groups, stride and dilation must be positive: {s:?}")));
    }
    if w[1] * g != shape[0] || !w[0].is_multiple_of(g) {
        return Err(shape_err(
            op,
            shape,
            w,
            format!("`{path}`: with {g} groups the weight (O, C/groups, KH, KW) does not fit the input channels"),
        ));
    }
    let span_h = s.dilation.0 * (w[2].max(1) - 1) + 1;
    let span_w = s.dilation.1 * (w[3].max(1) - 1) + 1;
    if w[2] == 0 || w[3] == 0 || shape[1] + 2 * s.padding.0 < span_h || shape[2] + 2 * s.padding.1 < span_w {
        return Err(shape_err(op, shape, w, format!("`{path}`: the kernel is larger than the padded input")));
    }
    let oh = (shape[1] + 2 * s.padding.0 - span_h) / s.stride.0 + 1;
    let ow = (shape[2] + 2 * s.padding.1 - span_w) / s.stride.1 + 1;
    Ok(vec![w[0], oh, ow])
}

/// Per-sample output shape of a pooling window over a `(C, H, W)` input.
fn pool_out_shape(op: &'static str, path: &str, shape: &[usize], spec: Pool2dSpec) -> Result<Vec<usize>> {
    if shape.len() != 3 {
        return Err(arg_err(op, format!("`{path}`: pooling needs a (C, H, W) input, got {shape:?}")));
    }
    if spec.kernel == 0 || spec.stride == 0 || shape[1] + 2 * spec.padding < spec.kernel {
        return Err(arg_err(op, format!("`{path}`: pooling window {spec:?} does not fit the input {shape:?}")));
    }
    let oh = (shape[1] + 2 * spec.padding - spec.kernel) / spec.stride + 1;
    let ow = (shape[2] + 2 * spec.padding - spec.kernel) / spec.stride + 1;
    Ok(vec![shape[0], oh, ow])
}

/// Per-sample output shape and MACs of a leaf layer (anything but [`Sequential`] and [`Residual`]);
/// `Ok(None)` for a layer type this module does not know.
pub(crate) fn leaf_shape_macs(
    op: &'static str,
    path: &str,
    layer: &dyn Module,
    shape: &[usize],
) -> Result<Option<(Vec<usize>, u64)>> {
    let any = layer as &dyn Any;
    if let Some(conv) = any.downcast_ref::<Conv2d>() {
        let out = conv_out_shape(op, path, shape, conv)?;
        let w = conv.weight.value.shape();
        let macs = (out[1] * out[2] * w[0]) as u64 * (w[1] * w[2] * w[3]) as u64;
        return Ok(Some((out, macs)));
    }
    if let Some(lin) = any.downcast_ref::<Linear>() {
        let w = lin.weight.value.shape();
        if shape.len() != 1 || w.len() != 2 || w[1] != shape[0] {
            return Err(shape_err(op, shape, w, format!("`{path}`: a linear layer (out, in) needs an (in) input")));
        }
        return Ok(Some((vec![w[0]], (w[0] * w[1]) as u64)));
    }
    if let Some(bn) = any.downcast_ref::<BatchNorm>() {
        if shape.is_empty() || shape[0] != bn.gamma.len() || bn.stats.mean.len() != bn.gamma.len() {
            return Err(shape_err(
                op,
                shape,
                bn.gamma.value.shape(),
                format!("`{path}`: batch norm needs one scale per channel (axis 0 of a sample)"),
            ));
        }
        return Ok(Some((shape.to_vec(), 0)));
    }
    if let Some(ln) = any.downcast_ref::<LayerNorm>() {
        if shape.last() != Some(&ln.gamma.len()) {
            return Err(shape_err(
                op,
                shape,
                ln.gamma.value.shape(),
                format!("`{path}`: layer norm over the last axis"),
            ));
        }
        return Ok(Some((shape.to_vec(), 0)));
    }
    if any.is::<Act>() || any.is::<Dropout>() {
        return Ok(Some((shape.to_vec(), 0)));
    }
    if let Some(p) = any.downcast_ref::<MaxPool2d>() {
        return Ok(Some((pool_out_shape(op, path, shape, p.spec)?, 0)));
    }
    if let Some(p) = any.downcast_ref::<AvgPool2d>() {
        return Ok(Some((pool_out_shape(op, path, shape, p.spec)?, 0)));
    }
    if any.is::<GlobalAvgPool>() {
        if shape.len() != 3 {
            return Err(arg_err(
                op,
                format!("`{path}`: global average pooling needs a (C, H, W) input, got {shape:?}"),
            ));
        }
        return Ok(Some((vec![shape[0]], 0)));
    }
    if any.is::<Flatten>() {
        return Ok(Some((vec![shape.iter().product()], 0)));
    }
    Ok(None)
}

/// MACs of a convolution or linear layer that skips its zero weights: the dense count times the
/// fraction of non-zero (effective, masked) weights, exact because the dense count is a multiple of the
/// weight count.
fn nonzero_macs(layer: &dyn Module, dense: u64) -> u64 {
    let any = layer as &dyn Any;
    let weight =
        any.downcast_ref::<Conv2d>().map(|c| &c.weight).or_else(|| any.downcast_ref::<Linear>().map(|l| &l.weight));
    match weight {
        Some(w) if !w.is_empty() => {
            let nonzero = w.effective_value().iter().filter(|v| **v != 0.0).count() as u64;
            dense / w.len() as u64 * nonzero
        }
        _ => dense,
    }
}

/// Walks `layer` from a per-sample input shape, returning the output shape and the MACs (of the
/// non-zero weights only when `skip_zeros`).
fn walk(path: &str, layer: &dyn Module, shape: &[usize], skip_zeros: bool) -> Result<(Vec<usize>, u64)> {
    let any = layer as &dyn Any;
    if let Some(seq) = any.downcast_ref::<Sequential>() {
        let (mut shape, mut macs) = (shape.to_vec(), 0u64);
        for (i, l) in seq.layers.iter().enumerate() {
            let (s, m) = walk(&join(path, &i.to_string()), l.as_ref(), &shape, skip_zeros)?;
            shape = s;
            macs += m;
        }
        return Ok((shape, macs));
    }
    if let Some(res) = any.downcast_ref::<Residual>() {
        let (body, mb) = walk(&join(path, "body"), &res.body, shape, skip_zeros)?;
        let (skip, ms) = match &res.shortcut {
            Some(s) => walk(&join(path, "shortcut"), s, shape, skip_zeros)?,
            None => (shape.to_vec(), 0),
        };
        if body != skip {
            return Err(shape_err(
                "count_macs",
                &body,
                &skip,
                format!("`{path}`: residual branch and shortcut differ"),
            ));
        }
        return Ok((body, mb + ms));
    }
    match leaf_shape_macs("count_macs", path, layer, shape)? {
        Some((out, macs)) => Ok((out, if skip_zeros { nonzero_macs(layer, macs) } else { macs })),
        None => Err(arg_err("count_macs", format!("`{path}`: a layer type the MAC counter does not know"))),
    }
}

/// Multiply-accumulates of one forward pass of `model` on one sample of per-sample shape
/// `input_shape` (no batch axis: `[3, 32, 32]`), counting convolutions and linear layers as the
/// module docs say. Errors when a layer does not fit the shape flowing into it, or is of a type
/// outside [`crate::nn`]'s layers.
pub fn count_macs(model: &dyn Module, input_shape: &[usize]) -> Result<u64> {
    Ok(walk("", model, input_shape, false)?.1)
}

/// As [`count_macs`], counting only the multiply-accumulates of non-zero weights: the work left to a
/// kernel that skips zeros after fine-grained pruning.
pub fn count_nonzero_macs(model: &dyn Module, input_shape: &[usize]) -> Result<u64> {
    Ok(walk("", model, input_shape, true)?.1)
}

/// The per-sample output shape of `model` for a per-sample input shape, found without running it.
pub fn output_shape(model: &dyn Module, input_shape: &[usize]) -> Result<Vec<usize>> {
    Ok(walk("", model, input_shape, false)?.0)
}
