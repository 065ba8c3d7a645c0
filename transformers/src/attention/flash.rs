//! Flash-style attention: the forward pass of Dao et al. 2022 ("FlashAttention: Fast and
//! Memory-Efficient Exact Attention with IO-Awareness") and the backward pass of Dao 2023
//! ("FlashAttention-2"), on the CPU.
//!
//! Queries are cut into tiles of `block_q` rows and keys into tiles of `block_k` rows. A query tile
//! walks the key tiles (skipping those the mask hides), takes the tile's scores with one GEMM, and
//! keeps per query row a running maximum `m` and a running sum `l` of `exp(score - m)`: when a tile
//! raises the maximum, the sum and the output accumulator are rescaled by `exp(m_old - m_new)` (the
//! online softmax of Milakov & Gimelshein 2018). The `(tokens x keys)` matrix is never formed; the op
//! keeps only the per-row logsumexp `m + ln l` for the backward pass, which recomputes each tile's
//! probabilities `P = exp(scale * q k^T - lse)` and accumulates `dV += P^T dO`,
//! `dS = P (dO V^T - D) * scale` with `D = rowsum(dO * O)`, `dQ += dS K` and `dK += dS^T Q` tile by
//! tile, key tiles outermost (as FlashAttention-2 does).
//!
//! Parallelism never splits a sum: the forward pass runs one task per (head, query tile); the backward
//! pass one per key/value head (its dK, dV and its query heads' dQ) or, with fewer key/value heads than
//! threads, one per key tile (dK, dV) and then one per query tile (dQ), recomputing `P` and `dS`. Both
//! layouts add every gradient element's terms in the same order, so the result is the same to the bit
//! whatever the thread count. Scratch is allocated once per task, never per tile.

use super::{AttentionMask, Dims, MemoryUse, per_head};
use ndarray::IxDyn;
use rayon::prelude::*;
use tinylab_classical::autograd::{Op, Var};
use tinylab_classical::ops::fast_exp::{exp, exp_shifted_sum};
use tinylab_classical::ops::gemm_into;
use tinylab_classical::tensor::contiguous;
use tinylab_classical::{Result, Tensor};

/// Bytes of one `f32`.
const F32: usize = std::mem::size_of::<f32>();

/// The op on the tape: the sizes, the mask, the scale, the tiling and the per-row logsumexp.
#[derive(Debug)]
struct FlashAttention {
    dims: Dims,
    mask: AttentionMask,
    scale: f32,
    tiles: Tiles,
    /// `[batch, q_heads, tokens]`: `max + ln(sum)` of each query row's scaled scores, `+inf` for a row
    /// that sees no key (so that its recomputed probabilities are zero).
    lse: Vec<f32>,
}

/// Tile sizes: query rows and key rows per tile (both at least one).
#[derive(Debug, Clone, Copy)]
pub(super) struct Tiles {
    /// Query rows per tile.
    pub block_q: usize,
    /// Key rows per tile.
    pub block_k: usize,
}

/// The scratch of one forward task (query tiles of one head, reused from tile to tile): a tile's scores, then its probabilities; the
/// output accumulator; the running maximum and sum of each row.
struct ForwardScratch {
    scores: Vec<f32>,
    acc: Vec<f32>,
    max: Vec<f32>,
    sum: Vec<f32>,
}

impl ForwardScratch {
    /// Floats allocated by [`ForwardScratch::new`].
    fn floats(tiles: Tiles, dims: &Dims) -> usize {
        let (bq, bk) = (tiles.block_q, tiles.block_k);
        bq * bk + bq * dims.value_dim + 2 * bq
    }

    fn new(tiles: Tiles, dims: &Dims) -> Self {
        let (bq, bk) = (tiles.block_q, tiles.block_k);
        ForwardScratch {
            scores: vec![0.0; bq * bk],
            acc: vec![0.0; bq * dims.value_dim],
            max: vec![0.0; bq],
            sum: vec![0.0; bq],
        }
    }
}

/// The scratch of one backward task: a tile pair's probabilities and its `dP`, then `dS`.
struct BackwardScratch {
    probs: Vec<f32>,
    dscores: Vec<f32>,
}

impl BackwardScratch {
    /// Floats allocated by [`BackwardScratch::new`].
    fn floats(tiles: Tiles) -> usize {
        2 * tiles.block_q * tiles.block_k
    }

    fn new(tiles: Tiles) -> Self {
        let tile = tiles.block_q * tiles.block_k;
        BackwardScratch { probs: vec![0.0; tile], dscores: vec![0.0; tile] }
    }
}

/// What the flash kernel keeps and allocates (see [`super::memory_use`]).
pub(super) fn memory_use(dims: &Dims, tiles: Tiles) -> MemoryUse {
    MemoryUse {
        saved: dims.batch * dims.q_heads * dims.tokens * F32,
        forward_scratch: ForwardScratch::floats(tiles, dims) * F32,
        backward_scratch: BackwardScratch::floats(tiles) * F32,
        backward_rows: dims.batch * dims.q_heads * dims.tokens * F32,
    }
}

/// One head's operands: its queries `[tokens, head_dim]`, keys `[keys, head_dim]` and values
/// `[keys, value_dim]`, and its batch row (for the mask).
struct Head<'a> {
    b: usize,
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
}

/// Flash attention (see [`super::attention`]).
pub(super) fn attention(
    q: &Var,
    k: &Var,
    v: &Var,
    dims: Dims,
    mask: &AttentionMask,
    scale: f32,
    tiles: Tiles,
) -> Result<Var> {
    let (qv, kv, vv) = (contiguous(q.value()), contiguous(k.value()), contiguous(v.value()));
    let (qs, ks, vs) =
        (qv.as_slice().expect("contiguous"), kv.as_slice().expect("contiguous"), vv.as_slice().expect("contiguous"));
    let Dims { batch, q_heads, tokens: t, keys: s, head_dim: d, value_dim: dv, .. } = dims;
    let mut out = vec![0f32; batch * q_heads * t * dv];
    // A row stays at +inf (zero probabilities) where nothing is computed: without values (`value_dim`
    // 0) there is no output, and its gradients are zero.
    let mut lse = vec![f32::INFINITY; batch * q_heads * t];
    let bq = tiles.block_q;
    let heads: Vec<_> =
        per_head(&mut out, batch * q_heads).into_iter().zip(per_head(&mut lse, batch * q_heads)).collect();
    // One task per (head, query tile): each writes its own rows of the output and the logsumexp.
    heads.into_par_iter().enumerate().try_for_each(|(bh, (o, l))| -> Result<()> {
        if dv == 0 {
            return Ok(());
        }
        let b = bh / q_heads;
        let kvh = b * dims.kv_heads + (bh % q_heads) / dims.group();
        let head =
            Head { b, q: &qs[bh * t * d..][..t * d], k: &ks[kvh * s * d..][..s * d], v: &vs[kvh * s * dv..][..s * dv] };
        o.par_chunks_mut(bq * dv).zip(l.par_chunks_mut(bq)).enumerate().try_for_each_init(
            || ForwardScratch::new(tiles, &dims),
            |ws, (tile, (o_tile, l_tile))| {
                forward_tile(&head, &dims, mask, scale, tiles, tile * bq, o_tile, l_tile, ws)
            },
        )
    })?;
    let value = Tensor::from_shape_vec(IxDyn(&[batch, q_heads, t, dv]), out).expect("sized");
    Ok(Var::from_op(FlashAttention { dims, mask: mask.clone(), scale, tiles, lse }, &[q, k, v], value))
}

/// The output rows `i0..i0 + lse.len()` of one head and their logsumexp: the online softmax over the
/// key tiles.
#[allow(clippy::too_many_arguments)]
fn forward_tile(
    head: &Head,
    dims: &Dims,
    mask: &AttentionMask,
    scale: f32,
    tiles: Tiles,
    i0: usize,
    out: &mut [f32],
    lse: &mut [f32],
    ws: &mut ForwardScratch,
) -> Result<()> {
    let (s, d, dv) = (dims.keys, dims.head_dim, dims.value_dim);
    let rows = lse.len();
    let q = &head.q[i0 * d..][..rows * d];
    let (max, sum, acc) = (&mut ws.max[..rows], &mut ws.sum[..rows], &mut ws.acc[..rows * dv]);
    max.fill(f32::NEG_INFINITY);
    sum.fill(0.0);
    acc.fill(0.0);
    for j0 in (0..s).step_by(tiles.block_k) {
        let cols = tiles.block_k.min(s - j0);
        if mask.hides_tile(head.b, i0..i0 + rows, j0..j0 + cols) {
            continue;
        }
        let every = mask.shows_tile(head.b, i0..i0 + rows, j0..j0 + cols);
        let scores = &mut ws.scores[..rows * cols];
        gemm_into(rows, cols, d, q, d, 1, &head.k[j0 * d..], 1, d, scores, false)?;
        for (r, row) in scores.chunks_mut(cols).enumerate() {
            let mut tile_max = f32::NEG_INFINITY;
            for (c, x) in row.iter_mut().enumerate() {
                if every || mask.allows(head.b, i0 + r, j0 + c) {
                    *x *= scale;
                    tile_max = tile_max.max(*x);
                } else {
                    *x = f32::NEG_INFINITY;
                }
            }
            let new_max = max[r].max(tile_max);
            if new_max == f32::NEG_INFINITY {
                // Nothing visible yet in this row: the tile adds nothing.
                row.fill(0.0);
                continue;
            }
            let tile_sum = exp_shifted_sum(row, new_max);
            if new_max > max[r] {
                let alpha = exp(max[r] - new_max);
                sum[r] *= alpha;
                acc[r * dv..][..dv].iter_mut().for_each(|a| *a *= alpha);
                max[r] = new_max;
            }
            sum[r] += tile_sum;
        }
        gemm_into(rows, dv, cols, scores, cols, 1, &head.v[j0 * dv..], dv, 1, acc, true)?;
    }
    for r in 0..rows {
        if sum[r] > 0.0 {
            let inv = 1.0 / sum[r];
            for (o, a) in out[r * dv..][..dv].iter_mut().zip(&acc[r * dv..][..dv]) {
                *o = a * inv;
            }
            lse[r] = max[r] + sum[r].ln();
        } else {
            out[r * dv..][..dv].fill(0.0);
            lse[r] = f32::INFINITY;
        }
    }
    Ok(())
}

impl Op for FlashAttention {
    fn name(&self) -> &'static str {
        "flash_attention"
    }

    fn backward(&self, inputs: &[&Tensor], output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let Dims { batch, q_heads, kv_heads, tokens: t, keys: s, head_dim: d, value_dim: dv } = self.dims;
        let (qv, kv, vv) = (contiguous(inputs[0]), contiguous(inputs[1]), contiguous(inputs[2]));
        let (ov, gv) = (contiguous(output), contiguous(grad));
        let delta = delta_rows(ov.as_slice().expect("contiguous"), gv.as_slice().expect("contiguous"), dv);
        let ops = Operands {
            q: qv.as_slice().expect("contiguous"),
            k: kv.as_slice().expect("contiguous"),
            v: vv.as_slice().expect("contiguous"),
            dout: gv.as_slice().expect("contiguous"),
            delta: &delta,
        };
        let mut dq = vec![0f32; ops.q.len()];
        let mut dk = vec![0f32; ops.k.len()];
        let mut dvv = vec![0f32; ops.v.len()];
        if batch * kv_heads >= rayon::current_num_threads() {
            self.backward_by_head(&ops, &mut dq, &mut dk, &mut dvv)?;
        } else {
            self.backward_by_tile(&ops, &mut dq, &mut dk, &mut dvv)?;
        }
        let shaped = |shape: &[usize], data: Vec<f32>| Tensor::from_shape_vec(IxDyn(shape), data).expect("sized");
        Ok(vec![
            Some(shaped(&[batch, q_heads, t, d], dq)),
            Some(shaped(&[batch, kv_heads, s, d], dk)),
            Some(shaped(&[batch, kv_heads, s, dv], dvv)),
        ])
    }
}

/// `D_i = dO_i . O_i` of every query row (`[batch, q_heads, tokens]`).
fn delta_rows(out: &[f32], dout: &[f32], dv: usize) -> Vec<f32> {
    if dv == 0 {
        return vec![0.0; 0];
    }
    out.par_chunks(dv).zip(dout.par_chunks(dv)).map(|(o, g)| o.iter().zip(g).map(|(a, b)| a * b).sum()).collect()
}

/// The backward pass's inputs: the operands, the output gradient and `D = rowsum(dO * O)`.
struct Operands<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    dout: &'a [f32],
    delta: &'a [f32],
}

/// `buf` (`rows` rows of `width`) cut into runs of `block` rows (the last one shorter), one per tile;
/// empty runs when `width` is zero.
fn row_blocks(mut buf: &mut [f32], rows: usize, width: usize, block: usize) -> Vec<&mut [f32]> {
    let mut blocks = Vec::with_capacity(rows.div_ceil(block));
    for r0 in (0..rows).step_by(block) {
        let (tile, rest) = std::mem::take(&mut buf).split_at_mut(block.min(rows - r0) * width);
        blocks.push(tile);
        buf = rest;
    }
    blocks
}

/// One tile pair of the backward pass: query rows `i0..i0 + m` of query head `bh`, key rows
/// `j0..j0 + cols` of key/value head `bk` in batch row `b`.
#[derive(Clone, Copy)]
struct TilePair {
    b: usize,
    bh: usize,
    bk: usize,
    i0: usize,
    m: usize,
    j0: usize,
    cols: usize,
}

impl FlashAttention {
    /// The key/value head (an index over `batch x kv_heads`) that query head `bh` (over
    /// `batch x q_heads`) reads.
    fn kv_head_of(&self, bh: usize) -> usize {
        (bh / self.dims.q_heads) * self.dims.kv_heads + (bh % self.dims.q_heads) / self.dims.group()
    }

    /// Query head `g` (an index over `batch x q_heads`) of the group of key/value head `bk`.
    fn q_head_of(&self, bk: usize, g: usize) -> usize {
        (bk / self.dims.kv_heads) * self.dims.q_heads + (bk % self.dims.kv_heads) * self.dims.group() + g
    }

    /// The backward pass with one task per key/value head: it owns that head's dK and dV and the dQ of
    /// its query heads, and takes the query heads, the key tiles and the query tiles in order.
    fn backward_by_head(&self, ops: &Operands, dq: &mut [f32], dk: &mut [f32], dv: &mut [f32]) -> Result<()> {
        let Dims { batch, kv_heads, tokens: t, keys: s, head_dim: d, value_dim: w, .. } = self.dims;
        let Tiles { block_q, block_k } = self.tiles;
        let n = batch * kv_heads;
        let tasks: Vec<_> = per_head(dk, n).into_iter().zip(per_head(dv, n)).zip(per_head(dq, n)).collect();
        tasks.into_par_iter().enumerate().try_for_each(|(bk, ((dk_h, dv_h), dq_g))| -> Result<()> {
            let mut ws = BackwardScratch::new(self.tiles);
            for g in 0..self.dims.group() {
                let bh = self.q_head_of(bk, g);
                let dq_h = &mut dq_g[g * t * d..][..t * d];
                for j0 in (0..s).step_by(block_k) {
                    let cols = block_k.min(s - j0);
                    for i0 in (0..t).step_by(block_q) {
                        let m = block_q.min(t - i0);
                        let pair = TilePair { b: bk / kv_heads, bh, bk, i0, m, j0, cols };
                        if self.tile(ops, pair, &mut ws)? {
                            let dq_tile = &mut dq_h[i0 * d..][..m * d];
                            self.key_grads(
                                ops,
                                pair,
                                &ws,
                                &mut dk_h[j0 * d..][..cols * d],
                                &mut dv_h[j0 * w..][..cols * w],
                            )?;
                            self.query_grads(ops, pair, &ws, dq_tile)?;
                        }
                    }
                }
            }
            Ok(())
        })
    }

    /// The backward pass with one task per key tile (its dK and dV rows, summed over the group's query
    /// heads and the query tiles in order), then one per query tile (its dQ rows, over the key tiles in
    /// order): more tasks than key/value heads, at the price of computing each tile's `P` and `dS`
    /// twice. Every gradient element is summed in the same order as in [`Self::backward_by_head`], so
    /// the two give the same bits.
    fn backward_by_tile(&self, ops: &Operands, dq: &mut [f32], dk: &mut [f32], dv: &mut [f32]) -> Result<()> {
        let Dims { batch, q_heads, kv_heads, tokens: t, keys: s, head_dim: d, value_dim: w, .. } = self.dims;
        let Tiles { block_q, block_k } = self.tiles;
        let mut key_tiles = Vec::new();
        for (bk, (dk_h, dv_h)) in
            per_head(dk, batch * kv_heads).into_iter().zip(per_head(dv, batch * kv_heads)).enumerate()
        {
            let tiles = row_blocks(dk_h, s, d, block_k).into_iter().zip(row_blocks(dv_h, s, w, block_k));
            key_tiles.extend(tiles.enumerate().map(|(jt, tile)| (bk, jt * block_k, tile)));
        }
        key_tiles.into_par_iter().try_for_each_init(
            || BackwardScratch::new(self.tiles),
            |ws, (bk, j0, (dk_tile, dv_tile))| -> Result<()> {
                let cols = block_k.min(s - j0);
                for g in 0..self.dims.group() {
                    for i0 in (0..t).step_by(block_q) {
                        let m = block_q.min(t - i0);
                        let pair = TilePair { b: bk / kv_heads, bh: self.q_head_of(bk, g), bk, i0, m, j0, cols };
                        if self.tile(ops, pair, ws)? {
                            self.key_grads(ops, pair, ws, dk_tile, dv_tile)?;
                        }
                    }
                }
                Ok(())
            },
        )?;
        let mut query_tiles = Vec::new();
        for (bh, dq_h) in per_head(dq, batch * q_heads).into_iter().enumerate() {
            query_tiles.extend(
                row_blocks(dq_h, t, d, block_q).into_iter().enumerate().map(|(it, tile)| (bh, it * block_q, tile)),
            );
        }
        query_tiles.into_par_iter().try_for_each_init(
            || BackwardScratch::new(self.tiles),
            |ws, (bh, i0, dq_tile)| -> Result<()> {
                let m = block_q.min(t - i0);
                for j0 in (0..s).step_by(block_k) {
                    let cols = block_k.min(s - j0);
                    let pair = TilePair { b: bh / q_heads, bh, bk: self.kv_head_of(bh), i0, m, j0, cols };
                    if self.tile(ops, pair, ws)? {
                        self.query_grads(ops, pair, ws, dq_tile)?;
                    }
                }
                Ok(())
            },
        )
    }

    /// `P = exp(scale * Q K^T - lse)` (zero where hidden) and `dS = P (dO V^T - D) * scale` of one tile
    /// pair, into `ws`; false (and nothing computed) when the mask hides the whole tile.
    fn tile(&self, ops: &Operands, pair: TilePair, ws: &mut BackwardScratch) -> Result<bool> {
        let TilePair { b, bh, bk, i0, m, j0, cols } = pair;
        let Dims { tokens: t, keys: s, head_dim: d, value_dim: dv, .. } = self.dims;
        if self.mask.hides_tile(b, i0..i0 + m, j0..j0 + cols) {
            return Ok(false);
        }
        let every = self.mask.shows_tile(b, i0..i0 + m, j0..j0 + cols);
        let q_tile = &ops.q[(bh * t + i0) * d..][..m * d];
        let (k_tile, v_tile) = (&ops.k[(bk * s + j0) * d..][..cols * d], &ops.v[(bk * s + j0) * dv..][..cols * dv]);
        let do_tile = &ops.dout[(bh * t + i0) * dv..][..m * dv];
        let (lse, delta) = (&self.lse[bh * t + i0..][..m], ops.delta.get(bh * t + i0..bh * t + i0 + m));
        let (p, ds) = (&mut ws.probs[..m * cols], &mut ws.dscores[..m * cols]);
        gemm_into(m, cols, d, q_tile, d, 1, k_tile, 1, d, p, false)?;
        for (r, row) in p.chunks_mut(cols).enumerate() {
            for (c, x) in row.iter_mut().enumerate() {
                *x = if every || self.mask.allows(b, i0 + r, j0 + c) { exp(*x * self.scale - lse[r]) } else { 0.0 };
            }
        }
        gemm_into(m, cols, dv, do_tile, dv, 1, v_tile, 1, dv, ds, false)?;
        for (r, (ds_row, p_row)) in ds.chunks_mut(cols).zip(p.chunks(cols)).enumerate() {
            let delta = delta.map_or(0.0, |dl| dl[r]);
            for (x, &pij) in ds_row.iter_mut().zip(p_row) {
                *x = pij * (*x - delta) * self.scale;
            }
        }
        Ok(true)
    }

    /// `dK += dS^T Q` and `dV += P^T dO` for the key rows of `pair` (from [`Self::tile`]'s `ws`).
    fn key_grads(
        &self,
        ops: &Operands,
        pair: TilePair,
        ws: &BackwardScratch,
        dk: &mut [f32],
        dv: &mut [f32],
    ) -> Result<()> {
        let TilePair { bh, i0, m, cols, .. } = pair;
        let Dims { tokens: t, head_dim: d, value_dim: w, .. } = self.dims;
        let (p, ds) = (&ws.probs[..m * cols], &ws.dscores[..m * cols]);
        gemm_into(cols, w, m, p, 1, cols, &ops.dout[(bh * t + i0) * w..][..m * w], w, 1, dv, true)?;
        gemm_into(cols, d, m, ds, 1, cols, &ops.q[(bh * t + i0) * d..][..m * d], d, 1, dk, true)
    }

    /// `dQ += dS K` for the query rows of `pair` (from [`Self::tile`]'s `ws`).
    fn query_grads(&self, ops: &Operands, pair: TilePair, ws: &BackwardScratch, dq: &mut [f32]) -> Result<()> {
        let TilePair { bk, m, j0, cols, .. } = pair;
        let Dims { keys: s, head_dim: d, .. } = self.dims;
        gemm_into(m, d, cols, &ws.dscores[..m * cols], cols, 1, &ops.k[(bk * s + j0) * d..][..cols * d], d, 1, dq, true)
    }
}
