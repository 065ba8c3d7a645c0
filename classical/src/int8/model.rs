//! The int8 model: integer layers in execution order, each reading the model input or earlier layers'
//! outputs (a residual addition or a concatenation reads two or more), with the quantization
//! parameters of every activation.
//!
//! Layout: activations run NHWC inside the engine (see [`kernels`](super::kernels)); the public
//! entry points take and return NCHW (the float models' layout), and `Flatten` emits the NCHW order,
//! so a flattened int8 tensor lines up with the float model's features.

use super::fixed_point::RoundingPolicy;
use super::kernels::add::QAdd;
use super::kernels::concat::QConcat;
use super::kernels::conv::QConv2d;
use super::kernels::depthwise::QDepthwiseConv2d;
use super::kernels::fully_connected::QLinear;
use super::kernels::{Dims, nchw_to_nhwc, nhwc_to_nchw, out_size, pool};
use super::weights::QuantizedWeights;
use crate::autograd::Var;
use crate::compress::quant::QuantParams;
use crate::error::{Result, arg_err, shape_err};
use crate::graph::{self, BinaryOp, NodeOp};
use crate::ops::{self, Activation, Pool2dSpec};
use crate::tensor::{Tensor, contiguous, from_vec};

/// Where a layer's input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Source {
    /// The model input.
    Input,
    /// The output of layer `i` (an earlier one).
    Node(usize),
}

/// One integer layer.
#[derive(Debug, Clone)]
pub enum Int8Layer {
    /// Convolution (groups allowed).
    Conv(QConv2d),
    /// Depthwise convolution.
    Depthwise(QDepthwiseConv2d),
    /// Fully connected layer (a linear layer, or a matrix product with a constant).
    FullyConnected(QLinear),
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
    /// The int8 addition of two inputs, with a folded activation.
    Add(QAdd),
    /// Concatenation along channels (features, for flat inputs).
    Concat(QConcat),
}

impl Int8Layer {
    /// A short name for errors and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Int8Layer::Conv(_) => "conv",
            Int8Layer::Depthwise(_) => "depthwise",
            Int8Layer::FullyConnected(_) => "fully_connected",
            Int8Layer::MaxPool(_) => "max_pool",
            Int8Layer::AvgPool(_) => "avg_pool",
            Int8Layer::GlobalAvgPool => "global_avg_pool",
            Int8Layer::Flatten => "flatten",
            Int8Layer::Clamp { .. } => "clamp",
            Int8Layer::Add(_) => "add",
            Int8Layer::Concat(_) => "concat",
        }
    }

    /// The quantized weights of a conv, depthwise or fully connected layer.
    pub fn weights(&self) -> Option<&QuantizedWeights> {
        match self {
            Int8Layer::Conv(op) => Some(op.weights()),
            Int8Layer::Depthwise(op) => Some(op.weights()),
            Int8Layer::FullyConnected(op) => Some(op.weights()),
            _ => None,
        }
    }
}

/// A layer, its inputs, where it came from, and the quantization of its output.
#[derive(Debug, Clone)]
pub struct Int8Node {
    /// Dotted path of the float module (`"3"`, `"2.body.0"`).
    pub path: String,
    /// What it reads, in argument order (an addition's first input is the residual body).
    pub inputs: Vec<Source>,
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
            Int8Layer::Clamp { min, max } => (*min, *max),
            Int8Layer::Add(add) => (add.act_min, add.act_max),
            layer => layer.weights().map_or((-128, 127), |w| (w.requant.act_min, w.requant.act_max)),
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

/// An integer-only model converted from a float model by [`convert`](super::convert()).
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

/// The most elements one sample's activation may have in a model built by
/// [`Int8Model::from_parts`] (or loaded): global average pooling sums a whole plane in i32, and
/// `128 * 2^24` still fits; it also bounds what a corrupt file's shapes can make the engine allocate.
pub const MAX_ACTIVATION_ELEMENTS: usize = 1 << 24;

/// The largest pooling window side: average pooling sums `k * k` values in i32.
pub const MAX_POOL_KERNEL: usize = 2048;

/// Checks per-tensor int8 parameters: one finite positive scale, one zero point in `[-128, 127]`.
fn check_activation_params(what: &str, p: &QuantParams) -> Result<()> {
    let ok = p.scale.len() == 1
        && p.zero_point.len() == 1
        && p.qmin == -128
        && p.qmax == 127
        && p.scale[0].is_finite()
        && p.scale[0] > 0.0
        && (-128..=127).contains(&p.zero_point[0]);
    if !ok {
        return Err(arg_err(
            "Int8Model",
            format!(
                "{what}: quantization must be per tensor on [-128, 127] with a positive scale and an i8 zero point, got scales {:?}, zero points {:?}, range [{}, {}]",
                p.scale, p.zero_point, p.qmin, p.qmax
            ),
        ));
    }
    Ok(())
}

/// Checks the parameters of a layer that its constructor does not (layers read from a file are
/// built field by field): clamp ranges in i8, multipliers the kernels can apply, pooling windows.
fn check_layer(layer: &Int8Layer) -> std::result::Result<(), String> {
    let i8r = -128..=127;
    let clamp_ok = |lo: i32, hi: i32| i8r.contains(&lo) && i8r.contains(&hi) && lo <= hi;
    match layer {
        Int8Layer::Clamp { min, max } if !clamp_ok(*min, *max) => {
            Err(format!("clamp range [{min}, {max}] is not an i8 range"))
        }
        Int8Layer::Add(a) => {
            if !clamp_ok(a.act_min, a.act_max) {
                return Err(format!("clamp range [{}, {}] is not an i8 range", a.act_min, a.act_max));
            }
            if !a.input_zero_points.iter().chain([&a.output_zero_point]).all(|zp| i8r.contains(zp)) {
                return Err(format!(
                    "zero points {:?} and {} are not all i8",
                    a.input_zero_points, a.output_zero_point
                ));
            }
            match a.input_multipliers.iter().chain([&a.output_multiplier]).find(|m| !m.in_range()) {
                Some(m) => Err(format!("multiplier {m:?} out of range")),
                None => Ok(()),
            }
        }
        Int8Layer::Concat(c) => {
            if c.inputs.len() < 2 {
                return Err(format!("a concatenation of {} inputs", c.inputs.len()));
            }
            if !i8r.contains(&c.output_zero_point) {
                return Err(format!("output zero point {} is not an i8", c.output_zero_point));
            }
            for (i, input) in c.inputs.iter().enumerate() {
                if !i8r.contains(&input.zero_point) || input.multiplier.is_some_and(|m| !m.in_range()) {
                    return Err(format!(
                        "input {i}: zero point {} or multiplier {:?} out of range",
                        input.zero_point, input.multiplier
                    ));
                }
            }
            Ok(())
        }
        Int8Layer::MaxPool(s) | Int8Layer::AvgPool(s)
            if s.kernel == 0 || s.kernel > MAX_POOL_KERNEL || s.stride == 0 || s.padding * 2 > s.kernel =>
        {
            Err(format!(
                "pooling window {} (stride {}, padding {}): needs a kernel in 1..={MAX_POOL_KERNEL}, a positive stride and padding at most half the kernel",
                s.kernel, s.stride, s.padding
            ))
        }
        _ => Ok(()),
    }
}

/// Per layer, how many later layers read its output (the model output counts as one reader).
fn readers(nodes: &[Int8Node]) -> Vec<usize> {
    let mut count = vec![0; nodes.len()];
    for n in nodes {
        for s in &n.inputs {
            if let Source::Node(i) = s {
                count[*i] += 1;
            }
        }
    }
    if let Some(last) = count.last_mut() {
        *last += 1;
    }
    count
}

impl Int8Model {
    /// A model from its parts (normally built by [`convert`](super::convert())). `input_shape` is one
    /// sample's `(C, H, W)`; every layer reads the input or earlier layers, the last layer is the
    /// output.
    pub fn from_parts(
        input: QuantParams,
        input_shape: [usize; 3],
        nodes: Vec<Int8Node>,
        policy: RoundingPolicy,
    ) -> Result<Self> {
        check_activation_params("input", &input)?;
        let elements = input_shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if input_shape.contains(&0) || elements.is_none_or(|e| e > MAX_ACTIVATION_ELEMENTS) {
            return Err(arg_err(
                "Int8Model",
                format!("input shape {input_shape:?}: needs 1..={MAX_ACTIVATION_ELEMENTS} elements per sample"),
            ));
        }
        for (i, n) in nodes.iter().enumerate() {
            check_layer(&n.layer)
                .map_err(|why| arg_err("Int8Model", format!("layer {i} `{}` ({}): {why}", n.path, n.layer.name())))?;
            check_activation_params(&format!("layer {i} `{}` output", n.path), &n.output)?;
            let arity = match n.layer {
                Int8Layer::Add(_) => Some(2),
                Int8Layer::Concat(ref c) => Some(c.inputs.len()),
                _ => Some(1),
            };
            if arity != Some(n.inputs.len()) || n.inputs.iter().any(|s| matches!(s, Source::Node(j) if *j >= i)) {
                return Err(arg_err(
                    "Int8Model",
                    format!(
                        "layer {i} `{}` ({}) reads {:?}: wrong arity or a later layer",
                        n.path,
                        n.layer.name(),
                        n.inputs
                    ),
                ));
            }
        }
        let model = Self { input, input_shape, nodes, policy };
        // Every activation's shape follows from the layers, within MAX_ACTIVATION_ELEMENTS.
        model.shapes()?;
        Ok(model)
    }

    /// Quantization of the input.
    pub fn input_params(&self) -> &QuantParams {
        &self.input
    }
    /// One sample's `(C, H, W)`.
    pub fn input_shape(&self) -> [usize; 3] {
        self.input_shape
    }
    /// The layers in execution order.
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
    /// Quantization of a source.
    pub fn source_params(&self, s: Source) -> &QuantParams {
        match s {
            Source::Input => &self.input,
            Source::Node(i) => &self.nodes[i].output,
        }
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
        let input = Activations { data: nchw_to_nhwc(x, dims), dims, flat: false };
        let mut remaining = readers(&self.nodes);
        let mut values: Vec<Option<Activations>> = vec![None; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            let args: Vec<&Activations> = node
                .inputs
                .iter()
                .map(|s| match s {
                    Source::Input => Ok(&input),
                    Source::Node(j) => values[*j].as_ref().ok_or_else(|| arg_err("Int8Model", "a freed input")),
                })
                .collect::<Result<_>>()?;
            let out = run_node(node, &args)?;
            for s in &node.inputs {
                if let Source::Node(j) = s {
                    remaining[*j] -= 1;
                    if remaining[*j] == 0 {
                        values[*j] = None;
                    }
                }
            }
            values[i] = Some(out);
        }
        let a = match values.pop().flatten() {
            Some(a) => a,
            None => input,
        };
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

    /// The sample shape `(dims, flat)` of the input and of every layer's output at batch 1.
    pub fn shapes(&self) -> Result<(Dims, Vec<(Dims, bool)>)> {
        let [c, h, w] = self.input_shape;
        let input = Dims::new(1, c, h, w);
        let mut out: Vec<(Dims, bool)> = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let args: Vec<(Dims, bool)> = node
                .inputs
                .iter()
                .map(|s| match s {
                    Source::Input => (input, false),
                    Source::Node(j) => out[*j],
                })
                .collect();
            let (d, flat) = output_shape(node, &args)?;
            let elements = [d.c, d.h, d.w].iter().try_fold(1usize, |a, &x| a.checked_mul(x));
            if elements.is_none_or(|e| e > MAX_ACTIVATION_ELEMENTS) {
                return Err(arg_err(
                    "Int8Model",
                    format!(
                        "`{}` ({}) makes a ({}, {}, {}) activation, over {MAX_ACTIVATION_ELEMENTS} elements per sample",
                        node.path,
                        node.layer.name(),
                        d.c,
                        d.h,
                        d.w
                    ),
                ));
            }
            out.push((d, flat));
        }
        Ok((input, out))
    }

    /// The fake-quant float simulation: every layer in f32 from the dequantized int8 weights and
    /// biases, every activation quantized and dequantized (and clamped) where the integer engine
    /// quantizes it. Returns float logits.
    pub fn forward_fake_quant(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x.shape())?;
        let (g, points) = self.dequantized_graph()?;
        let xq = self.input.fake_quantize(x)?;
        g.run_with(&xq, &mut |id, t| {
            if let Some((params, (lo, hi))) = &points[id] {
                for v in t.iter_mut() {
                    *v = params.dequantize_value(params.quantize_value(*v, 0).clamp(*lo, *hi), 0);
                }
            }
            Ok(())
        })
    }

    /// The float graph of the dequantized model, and per graph node the output parameters and clamp
    /// of the int8 layer it stands for.
    #[allow(clippy::type_complexity)]
    fn dequantized_graph(&self) -> Result<(graph::Graph, Vec<Option<(QuantParams, (i32, i32))>>)> {
        let (input_dims, shapes) = self.shapes()?;
        let mut nodes = vec![graph::Node {
            op: NodeOp::Input,
            inputs: Vec::new(),
            shape: input_dims.nchw().to_vec(),
            path: String::new(),
            value: None,
        }];
        let mut ids = Vec::with_capacity(self.nodes.len());
        let mut points: Vec<Option<(QuantParams, (i32, i32))>> = vec![None];
        let constant = |value: Tensor, path: &str| graph::Node {
            op: NodeOp::Constant,
            inputs: Vec::new(),
            shape: value.shape().to_vec(),
            path: path.to_string(),
            value: Some(value),
        };
        for (i, node) in self.nodes.iter().enumerate() {
            let mut inputs: Vec<usize> = node.inputs.iter().map(|s| ids_of(&ids, s)).collect();
            let s_in = self.source_params(node.inputs[0]).scale[0];
            let op = match &node.layer {
                Int8Layer::Conv(_) | Int8Layer::Depthwise(_) | Int8Layer::FullyConnected(_) => {
                    let w = node.layer.weights().expect("weighted layers have weights");
                    nodes.push(constant(w.dequantized()?, &node.path));
                    nodes.push(constant(w.dequantized_bias(s_in)?, &node.path));
                    inputs.extend([nodes.len() - 2, nodes.len() - 1]);
                    match &node.layer {
                        Int8Layer::Conv(op) => NodeOp::Conv2d { spec: op.spec(), act: node.act },
                        Int8Layer::Depthwise(op) => NodeOp::Conv2d { spec: op.spec(), act: node.act },
                        _ => NodeOp::Linear { act: node.act },
                    }
                }
                Int8Layer::MaxPool(s) => NodeOp::MaxPool2d(*s),
                Int8Layer::AvgPool(s) => NodeOp::AvgPool2d(*s),
                Int8Layer::GlobalAvgPool => NodeOp::GlobalAvgPool,
                Int8Layer::Flatten => NodeOp::Reshape,
                Int8Layer::Clamp { .. } => match node.act {
                    Some(a) => NodeOp::Activation(a),
                    None => {
                        return Err(arg_err("forward_fake_quant", format!("clamp `{}` without activation", node.path)));
                    }
                },
                Int8Layer::Add(_) => NodeOp::Binary { op: BinaryOp::Add, act: node.act },
                Int8Layer::Concat(_) => NodeOp::Concat { axis: 1 },
            };
            let (d, flat) = shapes[i];
            let shape = if flat { vec![1, d.c * d.h * d.w] } else { d.nchw().to_vec() };
            nodes.push(graph::Node { op, inputs, shape, path: node.path.clone(), value: None });
            let id = nodes.len() - 1;
            ids.push(id);
            points.resize(nodes.len(), None);
            points[id] = Some((node.output.clone(), node.clamp_range()));
        }
        let output = ids.last().copied().unwrap_or(0);
        Ok((graph::Graph { nodes, input: 0, output }, points))
    }

    /// Storage in bytes (weights, biases, quantization parameters).
    pub fn size(&self) -> ModelSize {
        let mut s = ModelSize { weights: 0, biases: 0, quant_params: 5 };
        for node in &self.nodes {
            match &node.layer {
                // Three multipliers, the output scale and zero point.
                Int8Layer::Add(_) => s.quant_params += 3 * 5 + 5,
                Int8Layer::Concat(c) => s.quant_params += 5 * c.inputs.len() + 5,
                layer => {
                    if let Some(w) = layer.weights() {
                        let (weights, biases, params) = w.storage();
                        s.weights += weights;
                        s.biases += biases;
                        s.quant_params += params;
                    }
                }
            }
        }
        s
    }

    /// Multiply-accumulates per sample (convolutions and fully connected layers).
    pub fn macs(&self) -> Result<usize> {
        let (input, shapes) = self.shapes()?;
        let mut macs = 0;
        for node in &self.nodes {
            let d = match node.inputs[0] {
                Source::Input => input,
                Source::Node(j) => shapes[j].0,
            };
            macs += match &node.layer {
                Int8Layer::Conv(op) => op.macs(d)?,
                Int8Layer::Depthwise(op) => op.macs(d)?,
                Int8Layer::FullyConnected(op) => op.features().0 * op.features().1,
                _ => 0,
            };
        }
        Ok(macs)
    }
}

/// The graph node standing for source `s` (the input is node 0).
fn ids_of(ids: &[usize], s: &Source) -> usize {
    match s {
        Source::Input => 0,
        Source::Node(j) => ids[*j],
    }
}

/// Index of the largest entry of each row of a 2-d tensor.
pub(crate) fn argmax_rows(t: &Tensor) -> Result<Vec<usize>> {
    if t.ndim() != 2 {
        return Err(arg_err("predict", format!("logits of shape {:?} are not 2-d", t.shape())));
    }
    Ok(t.rows().into_iter().map(|r| crate::train::argmax(r.iter().copied())).collect())
}

fn need_4d(flat: bool, node: &Int8Node) -> Result<()> {
    if flat {
        return Err(arg_err(
            "Int8Model",
            format!("`{}` ({}) needs an (N, C, H, W) input, got a flattened one", node.path, node.layer.name()),
        ));
    }
    Ok(())
}

/// The output `(dims, flat)` of `node` for inputs of `args`.
fn output_shape(node: &Int8Node, args: &[(Dims, bool)]) -> Result<(Dims, bool)> {
    let (d, flat) = args[0];
    Ok(match &node.layer {
        Int8Layer::Conv(op) => {
            need_4d(flat, node)?;
            (op.output_dims(d)?, false)
        }
        Int8Layer::Depthwise(op) => {
            need_4d(flat, node)?;
            (op.output_dims(d)?, false)
        }
        Int8Layer::FullyConnected(op) => (Dims::new(d.n, op.features().0, 1, 1), true),
        Int8Layer::MaxPool(s) | Int8Layer::AvgPool(s) => {
            need_4d(flat, node)?;
            let oh = out_size("pool", d.h, s.kernel, s.stride, s.padding, 1)?;
            let ow = out_size("pool", d.w, s.kernel, s.stride, s.padding, 1)?;
            (Dims::new(d.n, d.c, oh, ow), false)
        }
        Int8Layer::GlobalAvgPool => {
            need_4d(flat, node)?;
            (Dims::new(d.n, d.c, 1, 1), true)
        }
        Int8Layer::Flatten => (Dims::new(d.n, d.c * d.h * d.w, 1, 1), true),
        Int8Layer::Clamp { .. } | Int8Layer::Add(_) => (d, flat),
        Int8Layer::Concat(_) => (Dims::new(d.n, args.iter().map(|a| a.0.c).sum(), d.h, d.w), flat),
    })
}

fn run_node(node: &Int8Node, args: &[&Activations]) -> Result<Activations> {
    let a = args[0];
    let path = &node.path;
    Ok(match &node.layer {
        Int8Layer::Conv(op) => {
            need_4d(a.flat, node)?;
            let (data, dims) = op.forward(&a.data, a.dims)?;
            Activations { data, dims, flat: false }
        }
        Int8Layer::Depthwise(op) => {
            need_4d(a.flat, node)?;
            let (data, dims) = op.forward(&a.data, a.dims)?;
            Activations { data, dims, flat: false }
        }
        Int8Layer::FullyConnected(op) => {
            if !a.flat {
                return Err(arg_err("Int8Model", format!("`{path}` (fully connected) needs a flattened input")));
            }
            let data = op.forward(&a.data, a.dims.n)?;
            Activations { data, dims: Dims::new(a.dims.n, op.features().0, 1, 1), flat: true }
        }
        Int8Layer::MaxPool(spec) => {
            need_4d(a.flat, node)?;
            let (data, dims) = pool::max_pool(&a.data, a.dims, *spec)?;
            Activations { data, dims, flat: false }
        }
        Int8Layer::AvgPool(spec) => {
            need_4d(a.flat, node)?;
            let (data, dims) = pool::avg_pool(&a.data, a.dims, *spec, node.output.zero_point[0])?;
            Activations { data, dims, flat: false }
        }
        Int8Layer::GlobalAvgPool => {
            need_4d(a.flat, node)?;
            let (data, dims) = pool::global_avg_pool(&a.data, a.dims)?;
            Activations { data, dims, flat: true }
        }
        Int8Layer::Flatten => {
            let d = a.dims;
            let data = if a.flat || d.h * d.w == 1 { a.data.clone() } else { nhwc_to_nchw(&a.data, d) };
            Activations { data, dims: Dims::new(d.n, d.c * d.h * d.w, 1, 1), flat: true }
        }
        Int8Layer::Clamp { min, max } => Activations {
            data: a.data.iter().map(|&v| (v as i32).clamp(*min, *max) as i8).collect(),
            dims: a.dims,
            flat: a.flat,
        },
        Int8Layer::Add(add) => {
            let b = args[1];
            if a.dims != b.dims || a.flat != b.flat {
                return Err(shape_err("int8 add", &a.dims.nchw(), &b.dims.nchw(), format!("inputs of `{path}`")));
            }
            Activations { data: add.forward(&a.data, &b.data)?, dims: a.dims, flat: a.flat }
        }
        Int8Layer::Concat(c) => {
            if args.iter().any(|x| x.flat != a.flat) {
                return Err(arg_err("Int8Model", format!("`{path}`: concatenating flat and spatial inputs")));
            }
            let xs: Vec<&[i8]> = args.iter().map(|x| x.data.as_slice()).collect();
            let dims: Vec<Dims> = args.iter().map(|x| x.dims).collect();
            let (data, dims) = c.forward(&xs, &dims)?;
            Activations { data, dims, flat: a.flat }
        }
    })
}
