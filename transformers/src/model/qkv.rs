//! A [`KvStore`] that keeps the cache quantized in KIVI's layout (Liu et al. 2024), on the codes of
//! [`crate::quant::kv`]: keys per channel over blocks of `block` tokens, values per token, int8 or
//! int4.
//!
//! As in KIVI, the keys of an unfinished block stay in f32 (the "residual" of at most `block - 1`
//! tokens) until the block fills, because a per-channel scale needs the whole block; values are
//! quantized as they arrive. [`KvStore::keys`] and [`KvStore::values`] return the dequantized cache.

use super::cache::KvStore;
use super::config::GptConfig;
use crate::quant::kv::{KvBits, QuantizedKv, quantize_keys, quantize_values};
use ndarray::IxDyn;
use tinylab_classical::error::{arg_err, shape_err};
use tinylab_classical::tensor::contiguous;
use tinylab_classical::{Result, Tensor};

/// One (batch row, head) of the cache.
#[derive(Debug, Clone, Default)]
struct Head {
    key_blocks: Vec<QuantizedKv>,
    key_residual: Vec<f32>,
    values: Vec<QuantizedKv>,
}

/// A quantized KV store for `batch` rows of `heads` heads of width `head_dim`.
#[derive(Debug, Clone)]
pub struct QuantKv {
    batch: usize,
    heads: usize,
    head_dim: usize,
    bits: KvBits,
    block: usize,
    len: usize,
    rows: Vec<Head>,
}

impl QuantKv {
    /// An empty store; keys share a scale per channel over `block` tokens (KIVI uses 32 to 128).
    pub fn new(batch: usize, heads: usize, head_dim: usize, bits: KvBits, block: usize) -> Result<Self> {
        if block == 0 || head_dim == 0 {
            return Err(arg_err("quant_kv", "the key block and the head width must be positive"));
        }
        Ok(Self { batch, heads, head_dim, bits, block, len: 0, rows: vec![Head::default(); batch * heads] })
    }

    /// One store per layer of a model of `config`, for [`super::KvCache::with_stores`].
    pub fn for_model(config: &GptConfig, batch: usize, bits: KvBits, block: usize) -> Result<Vec<Box<dyn KvStore>>> {
        (0..config.n_layers)
            .map(|i| {
                Ok(Box::new(Self::new(batch, config.block_shape(i).n_kv_heads, config.head_dim(), bits, block)?)
                    as Box<dyn KvStore>)
            })
            .collect()
    }

    /// `[batch, heads, len, head_dim]` from each head's row-major `[len, head_dim]` rows.
    fn gather(&self, part: impl Fn(&Head) -> Vec<f32>) -> Tensor {
        let data: Vec<f32> = self.rows.iter().flat_map(part).collect();
        Tensor::from_shape_vec(IxDyn(&[self.batch, self.heads, self.len, self.head_dim]), data).expect("sized")
    }
}

impl KvStore for QuantKv {
    fn append(&mut self, keys: &Tensor, values: &Tensor) -> Result<()> {
        let new = keys.shape().get(2).copied().unwrap_or(0);
        let want = [self.batch, self.heads, new, self.head_dim];
        for t in [keys, values] {
            if t.shape() != want {
                return Err(shape_err(
                    "quant_kv",
                    t.shape(),
                    &want,
                    "new keys/values must be [batch, kv_heads, new, head_dim]",
                ));
            }
        }
        let (kc, vc) = (contiguous(keys), contiguous(values));
        let (ks, vs) = (kc.as_slice().expect("contiguous"), vc.as_slice().expect("contiguous"));
        let (dim, block, bits) = (self.head_dim, self.block, self.bits);
        let slab = new * dim;
        for (i, head) in self.rows.iter_mut().enumerate() {
            head.values.push(quantize_values(&vs[i * slab..][..slab], new, dim, bits)?);
            head.key_residual.extend_from_slice(&ks[i * slab..][..slab]);
            while head.key_residual.len() >= block * dim {
                let rest = head.key_residual.split_off(block * dim);
                head.key_blocks.push(quantize_keys(&head.key_residual, block, dim, block, bits)?);
                head.key_residual = rest;
            }
        }
        self.len += new;
        Ok(())
    }

    fn len(&self) -> usize {
        self.len
    }

    fn keys(&self) -> Tensor {
        self.gather(|h| {
            let mut k: Vec<f32> = h.key_blocks.iter().flat_map(|b| b.dequantize()).collect();
            k.extend_from_slice(&h.key_residual);
            k
        })
    }

    fn values(&self) -> Tensor {
        self.gather(|h| h.values.iter().flat_map(|v| v.dequantize()).collect())
    }

    fn bytes(&self) -> usize {
        self.rows
            .iter()
            .map(|h| {
                h.key_blocks.iter().chain(&h.values).map(QuantizedKv::bytes).sum::<usize>() + 4 * h.key_residual.len()
            })
            .sum()
    }
}
