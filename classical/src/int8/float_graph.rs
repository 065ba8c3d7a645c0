//! The float form of a convertible model: batch norms folded into the preceding layer, activations
//! attached to the layer they follow, dropout gone. The converter calibrates on it, and
//! [`Int8Model::forward_fake_quant`](super::Int8Model::forward_fake_quant) runs it with dequantized
//! weights; both see every layer output through a hook, in the same walk order ("points").

use crate::autograd::Var;
use crate::error::{Result, shape_err};
use crate::ops::{self, Activation, Conv2dSpec, Pool2dSpec};
use crate::tensor::Tensor;

/// One layer of the float graph.
#[derive(Debug, Clone)]
pub(crate) enum FloatLayer {
    /// Convolution (BN folded) with an optional ReLU / ReLU6.
    Conv { weight: Tensor, bias: Tensor, spec: Conv2dSpec, act: Option<Activation> },
    /// Linear `(out, in)` (BN folded) with an optional ReLU / ReLU6.
    Linear { weight: Tensor, bias: Tensor, act: Option<Activation> },
    /// Max pooling.
    MaxPool(Pool2dSpec),
    /// Average pooling.
    AvgPool(Pool2dSpec),
    /// Global average pooling.
    GlobalAvgPool,
    /// `(N, ...) -> (N, prod)`.
    Flatten,
    /// A standalone ReLU / ReLU6.
    Act(Activation),
    /// `post(body(x) + shortcut(x))`.
    Residual { body: Vec<FloatNode>, shortcut: Option<Vec<FloatNode>>, post: Option<Activation> },
}

/// A layer with the dotted path of the module it came from.
#[derive(Debug, Clone)]
pub(crate) struct FloatNode {
    pub path: String,
    pub layer: FloatLayer,
}

impl FloatLayer {
    /// True when the layer's output gets quantization parameters of its own (calibrated); the others
    /// keep their input's.
    pub fn has_own_params(&self) -> bool {
        matches!(self, Self::Conv { .. } | Self::Linear { .. } | Self::Residual { .. })
    }
}

fn activate(x: Var, act: Option<Activation>) -> Var {
    match act {
        Some(a) => ops::activation(&x, a),
        None => x,
    }
}

/// Runs `nodes` on `x`, calling `hook(point, &mut output)` after every node (nested ones included, a
/// residual's sum after its branches) with a running point index starting at `*point`.
pub(crate) fn run(
    nodes: &[FloatNode],
    x: Tensor,
    point: &mut usize,
    hook: &mut dyn FnMut(usize, &mut Tensor) -> Result<()>,
) -> Result<Tensor> {
    let mut h = x;
    for node in nodes {
        let v = Var::constant(h);
        let y = match &node.layer {
            FloatLayer::Conv { weight, bias, spec, act } => {
                let y = ops::conv2d(&v, &Var::constant(weight.clone()), Some(&Var::constant(bias.clone())), *spec)?;
                activate(y, *act)
            }
            FloatLayer::Linear { weight, bias, act } => {
                if v.shape().len() != 2 || v.shape()[1] != weight.shape()[1] {
                    return Err(shape_err(
                        "int8 linear",
                        v.shape(),
                        weight.shape(),
                        format!("input of `{}`", node.path),
                    ));
                }
                let wt = Var::constant(weight.t().as_standard_layout().into_owned());
                let y = ops::add(&ops::matmul(&v, &wt)?, &Var::constant(bias.clone()))?;
                activate(y, *act)
            }
            FloatLayer::MaxPool(spec) => ops::max_pool2d(&v, *spec)?,
            FloatLayer::AvgPool(spec) => ops::avg_pool2d(&v, *spec)?,
            FloatLayer::GlobalAvgPool => ops::global_avg_pool(&v)?,
            FloatLayer::Flatten => ops::flatten(&v)?,
            FloatLayer::Act(a) => ops::activation(&v, *a),
            FloatLayer::Residual { body, shortcut, post } => {
                let main = run(body, v.value().clone(), point, hook)?;
                let skip = match shortcut {
                    Some(s) => run(s, v.value().clone(), point, hook)?,
                    None => v.value().clone(),
                };
                if main.shape() != skip.shape() {
                    return Err(shape_err(
                        "int8 residual",
                        main.shape(),
                        skip.shape(),
                        format!("branches of `{}`", node.path),
                    ));
                }
                activate(ops::add(&Var::constant(main), &Var::constant(skip))?, *post)
            }
        };
        let mut out = y.value().clone();
        hook(*point, &mut out)?;
        *point += 1;
        h = out;
    }
    Ok(h)
}
