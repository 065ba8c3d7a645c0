//! Channel groups: which layers share a set of channels, so that structured pruning removes a channel
//! everywhere at once.
//!
//! Every convolution (one group) or linear layer *produces* a new channel set (axis 1 of its output)
//! and *consumes* the one flowing into it. Batch norm, activations, pooling and dropout carry a set
//! through unchanged (batch norm is a member: its per-channel scale, shift and running statistics
//! follow the channel); a depthwise convolution (`groups == in == out`) is a member too, its filter tied
//! to its input channel; a flatten of `(N, C, H, W)` to `(N, C*H*W)` turns each channel into `H*W`
//! consecutive features, so the linear layer after it consumes blocks of `H*W` columns. An addition
//! ties the sets of its two inputs (union-find), which is how ResNet and MobileNetV2 stages become one
//! group.
//!
//! A set cannot be pruned when it is the model input, reaches the model output, touches a grouped (not
//! depthwise) convolution, whose channel blocks must stay balanced, or flows into any op that mixes or
//! moves channels (concat, matmul, permute, slice, softmax, reshapes other than a flatten, layer norm,
//! extension ops): those sets are kept whole, with the reason.

use super::Graph;
use super::node::{BinaryOp, NodeOp};
use crate::error::{ClassicalError, Result};

/// What a layer of a channel group does with the group's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A convolution or linear layer whose output channels are the group: pruning removes output
    /// filters (weight axis 0) and bias entries.
    Producer,
    /// A batch norm over the group: pruning removes scale, shift and running statistics entries,
    /// `block` consecutive ones per channel (1, or `H*W` for a batch norm after a flatten).
    BatchNorm {
        /// Features per channel.
        block: usize,
    },
    /// A depthwise convolution on the group: pruning removes its filters and bias entries and
    /// lowers its `groups`.
    Depthwise,
    /// A convolution or linear layer reading the group: pruning removes input channels (weight axis
    /// 1), `block` consecutive columns per channel for a linear layer after a flatten.
    Consumer {
        /// Input features per channel.
        block: usize,
    },
}

/// One layer's part in a channel group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Dotted module path of the layer (`"3.body.0"`); its parameters are this plus `.weight` /
    /// `.bias`, as [`crate::nn::named_params`] names them.
    pub path: String,
    /// What the layer does with the channels.
    pub role: Role,
}

/// A set of channels that must be pruned together.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelGroup {
    /// The path of the group's first producer in forward order (`"input"` for the model input).
    pub name: String,
    /// Number of channels.
    pub channels: usize,
    /// Why the group cannot be pruned, if it cannot.
    pub fixed: Option<String>,
    /// Every layer touching the channels, in forward order.
    pub members: Vec<Member>,
}

impl ChannelGroup {
    /// True when the group may be pruned.
    pub fn prunable(&self) -> bool {
        self.fixed.is_none()
    }

    /// Paths of members with the given role predicate.
    pub fn paths_where(&self, pred: impl Fn(&Role) -> bool) -> Vec<&str> {
        self.members.iter().filter(|m| pred(&m.role)).map(|m| m.path.as_str()).collect()
    }
}

/// A channel set during the analysis (before additions are resolved).
#[derive(Debug)]
struct Raw {
    parent: usize,
    name: String,
    channels: usize,
    fixed: Option<String>,
    members: Vec<Member>,
}

/// The channel set of a value and its features per channel along axis 1 (1 except after a flatten).
#[derive(Debug, Clone, Copy)]
struct Flow {
    group: usize,
    block: usize,
}

#[derive(Debug, Default)]
struct Sets {
    raws: Vec<Raw>,
}

impl Sets {
    fn new_group(&mut self, name: &str, channels: usize, fixed: Option<String>) -> usize {
        let id = self.raws.len();
        self.raws.push(Raw { parent: id, name: name.to_string(), channels, fixed, members: Vec::new() });
        id
    }

    fn find(&mut self, mut g: usize) -> usize {
        while self.raws[g].parent != g {
            let up = self.raws[self.raws[g].parent].parent;
            self.raws[g].parent = up;
            g = up;
        }
        g
    }

    /// Merges two sets; the one created first (earlier in forward order) names the merged group.
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (root, child) = (ra.min(rb), ra.max(rb));
            self.raws[child].parent = root;
        }
    }

    fn add(&mut self, g: usize, path: &str, role: Role) {
        self.raws[g].members.push(Member { path: path.to_string(), role });
    }

    fn fix(&mut self, g: usize, why: String) {
        if self.raws[g].fixed.is_none() {
            self.raws[g].fixed = Some(why);
        }
    }
}

/// The channel groups of `g`, in forward order of their first producer (the model input first).
/// Layer norm is refused (it mixes channels and has per-feature parameters on the last axis).
pub fn channel_groups(g: &Graph) -> Result<Vec<ChannelGroup>> {
    let mut sets = Sets::default();
    let mut flows: Vec<Option<Flow>> = vec![None; g.nodes().len()];
    // Sets made only to mark values that no rule understands.
    let mut opaque = Vec::new();
    let channels_of = |shape: &[usize]| shape.get(1).copied().unwrap_or(1);
    for (id, n) in g.nodes().iter().enumerate() {
        let input = n.inputs.first().and_then(|&i| flows[i]);
        let path = n.path.as_str();
        let flow = match &n.op {
            NodeOp::Input => Some(Flow {
                group: sets.new_group("input", channels_of(&n.shape), Some("the model input".into())),
                block: 1,
            }),
            NodeOp::Param { .. } | NodeOp::Constant => None,
            NodeOp::Conv2d { spec, .. } => {
                let f = input.expect("a convolution reads a value");
                let (cin, cout) = (channels_of(&g.node(n.inputs[0]).shape), channels_of(&n.shape));
                if spec.groups == 1 {
                    sets.add(f.group, path, Role::Consumer { block: 1 });
                    let out = sets.new_group(path, cout, None);
                    sets.add(out, path, Role::Producer);
                    Some(Flow { group: out, block: 1 })
                } else if spec.groups == cin && cout == cin {
                    sets.add(f.group, path, Role::Depthwise);
                    Some(f)
                } else {
                    sets.fix(f.group, format!("read by the grouped convolution `{path}`"));
                    let why = format!("made by the grouped convolution `{path}`");
                    Some(Flow { group: sets.new_group(path, cout, Some(why)), block: 1 })
                }
            }
            NodeOp::Linear { .. } => {
                let f = input.expect("a linear layer reads a value");
                sets.add(f.group, path, Role::Consumer { block: f.block });
                let out = sets.new_group(path, *n.shape.last().unwrap_or(&1), None);
                sets.add(out, path, Role::Producer);
                Some(Flow { group: out, block: 1 })
            }
            NodeOp::BatchNorm { .. } => {
                let f = input.expect("a batch norm reads a value");
                sets.add(f.group, path, Role::BatchNorm { block: f.block });
                Some(f)
            }
            NodeOp::LayerNorm { .. } => {
                return Err(ClassicalError::Graph(format!(
                    "`{path}`: layer norm mixes channels; channel pruning does not support it"
                )));
            }
            NodeOp::Activation(_)
            | NodeOp::MaxPool2d(_)
            | NodeOp::AvgPool2d(_)
            | NodeOp::GlobalAvgPool
            | NodeOp::Dropout { .. }
            | NodeOp::Scale(_) => input,
            NodeOp::Reshape => {
                let f = input.expect("a reshape reads a value");
                let from = &g.node(n.inputs[0]).shape;
                let is_flatten = n.shape.len() == 2 && from.len() >= 2 && n.shape[0] == from[0];
                if is_flatten { Some(Flow { block: from[2..].iter().product::<usize>() * f.block, ..f }) } else { None }
            }
            NodeOp::Binary { op: BinaryOp::Add | BinaryOp::Sub, .. }
                if n.inputs.iter().all(|&i| flows[i].is_some()) =>
            {
                let (a, b) = (flows[n.inputs[0]].expect("checked"), flows[n.inputs[1]].expect("checked"));
                let (sa, sb) = (&g.node(n.inputs[0]).shape, &g.node(n.inputs[1]).shape);
                if sa != sb || a.block != b.block {
                    return Err(crate::error::shape_err(
                        "channel_groups",
                        sa,
                        sb,
                        format!("`{path}`: the added values differ"),
                    ));
                }
                sets.union(a.group, b.group);
                Some(a)
            }
            _ => None,
        };
        // Any value an op consumes without a channel-aware rule keeps its channels whole.
        if flow.is_none() && !n.op.is_value() {
            for &i in &n.inputs {
                if let Some(f) = flows[i] {
                    sets.fix(f.group, format!("flows into {} `{path}`", n.op.name()));
                }
            }
            let why = format!("is made by {} `{path}`", n.op.name());
            let group = sets.new_group(path, channels_of(&n.shape), Some(why));
            opaque.push(group);
            flows[id] = Some(Flow { group, block: 1 });
        } else {
            flows[id] = flow;
        }
    }
    if let Some(f) = flows[g.output()] {
        sets.fix(f.group, "reaches the model output".to_string());
    }
    let n = sets.raws.len();
    let roots: Vec<usize> = (0..n).map(|r| sets.find(r)).collect();
    let mut groups: Vec<ChannelGroup> = Vec::new();
    let mut index_of = vec![usize::MAX; n];
    let mut keep = Vec::new();
    for r in 0..n {
        let root = roots[r];
        if root == r {
            index_of[r] = groups.len();
            keep.push(!opaque.contains(&r));
            groups.push(ChannelGroup {
                name: sets.raws[r].name.clone(),
                channels: sets.raws[r].channels,
                fixed: None,
                members: Vec::new(),
            });
        }
        let raw = &mut sets.raws[r];
        let group = &mut groups[index_of[root]];
        group.members.append(&mut raw.members);
        if group.fixed.is_none() {
            group.fixed = raw.fixed.take();
        }
    }
    for grp in &mut groups {
        grp.members.sort_by_key(|m| member_order(&m.path));
        grp.members.dedup();
    }
    // A set made only to mark an opaque value is listed when some layer touches it.
    let mut keep = keep.into_iter();
    groups.retain(|grp| keep.next().unwrap_or(true) || !grp.members.is_empty());
    Ok(groups)
}

/// Sort key putting paths in forward order: numeric segments compare as numbers, `body` before
/// `shortcut`.
fn member_order(path: &str) -> Vec<(usize, String)> {
    path.split('.').map(|s| s.parse::<usize>().map_or((usize::MAX, s.to_string()), |i| (i, String::new()))).collect()
}
