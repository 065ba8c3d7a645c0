//! Attention that also hands back its probability matrix, for inference-time analysis such as
//! SpAtten's token and head importance (Wang, Zhang & Han 2021), which is the attention a token
//! receives. Not on the tape: nothing here is differentiable.

use super::naive::masked_softmax;
use super::{AttentionMask, Dims};
use ndarray::IxDyn;
use rayon::prelude::*;
use tinylab_classical::ops::gemm_into;
use tinylab_classical::tensor::contiguous;
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
    let (qv, kv, vv) = (contiguous(q), contiguous(k), contiguous(v));
    let (qs, ks, vs) =
        (qv.as_slice().expect("contiguous"), kv.as_slice().expect("contiguous"), vv.as_slice().expect("contiguous"));
    let Dims { batch, q_heads, tokens: t, keys: s, head_dim: d, value_dim: dv, .. } = dims;
    let mut probs = vec![0f32; batch * q_heads * t * s];
    let mut out = vec![0f32; batch * q_heads * t * dv];
    probs.par_chunks_mut((t * s).max(1)).zip(out.par_chunks_mut((t * dv).max(1))).enumerate().try_for_each(
        |(bh, (p, o))| -> Result<()> {
            let (b, h) = (bh / q_heads, bh % q_heads);
            let kvh = b * dims.kv_heads + h / dims.group();
            let (qh, kh, vh) = (&qs[bh * t * d..][..t * d], &ks[kvh * s * d..][..s * d], &vs[kvh * s * dv..][..s * dv]);
            gemm_into(t, s, d, qh, d, 1, kh, 1, d, p, false)?;
            for (i, row) in p.chunks_mut(s.max(1)).enumerate().take(t) {
                masked_softmax(row, scale, |j| mask.allows(b, i, j));
            }
            gemm_into(t, dv, s, p, s, 1, vh, dv, 1, o, false)
        },
    )?;
    let shaped = |shape: &[usize], data: Vec<f32>| Tensor::from_shape_vec(IxDyn(shape), data).expect("sized");
    Ok((shaped(&[batch, q_heads, t, dv], out), shaped(&[batch, q_heads, t, s], probs)))
}
