//! Activations as `[tokens, features]` rows: any leading shape, the last axis the features.

use std::borrow::Cow;
use tinylab_classical::error::shape_err;
use tinylab_classical::tensor::contiguous;
use tinylab_classical::{Result, Tensor};

/// The activations of a linear layer with `features` inputs, flattened to rows.
pub(crate) struct TokenRows<'a> {
    data: Cow<'a, Tensor>,
    /// Number of rows (the product of the leading axes).
    pub tokens: usize,
    lead: Vec<usize>,
}

impl<'a> TokenRows<'a> {
    /// Views `x` (`[..., features]`, at least one axis) as rows; errors name `x`'s shape and the
    /// expected feature count.
    pub(crate) fn new(op: &'static str, x: &'a Tensor, features: usize) -> Result<Self> {
        let shape = x.shape();
        if shape.last() != Some(&features) {
            return Err(shape_err(op, shape, &[features], "the last axis of the input must be the layer's inputs"));
        }
        let lead = shape[..shape.len() - 1].to_vec();
        Ok(Self { data: contiguous(x), tokens: lead.iter().product(), lead })
    }

    /// The rows, row-major.
    pub(crate) fn flat(&self) -> &[f32] {
        self.data.as_slice().expect("standard layout")
    }

    /// A tensor of the leading shape with a last axis of `outputs` from row-major `data`.
    pub(crate) fn output(&self, outputs: usize, data: Vec<f32>) -> Result<Tensor> {
        let mut shape = self.lead.clone();
        shape.push(outputs);
        tinylab_classical::tensor::from_vec(&shape, data)
    }
}

/// `weight` as a `[out, in]` matrix (PyTorch layout) in row-major order, with its two sizes.
pub(crate) fn weight_rows<'a>(op: &'static str, weight: &'a Tensor) -> Result<(Cow<'a, Tensor>, usize, usize)> {
    if weight.ndim() != 2 {
        return Err(shape_err(op, weight.shape(), &[0, 0], "a weight must be [out, in]"));
    }
    let (n, k) = (weight.shape()[0], weight.shape()[1]);
    Ok((contiguous(weight), n, k))
}

/// Checks an optional bias against `n` output channels and copies it.
pub(crate) fn bias_vec(op: &'static str, bias: Option<&Tensor>, n: usize) -> Result<Option<Vec<f32>>> {
    match bias {
        None => Ok(None),
        Some(b) if b.shape() == [n] => Ok(Some(b.iter().copied().collect())),
        Some(b) => Err(shape_err(op, b.shape(), &[n], "the bias must hold one entry per output channel")),
    }
}
