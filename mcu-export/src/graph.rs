//! The exporter's graph: an [`Int8Model`]'s tree of layers flattened into a list of operations on
//! numbered batch-1 NHWC tensors, with every constant already in the order the C kernels read it.
//!
//! - Convolution weights go from PyTorch's OIHW to OHWI, depthwise weights from `(O, 1, KH, KW)` to
//!   TFLite's HWO, per-channel multipliers are expanded to one per output channel.
//! - `Flatten` becomes a [`OpKind::Reshape`] that moves no bytes: the C code keeps activations NHWC, so
//!   the columns of the fully connected layer after a flatten are permuted from the engine's NCHW feature
//!   order to NHWC instead (TFLite's converter does the same).
//! - An addition becomes an [`OpKind::Add`] with the engine's input order (a residual block's body
//!   first); layers map one to one, in the engine's order, so tensor ids follow the model's layers.

use crate::error::{ExportError, Result};
use tinylab_classical::int8::kernels::{Dims, nchw_to_nhwc, out_size};
use tinylab_classical::int8::{
    Int8Layer, Int8Model, Int8Node, QuantizedMultiplier, QuantizedOutput, Requant, RoundingPolicy, Source,
};
use tinylab_classical::ops::Pool2dSpec;

/// Index of a tensor in [`McuGraph::tensors`].
pub type TensorId = usize;

/// Shape of a batch-1 activation tensor, NHWC (`h = w = 1` for a flat vector).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TensorShape {
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Channels (features for a flat vector).
    pub c: usize,
}

impl TensorShape {
    /// Bytes (one per int8 element).
    pub fn bytes(&self) -> usize {
        self.h * self.w * self.c
    }
}

/// The output stage of a conv / fully connected layer, one multiplier per output channel.
#[derive(Debug, Clone, PartialEq)]
pub struct RequantParams {
    /// Q0.31 mantissas.
    pub multipliers: Vec<i32>,
    /// Exponents (positive shifts left).
    pub shifts: Vec<i8>,
    /// Added after rescaling.
    pub output_zp: i32,
    /// Clamp range (ReLU / ReLU6 folded in).
    pub act_min: i32,
    /// Upper clamp.
    pub act_max: i32,
}

impl RequantParams {
    fn from_engine(r: &Requant, channels: usize) -> Self {
        let per: Vec<_> = (0..channels).map(|o| r.multiplier(o)).collect();
        Self {
            multipliers: per.iter().map(|m| m.multiplier).collect(),
            shifts: per.iter().map(|m| m.shift as i8).collect(),
            output_zp: r.output_zero_point,
            act_min: r.act_min,
            act_max: r.act_max,
        }
    }
}

/// Geometry of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Kernel rows and columns.
    pub kernel: (usize, usize),
    /// Stride (rows, columns).
    pub stride: (usize, usize),
    /// Padding on each side (rows, columns).
    pub padding: (usize, usize),
    /// Dilation (rows, columns).
    pub dilation: (usize, usize),
    /// Channel groups.
    pub groups: usize,
    /// Output channels.
    pub c_out: usize,
    /// Zero point of the input.
    pub input_zp: i32,
}

/// What an operation computes.
#[derive(Debug, Clone, PartialEq)]
pub enum OpKind {
    /// Convolution, weights OHWI.
    Conv {
        /// Geometry.
        geometry: ConvGeometry,
        /// `(O, KH, KW, C/groups)` row-major.
        weight: Vec<i8>,
        /// int32 bias per output channel.
        bias: Vec<i32>,
        /// Output stage.
        requant: RequantParams,
    },
    /// Depthwise convolution (`groups` = input channels), weights HWO.
    Depthwise {
        /// Geometry (`c_out` is a multiple of the input channels).
        geometry: ConvGeometry,
        /// `(KH, KW, O)` row-major.
        weight: Vec<i8>,
        /// int32 bias per output channel.
        bias: Vec<i32>,
        /// Output stage.
        requant: RequantParams,
    },
    /// Fully connected layer on a flat input in NHWC feature order.
    FullyConnected {
        /// Zero point of the input.
        input_zp: i32,
        /// `(O, K)` row-major, columns in NHWC order.
        weight: Vec<i8>,
        /// int32 bias per output.
        bias: Vec<i32>,
        /// Output stage.
        requant: RequantParams,
    },
    /// TFLite int8 addition of two tensors of one shape.
    Add {
        /// Zero points of the inputs.
        input_zps: [i32; 2],
        /// `(multiplier, shift)` of each input's rescale.
        input_multipliers: [(i32, i8); 2],
        /// `(multiplier, shift)` of the output rescale.
        output_multiplier: (i32, i8),
        /// Output zero point.
        output_zp: i32,
        /// Clamp range.
        act_min: i32,
        /// Upper clamp.
        act_max: i32,
    },
    /// Max pooling.
    MaxPool(Pool2dSpec),
    /// Average pooling with padding counted as `zero_point`.
    AvgPool {
        /// Window.
        spec: Pool2dSpec,
        /// Zero point of input and output.
        zero_point: i32,
    },
    /// Global average pooling to a flat vector.
    GlobalAvgPool,
    /// A standalone ReLU / ReLU6 clamp.
    Clamp {
        /// Lower bound.
        min: i32,
        /// Upper bound.
        max: i32,
    },
    /// Flatten: the same bytes seen as a flat vector (NHWC order).
    Reshape,
}

impl OpKind {
    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Conv { geometry: g, .. } if g.kernel == (1, 1) && g.groups == 1 => "conv1x1",
            OpKind::Conv { .. } => "conv",
            OpKind::Depthwise { .. } => "depthwise",
            OpKind::FullyConnected { .. } => "fc",
            OpKind::Add { .. } => "add",
            OpKind::MaxPool(_) => "maxpool",
            OpKind::AvgPool { .. } => "avgpool",
            OpKind::GlobalAvgPool => "gap",
            OpKind::Clamp { .. } => "clamp",
            OpKind::Reshape => "reshape",
        }
    }

    /// True for the ops patch-based inference can run on a window of their output: convolutions,
    /// pooling and additions (a standalone clamp, global pooling and fully connected layers need whole
    /// tensors).
    pub fn is_patchable(&self) -> bool {
        matches!(
            self,
            OpKind::Conv { .. }
                | OpKind::Depthwise { .. }
                | OpKind::MaxPool(_)
                | OpKind::AvgPool { .. }
                | OpKind::Add { .. }
        )
    }

    /// The window `(kernel, stride, padding, dilation)` along rows and columns for spatial ops
    /// (element-wise ops are `1, 1, 0, 1`).
    pub fn window(&self) -> [(usize, usize, usize, usize); 2] {
        match self {
            OpKind::Conv { geometry: g, .. } | OpKind::Depthwise { geometry: g, .. } => [
                (g.kernel.0, g.stride.0, g.padding.0, g.dilation.0),
                (g.kernel.1, g.stride.1, g.padding.1, g.dilation.1),
            ],
            OpKind::MaxPool(s) | OpKind::AvgPool { spec: s, .. } => {
                [(s.kernel, s.stride, s.padding, 1), (s.kernel, s.stride, s.padding, 1)]
            }
            _ => [(1, 1, 0, 1); 2],
        }
    }
}

/// One operation: `output = kind(inputs)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// Dotted path of the float layer it comes from.
    pub path: String,
    /// What it computes.
    pub kind: OpKind,
    /// Input tensors (two for an add, one otherwise).
    pub inputs: Vec<TensorId>,
    /// Output tensor.
    pub output: TensorId,
}

impl Op {
    /// Multiply-accumulates per output pixel given the input shape (the whole layer for a fully
    /// connected one).
    pub fn macs_per_pixel(&self, input: TensorShape) -> usize {
        match &self.kind {
            OpKind::Conv { geometry: g, .. } => g.c_out * g.kernel.0 * g.kernel.1 * input.c / g.groups,
            OpKind::Depthwise { geometry: g, .. } => g.c_out * g.kernel.0 * g.kernel.1,
            OpKind::FullyConnected { weight, .. } => weight.len(),
            _ => 0,
        }
    }
}

/// An int8 model as a list of operations on batch-1 NHWC tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct McuGraph {
    /// Every tensor's shape; tensor 0 is the input.
    pub tensors: Vec<TensorShape>,
    /// Operations in execution order.
    pub ops: Vec<Op>,
    /// The input tensor.
    pub input: TensorId,
    /// The output tensor.
    pub output: TensorId,
    /// Rounding of every rescale.
    pub policy: RoundingPolicy,
    /// Scale and zero point of the input, to quantize samples on the device side.
    pub input_quant: (f32, i32),
    /// Scale and zero point of the output.
    pub output_quant: (f32, i32),
    /// True when the output is a flat vector whose engine order is NCHW of `output_nchw` (a trailing
    /// flatten with no layer after it); [`McuGraph::engine_output_to_c`] permutes it.
    pub output_nchw: Option<TensorShape>,
}

/// A flat tensor that came out of a flatten of a spatial map: the engine's feature order is NCHW of it.
type FlatOrigin = Option<TensorShape>;

struct Lowering {
    tensors: Vec<TensorShape>,
    ops: Vec<Op>,
    /// Per tensor: true once it is a flat feature vector.
    flat: Vec<bool>,
    /// Per tensor: the NHWC shape it was flattened from, when the engine's feature order (NCHW of that
    /// shape) differs from the C order (a flatten of a map with more than one pixel).
    origin: Vec<FlatOrigin>,
}

fn unsupported(node: &Int8Node, why: impl Into<String>) -> ExportError {
    ExportError::Unsupported { layer: node.path.clone(), why: why.into() }
}

fn dims(s: TensorShape) -> Dims {
    Dims::new(1, s.c, s.h, s.w)
}

impl Lowering {
    fn tensor(&mut self, shape: TensorShape, flat: bool, origin: FlatOrigin) -> TensorId {
        self.tensors.push(shape);
        self.flat.push(flat);
        self.origin.push(origin);
        self.tensors.len() - 1
    }

    /// Appends `kind(inputs)` with an output of `shape`; `like` is the tensor whose flatness and feature
    /// order the output inherits (`None`: a spatial map).
    fn push(&mut self, node: &Int8Node, kind: OpKind, inputs: Vec<TensorId>, shape: TensorShape) -> TensorId {
        let (flat, origin) = match kind {
            OpKind::Clamp { .. } | OpKind::Add { .. } => (self.flat[inputs[0]], self.origin[inputs[0]]),
            OpKind::GlobalAvgPool | OpKind::FullyConnected { .. } => (true, None),
            _ => (false, None),
        };
        self.push_with(node, kind, inputs, shape, flat, origin)
    }

    fn push_with(
        &mut self,
        node: &Int8Node,
        kind: OpKind,
        inputs: Vec<TensorId>,
        shape: TensorShape,
        flat: bool,
        origin: FlatOrigin,
    ) -> TensorId {
        let output = self.tensor(shape, flat, origin);
        self.ops.push(Op { path: node.path.clone(), kind, inputs, output });
        output
    }

    /// Lowers one layer reading tensors `args`.
    fn node(&mut self, node: &Int8Node, args: &[TensorId]) -> Result<TensorId> {
        let x = args[0];
        let s = self.tensors[x];
        let flat = self.flat[x];
        let spatial_input = |what: &str| -> Result<()> {
            if flat {
                return Err(unsupported(node, format!("{what} needs a spatial input, got a flat one")));
            }
            Ok(())
        };
        Ok(match &node.layer {
            Int8Layer::Conv(op) => {
                spatial_input("a convolution")?;
                let w = op.weights();
                let [o, cg, kh, kw] = op.weight_shape();
                let out = op.output_dims(dims(s))?;
                let mut weight = vec![0i8; w.values.len()];
                for oo in 0..o {
                    for c in 0..cg {
                        for t in 0..kh * kw {
                            weight[(oo * kh * kw + t) * cg + c] = w.values[(oo * cg + c) * kh * kw + t];
                        }
                    }
                }
                let geometry = geometry(kh, kw, op.spec(), o, w.input_zero_point);
                let requant = RequantParams::from_engine(&w.requant, o);
                let kind = OpKind::Conv { geometry, weight, bias: w.bias.clone(), requant };
                self.push(node, kind, vec![x], TensorShape { h: out.h, w: out.w, c: out.c })
            }
            Int8Layer::Depthwise(op) => {
                spatial_input("a depthwise convolution")?;
                let w = op.weights();
                let [o, _, kh, kw] = op.weight_shape();
                let out = op.output_dims(dims(s))?;
                let mut weight = vec![0i8; w.values.len()];
                for oo in 0..o {
                    for t in 0..kh * kw {
                        weight[t * o + oo] = w.values[oo * kh * kw + t];
                    }
                }
                let geometry = geometry(kh, kw, op.spec(), o, w.input_zero_point);
                let requant = RequantParams::from_engine(&w.requant, o);
                let kind = OpKind::Depthwise { geometry, weight, bias: w.bias.clone(), requant };
                self.push(node, kind, vec![x], TensorShape { h: out.h, w: out.w, c: out.c })
            }
            Int8Layer::FullyConnected(op) => {
                if !flat {
                    return Err(unsupported(node, "a fully connected layer needs a flattened input"));
                }
                let w = op.weights();
                let (o, k) = op.features();
                if k != s.bytes() {
                    return Err(unsupported(node, format!("{k} input features but the input has {}", s.bytes())));
                }
                let weight = match self.origin[x] {
                    Some(from) => nchw_columns_to_nhwc(&w.values, o, from),
                    None => w.values.clone(),
                };
                let requant = RequantParams::from_engine(&w.requant, o);
                let kind =
                    OpKind::FullyConnected { input_zp: w.input_zero_point, weight, bias: w.bias.clone(), requant };
                self.push(node, kind, vec![x], TensorShape { h: 1, w: 1, c: o })
            }
            Int8Layer::MaxPool(spec) | Int8Layer::AvgPool(spec) => {
                spatial_input("pooling")?;
                let oh = out_size("pool", s.h, spec.kernel, spec.stride, spec.padding, 1)?;
                let ow = out_size("pool", s.w, spec.kernel, spec.stride, spec.padding, 1)?;
                let kind = match node.layer {
                    Int8Layer::MaxPool(_) => OpKind::MaxPool(*spec),
                    _ => OpKind::AvgPool { spec: *spec, zero_point: node.output.zero_point[0] },
                };
                self.push(node, kind, vec![x], TensorShape { h: oh, w: ow, c: s.c })
            }
            Int8Layer::GlobalAvgPool => {
                spatial_input("global average pooling")?;
                self.push(node, OpKind::GlobalAvgPool, vec![x], TensorShape { h: 1, w: 1, c: s.c })
            }
            Int8Layer::Flatten => {
                let shape = TensorShape { h: 1, w: 1, c: s.bytes() };
                let origin = if flat { self.origin[x] } else { (s.h * s.w > 1).then_some(s) };
                self.push_with(node, OpKind::Reshape, vec![x], shape, true, origin)
            }
            Int8Layer::Clamp { min, max } => self.push(node, OpKind::Clamp { min: *min, max: *max }, vec![x], s),
            Int8Layer::Add(add) => {
                let (main, skip) = (args[0], args[1]);
                if self.tensors[main] != self.tensors[skip]
                    || self.flat[main] != self.flat[skip]
                    || self.origin[main] != self.origin[skip]
                {
                    return Err(unsupported(
                        node,
                        format!("input shapes {:?} and {:?} differ", self.tensors[main], self.tensors[skip]),
                    ));
                }
                let q = |m: QuantizedMultiplier| (m.multiplier, m.shift as i8);
                let kind = OpKind::Add {
                    input_zps: add.input_zero_points,
                    input_multipliers: [q(add.input_multipliers[0]), q(add.input_multipliers[1])],
                    output_multiplier: q(add.output_multiplier),
                    output_zp: add.output_zero_point,
                    act_min: add.act_min,
                    act_max: add.act_max,
                };
                let shape = self.tensors[main];
                self.push(node, kind, vec![main, skip], shape)
            }
            Int8Layer::Concat(_) => return Err(unsupported(node, "no C kernel for a concatenation yet")),
        })
    }
}

fn geometry(kh: usize, kw: usize, spec: tinylab_classical::ops::Conv2dSpec, c_out: usize, zp: i32) -> ConvGeometry {
    ConvGeometry {
        kernel: (kh, kw),
        stride: spec.stride,
        padding: spec.padding,
        dilation: spec.dilation,
        groups: spec.groups,
        c_out,
        input_zp: zp,
    }
}

/// Permutes the columns of an `(o, h*w*c)` weight from NCHW feature order to NHWC.
fn nchw_columns_to_nhwc(weight: &[i8], o: usize, from: TensorShape) -> Vec<i8> {
    let (hw, c) = (from.h * from.w, from.c);
    let k = hw * c;
    let mut out = vec![0i8; weight.len()];
    for row in 0..o {
        for ch in 0..c {
            for p in 0..hw {
                out[row * k + p * c + ch] = weight[row * k + ch * hw + p];
            }
        }
    }
    out
}

impl McuGraph {
    /// Lowers `model` (batch 1).
    pub fn from_int8(model: &Int8Model) -> Result<Self> {
        let [c, h, w] = model.input_shape();
        let mut l = Lowering { tensors: Vec::new(), ops: Vec::new(), flat: Vec::new(), origin: Vec::new() };
        let input = l.tensor(TensorShape { h, w, c }, false, None);
        let mut outputs: Vec<TensorId> = Vec::with_capacity(model.nodes().len());
        for node in model.nodes() {
            let args: Vec<TensorId> = node
                .inputs
                .iter()
                .map(|s| match s {
                    Source::Input => input,
                    Source::Node(j) => outputs[*j],
                })
                .collect();
            let out = l.node(node, &args)?;
            outputs.push(out);
        }
        let output = outputs.last().copied().unwrap_or(input);
        let quant = |p: &tinylab_classical::compress::quant::QuantParams| (p.scale[0], p.zero_point[0]);
        Ok(Self {
            output_nchw: l.origin[output],
            tensors: l.tensors,
            ops: l.ops,
            input,
            output,
            policy: model.policy(),
            input_quant: quant(model.input_params()),
            output_quant: quant(model.output_params()),
        })
    }

    /// Bytes of the input (batch 1).
    pub fn input_bytes(&self) -> usize {
        self.tensors[self.input].bytes()
    }

    /// Bytes of the output (batch 1).
    pub fn output_bytes(&self) -> usize {
        self.tensors[self.output].bytes()
    }

    /// For each tensor, the index of the last op that reads it (`None` if no op does).
    pub fn last_use(&self) -> Vec<Option<usize>> {
        let mut last = vec![None; self.tensors.len()];
        for (i, op) in self.ops.iter().enumerate() {
            for &t in &op.inputs {
                last[t] = Some(i);
            }
        }
        last
    }

    /// For each tensor, the op that writes it (`None` for the input).
    pub fn producer(&self) -> Vec<Option<usize>> {
        let mut p = vec![None; self.tensors.len()];
        for (i, op) in self.ops.iter().enumerate() {
            p[op.output] = Some(i);
        }
        p
    }

    /// Multiply-accumulates of one inference.
    pub fn macs(&self) -> usize {
        self.ops
            .iter()
            .map(|op| {
                let out = self.tensors[op.output];
                let per = op.macs_per_pixel(self.tensors[op.inputs[0]]);
                if matches!(op.kind, OpKind::FullyConnected { .. }) { per } else { per * out.h * out.w }
            })
            .sum()
    }

    /// Bytes of constants: int8 weights, int32 biases, per-channel multipliers (4 B) and shifts (1 B).
    pub fn constant_bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match &op.kind {
                OpKind::Conv { weight, bias, requant, .. }
                | OpKind::Depthwise { weight, bias, requant, .. }
                | OpKind::FullyConnected { weight, bias, requant, .. } => {
                    weight.len() + 4 * bias.len() + 5 * requant.multipliers.len()
                }
                _ => 0,
            })
            .sum()
    }

    /// One sample of the engine's NCHW input (as [`Int8Model::quantize_input`] gives it) in the NHWC
    /// order `model_invoke` takes.
    pub fn engine_input_to_c(&self, nchw: &[i8]) -> Result<Vec<i8>> {
        let s = self.tensors[self.input];
        check_len("input", nchw.len(), s.bytes())?;
        Ok(nchw_to_nhwc(nchw, dims(s)))
    }

    /// One sample of the engine's output ([`Int8Model::run_quantized`] with batch 1) in the order
    /// `model_invoke` writes it (NHWC for maps, the NHWC feature order after a trailing flatten).
    pub fn engine_output_to_c(&self, out: &QuantizedOutput) -> Result<Vec<i8>> {
        let s = self.tensors[self.output];
        check_len("output", out.data.len(), s.bytes())?;
        Ok(match (out.shape.len(), self.output_nchw) {
            (4, _) => nchw_to_nhwc(&out.data, dims(s)),
            (_, Some(from)) => nchw_to_nhwc(&out.data, dims(from)),
            _ => out.data.clone(),
        })
    }
}

fn check_len(what: &'static str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(crate::error::arg_err("McuGraph", format!("{what} of {got} bytes, the model has {want}")));
    }
    Ok(())
}

/// The output rows (or columns) `[lo, hi)` of a window op need input rows `[lo', hi')` (clipped to
/// `0..size`): `(kernel, stride, padding, dilation)` along the axis.
pub fn input_range(lo: usize, hi: usize, window: (usize, usize, usize, usize), size: usize) -> (usize, usize) {
    let (k, s, p, d) = window;
    let first = (lo * s) as isize - p as isize;
    let last = ((hi - 1) * s + (k - 1) * d) as isize - p as isize;
    (first.max(0) as usize, ((last + 1).max(0) as usize).min(size))
}
