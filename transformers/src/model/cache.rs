//! The key/value cache of incremental decoding: per layer, the keys and values of every token seen,
//! so that a new token's attention costs one row of queries instead of re-running the sequence.
//!
//! Storage sits behind the [`KvStore`] trait: [`DenseKv`] keeps f32 rows; a quantized store (int8 /
//! int4 keys per channel, values per token, as in KIVI, Liu et al. 2024) or an evicting one
//! (StreamingLLM's sinks plus a recent window, Xiao et al. 2023) implements the same four methods and
//! is plugged in with [`KvCache::with_stores`]. The cache tracks the absolute position of the next
//! token separately from how many keys a store holds, so an evicting store keeps positions right.

use super::config::GptConfig;
use ndarray::IxDyn;
use tinylab_classical::error::{arg_err, shape_err};
use tinylab_classical::tensor::contiguous;
use tinylab_classical::{Result, Tensor};

/// Where one layer's keys and values live.
pub trait KvStore: std::fmt::Debug + Send {
    /// Appends `keys` `[batch, kv_heads, new, head_dim]` and `values` `[batch, kv_heads, new,
    /// head_dim]` after the ones held. A store may then drop older entries (eviction) but keeps the
    /// new ones last, in order.
    fn append(&mut self, keys: &Tensor, values: &Tensor) -> Result<()>;

    /// How many tokens' keys are held (the attention's key count).
    fn len(&self) -> usize;

    /// True when nothing is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The held keys `[batch, kv_heads, len, head_dim]` (dequantised where stored compressed).
    fn keys(&self) -> Tensor;

    /// The held values `[batch, kv_heads, len, head_dim]`.
    fn values(&self) -> Tensor;

    /// Bytes of storage the held keys and values take (what quantizing or evicting saves).
    fn bytes(&self) -> usize;
}

/// The f32 store: one growing row-major buffer per (batch row, head), so appending copies only the
/// new rows.
#[derive(Debug, Clone)]
pub struct DenseKv {
    batch: usize,
    heads: usize,
    head_dim: usize,
    len: usize,
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
}

impl DenseKv {
    /// An empty store for `batch` rows of `heads` heads of width `head_dim`, with room reserved for
    /// `capacity` tokens.
    pub fn new(batch: usize, heads: usize, head_dim: usize, capacity: usize) -> Self {
        let buffers = || (0..batch * heads).map(|_| Vec::with_capacity(capacity * head_dim)).collect();
        Self { batch, heads, head_dim, len: 0, keys: buffers(), values: buffers() }
    }

    fn gather(&self, buffers: &[Vec<f32>]) -> Tensor {
        let data: Vec<f32> = buffers.iter().flatten().copied().collect();
        Tensor::from_shape_vec(IxDyn(&[self.batch, self.heads, self.len, self.head_dim]), data).expect("sized")
    }
}

impl KvStore for DenseKv {
    fn append(&mut self, keys: &Tensor, values: &Tensor) -> Result<()> {
        let want = [self.batch, self.heads, keys.shape().get(2).copied().unwrap_or(0), self.head_dim];
        for t in [keys, values] {
            if t.shape() != want {
                return Err(shape_err(
                    "kv_cache",
                    t.shape(),
                    &want,
                    "new keys/values must be [batch, kv_heads, new, head_dim]",
                ));
            }
        }
        let new = want[2];
        let (kc, vc) = (contiguous(keys), contiguous(values));
        let (ks, vs) = (kc.as_slice().expect("contiguous"), vc.as_slice().expect("contiguous"));
        let slab = new * self.head_dim;
        for (i, (kb, vb)) in self.keys.iter_mut().zip(&mut self.values).enumerate() {
            kb.extend_from_slice(&ks[i * slab..][..slab]);
            vb.extend_from_slice(&vs[i * slab..][..slab]);
        }
        self.len += new;
        Ok(())
    }

    fn len(&self) -> usize {
        self.len
    }

    fn keys(&self) -> Tensor {
        self.gather(&self.keys)
    }

    fn values(&self) -> Tensor {
        self.gather(&self.values)
    }

    fn bytes(&self) -> usize {
        2 * self.batch * self.heads * self.len * self.head_dim * std::mem::size_of::<f32>()
    }
}

/// One [`KvStore`] per layer and the position of the next token.
#[derive(Debug)]
pub struct KvCache {
    /// The layers' stores, in block order.
    pub layers: Vec<Box<dyn KvStore>>,
    /// Batch rows the cache was made for.
    pub batch: usize,
    /// Per layer, the convolution history of an LSRA block (empty otherwise).
    pub(crate) histories: Vec<Vec<f32>>,
    position: usize,
}

impl KvCache {
    /// Dense f32 stores for a model of `config` decoding `batch` sequences.
    pub fn new(config: &GptConfig, batch: usize) -> Self {
        let layers = (0..config.n_layers)
            .map(|_| {
                Box::new(DenseKv::new(batch, config.n_kv_heads, config.head_dim(), config.context)) as Box<dyn KvStore>
            })
            .collect();
        Self { layers, batch, histories: vec![Vec::new(); config.n_layers], position: 0 }
    }

    /// A cache over the given stores (one per layer, all empty), for `batch` sequences.
    pub fn with_stores(layers: Vec<Box<dyn KvStore>>, batch: usize) -> Result<Self> {
        if let Some(i) = layers.iter().position(|s| !s.is_empty()) {
            return Err(arg_err("kv_cache", format!("store {i} is not empty")));
        }
        let histories = vec![Vec::new(); layers.len()];
        Ok(Self { layers, batch, histories, position: 0 })
    }

    /// The absolute position of the next token (tokens seen so far).
    pub fn position(&self) -> usize {
        self.position
    }

    /// Bytes the layers' stores hold.
    pub fn bytes(&self) -> usize {
        self.layers.iter().map(|s| s.bytes()).sum()
    }

    /// Records that `tokens` more tokens went through every layer.
    pub(crate) fn advance(&mut self, tokens: usize) {
        self.position += tokens;
    }
}
