//! Evaluating a graph on tensors with the autograd ops (no gradients are recorded: every value is a
//! constant), with a hook that sees, and may change, every computed value. The int8 converter
//! calibrates with it, and the int8 model's fake-quant simulation rounds activations through the hook.
//!
//! Batch size: the graph was traced at one batch size; a node's recorded shape is reused with its
//! leading (batch) axis taken from the input, so reshapes must keep the batch axis first, and an
//! embedding gathers the indices it saw when traced.

use super::Graph;
use super::node::{BinaryOp, NodeId, NodeOp, ReduceOp};
use crate::autograd::Var;
use crate::error::{ClassicalError, Result};
use crate::ops::{self, BatchNormStats};
use crate::tensor::Tensor;

fn unsupported(g: &Graph, id: NodeId) -> ClassicalError {
    let n = g.node(id);
    ClassicalError::Graph(format!("node `{}` ({}) cannot be evaluated by the graph interpreter", n.path, n.op.name()))
}

impl Graph {
    /// The output for input `x` (with a batch axis).
    pub fn run(&self, x: &Tensor) -> Result<Tensor> {
        self.run_with(x, &mut |_, _| Ok(()))
    }

    /// As [`run`](Self::run), calling `hook(id, &mut value)` after every computing node (the input
    /// included, parameters and constants not), in execution order.
    pub fn run_with(&self, x: &Tensor, hook: &mut dyn FnMut(NodeId, &mut Tensor) -> Result<()>) -> Result<Tensor> {
        let traced = self.input_shape();
        if x.shape().len() != traced.len() || x.shape()[1..] != traced[1..] {
            return Err(crate::error::shape_err(
                "Graph::run",
                x.shape(),
                traced,
                "the input must match the traced shape",
            ));
        }
        let users = self.users();
        let mut remaining: Vec<usize> = users.iter().map(Vec::len).collect();
        let mut values: Vec<Option<Var>> = vec![None; self.nodes.len()];
        for (id, node) in self.nodes.iter().enumerate() {
            let mut value = match &node.op {
                NodeOp::Input => x.clone(),
                NodeOp::Param { .. } | NodeOp::Constant => {
                    values[id] = node.value.clone().map(Var::constant);
                    continue;
                }
                _ => {
                    let args: Vec<&Var> = node
                        .inputs
                        .iter()
                        .map(|&i| values[i].as_ref().ok_or_else(|| unsupported(self, i)))
                        .collect::<Result<_>>()?;
                    self.eval_node(id, &args)?.value().clone()
                }
            };
            hook(id, &mut value)?;
            values[id] = Some(Var::constant(value));
            for &i in &node.inputs {
                remaining[i] -= 1;
                if remaining[i] == 0 && i != self.output {
                    values[i] = None;
                }
            }
        }
        values[self.output].take().map(|v| v.value().clone()).ok_or_else(|| unsupported(self, self.output))
    }

    /// One node's output from its arguments' values.
    fn eval_node(&self, id: NodeId, args: &[&Var]) -> Result<Var> {
        let node = self.node(id);
        let activate = |y: Var| match node.op.act() {
            Some(a) => ops::activation(&y, a),
            None => y,
        };
        Ok(match &node.op {
            NodeOp::Conv2d { spec, .. } => activate(ops::conv2d(args[0], args[1], args.get(2).copied(), *spec)?),
            NodeOp::Linear { .. } => activate(ops::linear(args[0], args[1], args.get(2).copied())?),
            NodeOp::MatMul => ops::matmul(args[0], args[1])?,
            NodeOp::BatchNorm { mean, var, eps } => {
                let mut stats = BatchNormStats { mean: mean.clone(), var: var.clone(), momentum: 0.1, eps: *eps };
                ops::batch_norm(args[0], args[1], args[2], &mut stats, false)?
            }
            NodeOp::LayerNorm { eps } => ops::layer_norm(args[0], args[1], args[2], *eps)?,
            NodeOp::Activation(a) => ops::activation(args[0], *a),
            NodeOp::MaxPool2d(spec) => ops::max_pool2d(args[0], *spec)?,
            NodeOp::AvgPool2d(spec) => ops::avg_pool2d(args[0], *spec)?,
            NodeOp::GlobalAvgPool => ops::global_avg_pool(args[0])?,
            NodeOp::Reshape => {
                let mut shape = node.shape.clone();
                let rest: usize = shape[1..].iter().product();
                shape[0] = args[0].value().len() / rest.max(1);
                ops::reshape(args[0], &shape)?
            }
            NodeOp::Permute(order) => ops::permute(args[0], order)?,
            NodeOp::Concat { axis } => ops::concat(args, *axis)?,
            NodeOp::Slice { axis, start, end } => ops::slice(args[0], *axis, *start, *end)?,
            NodeOp::Binary { op, .. } => activate(match op {
                BinaryOp::Add => ops::add(args[0], args[1])?,
                BinaryOp::Sub => ops::sub(args[0], args[1])?,
                BinaryOp::Mul => ops::mul(args[0], args[1])?,
                BinaryOp::Div => ops::div(args[0], args[1])?,
            }),
            NodeOp::Scale(s) => ops::scale(args[0], *s),
            NodeOp::Softmax { axis, log: false } => ops::softmax(args[0], *axis)?,
            NodeOp::Softmax { axis, log: true } => ops::log_softmax(args[0], *axis)?,
            NodeOp::Embedding { indices } => ops::embedding(args[0], indices)?,
            NodeOp::Reduce { op: ReduceOp::Sum, axes, keepdim } => ops::sum_axes(args[0], axes, *keepdim)?,
            NodeOp::Reduce { op: ReduceOp::Mean, axes, keepdim } => ops::mean_axes(args[0], axes, *keepdim)?,
            NodeOp::Reduce { op: ReduceOp::Max, axes, keepdim } => ops::max_axis(args[0], axes[0], *keepdim)?,
            NodeOp::Dropout { .. } => args[0].clone(),
            NodeOp::Input | NodeOp::Param { .. } | NodeOp::Constant | NodeOp::Extension { .. } => {
                return Err(unsupported(self, id));
            }
        })
    }
}
