//! Which tokens and heads each layer of a pruned pass keeps: SpAtten's cascade (Wang, Zhang & Han
//! 2021), where a layer works on a subset of what the layer before kept, so that a pruned token or
//! head never comes back.

use tinylab_classical::Result;
use tinylab_classical::error::arg_err;

/// How the surviving tokens are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSelection {
    /// SpAtten: the tokens with the most attention received, accumulated over heads, queries and the
    /// layers so far.
    Attention,
    /// A baseline: tokens drawn uniformly from those still kept, from a generator seeded by `seed`.
    Random {
        /// The generator's seed.
        seed: u64,
    },
}

/// The per-layer keep ratios of a pruned pass.
///
/// `tokens[l]` is the fraction of the sequence's tokens that layer `l` works on and `heads[l]` the
/// fraction of its query heads; each becomes a count `max(1, round(fraction * total))`. Layer 0 must
/// keep everything (no attention has been scored before it) and no ratio may grow from one layer to
/// the next (the cascade).
#[derive(Debug, Clone, PartialEq)]
pub struct PruneSchedule {
    /// Fraction of the tokens each layer processes.
    pub tokens: Vec<f64>,
    /// Fraction of the query heads each layer computes.
    pub heads: Vec<f64>,
    /// How the kept tokens are chosen (heads are always chosen by importance).
    pub selection: TokenSelection,
}

/// The per-layer counts a [`PruneSchedule`] resolves to for one model and sequence length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepCounts {
    /// Tokens each layer processes.
    pub tokens: Vec<usize>,
    /// Query heads each layer computes.
    pub heads: Vec<usize>,
}

impl PruneSchedule {
    /// No pruning in any of `layers` layers.
    pub fn none(layers: usize) -> Self {
        Self { tokens: vec![1.0; layers], heads: vec![1.0; layers], selection: TokenSelection::Attention }
    }

    /// A geometric cascade over `layers` layers: layer `l` keeps `final_tokens^(l / (layers - 1))` of
    /// the tokens (all at layer 0, `final_tokens` at the last), and every layer after the first keeps
    /// `heads` of the heads.
    pub fn cascade(layers: usize, final_tokens: f64, heads: f64, selection: TokenSelection) -> Self {
        let span = layers.saturating_sub(1).max(1) as f64;
        Self {
            tokens: (0..layers).map(|l| final_tokens.powf(l as f64 / span)).collect(),
            heads: (0..layers).map(|l| if l == 0 { 1.0 } else { heads }).collect(),
            selection,
        }
    }

    /// The counts for a model of `layers` layers and `heads` query heads on sequences of `tokens`;
    /// errors for a schedule of another length, a ratio outside `(0, 1]`, a first layer that prunes
    /// or a ratio that grows.
    pub fn counts(&self, layers: usize, tokens: usize, heads: usize) -> Result<KeepCounts> {
        const OP: &str = "PruneSchedule";
        let resolve = |what: &str, ratios: &[f64], total: usize| -> Result<Vec<usize>> {
            if ratios.len() != layers {
                return Err(arg_err(OP, format!("{} {what} ratios for a model of {layers} layers", ratios.len())));
            }
            if let Some(bad) = ratios.iter().find(|r| !(r.is_finite() && **r > 0.0 && **r <= 1.0)) {
                return Err(arg_err(OP, format!("the {what} keep ratio {bad} is not in (0, 1]")));
            }
            if ratios.first().is_some_and(|&r| r < 1.0) {
                return Err(arg_err(OP, format!("layer 0 must keep every {what} (nothing is scored before it)")));
            }
            if let Some(w) = ratios.windows(2).find(|w| w[1] > w[0]) {
                return Err(arg_err(
                    OP,
                    format!("the {what} keep ratio grows from {} to {} (a pruned one never returns)", w[0], w[1]),
                ));
            }
            Ok(ratios.iter().map(|r| ((r * total as f64).round() as usize).clamp(1, total.max(1))).collect())
        };
        Ok(KeepCounts { tokens: resolve("token", &self.tokens, tokens)?, heads: resolve("head", &self.heads, heads)? })
    }
}

/// The `k` members of `candidates` (ascending indices) with the highest `scores`, ties to the lower
/// index, returned in ascending order: SpAtten's top-k engine.
pub fn top_k(scores: &[f64], candidates: &[usize], k: usize) -> Vec<usize> {
    let mut ranked = candidates.to_vec();
    ranked.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    ranked.truncate(k);
    ranked.sort_unstable();
    ranked
}
