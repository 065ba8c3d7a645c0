//! Scaled dot-product attention, `softmax(Q K^T * scale + mask) V`, as a differentiable op.
//!
//! Layout: queries `[batch, q_heads, tokens, head_dim]`, keys `[batch, kv_heads, keys, head_dim]`,
//! values `[batch, kv_heads, keys, value_dim]`, output `[batch, q_heads, tokens, value_dim]`. With
//! fewer key/value heads than query heads (`q_heads % kv_heads == 0`), query head `h` reads key/value
//! head `h / (q_heads / kv_heads)`: grouped-query attention (Ainslie et al. 2023), multi-query attention
//! when `kv_heads == 1`. Which keys a query sees is an [`AttentionMask`]; a query that sees no key gets
//! a zero output (and passes no gradient).
//!
//! [`attention`] runs one of the [`AttentionKernel`]s; they compute the same function:
//! - [`AttentionKernel::Naive`]: the `(tokens x keys)` probability matrix of every head is formed and
//!   kept for the backward pass ([`naive`]).
//! - [`AttentionKernel::Flash`]: tiles and an online softmax (Dao et al. 2022, FlashAttention; the
//!   backward pass of FlashAttention-2); keeps one logsumexp per query row ([`flash`]).
//!
//! [`memory_use`] says what each kernel keeps for the backward pass and how much scratch its tasks
//! allocate. [`linear_attention`] is a different function: kernelised attention with the feature map
//! `elu + 1` (Katharopoulos et al. 2020), linear in the sequence length ([`linear`]).
//!
//! [`attention_probs`] is the naive computation for inference that also returns the probabilities.

pub mod flash;
pub mod linear;
mod mask;
pub mod naive;
mod probs;

pub use linear::linear_attention;
pub use mask::AttentionMask;
pub use probs::attention_probs;

use tinylab_classical::Result;
use tinylab_classical::autograd::Var;
use tinylab_classical::error::{arg_err, shape_err};

/// How [`attention`] computes its result. Stored (in a model's configuration) by lower-case name:
/// `"naive"`, `{"flash": {"block_q": 64, "block_k": 64}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionKernel {
    /// Materialise the probability matrix (memory `O(tokens * keys)` per head).
    #[default]
    Naive,
    /// Tiles of `block_q` queries by `block_k` keys with an online softmax (memory `O(tokens)` per
    /// head, scratch `O(block_q * block_k)` per task); both sizes must be at least one.
    Flash {
        /// Query rows per tile.
        block_q: usize,
        /// Key rows per tile.
        block_k: usize,
    },
}

impl AttentionKernel {
    /// The flash kernel with 64 x 64 tiles: a tile's scores (16 KiB) and its slices of Q, K and V stay
    /// in the L1/L2 caches for head widths up to 128.
    pub const fn flash() -> Self {
        AttentionKernel::Flash { block_q: 64, block_k: 64 }
    }
}

/// Memory of one attention call, in bytes, from the sizes the kernels allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    /// Kept by the op for the backward pass, besides its operands and its output (naive: the
    /// probabilities; flash: one logsumexp per query row).
    pub saved: usize,
    /// Scratch one forward task allocates (at most one task per worker thread runs at a time).
    pub forward_scratch: usize,
    /// Scratch one backward task allocates (likewise).
    pub backward_scratch: usize,
    /// Allocated once by the backward pass besides the gradients (flash: `D = rowsum(dO * O)` of
    /// every query row).
    pub backward_rows: usize,
}

impl MemoryUse {
    /// The most the call holds at once beyond operands, output and gradients, with `threads` worker
    /// threads: what it saves plus one scratch per thread (and, backward, the per-row buffers).
    pub fn peak(&self, threads: usize) -> usize {
        self.saved + (threads * self.forward_scratch).max(threads * self.backward_scratch + self.backward_rows)
    }
}

/// What `kernel` keeps and allocates for one call of sizes `dims` (see [`MemoryUse`]); errors on a
/// flash tile of size zero.
pub fn memory_use(kernel: AttentionKernel, dims: &Dims) -> Result<MemoryUse> {
    Ok(match kernel {
        AttentionKernel::Naive => naive::memory_use(dims),
        AttentionKernel::Flash { block_q, block_k } => flash::memory_use(dims, tiles(block_q, block_k)?),
    })
}

/// Checked flash tile sizes.
fn tiles(block_q: usize, block_k: usize) -> Result<flash::Tiles> {
    if block_q == 0 || block_k == 0 {
        return Err(arg_err("attention", format!("flash tiles must be at least 1x1, got {block_q}x{block_k}")));
    }
    Ok(flash::Tiles { block_q, block_k })
}

/// `buf` cut into `n` equal consecutive runs (empty runs when `buf` is empty): one per head, for
/// parallel loops that must see every head even when a head holds no elements.
pub(crate) fn per_head(buf: &mut [f32], n: usize) -> Vec<&mut [f32]> {
    let len = buf.len().checked_div(n).unwrap_or(0);
    if len == 0 { (0..n).map(|_| <&mut [f32]>::default()).collect() } else { buf.chunks_mut(len).collect() }
}

/// The sizes of one attention call, read from and checked against the operands' shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// Batch rows.
    pub batch: usize,
    /// Query heads.
    pub q_heads: usize,
    /// Key/value heads (divides `q_heads`).
    pub kv_heads: usize,
    /// Queries per head.
    pub tokens: usize,
    /// Keys per head.
    pub keys: usize,
    /// Query/key width.
    pub head_dim: usize,
    /// Value width.
    pub value_dim: usize,
}

impl Dims {
    /// The sizes of `q`, `k`, `v` and `mask`; errors name the shapes that disagree.
    pub fn of(q: &[usize], k: &[usize], v: &[usize], mask: &AttentionMask) -> Result<Dims> {
        const OP: &str = "attention";
        if q.len() != 4 || k.len() != 4 || v.len() != 4 {
            let bad = if q.len() != 4 {
                q
            } else if k.len() != 4 {
                k
            } else {
                v
            };
            return Err(shape_err(OP, bad, &[0, 0, 0, 0], "operands must be [batch, heads, tokens, dim]"));
        }
        if k[..3] != v[..3] {
            return Err(shape_err(OP, k, v, "keys and values differ in batch, heads or length"));
        }
        if q[0] != k[0] || q[3] != k[3] {
            return Err(shape_err(OP, q, k, "queries and keys differ in batch or head width"));
        }
        if k[1] == 0 || !q[1].is_multiple_of(k[1]) {
            return Err(shape_err(OP, q, k, "query heads must be a multiple of key/value heads"));
        }
        if let Some(lengths) = &mask.key_lengths
            && (lengths.len() != q[0] || lengths.iter().any(|&l| l > k[2]))
        {
            return Err(arg_err(
                OP,
                format!("mask key_lengths {lengths:?} must have one entry <= {} per batch row ({})", k[2], q[0]),
            ));
        }
        if mask.window == Some(0) {
            return Err(arg_err(OP, "a sliding window must hold at least one key"));
        }
        Ok(Dims {
            batch: q[0],
            q_heads: q[1],
            kv_heads: k[1],
            tokens: q[2],
            keys: k[2],
            head_dim: q[3],
            value_dim: v[3],
        })
    }

    /// Query heads per key/value head.
    pub fn group(&self) -> usize {
        self.q_heads / self.kv_heads
    }
}

/// `softmax(q k^T * scale, masked) v` (see the module doc for layouts); `scale` defaults to
/// `1 / sqrt(head_dim)`. Differentiable in `q`, `k` and `v`.
pub fn attention(
    q: &Var,
    k: &Var,
    v: &Var,
    mask: &AttentionMask,
    scale: Option<f32>,
    kernel: AttentionKernel,
) -> Result<Var> {
    let dims = Dims::of(q.shape(), k.shape(), v.shape(), mask)?;
    let scale = scale.unwrap_or(1.0 / (dims.head_dim.max(1) as f32).sqrt());
    match kernel {
        AttentionKernel::Naive => naive::attention(q, k, v, dims, mask, scale),
        AttentionKernel::Flash { block_q, block_k } => {
            flash::attention(q, k, v, dims, mask, scale, tiles(block_q, block_k)?)
        }
    }
}
