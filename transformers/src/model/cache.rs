//! The key/value cache of incremental decoding: per layer, the keys and values of every token seen,
//! so that a new token's attention costs one row of queries instead of re-running the sequence.
//!
//! Storage sits behind the [`KvStore`] trait: [`DenseKv`] keeps f32 rows; a quantized store (int8 /
//! int4 keys per channel, values per token, as in KIVI, Liu et al. 2024) or an evicting one
//! (StreamingLLM's sinks plus a recent window, Xiao et al. 2023) implements the same methods and
//! is plugged in with [`KvCache::with_stores`]. The cache tracks the absolute position of the next
//! token separately from how many keys a store holds, so an evicting store keeps positions right;
//! [`CachePositions`] chooses between those absolute positions and StreamingLLM's positions within
//! the cache ([`KvCache::streaming`]).

use super::config::{GptConfig, Positions};
use super::sink_window::SinkWindowKv;
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

    /// How many keys the store will hold once `new` more tokens are appended, or an error when it
    /// could not keep all `new` of them (so that a step is refused before anything is appended). A
    /// store that never evicts holds `len + new`.
    fn held_after(&self, new: usize) -> Result<usize> {
        Ok(self.len() + new)
    }
}

/// Which positions rotary embeddings give the tokens of a cached step.
///
/// StreamingLLM (Xiao et al. 2023, section 3.2) assigns positions within the cache, not in the text:
/// once an evicting store has dropped tokens, the held keys sit at slots `0..len` and the new query at
/// its slot, so a model never sees a position beyond its cache even while it streams past its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CachePositions {
    /// Token `t` of the text sits at position `t`: keys are rotated once, before they are cached.
    #[default]
    Absolute,
    /// Positions are slots in the cache: keys are cached un-rotated and every held key is rotated by
    /// its slot index when read, the new queries by the slots they occupy (rotary models only).
    InCache,
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

    /// Drops the tokens at indices `range` (held indices, oldest first) from every row and head.
    pub(crate) fn evict(&mut self, range: std::ops::Range<usize>) {
        let d = self.head_dim;
        for b in self.keys.iter_mut().chain(&mut self.values) {
            b.drain(range.start * d..range.end * d);
        }
        self.len -= range.len();
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
    positions: CachePositions,
}

impl KvCache {
    /// Dense f32 stores for a model of `config` decoding `batch` sequences.
    pub fn new(config: &GptConfig, batch: usize) -> Self {
        let layers = (0..config.n_layers)
            .map(|i| {
                Box::new(DenseKv::new(batch, config.block_shape(i).n_kv_heads, config.head_dim(), config.context))
                    as Box<dyn KvStore>
            })
            .collect();
        Self {
            layers,
            batch,
            histories: vec![Vec::new(); config.n_layers],
            position: 0,
            positions: CachePositions::Absolute,
        }
    }

    /// A cache over the given stores (one per layer, all empty), for `batch` sequences.
    pub fn with_stores(layers: Vec<Box<dyn KvStore>>, batch: usize) -> Result<Self> {
        if let Some(i) = layers.iter().position(|s| !s.is_empty()) {
            return Err(arg_err("kv_cache", format!("store {i} is not empty")));
        }
        let histories = vec![Vec::new(); layers.len()];
        Ok(Self { layers, batch, histories, position: 0, positions: CachePositions::Absolute })
    }

    /// StreamingLLM's cache (Xiao et al. 2023): per layer a [`SinkWindowKv`] keeping the first `sinks`
    /// tokens and the most recent `window`, with positions within the cache. With `sinks = 0` it is
    /// plain window attention. Refused unless the model is rotary, `window > 0` and
    /// `sinks + window <= context` (so every slot is a position the model knows).
    pub fn streaming(config: &GptConfig, batch: usize, sinks: usize, window: usize) -> Result<Self> {
        if config.positions != Positions::Rotary {
            return Err(arg_err("kv_cache", "positions within the cache need rotary positions".to_string()));
        }
        if sinks + window > config.context {
            return Err(arg_err(
                "kv_cache",
                format!("{sinks} sinks plus a window of {window} exceed the context of {}", config.context),
            ));
        }
        let layers = (0..config.n_layers)
            .map(|i| {
                SinkWindowKv::new(batch, config.block_shape(i).n_kv_heads, config.head_dim(), sinks, window)
                    .map(|s| Box::new(s) as Box<dyn KvStore>)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::with_stores(layers, batch)?.with_positions(CachePositions::InCache))
    }

    /// The cache with rotary positions chosen by `positions` (see [`CachePositions`]).
    pub fn with_positions(mut self, positions: CachePositions) -> Self {
        self.positions = positions;
        self
    }

    /// How rotary positions are assigned.
    pub fn positions(&self) -> CachePositions {
        self.positions
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
