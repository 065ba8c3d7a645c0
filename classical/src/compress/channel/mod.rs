//! Structured channel / filter pruning that physically shrinks a model.
//!
//! Removing output channel `c` of a convolution also removes entry `c` of the batch norm after it,
//! filter `c` of a depthwise convolution on it, input channel `c` of the next convolution (or the `H*W`
//! input columns of the linear layer after a `Flatten`), and — across a residual addition — channel `c`
//! of every branch added to it. [`ChannelPruner::new`] finds these channel groups by tracing the model
//! from a per-sample input shape; a score per channel ([`Importance`]: L1 / L2 filter norm,
//! batch-norm scale, first-order Taylor) and a [`ChannelPlan`] choose the channels to keep; the surgery
//! slices every member's parameters, masks, gradients and running statistics. The result is an ordinary
//! smaller dense model that trains and checkpoints as before and, when the removed channels
//! carried exact zeros, computes the same outputs. The groups come from the model's traced graph
//! ([`crate::graph::channel_groups`]), so any model built from the crate's ops can be analysed.
//!
//! Typical use: `prune_channels(&mut model, &[3, 32, 32], &ChannelPlan::Uniform(0.5), Importance::L1)`,
//! then fine-tune with a fresh optimizer (optimizer state is keyed by parameter path and holds the old
//! shapes). [`count_macs`] and [`crate::nn::param_count`] give the model's cost before and after.
//!
//! References: Li et al. 2017, "Pruning Filters for Efficient ConvNets" (L1 filter pruning and the
//! residual-block constraints); Liu et al. 2017, "Learning Efficient Convolutional Networks through
//! Network Slimming" (BN scale, global threshold); Molchanov et al. 2017 / 2019 (Taylor importance).

mod importance;
mod surgery;

pub use crate::graph::{ChannelGroup, Member, Role};
pub use importance::Importance;

use crate::error::{Result, arg_err};
use crate::graph;
use crate::nn::{Module, named_params, param_count};
use std::collections::BTreeMap;

/// Multiply-accumulates of one forward pass of `model` on one sample of per-sample shape
/// `input_shape` (no batch axis: `[3, 32, 32]`), counting convolutions, linear layers and matrix
/// products as [`graph::cost`] does. Errors when the model does not run on that shape.
pub fn count_macs(model: &mut dyn Module, input_shape: &[usize]) -> Result<u64> {
    Ok(graph::cost(&graph::trace(model, input_shape)?).macs)
}

/// As [`count_macs`], counting only the multiply-accumulates of non-zero weights: the work left to a
/// kernel that skips zeros after fine-grained pruning.
pub fn count_nonzero_macs(model: &mut dyn Module, input_shape: &[usize]) -> Result<u64> {
    Ok(graph::cost(&graph::trace(model, input_shape)?).nonzero_macs)
}

/// The per-sample output shape of `model` for a per-sample input shape (one traced sample).
pub fn output_shape(model: &mut dyn Module, input_shape: &[usize]) -> Result<Vec<usize>> {
    let g = graph::trace(model, input_shape)?;
    Ok(g.node(g.output()).shape[1..].to_vec())
}

const OP: &str = "prune_channels";

/// How many channels to remove, and where.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelPlan {
    /// Remove `floor(ratio * C)` channels of every prunable group (keeping at least one).
    Uniform(f32),
    /// Rank the channels of all prunable groups together by score and remove the lowest
    /// `floor(ratio * total)`, keeping at least one per group (Network Slimming's global threshold;
    /// meaningful when scores are comparable across layers, as batch-norm scales are).
    Global(f32),
    /// Remove `floor(ratio * C)` channels of each named group; other groups are left alone.
    PerGroup(BTreeMap<String, f32>),
    /// Keep exactly these channels of each named group (sorted, distinct, non-empty); no scores.
    Keep(BTreeMap<String, Vec<usize>>),
}

/// What happened to one channel group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupChange {
    /// The group's name.
    pub name: String,
    /// Channels before pruning.
    pub before: usize,
    /// Channels after pruning.
    pub after: usize,
    /// The kept channels' original indices, ascending.
    pub kept: Vec<usize>,
}

/// The outcome of a pruning pass: channels per group and the model's cost before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// Every prunable group (unchanged ones with `before == after`), in forward order.
    pub groups: Vec<GroupChange>,
    /// Scalar parameters before.
    pub params_before: usize,
    /// Scalar parameters after.
    pub params_after: usize,
    /// Multiply-accumulates per sample before ([`count_macs`]).
    pub macs_before: u64,
    /// Multiply-accumulates per sample after.
    pub macs_after: u64,
}

/// The channel groups of one model, and the passes over them.
#[derive(Debug, Clone)]
pub struct ChannelPruner {
    input_shape: Vec<usize>,
    groups: Vec<ChannelGroup>,
    /// Parameter paths and shapes at analysis time, to refuse a model that changed since.
    fingerprint: Vec<(String, Vec<usize>)>,
}

fn fingerprint(model: &dyn Module) -> Vec<(String, Vec<usize>)> {
    named_params(model).into_iter().map(|(n, p)| (n, p.value.shape().to_vec())).collect()
}

fn check_ratio(ratio: f32, what: &str) -> Result<()> {
    if !(ratio.is_finite() && (0.0..1.0).contains(&ratio)) {
        return Err(arg_err(OP, format!("pruning ratio {ratio} of {what} must be in [0, 1)")));
    }
    Ok(())
}

/// Channels kept when removing `floor(ratio * c)` of `c`: at least one.
fn kept_count(c: usize, ratio: f32) -> usize {
    let remove = (ratio as f64 * c as f64).floor() as usize;
    c.saturating_sub(remove).max(1)
}

/// The indices of the `k` highest scores, ascending; ties go to the lower index, NaN ranks lowest.
pub fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let key = |x: f32| if x.is_nan() { f32::NEG_INFINITY } else { x };
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| key(scores[b]).total_cmp(&key(scores[a])).then(a.cmp(&b)));
    let mut kept: Vec<usize> = order.into_iter().take(k).collect();
    kept.sort_unstable();
    kept
}

impl ChannelPruner {
    /// Analyses `model` for per-sample input shape `input_shape` (no batch axis: `[3, 32, 32]`) on its
    /// traced graph. Errors when the model does not run on that shape or holds a layer channel pruning
    /// does not support (layer norm); channels flowing into ops that mix them (concat, matmul, ops of
    /// other crates) are kept whole.
    pub fn new(model: &mut dyn Module, input_shape: &[usize]) -> Result<Self> {
        let g = graph::trace(model, input_shape)?;
        Ok(Self {
            input_shape: input_shape.to_vec(),
            groups: graph::channel_groups(&g)?,
            fingerprint: fingerprint(model),
        })
    }

    /// Every channel group, the model input first, then in forward order of first producer.
    pub fn groups(&self) -> &[ChannelGroup] {
        &self.groups
    }

    /// The per-sample input shape the analysis used.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The group called `name`; errors for an unknown name.
    pub fn group(&self, name: &str) -> Result<&ChannelGroup> {
        self.groups.iter().find(|g| g.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
            arg_err(OP, format!("unknown channel group `{name}`; the groups are {names:?}"))
        })
    }

    fn prunable_group(&self, name: &str) -> Result<&ChannelGroup> {
        let g = self.group(name)?;
        match &g.fixed {
            Some(why) => Err(arg_err(OP, format!("channel group `{name}` cannot be pruned: it {why}"))),
            None => Ok(g),
        }
    }

    fn check_model(&self, model: &dyn Module) -> Result<()> {
        if fingerprint(model) != self.fingerprint {
            return Err(arg_err(OP, "the model's parameters changed shape since the analysis; analyse it again"));
        }
        Ok(())
    }

    /// The score of each channel of group `name` (see [`Importance`]).
    pub fn importance(&self, model: &dyn Module, name: &str, kind: Importance) -> Result<Vec<f32>> {
        self.check_model(model)?;
        importance::group_scores(model, self.group(name)?, kind)
    }

    /// The channels to keep per group under `plan` with scores `kind`: the top-scoring ones
    /// ([`top_k`]). Only groups that lose channels are scored and listed.
    pub fn select(
        &self,
        model: &dyn Module,
        plan: &ChannelPlan,
        kind: Importance,
    ) -> Result<BTreeMap<String, Vec<usize>>> {
        self.check_model(model)?;
        let mut keep = BTreeMap::new();
        let mut by_ratio = |g: &ChannelGroup, ratio: f32| -> Result<()> {
            let k = kept_count(g.channels, ratio);
            if k < g.channels {
                let scores = importance::group_scores(model, g, kind)?;
                keep.insert(g.name.clone(), top_k(&scores, k));
            }
            Ok(())
        };
        match plan {
            ChannelPlan::Uniform(ratio) => {
                check_ratio(*ratio, "every group")?;
                for g in self.groups.iter().filter(|g| g.prunable()) {
                    by_ratio(g, *ratio)?;
                }
            }
            ChannelPlan::PerGroup(ratios) => {
                for (name, &ratio) in ratios {
                    check_ratio(ratio, &format!("group `{name}`"))?;
                    by_ratio(self.prunable_group(name)?, ratio)?;
                }
            }
            ChannelPlan::Global(ratio) => {
                check_ratio(*ratio, "all channels")?;
                let groups: Vec<&ChannelGroup> = self.groups.iter().filter(|g| g.prunable()).collect();
                let mut all = Vec::new();
                for (gi, g) in groups.iter().enumerate() {
                    let scores = importance::group_scores(model, g, kind)?;
                    all.extend(scores.into_iter().enumerate().map(|(c, s)| (s, gi, c)));
                }
                let key = |x: f32| if x.is_nan() { f32::NEG_INFINITY } else { x };
                all.sort_by(|a, b| key(a.0).total_cmp(&key(b.0)).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
                let mut remove = (*ratio as f64 * all.len() as f64).floor() as usize;
                let mut left: Vec<usize> = groups.iter().map(|g| g.channels).collect();
                let mut removed: Vec<Vec<bool>> = groups.iter().map(|g| vec![false; g.channels]).collect();
                for &(_, gi, c) in &all {
                    if remove == 0 {
                        break;
                    }
                    if left[gi] > 1 {
                        left[gi] -= 1;
                        removed[gi][c] = true;
                        remove -= 1;
                    }
                }
                for (gi, g) in groups.iter().enumerate() {
                    if left[gi] < g.channels {
                        keep.insert(g.name.clone(), (0..g.channels).filter(|&c| !removed[gi][c]).collect());
                    }
                }
            }
            ChannelPlan::Keep(lists) => {
                for (name, list) in lists {
                    self.prunable_group(name)?;
                    keep.insert(name.clone(), list.clone());
                }
            }
        }
        Ok(keep)
    }

    /// Keeps exactly channels `keep[name]` of each listed group and rebuilds the model. Every list must
    /// be non-empty, strictly increasing and in range, and every name a prunable group; nothing is
    /// changed when a check fails. The pruner describes the old model afterwards: analyse the pruned
    /// model again to prune it further.
    pub fn apply(&self, model: &mut dyn Module, keep: &BTreeMap<String, Vec<usize>>) -> Result<PruneReport> {
        self.check_model(model)?;
        for (name, list) in keep {
            let g = self.prunable_group(name)?;
            if list.is_empty() || list.windows(2).any(|w| w[0] >= w[1]) || list.iter().any(|&c| c >= g.channels) {
                return Err(arg_err(
                    OP,
                    format!(
                        "channels to keep of group `{name}` must be non-empty, strictly increasing and below {}",
                        g.channels
                    ),
                ));
            }
        }
        let params_before = param_count(model);
        let macs_before = count_macs(model, &self.input_shape)?;
        let mut changes = Vec::new();
        for g in self.groups.iter().filter(|g| g.prunable()) {
            let kept = match keep.get(&g.name) {
                Some(list) => list.clone(),
                None => (0..g.channels).collect(),
            };
            if kept.len() < g.channels {
                surgery::shrink(model, g, &kept)?;
            }
            changes.push(GroupChange { name: g.name.clone(), before: g.channels, after: kept.len(), kept });
        }
        Ok(PruneReport {
            groups: changes,
            params_before,
            params_after: param_count(model),
            macs_before,
            macs_after: count_macs(model, &self.input_shape)?,
        })
    }
}

/// Analyses `model` for per-sample input shape `input_shape`, keeps the top channels of each group
/// by `importance` as `plan` says, and rebuilds the model in place (see the module docs).
pub fn prune_channels(
    model: &mut dyn Module,
    input_shape: &[usize],
    plan: &ChannelPlan,
    importance: Importance,
) -> Result<PruneReport> {
    let pruner = ChannelPruner::new(model, input_shape)?;
    let keep = pruner.select(model, plan, importance)?;
    pruner.apply(model, &keep)
}
