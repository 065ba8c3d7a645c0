//! Attention that also hands back its probability matrix, for inference-time analysis such as
//! SpAtten's token and head importance (Wang, Zhang & Han 2021), which is the attention a token
//! receives. Not on the tape: nothing here is differentiable.

use super::{AttentionMask, Dims};
use ndarray::IxDyn;
use tinylab_classical::{Result, Tensor};

/// `softmax(q k^T * scale, masked) v` and the probabilities themselves: the output
/// `[batch, q_heads, tokens, value_dim]` and `[batch, q_heads, tokens, keys]` (zero where masked),
/// for the layouts and grouped-query heads of [`super::attention`]; `scale` defaults to
/// `1 / sqrt(head_dim)`. The same sums in the same order as [`super::AttentionKernel::Naive`], so the
/// output is that kernel's, bit for bit, at any thread count.
pub fn attention_probs(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &AttentionMask,
    scale: Option<f32>,
) -> Result<(Tensor, Tensor)> {
    let dims = Dims::of(q.shape(), k.shape(), v.shape(), mask)?;
    let scale = scale.unwrap_or(1.0 / (dims.head_dim.max(1) as f32).sqrt());
    let (out, probs) = super::naive::forward(q, k, v, dims, mask, scale)?;
    let Dims { batch, q_heads, tokens: t, keys: s, value_dim: dv, .. } = dims;
    let shaped = |shape: &[usize], data: Vec<f32>| Tensor::from_shape_vec(IxDyn(shape), data).expect("sized");
    Ok((shaped(&[batch, q_heads, t, dv], out), shaped(&[batch, q_heads, t, s], probs)))
}
