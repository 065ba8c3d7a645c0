//! Post-training conversion of a float model to an [`Int8Model`] in one call, through the model graph.
//!
//! 1. Lowering ([`lower`]): the model is traced ([`graph::trace`]); dropout is removed, batch norms are
//!    folded into the convolution or linear layer before them ([`FoldBatchNorm`]), a following ReLU /
//!    ReLU6 is fused into the convolution, linear layer or addition before it ([`FuseActivations`]),
//!    and a matrix product with a constant becomes a linear layer (its weight the constant's transpose).
//! 2. Calibration: the lowered float graph runs over the calibration images; a [`RangeObserver`] sees
//!    the input and every value that gets parameters of its own (convolution / linear outputs after
//!    their activation, additions, concatenations); pooling, flatten and standalone ReLUs keep their
//!    input's parameters, as TFLite requires.
//! 3. Quantization (TFLite's int8 scheme, [`QuantizedWeights::quantize`]): weights per output
//!    channel, symmetric on [-127, 127]; activations per tensor, asymmetric on [-128, 127]; biases
//!    int32 at scale `s_in s_w[o]`; requantization multipliers `s_in s_w[o] / s_out`; ReLU / ReLU6
//!    become the output clamp (`CalculateActivationRangeQuantized`).
//!
//! Any traced model converts whose nodes all have int8 kernels; the first node without one is named in
//! the error.

use super::fixed_point::RoundingPolicy;
use super::kernels::add::QAdd;
use super::kernels::concat::QConcat;
use super::kernels::conv::QConv2d;
use super::kernels::depthwise::QDepthwiseConv2d;
use super::kernels::fully_connected::QLinear;
use super::model::{Int8Layer, Int8Model, Int8Node, Source, scale_zp};
use super::weights::QuantizedWeights;
use crate::compress::calibrate::{Calibration, RangeObserver};
use crate::compress::quant::QuantParams;
use crate::error::{Result, arg_err};
use crate::graph::{self, BinaryOp, FoldBatchNorm, FuseActivations, Graph, Node, NodeId, NodeOp, RemoveDropout};
use crate::nn::Module;
use crate::ops::Activation;
use crate::tensor::{Tensor, contiguous, zeros};
use ndarray::{Axis, Slice};

const OP: &str = "int8::convert";

/// Settings of [`convert`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvertOptions {
    /// How activation ranges are estimated from the calibration set (min-max by default).
    pub calibration: Calibration,
    /// Rounding of every requantization (TFLite's double rounding by default).
    pub policy: RoundingPolicy,
    /// Calibration images per float forward pass.
    pub batch_size: usize,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        Self { calibration: Calibration::MinMax, policy: RoundingPolicy::DoubleRounding, batch_size: 128 }
    }
}

/// Converts `model` to an int8 model, calibrating activation ranges on `calibration` images
/// `(N, C, H, W)`. A node without an int8 kernel is an error naming its module path.
///
/// ```
/// use tinylab_classical::{int8, nn::zoo, tensor};
/// let mut cnn = zoo::reference_cnn(1, 8, 10, 0)?;
/// let images = tensor::rand_uniform(&[32, 1, 8, 8], -1.0, 1.0, &mut tensor::rng(1));
/// let q = int8::convert(&mut cnn, &images, &int8::ConvertOptions::default())?;
/// assert_eq!(q.macs()?, 84224);
/// assert_eq!(q.forward(&images)?.shape(), &[32, 10]);
/// # Ok::<(), tinylab_classical::ClassicalError>(())
/// ```
pub fn convert(model: &mut dyn Module, calibration: &Tensor, opts: &ConvertOptions) -> Result<Int8Model> {
    let shape = calibration.shape();
    if shape.len() != 4 || shape[0] == 0 {
        return Err(arg_err(OP, format!("calibration images must be a non-empty (N, C, H, W), got {shape:?}")));
    }
    convert_graph(graph::trace(model, &shape[1..])?, calibration, opts)
}

/// Converts a traced graph (see [`convert`]).
pub fn convert_graph(mut g: Graph, calibration: &Tensor, opts: &ConvertOptions) -> Result<Int8Model> {
    let shape = calibration.shape();
    if shape.len() != 4 || shape[0] == 0 || g.input_shape()[1..] != shape[1..] {
        return Err(arg_err(
            OP,
            format!(
                "calibration images {shape:?} must be a non-empty (N, C, H, W) of the traced {:?}",
                g.input_shape()
            ),
        ));
    }
    if opts.batch_size == 0 {
        return Err(arg_err(OP, "batch size must be positive"));
    }
    lower(&mut g)?;
    let (input, observed) = calibrate(&g, calibration, opts)?;
    quantize(&g, input, &observed, opts.policy, [shape[1], shape[2], shape[3]])
}

/// The value of a weight input, or an error naming the reader.
fn constant_value<'a>(g: &'a Graph, id: NodeId, reader: &Node) -> Result<&'a Tensor> {
    g.node(id).value.as_ref().ok_or_else(|| {
        arg_err(
            OP,
            format!("`{}` ({}) reads weights computed at run time; no int8 kernel does", reader.path, reader.op.name()),
        )
    })
}

fn constant(value: Tensor, path: &str) -> Node {
    Node {
        op: NodeOp::Constant,
        inputs: Vec::new(),
        shape: value.shape().to_vec(),
        path: path.to_string(),
        value: Some(value),
    }
}

/// The float graph the converter calibrates and quantizes: dropout removed, batch norms folded,
/// ReLU / ReLU6 fused, matrix products with a constant turned into linear layers, and every
/// convolution and linear layer given a bias (zeros where it had none).
pub fn lower(g: &mut Graph) -> Result<()> {
    graph::apply_passes(g, &[&RemoveDropout, &FoldBatchNorm])?;
    for i in 0..g.nodes().len() {
        if matches!(g.node(i).op, NodeOp::MatMul) {
            let (x, b) = (g.node(i).inputs[0], g.node(i).inputs[1]);
            let Some(value) = g.node(b).value.as_ref() else { continue };
            if value.ndim() != 2 || g.node(x).shape.len() != 2 {
                continue;
            }
            let weight = value.t().as_standard_layout().into_owned();
            let path = g.node(i).path.clone();
            let w = g.add_node(constant(weight, &path))?;
            let node = g.node_mut(i);
            node.op = NodeOp::Linear { act: None };
            node.inputs = vec![x, w];
        }
    }
    graph::apply_passes(g, &[&FuseActivations::relus()])?;
    for i in 0..g.nodes().len() {
        let n = g.node(i);
        match &n.op {
            NodeOp::BatchNorm { .. } => {
                return Err(arg_err(OP, format!("batch norm at `{}` does not follow a Conv2d or Linear", n.path)));
            }
            NodeOp::Conv2d { .. } | NodeOp::Linear { .. } if n.inputs.len() == 2 => {
                let channels = g.node(n.inputs[1]).shape[0];
                let path = n.path.clone();
                let b = g.add_node(constant(zeros(&[channels]), &path))?;
                g.node_mut(i).inputs.push(b);
            }
            _ => {}
        }
    }
    g.compact();
    Ok(())
}

/// True for nodes whose output is calibrated (the others keep their first input's parameters).
fn has_own_params(op: &NodeOp) -> bool {
    matches!(
        op,
        NodeOp::Conv2d { .. }
            | NodeOp::Linear { .. }
            | NodeOp::Binary { op: BinaryOp::Add, .. }
            | NodeOp::Concat { .. }
    )
}

/// The input's parameters and, per graph node, the calibrated parameters (None where inherited).
fn calibrate(g: &Graph, images: &Tensor, opts: &ConvertOptions) -> Result<(QuantParams, Vec<Option<QuantParams>>)> {
    let mut input_obs = RangeObserver::new(opts.calibration);
    let mut observers: Vec<Option<RangeObserver>> =
        g.nodes().iter().map(|n| has_own_params(&n.op).then(|| RangeObserver::new(opts.calibration))).collect();
    let n = images.shape()[0];
    for start in (0..n).step_by(opts.batch_size) {
        let batch = images.slice_axis(Axis(0), Slice::from(start..(start + opts.batch_size).min(n))).to_owned();
        input_obs.observe(contiguous(&batch).as_slice().expect("standard layout"));
        g.run_with(&batch, &mut |id, t| {
            if let Some(obs) = observers[id].as_mut() {
                obs.observe(contiguous(t).as_slice().expect("standard layout"));
            }
            Ok(())
        })?;
    }
    let params = |obs: &RangeObserver| -> Result<QuantParams> {
        let (lo, hi) = obs.range()?;
        QuantParams::affine(lo, hi, 8)
    };
    let input = params(&input_obs)?;
    let points = observers.iter().map(|o| o.as_ref().map(params).transpose()).collect::<Result<_>>()?;
    Ok((input, points))
}

/// TFLite's `CalculateActivationRangeQuantized` for the output parameters `p`.
fn activation_range(act: Option<Activation>, p: &QuantParams) -> (i32, i32) {
    let (s, zp) = scale_zp(p);
    let q = |f: f32| zp + (f / s).round() as i32;
    match act {
        Some(Activation::Relu) => (q(0.0).max(-128), 127),
        Some(Activation::Relu6) => (q(0.0).max(-128), q(6.0).min(127)),
        _ => (-128, 127),
    }
}

/// The int8 layers of the lowered, calibrated graph.
fn quantize(
    g: &Graph,
    input: QuantParams,
    observed: &[Option<QuantParams>],
    policy: RoundingPolicy,
    input_shape: [usize; 3],
) -> Result<Int8Model> {
    let mut source: Vec<Option<Source>> = vec![None; g.nodes().len()];
    let mut nodes: Vec<Int8Node> = Vec::new();
    for (id, n) in g.nodes().iter().enumerate() {
        if matches!(n.op, NodeOp::Input) {
            source[id] = Some(Source::Input);
            continue;
        }
        if n.op.is_value() {
            continue;
        }
        let inputs: Vec<Source> = n
            .inputs
            .iter()
            .filter(|&&i| !g.node(i).op.is_value())
            .map(|&i| source[i].ok_or_else(|| no_kernel(g.node(i), "")))
            .collect::<Result<_>>()?;
        let params_of = |s: &Source| match s {
            Source::Input => input.clone(),
            Source::Node(j) => nodes[*j].output.clone(),
        };
        let Some(first) = inputs.first() else { return Err(no_kernel(n, " (it reads only constants)")) };
        let in_params = params_of(first);
        let own = || observed[id].clone().ok_or_else(|| arg_err(OP, format!("no calibrated range for `{}`", n.path)));
        if let Some(a) = n.op.act()
            && !matches!(a, Activation::Relu | Activation::Relu6)
        {
            return Err(no_kernel(n, &format!(" for its fused activation {a:?}")));
        }
        let (layer, output) = match &n.op {
            NodeOp::Conv2d { spec, act } => {
                let out = own()?;
                let qw = weights(g, n, &in_params, &out, *act, policy)?;
                let depthwise = spec.groups > 1 && qw.shape[1] == 1;
                let layer = if depthwise {
                    Int8Layer::Depthwise(QDepthwiseConv2d::new(qw, *spec)?)
                } else {
                    Int8Layer::Conv(QConv2d::new(qw, *spec)?)
                };
                (layer, out)
            }
            NodeOp::Linear { act } => {
                let out = own()?;
                (Int8Layer::FullyConnected(QLinear::new(weights(g, n, &in_params, &out, *act, policy)?)?), out)
            }
            NodeOp::Binary { op: BinaryOp::Add, act } if inputs.len() == 2 => {
                let out = own()?;
                let (lo, hi) = activation_range(*act, &out);
                let b = params_of(&inputs[1]);
                let add = QAdd::new(scale_zp(&in_params), scale_zp(&b), scale_zp(&out), lo, hi, policy)?;
                (Int8Layer::Add(add), out)
            }
            NodeOp::Concat { axis: 1 } => {
                let out = own()?;
                let ins: Vec<(f32, i32)> = inputs.iter().map(|s| scale_zp(&params_of(s))).collect();
                (Int8Layer::Concat(QConcat::new(&ins, scale_zp(&out), policy)?), out)
            }
            NodeOp::MaxPool2d(s) => (Int8Layer::MaxPool(*s), in_params),
            NodeOp::AvgPool2d(s) => (Int8Layer::AvgPool(*s), in_params),
            NodeOp::GlobalAvgPool => (Int8Layer::GlobalAvgPool, in_params),
            NodeOp::Reshape if is_flatten(g, n) => (Int8Layer::Flatten, in_params),
            NodeOp::Activation(a @ (Activation::Relu | Activation::Relu6)) => {
                let (min, max) = activation_range(Some(*a), &in_params);
                (Int8Layer::Clamp { min, max }, in_params)
            }
            NodeOp::Activation(a) => {
                return Err(arg_err(
                    OP,
                    format!(
                        "activation {a:?} at `{}` has no int8 kernel (only ReLU and ReLU6 fold into clamps)",
                        n.path
                    ),
                ));
            }
            _ => return Err(no_kernel(n, "")),
        };
        let act = match n.op {
            NodeOp::Activation(a) => Some(a),
            _ => n.op.act(),
        };
        source[id] = Some(Source::Node(nodes.len()));
        nodes.push(Int8Node { path: n.path.clone(), inputs, layer, output, act });
    }
    if source[g.output()] != Some(Source::Node(nodes.len().wrapping_sub(1))) {
        return Err(arg_err(OP, "the model's output is not its last computed value"));
    }
    Int8Model::from_parts(input, input_shape, nodes, policy)
}

fn no_kernel(n: &Node, why: &str) -> crate::ClassicalError {
    arg_err(OP, format!("node `{}` ({}) has no int8 kernel{why}", n.path, n.op.name()))
}

/// The quantized weights and bias of a convolution or linear node `n` `[x, weight, bias]`.
fn weights(
    g: &Graph,
    n: &Node,
    input: &QuantParams,
    output: &QuantParams,
    act: Option<Activation>,
    policy: RoundingPolicy,
) -> Result<QuantizedWeights> {
    let w = constant_value(g, n.inputs[1], n)?;
    let b = constant_value(g, n.inputs[2], n)?;
    QuantizedWeights::quantize(w, b, input, output, activation_range(act, output), policy)
}

/// A reshape of `(N, C, H, W)` or `(N, F)` to `(N, C*H*W)`.
fn is_flatten(g: &Graph, n: &Node) -> bool {
    let from = &g.node(n.inputs[0]).shape;
    n.shape.len() == 2 && (from.len() == 4 || from.len() == 2) && n.shape[0] == from[0]
}
