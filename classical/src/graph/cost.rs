//! Cost of a graph: multiply-accumulates, parameters and activation memory.
//!
//! MACs follow the usual convention (the "multiply-adds" of the MobileNetV2 paper, Sandler et al.
//! 2018, table 3): convolutions, linear layers and matrix products count; a convolution costs
//! `out_h * out_w * out_channels * (in_channels / groups) * kh * kw` per sample, a linear layer
//! `in * out`, a matrix product `m * n * k` per batch entry; normalisation, activations, pooling and
//! shape ops cost nothing, biases are not counted. Counts are per traced batch (one sample for
//! [`trace`](super::trace)).

use super::Graph;
use super::node::NodeOp;

/// The cost of one node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeCost {
    /// Module path.
    pub path: String,
    /// Op name.
    pub op: String,
    /// Output shape.
    pub shape: Vec<usize>,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Multiply-accumulates of the non-zero weights only (a kernel that skips zeros).
    pub nonzero_macs: u64,
}

/// The cost of a whole graph.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cost {
    /// Multiply-accumulates.
    pub macs: u64,
    /// Multiply-accumulates of non-zero weights.
    pub nonzero_macs: u64,
    /// Scalar parameters (each distinct parameter once) and constants (folded weights among them).
    pub params: usize,
    /// Largest number of activation elements alive at once when the nodes run in order (a value lives
    /// from its node to its last reader; parameters and constants excluded, the input included).
    pub peak_activation_elements: usize,
    /// Per computing node, in execution order.
    pub nodes: Vec<NodeCost>,
}

/// MACs of node `id` and of its non-zero weights.
fn node_macs(g: &Graph, id: usize) -> (u64, u64) {
    let n = g.node(id);
    let input = |k: usize| g.node(n.inputs[k]);
    let weight_macs = |dense: u64, k: usize| -> (u64, u64) {
        let w = input(k);
        let nonzero = match &w.value {
            Some(v) if !v.is_empty() => dense / v.len() as u64 * v.iter().filter(|x| **x != 0.0).count() as u64,
            _ => dense,
        };
        (dense, nonzero)
    };
    match &n.op {
        NodeOp::Conv2d { .. } => {
            let w = &input(1).shape;
            let per_output: usize = w[1..].iter().product();
            weight_macs((n.numel() * per_output) as u64, 1)
        }
        NodeOp::Linear { .. } => weight_macs((n.numel() * input(1).shape[1]) as u64, 1),
        NodeOp::MatMul => {
            let k = *input(0).shape.last().unwrap_or(&0);
            let dense = (n.numel() * k) as u64;
            if input(1).value.is_some() { weight_macs(dense, 1) } else { (dense, dense) }
        }
        _ => (0, 0),
    }
}

/// The cost of `g` (see the module docs).
pub fn cost(g: &Graph) -> Cost {
    let users = g.users();
    let last_use: Vec<usize> = users.iter().enumerate().map(|(i, u)| u.iter().copied().max().unwrap_or(i)).collect();
    let (mut live, mut peak) = (0usize, 0usize);
    let mut ends: Vec<Vec<usize>> = vec![Vec::new(); g.nodes().len()];
    let mut nodes = Vec::new();
    let (mut macs, mut nonzero_macs) = (0, 0);
    for (i, n) in g.nodes().iter().enumerate() {
        if n.op.is_value() {
            continue;
        }
        live += n.numel();
        peak = peak.max(live);
        let end = if i == g.output() { usize::MAX } else { last_use[i] };
        if end < ends.len() {
            ends[end].push(n.numel());
        }
        for freed in std::mem::take(&mut ends[i]) {
            live -= freed;
        }
        if matches!(n.op, NodeOp::Input) {
            continue;
        }
        let (m, nz) = node_macs(g, i);
        macs += m;
        nonzero_macs += nz;
        nodes.push(NodeCost {
            path: n.path.clone(),
            op: n.op.name(),
            shape: n.shape.clone(),
            macs: m,
            nonzero_macs: nz,
        });
    }
    let constants: usize = g.nodes().iter().filter(|n| matches!(n.op, NodeOp::Constant)).map(|n| n.numel()).sum();
    let params = g.params().iter().map(|n| n.numel()).sum::<usize>() + constants;
    Cost { macs, nonzero_macs, params, peak_activation_elements: peak, nodes }
}
