//! The reference attention: every head's `(tokens x keys)` probability matrix is formed, and kept for
//! the backward pass. Memory grows with `tokens * keys`; the flash-style kernel must equal this one.

use super::{AttentionMask, Dims, MemoryUse, per_head};
use ndarray::IxDyn;
use rayon::prelude::*;
use tinylab_classical::autograd::{Op, Var};
use tinylab_classical::ops::fast_exp::exp_shifted_sum;
use tinylab_classical::ops::gemm_into;
use tinylab_classical::tensor::contiguous;
use tinylab_classical::{Result, Tensor};

/// The op on the tape: the sizes, the scale and the probabilities of the forward pass.
#[derive(Debug)]
struct NaiveAttention {
    dims: Dims,
    scale: f32,
    /// `[batch, q_heads, tokens, keys]`, zero where masked.
    probs: Vec<f32>,
}

/// What the naive kernel keeps and allocates (see [`super::memory_use`]): the probabilities of every
/// head, one row block's scores per forward task (when a mask hides its last keys), and one head's
/// `dS` per backward task.
pub(super) fn memory_use(dims: &Dims) -> MemoryUse {
    let f32s = std::mem::size_of::<f32>();
    MemoryUse {
        saved: dims.batch * dims.q_heads * dims.tokens * dims.keys * f32s,
        forward_scratch: ROW_BLOCK.min(dims.tokens) * dims.keys * f32s,
        backward_scratch: dims.tokens * dims.keys * f32s,
        backward_rows: 0,
    }
}

/// Query rows per block of the forward pass: the unit at which a causal mask's hidden keys are skipped.
const ROW_BLOCK: usize = 64;

/// Naive attention (see [`super::attention`]).
pub(super) fn attention(q: &Var, k: &Var, v: &Var, dims: Dims, mask: &AttentionMask, scale: f32) -> Result<Var> {
    let (out, probs) = forward(q.value(), k.value(), v.value(), dims, mask, scale)?;
    let value =
        Tensor::from_shape_vec(IxDyn(&[dims.batch, dims.q_heads, dims.tokens, dims.value_dim]), out).expect("sized");
    Ok(Var::from_op(NaiveAttention { dims, scale, probs }, &[q, k, v], value))
}

/// The forward pass of every head: the output `[batch, q_heads, tokens, value_dim]` and the
/// probabilities `[batch, q_heads, tokens, keys]` (zero where masked), flat. One task per (batch,
/// query head); the op above and [`super::attention_probs`] share it.
pub(super) fn forward(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    dims: Dims,
    mask: &AttentionMask,
    scale: f32,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let (qv, kv, vv) = (contiguous(q), contiguous(k), contiguous(v));
    let (qs, ks, vs) =
        (qv.as_slice().expect("contiguous"), kv.as_slice().expect("contiguous"), vv.as_slice().expect("contiguous"));
    let Dims { batch, q_heads, tokens: t, keys: s, head_dim: d, value_dim: dv, .. } = dims;
    let mut probs = vec![0f32; batch * q_heads * t * s];
    let mut out = vec![0f32; batch * q_heads * t * dv];
    let head = |(bh, (p, o)): (usize, (&mut [f32], &mut [f32]))| -> Result<()> {
        let (b, h) = (bh / q_heads, bh % q_heads);
        let kvh = b * dims.kv_heads + h / dims.group();
        let (qh, kh, vh) = (&qs[bh * t * d..][..t * d], &ks[kvh * s * d..][..s * d], &vs[kvh * s * dv..][..s * dv]);
        // Blocks of query rows; a block's products stop at the last key any of its rows sees (under
        // a causal mask the scores and P V of the hidden upper triangle are never computed).
        let mut scores = Vec::new();
        for i0 in (0..t).step_by(ROW_BLOCK) {
            let i1 = (i0 + ROW_BLOCK).min(t);
            let rows = i1 - i0;
            let keys = mask.keys_before(b, i1, s).max(1);
            let pb = &mut p[i0 * s..i1 * s];
            let qb = &qh[i0 * d..i1 * d];
            if keys == s {
                gemm_into(rows, s, d, qb, d, 1, kh, 1, d, pb, false)?;
            } else {
                scores.clear();
                scores.resize(rows * keys, 0f32);
                gemm_into(rows, keys, d, qb, d, 1, kh, 1, d, &mut scores, false)?;
                for (row, sc) in pb.chunks_mut(s).zip(scores.chunks(keys)) {
                    row[..keys].copy_from_slice(sc);
                }
            }
            for (r, row) in pb.chunks_mut(s.max(1)).enumerate() {
                let i = i0 + r;
                match mask.visible_span(b, i, s) {
                    Some(span) => span_softmax(row, scale, span),
                    None => masked_softmax(row, scale, |j| mask.allows(b, i, j)),
                }
            }
            gemm_into(rows, dv, keys, pb, s, 1, vh, dv, 1, &mut o[i0 * dv..i1 * dv], false)?;
        }
        Ok(())
    };
    let (prob_chunk, out_chunk) = ((t * s).max(1), (t * dv).max(1));
    if probs.len() * d.max(dv) >= crate::PARALLEL_MIN_LEN {
        probs.par_chunks_mut(prob_chunk).zip(out.par_chunks_mut(out_chunk)).enumerate().try_for_each(head)?;
    } else {
        probs.chunks_mut(prob_chunk).zip(out.chunks_mut(out_chunk)).enumerate().try_for_each(head)?;
    }
    Ok((out, probs))
}

/// [`masked_softmax`] for visible keys forming the range `span`: the same values, without a test
/// per key (the span is scaled, maxed and exponentiated as one slice; the rest is zeroed).
fn span_softmax(row: &mut [f32], scale: f32, span: std::ops::Range<usize>) {
    row[..span.start].fill(0.0);
    row[span.end..].fill(0.0);
    let visible = &mut row[span];
    if visible.is_empty() {
        return;
    }
    visible.iter_mut().for_each(|x| *x *= scale);
    let max = visible.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let inv = 1.0 / exp_shifted_sum(visible, max);
    visible.iter_mut().for_each(|x| *x *= inv);
}

/// `row <- softmax(row * scale)` over the visible entries, zero elsewhere (all zero when none is
/// visible).
pub(crate) fn masked_softmax(row: &mut [f32], scale: f32, visible: impl Fn(usize) -> bool) {
    let mut max = f32::NEG_INFINITY;
    for (j, x) in row.iter_mut().enumerate() {
        if visible(j) {
            *x *= scale;
            max = max.max(*x);
        } else {
            *x = f32::NEG_INFINITY;
        }
    }
    if max == f32::NEG_INFINITY {
        row.fill(0.0);
        return;
    }
    let sum = exp_shifted_sum(row, max);
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|x| *x *= inv);
}

impl Op for NaiveAttention {
    fn name(&self) -> &'static str {
        "attention"
    }

    fn backward(&self, inputs: &[&Tensor], output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let Dims { batch, q_heads, kv_heads, tokens: t, keys: s, head_dim: d, value_dim: dv } = self.dims;
        let group = self.dims.group();
        let (qv, kv, vv) = (contiguous(inputs[0]), contiguous(inputs[1]), contiguous(inputs[2]));
        let (ov, gv) = (contiguous(output), contiguous(grad));
        let (qs, ks, vs) = (
            qv.as_slice().expect("contiguous"),
            kv.as_slice().expect("contiguous"),
            vv.as_slice().expect("contiguous"),
        );
        let (os, gs) = (ov.as_slice().expect("contiguous"), gv.as_slice().expect("contiguous"));
        let mut dq = vec![0f32; qs.len()];
        let mut dk = vec![0f32; ks.len()];
        let mut dvv = vec![0f32; vs.len()];
        // One task per key/value head: it owns that head's dK and dV and the dQ of its query heads, and
        // sums the query heads in order (the same sums whatever the thread count).
        let n = batch * kv_heads;
        let tasks: Vec<_> =
            per_head(&mut dk, n).into_iter().zip(per_head(&mut dvv, n)).zip(per_head(&mut dq, n)).collect();
        tasks.into_par_iter().enumerate().try_for_each(|(bk, ((dk_h, dv_h), dq_g))| -> Result<()> {
            let (kh, vh) = (&ks[bk * s * d..][..s * d], &vs[bk * s * dv..][..s * dv]);
            let mut ds = vec![0f32; t * s];
            for g in 0..group {
                let bh = (bk / kv_heads) * q_heads + (bk % kv_heads) * group + g;
                let p = &self.probs[bh * t * s..][..t * s];
                let (qh, oh, goh) =
                    (&qs[bh * t * d..][..t * d], &os[bh * t * dv..][..t * dv], &gs[bh * t * dv..][..t * dv]);
                // dV += P^T dO
                gemm_into(s, dv, t, p, 1, s, goh, dv, 1, dv_h, true)?;
                // dP = dO V^T, then dS = P (dP - rowsum(dO * O)) * scale
                gemm_into(t, s, dv, goh, dv, 1, vh, 1, dv, &mut ds, false)?;
                for i in 0..t {
                    let delta: f32 = goh[i * dv..][..dv].iter().zip(&oh[i * dv..][..dv]).map(|(a, b)| a * b).sum();
                    for (x, &pij) in ds[i * s..][..s].iter_mut().zip(&p[i * s..][..s]) {
                        *x = pij * (*x - delta) * self.scale;
                    }
                }
                // dQ = dS K, dK += dS^T Q
                gemm_into(t, d, s, &ds, s, 1, kh, d, 1, &mut dq_g[g * t * d..][..t * d], false)?;
                gemm_into(s, d, t, &ds, 1, s, qh, d, 1, dk_h, true)?;
            }
            Ok(())
        })?;
        let shaped = |shape: &[usize], data: Vec<f32>| Tensor::from_shape_vec(IxDyn(shape), data).expect("sized");
        Ok(vec![
            Some(shaped(&[batch, q_heads, t, d], dq)),
            Some(shaped(&[batch, kv_heads, s, d], dk)),
            Some(shaped(&[batch, kv_heads, s, dv], dvv)),
        ])
    }
}
