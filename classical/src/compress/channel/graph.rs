//! Dependency analysis: which layers share a set of channels, so that removing a channel removes it
//! everywhere at once.
//!
//! The model is traced symbolically from a per-sample input shape. Every convolution (one group) or
//! linear layer *produces* a new channel set and *consumes* the one flowing into it. Batch norm,
//! activations, pooling and dropout carry a channel set through unchanged (batch norm is a member: its
//! per-channel scale, shift and running statistics follow the channel); a depthwise convolution
//! (`groups == in == out`) is a member too, its filter tied to its input channel; `Flatten` turns each
//! of `C` channels of an `(C, H, W)` map into `H*W` consecutive features, so the linear layer after it
//! consumes blocks of `H*W` columns. A residual addition ties the sets of its two branches: the block's
//! input set (through an identity shortcut), or the shortcut projection's output, is merged with the
//! body's output set (union-find), which is how ResNet and MobileNetV2 stages become one group.
//!
//! A set cannot be pruned when it is the model input, reaches the model output, or touches a grouped
//! (not depthwise) convolution, whose channel blocks must stay balanced.

use super::cost::leaf_shape_macs;
use crate::error::{Result, arg_err, shape_err};
use crate::nn::{BatchNorm, Conv2d, Linear, Module, Residual, Sequential, join};
use std::any::Any;

/// What a layer of a channel group does with the group's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A convolution or linear layer whose output channels are the group: pruning removes output
    /// filters (weight axis 0) and bias entries.
    Producer,
    /// A batch norm over the group: pruning removes scale, shift and running statistics entries,
    /// `block` consecutive ones per channel (1, or `H*W` for a batch norm after `Flatten`).
    BatchNorm {
        /// Features per channel.
        block: usize,
    },
    /// A depthwise convolution on the group: pruning removes its filters and bias entries and
    /// lowers its `groups`.
    Depthwise,
    /// A convolution or linear layer reading the group: pruning removes input channels (weight axis
    /// 1), `block` consecutive columns per channel for a linear layer after `Flatten`.
    Consumer {
        /// Input features per channel.
        block: usize,
    },
}

/// One layer's part in a channel group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Dotted path of the layer (`"3.body.0"`: layer 3 of the model, a residual block, layer 0 of its
    /// body); the parameter paths of [`crate::nn::named_params`] are this plus `.weight` / `.bias`.
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

/// A channel set during tracing (before residual merges are resolved).
#[derive(Debug)]
struct Raw {
    parent: usize,
    name: String,
    channels: usize,
    fixed: Option<String>,
    members: Vec<Member>,
}

/// What flows out of a layer during tracing: the per-sample shape, the channel set and the features
/// per channel along axis 0 (1 except after `Flatten`).
#[derive(Debug, Clone)]
struct Flow {
    shape: Vec<usize>,
    group: usize,
    block: usize,
}

const OP: &str = "channel_pruner";

#[derive(Debug, Default)]
struct Tracer {
    raws: Vec<Raw>,
}

impl Tracer {
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

    /// Merges two sets; the one created first (earlier in forward order) stays the root and names the
    /// merged group.
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

    fn trace(&mut self, path: &str, layer: &dyn Module, flow: Flow) -> Result<Flow> {
        let any = layer as &dyn Any;
        if let Some(seq) = any.downcast_ref::<Sequential>() {
            let mut flow = flow;
            for (i, l) in seq.layers.iter().enumerate() {
                flow = self.trace(&join(path, &i.to_string()), l.as_ref(), flow)?;
            }
            return Ok(flow);
        }
        if let Some(res) = any.downcast_ref::<Residual>() {
            let body = self.trace(&join(path, "body"), &res.body, flow.clone())?;
            let skip = match &res.shortcut {
                Some(s) => self.trace(&join(path, "shortcut"), s, flow)?,
                None => flow,
            };
            if body.shape != skip.shape || body.block != skip.block {
                return Err(shape_err(OP, &body.shape, &skip.shape, format!("`{path}`: residual branch and shortcut")));
            }
            self.union(body.group, skip.group);
            return Ok(body);
        }
        let Some((shape, _)) = leaf_shape_macs(OP, path, layer, &flow.shape)? else {
            return Err(arg_err(OP, format!("`{path}`: a layer type channel pruning does not support")));
        };
        if let Some(conv) = any.downcast_ref::<Conv2d>() {
            let (cin, cout, g) = (flow.shape[0], shape[0], conv.spec.groups);
            if g == 1 {
                self.add(flow.group, path, Role::Consumer { block: 1 });
                let out = self.new_group(path, cout, None);
                self.add(out, path, Role::Producer);
                return Ok(Flow { shape, group: out, block: 1 });
            }
            if g == cin && cout == cin {
                self.add(flow.group, path, Role::Depthwise);
                return Ok(Flow { shape, ..flow });
            }
            self.fix(flow.group, format!("read by the grouped convolution `{path}`"));
            let out = self.new_group(path, cout, Some(format!("made by the grouped convolution `{path}`")));
            return Ok(Flow { shape, group: out, block: 1 });
        }
        if any.is::<Linear>() {
            self.add(flow.group, path, Role::Consumer { block: flow.block });
            let out = self.new_group(path, shape[0], None);
            self.add(out, path, Role::Producer);
            return Ok(Flow { shape, group: out, block: 1 });
        }
        if any.is::<BatchNorm>() {
            self.add(flow.group, path, Role::BatchNorm { block: flow.block });
            return Ok(Flow { shape, ..flow });
        }
        if any.is::<crate::nn::LayerNorm>() {
            return Err(arg_err(
                OP,
                format!("`{path}`: layer norm mixes channels; channel pruning does not support it"),
            ));
        }
        // Activations, pooling, dropout, global pooling: the channels stay on axis 0. Flatten turns
        // each channel of a (C, H, W) map into H*W consecutive features.
        let block = if any.is::<crate::nn::Flatten>() {
            flow.shape[1..].iter().product::<usize>() * flow.block
        } else {
            flow.block
        };
        Ok(Flow { shape, block, ..flow })
    }
}

/// The channel groups of `model` for per-sample input shape `input_shape`, in forward order of their
/// first producer (the model input first).
pub(crate) fn analyse(model: &Sequential, input_shape: &[usize]) -> Result<Vec<ChannelGroup>> {
    if input_shape.is_empty() || input_shape.contains(&0) {
        return Err(arg_err(OP, format!("the per-sample input shape {input_shape:?} must be non-empty and positive")));
    }
    let mut t = Tracer::default();
    let input = t.new_group("input", input_shape[0], Some("the model input".to_string()));
    let out = t.trace("", model, Flow { shape: input_shape.to_vec(), group: input, block: 1 })?;
    t.fix(out.group, "reaches the model output".to_string());
    let n = t.raws.len();
    let roots: Vec<usize> = (0..n).map(|g| t.find(g)).collect();
    let mut groups: Vec<ChannelGroup> = Vec::new();
    let mut index_of = vec![usize::MAX; n];
    for g in 0..n {
        let r = roots[g];
        if r == g {
            index_of[g] = groups.len();
            groups.push(ChannelGroup {
                name: t.raws[g].name.clone(),
                channels: t.raws[g].channels,
                fixed: None,
                members: Vec::new(),
            });
        }
        let raw = &mut t.raws[g];
        let group = &mut groups[index_of[r]];
        group.members.append(&mut raw.members);
        if group.fixed.is_none() {
            group.fixed = raw.fixed.take();
        }
    }
    for g in &mut groups {
        g.members.sort_by_key(|m| member_order(&m.path));
        g.members.dedup();
    }
    Ok(groups)
}

/// Sort key putting paths in forward order: numeric segments compare as numbers, `body` before
/// `shortcut`.
fn member_order(path: &str) -> Vec<(usize, String)> {
    path.split('.').map(|s| s.parse::<usize>().map_or((usize::MAX, s.to_string()), |i| (i, String::new()))).collect()
}

/// The layer at dotted path `path` (`""` is `model` itself): indices step into a [`Sequential`],
/// `body` / `shortcut` into a [`Residual`].
pub fn find_layer<'a>(model: &'a dyn Module, path: &str) -> Option<&'a dyn Module> {
    if path.is_empty() {
        return Some(model);
    }
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    let any = model as &dyn Any;
    if let Some(seq) = any.downcast_ref::<Sequential>() {
        let layer = seq.layers.get(head.parse::<usize>().ok()?)?;
        return find_layer(layer.as_ref(), rest);
    }
    let res = any.downcast_ref::<Residual>()?;
    match head {
        "body" => find_layer(&res.body, rest),
        "shortcut" => find_layer(res.shortcut.as_ref()?, rest),
        _ => None,
    }
}

/// The layer at dotted path `path`, mutably (see [`find_layer`]).
pub fn find_layer_mut<'a>(model: &'a mut dyn Module, path: &str) -> Option<&'a mut dyn Module> {
    if path.is_empty() {
        return Some(model);
    }
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    let any = model as &mut dyn Any;
    if any.is::<Sequential>() {
        let seq = any.downcast_mut::<Sequential>()?;
        let layer = seq.layers.get_mut(head.parse::<usize>().ok()?)?;
        return find_layer_mut(layer.as_mut(), rest);
    }
    let res = any.downcast_mut::<Residual>()?;
    match head {
        "body" => find_layer_mut(&mut res.body, rest),
        "shortcut" => find_layer_mut(res.shortcut.as_mut()?, rest),
        _ => None,
    }
}
