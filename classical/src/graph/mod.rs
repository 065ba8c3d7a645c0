//! The model graph: any [`Module`](crate::nn::Module) traced once into typed nodes, and the passes
//! that work on it.
//!
//! [`trace`] runs one evaluation-mode forward pass with a recorder on: every op the model calls
//! becomes a [`Node`] ([`NodeOp`] says what it is: convolution, linear, matmul, batch or layer norm,
//! activation, pooling, reshape/permute, add/mul, concat, slice, softmax, embedding, dropout, or an
//! [`NodeOp::Extension`] for ops defined outside this crate such as the quantum layer), with the
//! nodes it reads, its output shape and the dotted path of the module that made it. Parameters are
//! nodes too ([`NodeOp::Param`], named as [`crate::nn::named_params`] names them), so a residual
//! branch or a multi-input op is plain edges, not a special case.
//!
//! Passes change a graph and say what they changed: [`Pass::apply`] returns a [`PassReport`].
//! [`FoldBatchNorm`], [`FuseActivations`] and [`RemoveDropout`] are the structural ones; analyses read
//! a graph: [`cost`] (MACs, parameters, activation memory), [`channel_groups`] (which layers share
//! channels, for structured pruning). The int8 converter ([`crate::int8::convert()`]) lowers a graph to
//! integer kernels, and `tinylab-mcu-export` lowers that to C. [`Graph::run`] evaluates a graph on
//! tensors (the converter calibrates with it).
//!
//! ```
//! use tinylab_classical::graph::{self, FoldBatchNorm, FuseActivations, Pass};
//! use tinylab_classical::nn::zoo;
//! let mut net = zoo::resnet_cifar(8, 10, 0)?;
//! let mut g = graph::trace(&mut net, &[3, 32, 32])?;
//! let folded = FoldBatchNorm.apply(&mut g)?;
//! assert_eq!(folded.changed.len(), 9); // every conv of ResNet-8 is followed by a batch norm
//! FuseActivations::relus().apply(&mut g)?;
//! assert_eq!(graph::cost(&g).macs, 12_501_632);
//! # Ok::<(), tinylab_classical::ClassicalError>(())
//! ```

mod channels;
mod cost;
mod node;
mod passes;
mod run;
mod trace;

pub use channels::{ChannelGroup, Member, Role, channel_groups};
pub use cost::{Cost, NodeCost, cost};
pub use node::{BinaryOp, Node, NodeId, NodeOp, ReduceOp};
pub use passes::{FoldBatchNorm, FuseActivations, Pass, PassReport, RemoveDropout, apply_passes};
pub use trace::{ScopeGuard, active, scope, trace, trace_example};
pub(crate) use trace::{record_op, record_param};

use crate::error::{ClassicalError, Result};
use std::fmt::Write as _;

/// A traced model: nodes in execution order (every node after its inputs), one input, one output.
#[derive(Debug, Clone)]
pub struct Graph {
    pub(crate) nodes: Vec<Node>,
    pub(crate) input: NodeId,
    pub(crate) output: NodeId,
}

impl Graph {
    /// Every node, in execution order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Node `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// Node `id`, mutably.
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id]
    }

    /// The input node.
    pub fn input(&self) -> NodeId {
        self.input
    }

    /// The output node.
    pub fn output(&self) -> NodeId {
        self.output
    }

    /// The traced input shape, batch axis included.
    pub fn input_shape(&self) -> &[usize] {
        &self.nodes[self.input].shape
    }

    /// Appends a node (its inputs must exist) and returns its id; [`compact`](Self::compact) restores
    /// execution order afterwards.
    pub fn add_node(&mut self, node: Node) -> Result<NodeId> {
        if let Some(&bad) = node.inputs.iter().find(|&&i| i >= self.nodes.len()) {
            return Err(ClassicalError::Graph(format!("input node {bad} of a new node does not exist")));
        }
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    /// For every node, the nodes that read it (once per use).
    pub fn users(&self) -> Vec<Vec<NodeId>> {
        let mut users = vec![Vec::new(); self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for &j in &n.inputs {
                users[j].push(i);
            }
        }
        users
    }

    /// Makes every reader of `old` (and the graph output, if it is `old`) read `new` instead.
    pub fn replace_uses(&mut self, old: NodeId, new: NodeId) {
        for n in &mut self.nodes {
            for i in &mut n.inputs {
                if *i == old {
                    *i = new;
                }
            }
        }
        if self.output == old {
            self.output = new;
        }
    }

    /// Drops the nodes the output does not depend on and renumbers the rest in execution order
    /// (depth first from the output, inputs in argument order; the input node first).
    pub fn compact(&mut self) {
        let n = self.nodes.len();
        let mut order = vec![self.input];
        let mut placed = vec![false; n];
        placed[self.input] = true;
        // Iterative post-order: (node, inputs pushed?).
        let mut stack = vec![(self.output, false)];
        while let Some((id, expanded)) = stack.pop() {
            if placed[id] {
                continue;
            }
            if expanded {
                placed[id] = true;
                order.push(id);
                continue;
            }
            stack.push((id, true));
            for &i in self.nodes[id].inputs.iter().rev() {
                if !placed[i] {
                    stack.push((i, false));
                }
            }
        }
        let mut new_id = vec![usize::MAX; n];
        for (k, &old) in order.iter().enumerate() {
            new_id[old] = k;
        }
        let mut old_nodes: Vec<Option<Node>> = std::mem::take(&mut self.nodes).into_iter().map(Some).collect();
        self.nodes = order
            .iter()
            .map(|&old| {
                let mut node = old_nodes[old].take().expect("each node is placed once");
                node.inputs.iter_mut().for_each(|i| *i = new_id[*i]);
                node
            })
            .collect();
        self.input = new_id[self.input];
        self.output = new_id[self.output];
    }

    /// The parameter nodes, one per distinct parameter name, in execution order.
    pub fn params(&self) -> Vec<&Node> {
        let mut seen = std::collections::BTreeSet::new();
        self.nodes
            .iter()
            .filter(|n| match &n.op {
                NodeOp::Param { name } => seen.insert(name.clone()),
                _ => false,
            })
            .collect()
    }

    /// The first node at module path `path` whose op satisfies `pred`.
    pub fn find(&self, path: &str, pred: impl Fn(&NodeOp) -> bool) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.path == path && pred(&n.op))
    }

    /// A table of the computing nodes: id, op, module path, inputs and output shape.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.op.is_value() {
                continue;
            }
            let act = n.op.act().map(|a| format!("+{a:?}").to_lowercase()).unwrap_or_default();
            let _ = writeln!(s, "{i:>4}  {:<18} {:<20} {:?} -> {:?}", n.op.name() + &act, n.path, n.inputs, n.shape);
        }
        s
    }
}
