//! The int8 model: a tree of integer layers mirroring the float `Sequential` / `Residual` structure,
//! with the quantization parameters of every activation.
//!
//! Layout: activations run NHWC inside the engine (see [`kernels`](super::kernels)); the public
//! entry points take and return NCHW (the float models' layout), and `Flatten` emits the NCHW order,
//! so a flattened int8 tensor lines up with the float model's features.

use super::fixed_point::RoundingPolicy;
use super::float_graph::{self, FloatLayer, FloatNode};
use super::kernels::add::QAdd;
use super::kernels::conv::QConv2d;
use super::kernels::depthwise::QDepthwiseConv2d;
use super::kernels::fully_connected::QLinear;
use super::kernels::{Dims, nchw_to_nhwc, nhwc_to_nchw, pool};
use crate::autograd::Var;
use crate::compress::quant::QuantParams;
use crate::error::{Result, arg_err, shape_err};
use crate::ops::{self, Activation, Pool2dSpec};
use crate::tensor::{Tensor, contiguous, from_vec};

/// One integer layer.
#[derive(Debug, Clone)]
pub enum Int8Layer {
    /// Convolution (groups allowed) with per-channel weight scales.
    Conv {
        /// The kernel.
        op: QConv2d,
        /// Scale of each output channel's weights.
        weight_scales: Vec<f32>,
    },
    /// Depthwise convolution.
    Depthwise {
        /// The kernel.
        op: QDepthwiseConv2d,
        /// Scale of each output channel's weights.
        weight_scales: Vec<f32>,
    },
    /// Fully connected layer.
    FullyConnected {
        /// The kernel.
        op: QLinear,
        /// Scale of each output channel's weights.
        weight_scales: Vec<f32>,
    },
    /// Max pooling (parameters unchanged).
    MaxPool(Pool2dSpec),
    /// Average pooling (parameters unchanged).
    AvgPool(Pool2dSpec),
    /// Global average pooling (parameters unchanged).
    GlobalAvgPool,
    /// Flatten to `(N, C*H*W)` in NCHW order.
    Flatten,
    /// A standalone ReLU / ReLU6 as a clamp of the integers.
    Clamp {
        /// Lower bound.
        min: i32,
        /// Upper bound.
        max: i32,
    },
    /// `clamp(add(body(x), shortcut(x)))`.
    Residual {
        /// Main branch.
        body: Vec<Int8Node>,
        /// Projection (identity when absent).
        shortcut: Option<Vec<Int8Node>>,
        /// The int8 addition with the folded post-activation.
        add: QAdd,
    },
}

/// A layer, where it came from, and the quantization of its output.
#[derive(Debug, Clone)]
pub struct Int8Node {
    /// Dotted path of the float module (`"3"`, `"2.body.0"`).
    pub path: String,
    /// The integer layer.
    pub layer: Int8Layer,
    /// Scale and zero point of the output.
    pub output: QuantParams,
    /// The activation folded into the output clamp, if any.
    pub act: Option<Activation>,
}

impl Int8Node {
    /// The clamp range of the output integers.
    pub fn clamp_range(&self) -> (i32, i32) {
        match &self.layer {
            Int8Layer::Conv { op, .. } => (op.requant().act_min, op.requant().act_max),
            Int8Layer::Depthwise { op, .. } => (op.requant().act_min, op.requant().act_max),
            Int8Layer::FullyConnected { op, .. } => (op.requant().act_min, op.requant().act_max),
            Int8Layer::Clamp { min, max } => (*min, *max),
            Int8Layer::Residual { add, .. } => (add.act_min, add.act_max),
            _ => (-128, 127),
        }
    }
}

/// Storage of an int8 model in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ModelSize {
    /// int8 weights, one byte each.
    pub weights: usize,
    /// int32 biases, four bytes each.
    pub biases: usize,
    /// Scales (4 B each), zero points (1 B each) and fixed-point multipliers (4 B mantissa + 1 B shift).
    pub quant_params: usize,
}

impl ModelSize {
    /// All bytes.
    pub fn total(&self) -> usize {
        self.weights + self.biases + self.quant_params
    }
}

/// An integer tensor on its way through the engine.
#[derive(Debug, Clone)]
pub(crate) struct Activations {
    /// NHWC data (for 2-d tensors `h = w = 1`).
    pub data: Vec<i8>,
    pub dims: Dims,
    /// True once the tensor is `(N, features)`.
    pub flat: bool,
}

/// The integer output of [`Int8Model::run_quantized`] (and of the reference), NCHW or `(N, F)`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedOutput {
    /// Row-major integers.
    pub data: Vec<i8>,
    /// Their shape.
    pub shape: Vec<usize>,
}

/// An integer-only model converted from a float [`Sequential`](crate::nn::Sequential) by
/// [`convert`](super::convert).
#[derive(Debug, Clone)]
pub struct Int8Model {
    pub(crate) input: QuantParams,
    pub(crate) input_shape: [usize; 3],
    pub(crate) nodes: Vec<Int8Node>,
    pub(crate) policy: RoundingPolicy,
}

/// `(scale, zero point)` of per-tensor parameters.
pub(crate) fn scale_zp(p: &QuantParams) -> (f32, i32) {
    (p.scale[0], p.zero_point[0])
}

impl Int8Model {
    /// A model from its parts (normally built by [`convert`](super::convert)). `input_shape` is one
    /// sample's `(C, H, W)`.
    pub fn from_parts(
        input: QuantParams,
        input_shape: [usize; 3],
        nodes: Vec<Int8Node>,
        policy: RoundingPolicy,
    ) -> Result<Self> {
        if input.channels() != 1 || input.qmin != -128 || input.qmax != 127 {
            return Err(arg_err("Int8Model", "input parameters must be per tensor on [-128, 127]"));
        }
        Ok(Self { input, input_shape, nodes, policy })
    }

    /// Quantization of the input.
    pub fn input_params(&self) -> &QuantParams {
        &self.input
    }
    /// One sample's `(C, H, W)`.
    pub fn input_shape(&self) -> [usize; 3] {
        self.input_shape
    }
    /// The layers.
    pub fn nodes(&self) -> &[Int8Node] {
        &self.nodes
    }
    /// The rounding policy of every rescale.
    pub fn policy(&self) -> RoundingPolicy {
        self.policy
    }
    /// Quantization of the output (the logits).
    pub fn output_params(&self) -> &QuantParams {
        self.nodes.last().map_or(&self.input, |n| &n.output)
    }

    fn check_input(&self, shape: &[usize]) -> Result<()> {
        let [c, h, w] = self.input_shape;
        if shape.len() != 4 || shape[1..] != [c, h, w] {
            return Err(shape_err("Int8Model", shape, &[0, c, h, w], "input must be (N, C, H, W) as calibrated"));
        }
        Ok(())
    }

    /// The input quantized to i8, NCHW order.
    pub fn quantize_input(&self, x: &Tensor) -> Result<Vec<i8>> {
        self.check_input(x.shape())?;
        let xc = contiguous(x);
        Ok(xc.iter().map(|&v| self.input.quantize_value(v, 0) as i8).collect())
    }

    /// Runs the integer layers on an NCHW i8 input of `shape` (already quantized with
    /// [`input_params`](Self::input_params)).
    pub fn run_quantized(&self, x: &[i8], shape: [usize; 4]) -> Result<QuantizedOutput> {
        self.check_input(&shape)?;
        let dims = Dims::new(shape[0], shape[1], shape[2], shape[3]);
        dims.check("Int8Model", x.len())?;
        let a = Activations { data: nchw_to_nhwc(x, dims), dims, flat: false };
        let a = run_nodes(&self.nodes, a)?;
        Ok(if a.flat {
            QuantizedOutput { data: a.data, shape: vec![a.dims.n, a.dims.c] }
        } else {
            QuantizedOutput { data: nhwc_to_nchw(&a.data, a.dims), shape: a.dims.nchw().to_vec() }
        })
    }

    /// Float logits: quantize the input, run the integer layers, dequantize the output.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let q = self.quantize_input(x)?;
        let shape = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
        let out = self.run_quantized(&q, shape)?;
        let (s, zp) = scale_zp(self.output_params());
        from_vec(&out.shape, out.data.iter().map(|&v| s * (v as i32 - zp) as f32).collect())
    }

    /// Class probabilities: softmax (in float) of [`forward`](Self::forward)'s logits.
    pub fn probabilities(&self, x: &Tensor) -> Result<Tensor> {
        let logits = self.forward(x)?;
        if logits.ndim() != 2 {
            return Err(arg_err(
                "Int8Model::probabilities",
                format!("logits of shape {:?} are not 2-d", logits.shape()),
            ));
        }
        Ok(ops::softmax(&Var::constant(logits), 1)?.value().clone())
    }

    /// Predicted class of every sample (argmax of the logits, first on ties).
    pub fn predict(&self, x: &Tensor) -> Result<Vec<usize>> {
        argmax_rows(&self.forward(x)?)
    }

    /// The fake-quant float simulation: every layer in f32 from the dequantized int8 weights and
    /// biases, every activation quantized and dequantized (and clamped) at the points the integer
    /// engine quantizes it. Returns float logits.
    pub fn forward_fake_quant(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x.shape())?;
        let mut graph = Vec::new();
        let mut points = Vec::new();
        let mut input = self.input.clone();
        dequantized_graph(&self.nodes, &mut input, &mut graph, &mut points)?;
        let xq = self.input.fake_quantize(x)?;
        let mut point = 0;
        float_graph::run(&graph, xq, &mut point, &mut |p, t| {
            let (params, (lo, hi)) = &points[p];
            for v in t.iter_mut() {
                *v = params.dequantize_value(params.quantize_value(*v, 0).clamp(*lo, *hi), 0);
            }
            Ok(())
        })
    }

    /// Storage in bytes (weights, biases, quantization parameters).
    pub fn size(&self) -> ModelSize {
        let mut s = ModelSize { weights: 0, biases: 0, quant_params: 5 };
        size_of_nodes(&self.nodes, &mut s);
        s
    }

    /// Multiply-accumulates per sample (convolutions and fully connected layers).
    pub fn macs(&self) -> Result<usize> {
        let [c, h, w] = self.input_shape;
        let mut macs = 0;
        macs_of_nodes(&self.nodes, Dims::new(1, c, h, w), &mut macs)?;
        Ok(macs)
    }
}

/// Index of the largest entry of each row of a 2-d tensor.
pub(crate) fn argmax_rows(t: &Tensor) -> Result<Vec<usize>> {
    if t.ndim() != 2 {
        return Err(arg_err("predict", format!("logits of shape {:?} are not 2-d", t.shape())));
    }
    Ok(t.rows().into_iter().map(|r| crate::train::argmax(r.iter().copied())).collect())
}

fn run_nodes(nodes: &[Int8Node], mut a: Activations) -> Result<Activations> {
    for node in nodes {
        a = run_node(node, a)?;
    }
    Ok(a)
}

fn need_4d(a: &Activations, path: &str) -> Result<()> {
    if a.flat {
        return Err(arg_err("Int8Model", format!("`{path}` needs an (N, C, H, W) input, got a flattened one")));
    }
    Ok(())
}

fn run_node(node: &Int8Node, a: Activations) -> Result<Activations> {
    let path = &node.path;
    Ok(match &node.layer {
        Int8Layer::Conv { op, .. } => {
            need_4d(&a, path)?;
            let (data, dims) = op.forward(&a.data, a.dims)?;
            Activations { data, dims, flat: false }
        }
        Int8Layer::Depthwise { op, .. } => {
            need_4d(&a, path)?;
            let (data, dims) = op.forward(&a.data, a.dims)?;
            Activations { data, dims, flat: false }
        }
        Int8Layer::FullyConnected { op, .. } => {
            if !a.flat {
                return Err(arg_err("Int8Model", format!("`{path}` (fully connected) needs a flattened input")));
            }
            let data = op.forward(&a.data, a.dims.n)?;
            Activations { data, dims: Dims::new(a.dims.n, op.features().0, 1, 1), flat: true }
        }
        Int8Layer::MaxPool(spec) => {
            need_4d(&a, path)?;
            let (data, dims) = pool::max_pool(&a.data, a.dims, *spec)?;
            Activations { data, dims, flat: false }
        }
        Int8Layer::AvgPool(spec) => {
            need_4d(&a, path)?;
            let (data, dims) = pool::avg_pool(&a.data, a.dims, *spec, node.output.zero_point[0])?;
            Activations { data, dims, flat: false }
        }
        Int8Layer::GlobalAvgPool => {
            need_4d(&a, path)?;
            let (data, dims) = pool::global_avg_pool(&a.data, a.dims)?;
            Activations { data, dims, flat: true }
        }
        Int8Layer::Flatten => {
            let d = a.dims;
            let data = if a.flat || d.h * d.w == 1 { a.data } else { nhwc_to_nchw(&a.data, d) };
            Activations { data, dims: Dims::new(d.n, d.c * d.h * d.w, 1, 1), flat: true }
        }
        Int8Layer::Clamp { min, max } => {
            let mut a = a;
            a.data.iter_mut().for_each(|v| *v = (*v as i32).clamp(*min, *max) as i8);
            a
        }
        Int8Layer::Residual { body, shortcut, add } => {
            let main = run_nodes(body, a.clone())?;
            let skip = match shortcut {
                Some(s) => run_nodes(s, a)?,
                None => a,
            };
            if main.dims != skip.dims || main.flat != skip.flat {
                return Err(shape_err(
                    "int8 residual",
                    &main.dims.nchw(),
                    &skip.dims.nchw(),
                    format!("branches of `{path}`"),
                ));
            }
            Activations { data: add.forward(&main.data, &skip.data)?, dims: main.dims, flat: main.flat }
        }
    })
}

/// Dequantized weights as a tensor of `shape`: `q * scale[o]` with `o` the leading index.
fn dequantize_weight(q: &[i8], shape: &[usize], scales: &[f32]) -> Result<Tensor> {
    let per = q.len() / scales.len().max(1);
    from_vec(shape, q.iter().enumerate().map(|(i, &v)| v as f32 * scales[i / per.max(1)]).collect())
}

/// Dequantized bias: `b * s_in * s_w[o]`.
fn dequantize_bias(b: &[i32], s_in: f32, scales: &[f32]) -> Result<Tensor> {
    from_vec(&[b.len()], b.iter().zip(scales).map(|(&v, &s)| (v as f64 * s_in as f64 * s as f64) as f32).collect())
}

/// The float graph of `nodes` with dequantized weights, and per point the output parameters and clamp.
fn dequantized_graph(
    nodes: &[Int8Node],
    input: &mut QuantParams,
    graph: &mut Vec<FloatNode>,
    points: &mut Vec<(QuantParams, (i32, i32))>,
) -> Result<()> {
    for node in nodes {
        let s_in = input.scale[0];
        let layer = match &node.layer {
            Int8Layer::Conv { op, weight_scales } => FloatLayer::Conv {
                weight: dequantize_weight(op.weight(), &op.weight_shape(), weight_scales)?,
                bias: dequantize_bias(op.bias(), s_in, weight_scales)?,
                spec: op.spec(),
                act: node.act,
            },
            Int8Layer::Depthwise { op, weight_scales } => FloatLayer::Conv {
                weight: dequantize_weight(op.weight(), &op.weight_shape(), weight_scales)?,
                bias: dequantize_bias(op.bias(), s_in, weight_scales)?,
                spec: op.spec(),
                act: node.act,
            },
            Int8Layer::FullyConnected { op, weight_scales } => {
                let (o, k) = op.features();
                FloatLayer::Linear {
                    weight: dequantize_weight(op.weight(), &[o, k], weight_scales)?,
                    bias: dequantize_bias(op.bias(), s_in, weight_scales)?,
                    act: node.act,
                }
            }
            Int8Layer::MaxPool(s) => FloatLayer::MaxPool(*s),
            Int8Layer::AvgPool(s) => FloatLayer::AvgPool(*s),
            Int8Layer::GlobalAvgPool => FloatLayer::GlobalAvgPool,
            Int8Layer::Flatten => FloatLayer::Flatten,
            Int8Layer::Clamp { .. } => match node.act {
                Some(a) => FloatLayer::Act(a),
                None => return Err(arg_err("forward_fake_quant", format!("clamp `{}` without activation", node.path))),
            },
            Int8Layer::Residual { body, shortcut, .. } => {
                let (mut b, mut s) = (Vec::new(), None);
                let mut branch_in = input.clone();
                dequantized_graph(body, &mut branch_in, &mut b, points)?;
                if let Some(sc) = shortcut {
                    let mut v = Vec::new();
                    let mut branch_in = input.clone();
                    dequantized_graph(sc, &mut branch_in, &mut v, points)?;
                    s = Some(v);
                }
                FloatLayer::Residual { body: b, shortcut: s, post: node.act }
            }
        };
        graph.push(FloatNode { path: node.path.clone(), layer });
        points.push((node.output.clone(), node.clamp_range()));
        *input = node.output.clone();
    }
    Ok(())
}

fn size_of_nodes(nodes: &[Int8Node], s: &mut ModelSize) {
    for node in nodes {
        let channels = match &node.layer {
            Int8Layer::Conv { op, .. } => Some((op.weight().len(), op.bias().len())),
            Int8Layer::Depthwise { op, .. } => Some((op.weight().len(), op.bias().len())),
            Int8Layer::FullyConnected { op, .. } => Some((op.weight().len(), op.bias().len())),
            Int8Layer::Residual { body, shortcut, .. } => {
                size_of_nodes(body, s);
                if let Some(sc) = shortcut {
                    size_of_nodes(sc, s);
                }
                s.quant_params += 3 * 5 + 5; // three multipliers, output scale + zero point
                None
            }
            _ => None,
        };
        if let Some((w, b)) = channels {
            s.weights += w;
            s.biases += 4 * b;
            // Per channel: weight scale (4 B) and multiplier (5 B); the output's scale and zero point.
            s.quant_params += 9 * b + 5;
        }
    }
}

fn macs_of_nodes(nodes: &[Int8Node], mut d: Dims, macs: &mut usize) -> Result<Dims> {
    for node in nodes {
        d = match &node.layer {
            Int8Layer::Conv { op, .. } => {
                *macs += op.macs(d)?;
                op.output_dims(d)?
            }
            Int8Layer::Depthwise { op, .. } => {
                *macs += op.macs(d)?;
                op.output_dims(d)?
            }
            Int8Layer::FullyConnected { op, .. } => {
                let (o, k) = op.features();
                *macs += o * k;
                Dims::new(d.n, o, 1, 1)
            }
            Int8Layer::MaxPool(s) | Int8Layer::AvgPool(s) => {
                let oh = super::kernels::out_size("macs", d.h, s.kernel, s.stride, s.padding, 1)?;
                let ow = super::kernels::out_size("macs", d.w, s.kernel, s.stride, s.padding, 1)?;
                Dims::new(d.n, d.c, oh, ow)
            }
            Int8Layer::GlobalAvgPool => Dims::new(d.n, d.c, 1, 1),
            Int8Layer::Flatten => Dims::new(d.n, d.c * d.h * d.w, 1, 1),
            Int8Layer::Clamp { .. } => d,
            Int8Layer::Residual { body, shortcut, .. } => {
                let out = macs_of_nodes(body, d, macs)?;
                if let Some(sc) = shortcut {
                    macs_of_nodes(sc, d, macs)?;
                }
                out
            }
        };
    }
    Ok(d)
}
