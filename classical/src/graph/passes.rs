//! Structural passes: each rewrites a graph in place and reports what it changed, so passes compose
//! (`apply_passes(&mut g, &[&FoldBatchNorm, &FuseActivations::relus()])`).

use super::Graph;
use super::node::{Node, NodeId, NodeOp};
use crate::compress::fold::fold_affine;
use crate::error::{ClassicalError, Result};
use crate::ops::Activation;

/// What a pass changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PassReport {
    /// The pass's name.
    pub pass: &'static str,
    /// One line per change, naming the module paths involved.
    pub changed: Vec<String>,
}

/// A graph transformation.
pub trait Pass {
    /// A short name for reports.
    fn name(&self) -> &'static str;

    /// Rewrites `g`; the graph is in execution order and compact afterwards.
    fn apply(&self, g: &mut Graph) -> Result<PassReport>;
}

/// Applies `passes` in order, returning their reports.
pub fn apply_passes(g: &mut Graph, passes: &[&dyn Pass]) -> Result<Vec<PassReport>> {
    passes.iter().map(|p| p.apply(g)).collect()
}

/// The value of a parameter or constant node; an error naming the reader otherwise.
fn value_of<'a>(g: &'a Graph, id: NodeId, reader: &Node) -> Result<&'a crate::tensor::Tensor> {
    g.node(id).value.as_ref().ok_or_else(|| {
        ClassicalError::Graph(format!(
            "`{}` ({}) reads a computed weight; only parameters and constants can be folded",
            reader.path,
            reader.op.name()
        ))
    })
}

/// Batch-norm folding: a batch norm (evaluation mode) whose input is a convolution or linear layer
/// read by nothing else is absorbed into that layer's weight and bias
/// ([`fold_affine`]: `w'[o] = w[o] gamma[o] / sqrt(var[o] + eps)`, `b'[o] = (b[o] - mean[o]) gamma[o] /
/// sqrt(var[o] + eps) + beta[o]`), and removed. The folded weights become constants named after the
/// layer (`"3.weight"`). Jacob et al., CVPR 2018, section 3.2.
#[derive(Debug, Clone, Copy, Default)]
pub struct FoldBatchNorm;

impl Pass for FoldBatchNorm {
    fn name(&self) -> &'static str {
        "fold_batch_norm"
    }

    fn apply(&self, g: &mut Graph) -> Result<PassReport> {
        let mut report = PassReport { pass: self.name(), changed: Vec::new() };
        for i in 0..g.nodes.len() {
            let NodeOp::BatchNorm { mean, var, eps } = &g.nodes[i].op else { continue };
            let producer = g.nodes[i].inputs[0];
            let layer = &g.nodes[producer];
            let foldable = matches!(layer.op, NodeOp::Conv2d { act: None, .. } | NodeOp::Linear { act: None });
            if !foldable || g.users()[producer] != [i] || producer == g.output {
                continue;
            }
            let bn = &g.nodes[i];
            let weight = value_of(g, layer.inputs[1], layer)?;
            let bias = layer.inputs.get(2).map(|&b| value_of(g, b, layer)).transpose()?;
            let gamma = value_of(g, bn.inputs[1], bn)?;
            let beta = value_of(g, bn.inputs[2], bn)?;
            let (w, b) = fold_affine(weight, bias, gamma, beta, (mean, var, *eps))?;
            let (layer_path, bn_path) = (layer.path.clone(), bn.path.clone());
            let constant = |value: crate::tensor::Tensor, name: &str| Node {
                op: NodeOp::Constant,
                inputs: Vec::new(),
                shape: value.shape().to_vec(),
                path: crate::nn::join(&layer_path, name),
                value: Some(value),
            };
            let w_id = g.add_node(constant(w, "weight"))?;
            let b_id = g.add_node(constant(b, "bias"))?;
            let inputs = &mut g.nodes[producer].inputs;
            inputs.truncate(1);
            inputs.extend([w_id, b_id]);
            g.replace_uses(i, producer);
            report.changed.push(format!("batch norm `{bn_path}` folded into `{layer_path}`"));
        }
        g.compact();
        Ok(report)
    }
}

/// Activation fusion: an activation of one of `kinds` whose input is a convolution, linear layer or
/// addition (without a fused activation yet) read by nothing else becomes that node's fused
/// activation. [`FuseActivations::relus`] is the integer engines' choice: ReLU and ReLU6 are output
/// clamps there.
#[derive(Debug, Clone, PartialEq)]
pub struct FuseActivations {
    /// The activations that may be fused.
    pub kinds: Vec<Activation>,
}

impl FuseActivations {
    /// Fuses ReLU and ReLU6.
    pub fn relus() -> Self {
        Self { kinds: vec![Activation::Relu, Activation::Relu6] }
    }
}

impl Pass for FuseActivations {
    fn name(&self) -> &'static str {
        "fuse_activations"
    }

    fn apply(&self, g: &mut Graph) -> Result<PassReport> {
        let mut report = PassReport { pass: self.name(), changed: Vec::new() };
        for i in 0..g.nodes.len() {
            let NodeOp::Activation(kind) = g.nodes[i].op else { continue };
            if !self.kinds.contains(&kind) {
                continue;
            }
            let producer = g.nodes[i].inputs[0];
            if g.users()[producer] != [i] || producer == g.output {
                continue;
            }
            let Some(slot @ None) = g.nodes[producer].op.act_slot() else { continue };
            *slot = Some(kind);
            g.replace_uses(i, producer);
            report.changed.push(format!(
                "{kind:?} `{}` fused into {} `{}`",
                g.nodes[i].path,
                g.nodes[producer].op.name(),
                g.nodes[producer].path
            ));
        }
        g.compact();
        Ok(report)
    }
}

/// Removes dropout nodes (the identity in evaluation mode).
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveDropout;

impl Pass for RemoveDropout {
    fn name(&self) -> &'static str {
        "remove_dropout"
    }

    fn apply(&self, g: &mut Graph) -> Result<PassReport> {
        let mut report = PassReport { pass: self.name(), changed: Vec::new() };
        for i in 0..g.nodes.len() {
            if matches!(g.nodes[i].op, NodeOp::Dropout { .. }) {
                let input = g.nodes[i].inputs[0];
                g.replace_uses(i, input);
                report.changed.push(format!("dropout `{}` removed", g.nodes[i].path));
            }
        }
        g.compact();
        Ok(report)
    }
}
