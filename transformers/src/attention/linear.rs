//! Linear attention (Katharopoulos et al. 2020, "Transformers are RNNs: Fast Autoregressive
//! Transformers with Linear Attention"): the softmax kernel `exp(q.k)` is replaced by
//! `phi(q).phi(k)` with the feature map `phi(x) = elu(x) + 1`, so that
//!
//! `out_i = phi(q_i)^T S_i / (phi(q_i)^T z_i)`, `S_i = sum_j phi(k_j) v_j^T`, `z_i = sum_j phi(k_j)`,
//!
//! the sums running over every key, or (causal) over the keys `j <= i + keys - tokens` (the queries
//! are the last `tokens` positions, as with a KV cache). Time and memory are linear in the sequence
//! length: the causal sums are taken in chunks of [`CHUNK`] rows, a running `S` for the earlier chunks
//! and a small masked `(CHUNK x CHUNK)` product inside the chunk. The backward pass uses the same
//! chunked products, the key-side sums running backwards (suffix sums).

use super::{AttentionMask, Dims, per_head};
use ndarray::IxDyn;
use rayon::prelude::*;
use tinylab_classical::autograd::{Op, Var};
use tinylab_classical::error::arg_err;
use tinylab_classical::ops::gemm_into;
use tinylab_classical::tensor::contiguous;
use tinylab_classical::{Result, Tensor};

/// Rows per chunk of the causal sums.
pub const CHUNK: usize = 64;

/// The feature map `elu(x) + 1` (positive, so the normaliser never vanishes).
#[inline]
fn phi(x: f32) -> f32 {
    if x > 0.0 { x + 1.0 } else { x.exp() }
}

/// The derivative of [`phi`].
#[inline]
fn phi_grad(x: f32) -> f32 {
    if x > 0.0 { 1.0 } else { x.exp() }
}

/// `phi` of every element of `src`, written to `dst`.
fn feature_map(src: &[f32], dst: &mut Vec<f32>) {
    dst.clear();
    dst.extend(src.iter().map(|&x| phi(x)));
}

/// The op on the tape: the sizes, the mask reach and each query row's normaliser.
#[derive(Debug)]
struct LinearAttention {
    dims: Dims,
    /// `Some(keys - tokens)` when causal: query `i` sees keys `j <= i + reach`.
    reach: Option<usize>,
    /// `[batch, q_heads, tokens]`: `phi(q_i)^T z_i` (zero when there are no keys).
    den: Vec<f32>,
}

/// Linear attention with the feature map `elu + 1` (see the module doc), on the layouts of
/// [`super::attention`] (grouped-query heads included). Differentiable in `q`, `k` and `v`. Errors on
/// inconsistent shapes, and when `causal` with fewer keys than queries.
pub fn linear_attention(q: &Var, k: &Var, v: &Var, causal: bool) -> Result<Var> {
    let dims = Dims::of(q.shape(), k.shape(), v.shape(), &AttentionMask::full())?;
    let Dims { batch, q_heads, tokens: t, keys: s, head_dim: d, value_dim: dv, .. } = dims;
    if causal && s < t {
        return Err(arg_err(
            "linear_attention",
            format!("causal attention needs at least as many keys ({s}) as queries ({t})"),
        ));
    }
    let reach = if causal { Some(s - t) } else { None };
    let (qv, kv, vv) = (contiguous(q.value()), contiguous(k.value()), contiguous(v.value()));
    let (qs, ks, vs) =
        (qv.as_slice().expect("contiguous"), kv.as_slice().expect("contiguous"), vv.as_slice().expect("contiguous"));
    let mut out = vec![0f32; batch * q_heads * t * dv];
    let mut den = vec![0f32; batch * q_heads * t];
    let heads: Vec<_> =
        per_head(&mut out, batch * q_heads).into_iter().zip(per_head(&mut den, batch * q_heads)).collect();
    heads.into_par_iter().enumerate().try_for_each(|(bh, (o, z))| -> Result<()> {
        let kvh = (bh / q_heads) * dims.kv_heads + (bh % q_heads) / dims.group();
        let mut ws = Scratch::default();
        let (mut qf, mut kf, mut v1, mut num) = (Vec::new(), Vec::new(), Vec::new(), vec![0f32; t * (dv + 1)]);
        feature_map(&qs[bh * t * d..][..t * d], &mut qf);
        feature_map(&ks[kvh * s * d..][..s * d], &mut kf);
        with_ones(&vs[kvh * s * dv..][..s * dv], s, dv, &mut v1);
        // [num | den] = sum over visible keys of (phi(q_i).phi(k_j)) [v_j | 1]
        let p = Products { a: &qf, c: &kf, w: &v1, na: t, nc: s, da: d, dw: dv + 1 };
        p.prefix(reach, &mut num, &mut ws)?;
        for i in 0..t {
            let row = &num[i * (dv + 1)..][..dv + 1];
            z[i] = row[dv];
            if row[dv] > 0.0 {
                let inv = 1.0 / row[dv];
                o[i * dv..][..dv].iter_mut().zip(&row[..dv]).for_each(|(o, n)| *o = n * inv);
            }
        }
        Ok(())
    })?;
    let value = Tensor::from_shape_vec(IxDyn(&[batch, q_heads, t, dv]), out).expect("sized");
    Ok(Var::from_op(LinearAttention { dims, reach, den }, &[q, k, v], value))
}

/// `rows` (`[n, width]`) with a column of ones appended (`[n, width + 1]`), written to `dst`.
fn with_ones(rows: &[f32], n: usize, width: usize, dst: &mut Vec<f32>) {
    dst.clear();
    for i in 0..n {
        dst.extend_from_slice(&rows[i * width..][..width]);
        dst.push(1.0);
    }
}

/// `rows` (`[n, width]`) in reverse row order, written to `dst`.
fn reverse_rows(rows: &[f32], width: usize, dst: &mut Vec<f32>) {
    dst.clear();
    if width > 0 {
        for row in rows.chunks(width).rev() {
            dst.extend_from_slice(row);
        }
    }
}

/// Scratch of the chunked products: the running state `C^T W` and one chunk's masked scores; and
/// reversed copies for the suffix sums.
#[derive(Default)]
struct Scratch {
    state: Vec<f32>,
    scores: Vec<f32>,
    rev: [Vec<f32>; 4],
}

/// The masked kernel products `out_x = sum_{y visible from x} (a_x . c_y) w_y` for rows `a`
/// (`[na, da]`), `c` (`[nc, da]`) and `w` (`[nc, dw]`): the one primitive of the forward and the
/// backward pass.
struct Products<'a> {
    a: &'a [f32],
    c: &'a [f32],
    w: &'a [f32],
    na: usize,
    nc: usize,
    da: usize,
    dw: usize,
}

impl Products<'_> {
    /// `out` (`[na, dw]`) `= sum over y <= x + reach` (every `y` when `reach` is `None`).
    fn prefix(&self, reach: Option<usize>, out: &mut [f32], ws: &mut Scratch) -> Result<()> {
        let Products { a, c, w, na, nc, da, dw } = *self;
        let out = &mut out[..na * dw];
        ws.state.clear();
        ws.state.resize(da * dw, 0.0);
        let Some(reach) = reach else {
            // S = C^T W once, then out = A S.
            gemm_into(da, dw, nc, c, 1, da, w, dw, 1, &mut ws.state, false)?;
            return gemm_into(na, dw, da, a, da, 1, &ws.state, dw, 1, out, false);
        };
        ws.scores.resize(CHUNK * CHUNK, 0.0);
        let mut done = 0;
        for x0 in (0..na).step_by(CHUNK) {
            let rows = CHUNK.min(na - x0);
            let (a_chunk, out_chunk) = (&a[x0 * da..][..rows * da], &mut out[x0 * dw..][..rows * dw]);
            // Keys every query of the chunk sees join the state...
            let full = (x0 + reach + 1).min(nc);
            if full > done {
                gemm_into(da, dw, full - done, &c[done * da..], 1, da, &w[done * dw..], dw, 1, &mut ws.state, true)?;
                done = full;
            }
            gemm_into(rows, dw, da, a_chunk, da, 1, &ws.state, dw, 1, out_chunk, false)?;
            // ...and those only later queries of the chunk see are a masked product.
            let hi = (x0 + rows + reach).min(nc);
            if hi > full {
                let cols = hi - full;
                let scores = &mut ws.scores[..rows * cols];
                gemm_into(rows, cols, da, a_chunk, da, 1, &c[full * da..], 1, da, scores, false)?;
                for (r, row) in scores.chunks_mut(cols).enumerate() {
                    // Key full + col is visible from query x0 + r when full + col <= x0 + r + reach.
                    let visible = (x0 + r + reach + 1).saturating_sub(full).min(cols);
                    row[visible..].fill(0.0);
                }
                gemm_into(rows, dw, cols, scores, cols, 1, &w[full * dw..], dw, 1, out_chunk, true)?;
            }
        }
        Ok(())
    }

    /// `out` (`[na, dw]`) `= sum over y >= x - reach` (every `y` when `reach` is `None`): the prefix
    /// sums of the rows reversed, where `y' <= x' + reach + nc - na`.
    fn suffix(&self, reach: Option<usize>, out: &mut [f32], ws: &mut Scratch) -> Result<()> {
        let Some(reach) = reach else { return self.prefix(None, out, ws) };
        let Products { a, c, w, na, nc, da, dw } = *self;
        // reach + nc - na >= 0: the causal calls have nc = tokens, na = keys, reach = keys - tokens.
        let reversed_reach = (reach + nc).checked_sub(na).ok_or_else(|| {
            arg_err("linear_attention", format!("a suffix over {nc} keys cannot reach {reach} rows from {na} queries"))
        })?;
        let [ra, rc, rw, rout] = &mut ws.rev;
        reverse_rows(a, da, ra);
        reverse_rows(c, da, rc);
        reverse_rows(w, dw, rw);
        rout.clear();
        rout.resize(na * dw, 0.0);
        let (ra, rc, rw, mut rout) = (std::mem::take(ra), std::mem::take(rc), std::mem::take(rw), std::mem::take(rout));
        let reversed = Products { a: &ra, c: &rc, w: &rw, na, nc, da, dw };
        reversed.prefix(Some(reversed_reach), &mut rout, ws)?;
        if dw > 0 {
            for (dst, src) in out[..na * dw].chunks_mut(dw).zip(rout.chunks(dw).rev()) {
                dst.copy_from_slice(src);
            }
        }
        rout.clear();
        ws.rev = [ra, rc, rw, rout];
        Ok(())
    }
}

impl Op for LinearAttention {
    fn name(&self) -> &'static str {
        "linear_attention"
    }

    fn backward(&self, inputs: &[&Tensor], output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let dims = self.dims;
        let Dims { batch, q_heads, kv_heads, tokens: t, keys: s, head_dim: d, value_dim: dv } = dims;
        let group = dims.group();
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
        let n = batch * kv_heads;
        let tasks: Vec<_> =
            per_head(&mut dk, n).into_iter().zip(per_head(&mut dvv, n)).zip(per_head(&mut dq, n)).collect();
        // One task per key/value head, its query heads in order (the same sums whatever the thread count).
        tasks.into_par_iter().enumerate().try_for_each(|(bk, ((dk_h, dv_h), dq_g))| -> Result<()> {
            let mut ws = Scratch::default();
            let (k_h, v_h) = (&ks[bk * s * d..][..s * d], &vs[bk * s * dv..][..s * dv]);
            let (mut kf, mut v1, mut qf, mut g1) = (Vec::new(), Vec::new(), Vec::new(), vec![0f32; t * (dv + 1)]);
            feature_map(k_h, &mut kf);
            with_ones(v_h, s, dv, &mut v1);
            let (mut dqf, mut dkf, mut dv1) = (vec![0f32; t * d], vec![0f32; s * d], vec![0f32; s * (dv + 1)]);
            let mut dkf_sum = vec![0f32; s * d];
            for g in 0..group {
                let bh = (bk / kv_heads) * q_heads + (bk % kv_heads) * group + g;
                let q_h = &qs[bh * t * d..][..t * d];
                feature_map(q_h, &mut qf);
                // G' = [dO / den | -(dO . O) / den]: the gradients of [num | den].
                let (o_h, go_h, den) =
                    (&os[bh * t * dv..][..t * dv], &gs[bh * t * dv..][..t * dv], &self.den[bh * t..][..t]);
                for i in 0..t {
                    let row = &mut g1[i * (dv + 1)..][..dv + 1];
                    if den[i] > 0.0 {
                        let inv = 1.0 / den[i];
                        let (go, o) = (&go_h[i * dv..][..dv], &o_h[i * dv..][..dv]);
                        row[..dv].iter_mut().zip(go).for_each(|(r, g)| *r = g * inv);
                        row[dv] = -go.iter().zip(o).map(|(a, b)| a * b).sum::<f32>() * inv;
                    } else {
                        row.fill(0.0);
                    }
                }
                // dphi(q)_i = sum_j (G'_i . [v_j | 1]) phi(k_j)
                let p = Products { a: &g1, c: &v1, w: &kf, na: t, nc: s, da: dv + 1, dw: d };
                p.prefix(self.reach, &mut dqf, &mut ws)?;
                for ((dst, &x), &dphi) in dq_g[g * t * d..][..t * d].iter_mut().zip(q_h).zip(&dqf) {
                    *dst = dphi * phi_grad(x);
                }
                // dphi(k)_j = sum_i ([v_j | 1] . G'_i) phi(q_i), over the queries that see key j
                let p = Products { a: &v1, c: &g1, w: &qf, na: s, nc: t, da: dv + 1, dw: d };
                p.suffix(self.reach, &mut dkf, &mut ws)?;
                dkf_sum.iter_mut().zip(&dkf).for_each(|(acc, x)| *acc += x);
                // [dv_j | _] = sum_i (phi(k_j) . phi(q_i)) G'_i
                let p = Products { a: &kf, c: &qf, w: &g1, na: s, nc: t, da: d, dw: dv + 1 };
                p.suffix(self.reach, &mut dv1, &mut ws)?;
                if dv > 0 {
                    for (dst, src) in dv_h.chunks_mut(dv).zip(dv1.chunks(dv + 1)) {
                        dst.iter_mut().zip(&src[..dv]).for_each(|(a, b)| *a += b);
                    }
                }
            }
            for ((dst, &x), &dphi) in dk_h.iter_mut().zip(k_h).zip(&dkf_sum) {
                *dst = dphi * phi_grad(x);
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
