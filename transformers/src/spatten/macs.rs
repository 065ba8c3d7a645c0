//! Multiply-accumulate counts of the work a (pruned) encoder layer executes: what SpAtten's savings
//! are measured in (Wang, Zhang & Han 2021 report the attention's share).

use crate::model::MlpKind;
use serde::{Deserialize, Serialize};

/// Multiply-accumulates of attention (the query/key/value/output projections, the scores `Q K^T` and
/// the weighted sum `P V`) and of the feed-forward networks. Norms, embeddings and the classifier head
/// are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacCount {
    /// Attention multiply-accumulates.
    pub attention: u64,
    /// Feed-forward multiply-accumulates.
    pub mlp: u64,
}

impl MacCount {
    /// Both parts together.
    pub fn total(&self) -> u64 {
        self.attention + self.mlp
    }

    /// Adds `other` in place.
    pub fn add(&mut self, other: MacCount) {
        self.attention += other.attention;
        self.mlp += other.mlp;
    }
}

/// The sizes of one layer's pass over one sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerWork {
    /// Tokens the layer processes.
    pub tokens: usize,
    /// Query heads computed.
    pub q_heads: usize,
    /// Key/value heads computed (those the kept query heads read).
    pub kv_heads: usize,
    /// Width of a head.
    pub head_dim: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Hidden width of the feed-forward network.
    pub d_ff: usize,
    /// Which feed-forward network (SwiGLU has a third matrix).
    pub mlp: MlpKind,
}

impl LayerWork {
    /// The multiply-accumulates of this work.
    pub fn macs(&self) -> MacCount {
        let (t, d, dh) = (self.tokens as u64, self.d_model as u64, self.head_dim as u64);
        let (hq, hkv) = (self.q_heads as u64, self.kv_heads as u64);
        let projections = t * d * dh * (2 * hq + 2 * hkv);
        let scores_and_sum = 2 * hq * t * t * dh;
        let matrices = match self.mlp {
            MlpKind::Gelu => 2,
            MlpKind::SwiGlu => 3,
        };
        MacCount { attention: projections + scores_and_sum, mlp: matrices * t * d * self.d_ff as u64 }
    }
}
