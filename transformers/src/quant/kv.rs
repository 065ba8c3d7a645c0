//! KV-cache quantization in KIVI's layout (Liu et al. 2024): keys per channel, values per token.
//!
//! Key caches have outlier *channels* (a few head-dim channels are large in every token), value
//! caches do not, so keys share a scale per head-dim channel over the tokens of a block, and values
//! a scale per token over its channels. Both are asymmetric with a float minimum: with the group's
//! range `[lo, hi]`, `s = (hi - lo) / (2^b - 1)`, `q = round((x - lo) / s)`, `x̂ = lo + q s`, so
//! `|x - x̂| <= s / 2`. Codes are one byte each for int8 and two per byte for int4 (element `2i` in
//! the low nibble, `2i + 1` in the high one, in row-major `[tokens, head_dim]` order).

use tinylab_classical::Result;
use tinylab_classical::error::{arg_err, shape_err};

/// The width of a cache's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvBits {
    /// 8 bits, one byte per element.
    Int8,
    /// 4 bits, two elements per byte.
    Int4,
}

impl KvBits {
    /// The largest code.
    pub fn qmax(self) -> u8 {
        match self {
            Self::Int8 => 255,
            Self::Int4 => 15,
        }
    }
}

/// Which elements share a scale and a minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvAxis {
    /// One per head-dim channel over each block of `block` tokens (keys).
    PerChannel {
        /// Tokens per block.
        block: usize,
    },
    /// One per token over its channels (values).
    PerToken,
}

/// A quantized `[tokens, head_dim]` cache of one head.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedKv {
    tokens: usize,
    dim: usize,
    bits: KvBits,
    axis: KvAxis,
    codes: Vec<u8>,
    scales: Vec<f32>,
    mins: Vec<f32>,
}

/// Keys `[tokens, dim]` (row-major) quantized per channel over blocks of `block` tokens.
pub fn quantize_keys(k: &[f32], tokens: usize, dim: usize, block: usize, bits: KvBits) -> Result<QuantizedKv> {
    if block == 0 {
        return Err(arg_err("quantize_keys", "a block must hold at least one token"));
    }
    QuantizedKv::new(k, tokens, dim, bits, KvAxis::PerChannel { block })
}

/// Values `[tokens, dim]` (row-major) quantized per token.
pub fn quantize_values(v: &[f32], tokens: usize, dim: usize, bits: KvBits) -> Result<QuantizedKv> {
    QuantizedKv::new(v, tokens, dim, bits, KvAxis::PerToken)
}

impl QuantizedKv {
    /// Quantizes `x` (`[tokens, dim]`, row-major, finite) with the given grouping.
    pub fn new(x: &[f32], tokens: usize, dim: usize, bits: KvBits, axis: KvAxis) -> Result<Self> {
        const OP: &str = "QuantizedKv::new";
        if x.len() != tokens * dim {
            return Err(shape_err(OP, &[tokens, dim], &[x.len()], "the cache must be tokens x head_dim"));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(arg_err(OP, "cache entries must be finite"));
        }
        let mut me = Self { tokens, dim, bits, axis, codes: Vec::new(), scales: Vec::new(), mins: Vec::new() };
        let groups = me.groups();
        let (mut lo, mut hi) = (vec![f32::INFINITY; groups], vec![f32::NEG_INFINITY; groups]);
        for (i, &v) in x.iter().enumerate() {
            let g = me.group_of(i / dim.max(1), i % dim.max(1));
            lo[g] = lo[g].min(v);
            hi[g] = hi[g].max(v);
        }
        let qmax = bits.qmax() as f32;
        me.scales = lo.iter().zip(&hi).map(|(&l, &h)| if h > l { (h - l) / qmax } else { 1.0 }).collect();
        me.mins = lo;
        let codes: Vec<u8> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let g = me.group_of(i / dim.max(1), i % dim.max(1));
                ((v - me.mins[g]) / me.scales[g]).round().clamp(0.0, qmax) as u8
            })
            .collect();
        me.codes = match bits {
            KvBits::Int8 => codes,
            KvBits::Int4 => codes.chunks(2).map(|p| p[0] | (p.get(1).copied().unwrap_or(0) << 4)).collect(),
        };
        Ok(me)
    }

    /// Scale groups: blocks x channels, or tokens.
    fn groups(&self) -> usize {
        match self.axis {
            KvAxis::PerChannel { block } => self.tokens.div_ceil(block) * self.dim,
            KvAxis::PerToken => self.tokens,
        }
    }

    /// The group of element `(t, c)`.
    #[inline]
    fn group_of(&self, t: usize, c: usize) -> usize {
        match self.axis {
            KvAxis::PerChannel { block } => (t / block) * self.dim + c,
            KvAxis::PerToken => t,
        }
    }

    /// The codes, one per element, row-major.
    pub fn codes(&self) -> Vec<u8> {
        match self.bits {
            KvBits::Int8 => self.codes.clone(),
            KvBits::Int4 => self.codes.iter().flat_map(|&b| [b & 15, b >> 4]).take(self.tokens * self.dim).collect(),
        }
    }

    /// The quantization step of element `(t, c)`: its reconstruction error is at most half of it.
    pub fn step(&self, t: usize, c: usize) -> f32 {
        self.scales[self.group_of(t, c)]
    }

    /// The reconstructed cache `lo + q s`, row-major `[tokens, dim]`.
    pub fn dequantize(&self) -> Vec<f32> {
        self.codes()
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let g = self.group_of(i / self.dim.max(1), i % self.dim.max(1));
                q as f32 * self.scales[g] + self.mins[g]
            })
            .collect()
    }

    /// Bytes of the stored cache: codes plus an f32 scale and minimum per group.
    pub fn bytes(&self) -> usize {
        self.codes.len() + 8 * self.scales.len()
    }

    /// Tokens held.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// Head width.
    pub fn dim(&self) -> usize {
        self.dim
    }
}
