//! SpAtten (Wang, Zhang & Han 2021, "SpAtten: Efficient Sparse Attention Architecture with Cascade
//! Token and Head Pruning") on a bidirectional classifier built from the model's blocks.
//!
//! - [`classifier`]: [`SequenceClassifier`], the encoder (the model's blocks without the causal mask),
//!   mean-pooled into a linear head; an `nn::Module` for the classical trainer.
//! - [`schedule`]: [`PruneSchedule`], the per-layer keep ratios of tokens and heads (a cascade), and
//!   the top-k selection.
//! - [`prune`]: [`prune_forward`], the pruned inference pass with cumulative token and head importance.
//! - [`macs`]: [`MacCount`], the attention and feed-forward work a pass executes.

pub mod classifier;
pub mod macs;
pub mod prune;
pub mod schedule;

pub use classifier::SequenceClassifier;
pub use macs::{LayerWork, MacCount};
pub use prune::{PrunedOutput, SequenceTrace, prune_forward};
pub use schedule::{KeepCounts, PruneSchedule, TokenSelection, top_k};
