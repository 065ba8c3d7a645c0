//! The graph's data: typed nodes with their inputs, traced shapes, module paths and constant values.

use crate::ops::{Activation, Conv2dSpec, Pool2dSpec};
use crate::tensor::Tensor;

/// Index of a node in [`Graph::nodes`](super::Graph::nodes).
pub type NodeId = usize;

/// The element-wise binary operations (with broadcasting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
}

/// The reductions over axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    /// Sum.
    Sum,
    /// Mean.
    Mean,
    /// Maximum (one axis).
    Max,
}

/// What a node computes. Inputs are listed in the order the op takes them; parameters and other
/// constants are nodes of their own ([`NodeOp::Param`], [`NodeOp::Constant`]), so a convolution's
/// inputs are `[x, weight]` or `[x, weight, bias]`.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeOp {
    /// The model input.
    Input,
    /// A model parameter (its value is the parameter's effective value: masked and quantized as the
    /// parameter says). `name` is the dotted path of [`crate::nn::named_params`].
    Param {
        /// Dotted parameter path (`"features.0.weight"`).
        name: String,
    },
    /// A constant made inside a forward pass, or a folded weight written by a pass.
    Constant,
    /// 2-d convolution `[x, weight (O, C/g, KH, KW), bias?]`, with an optional fused activation.
    Conv2d {
        /// Stride, padding, dilation, groups.
        spec: Conv2dSpec,
        /// Activation applied to the output ([`FuseActivations`](super::FuseActivations)).
        act: Option<Activation>,
    },
    /// Fully connected `x W^T + b`: `[x (N, in), weight (out, in), bias?]`, optional fused activation.
    Linear {
        /// Activation applied to the output.
        act: Option<Activation>,
    },
    /// Matrix product of two values (`(m,k)x(k,n)`, `(b,m,k)x(k,n)`, `(b,m,k)x(b,k,n)`).
    MatMul,
    /// Batch normalisation in evaluation mode: `[x, gamma, beta]` with the running statistics.
    BatchNorm {
        /// Running mean per channel.
        mean: Vec<f32>,
        /// Running variance per channel.
        var: Vec<f32>,
        /// Added to the variance.
        eps: f32,
    },
    /// Layer normalisation over the last axis: `[x, gamma, beta]`.
    LayerNorm {
        /// Added to the variance.
        eps: f32,
    },
    /// An element-wise nonlinearity.
    Activation(Activation),
    /// Max pooling.
    MaxPool2d(Pool2dSpec),
    /// Average pooling (padding counted as zeros).
    AvgPool2d(Pool2dSpec),
    /// Global average pooling `(N, C, H, W) -> (N, C)`.
    GlobalAvgPool,
    /// The same elements in the node's shape (flatten is a reshape to `(N, C*H*W)`).
    Reshape,
    /// Axis permutation: output axis `i` is input axis `order[i]`.
    Permute(Vec<usize>),
    /// Concatenation along an axis (two or more inputs).
    Concat {
        /// The axis.
        axis: usize,
    },
    /// Elements `start..end` along `axis` (a split is several slices of one value).
    Slice {
        /// The axis.
        axis: usize,
        /// First index.
        start: usize,
        /// One past the last index.
        end: usize,
    },
    /// An element-wise binary op; an addition may carry a fused activation (a residual's ReLU).
    Binary {
        /// Which operation.
        op: BinaryOp,
        /// Activation applied to the output.
        act: Option<Activation>,
    },
    /// Multiplication by a constant scalar.
    Scale(f32),
    /// Softmax or log-softmax along an axis.
    Softmax {
        /// The axis.
        axis: usize,
        /// Log-softmax instead of softmax.
        log: bool,
    },
    /// Rows of a table `[table]` gathered at the traced indices.
    Embedding {
        /// The row indices seen when tracing.
        indices: Vec<usize>,
    },
    /// A reduction over axes.
    Reduce {
        /// Sum, mean or max.
        op: ReduceOp,
        /// The reduced axes, ascending.
        axes: Vec<usize>,
        /// Reduced axes kept as size 1.
        keepdim: bool,
    },
    /// Dropout, the identity in evaluation mode (recorded so the graph shows it).
    Dropout {
        /// Drop probability in training.
        p: f32,
    },
    /// An op defined outside this crate (the quantum layer, for one): the graph records where it is and
    /// its shapes, and passes treat it as opaque.
    Extension {
        /// The op's name ([`crate::autograd::Op::name`]).
        name: String,
    },
}

impl NodeOp {
    /// A short lower-case name for reports and errors.
    pub fn name(&self) -> String {
        match self {
            NodeOp::Input => "input".into(),
            NodeOp::Param { .. } => "param".into(),
            NodeOp::Constant => "constant".into(),
            NodeOp::Conv2d { spec, .. } if spec.groups > 1 => "grouped conv2d".into(),
            NodeOp::Conv2d { .. } => "conv2d".into(),
            NodeOp::Linear { .. } => "linear".into(),
            NodeOp::MatMul => "matmul".into(),
            NodeOp::BatchNorm { .. } => "batch_norm".into(),
            NodeOp::LayerNorm { .. } => "layer_norm".into(),
            NodeOp::Activation(a) => format!("{a:?}").to_lowercase(),
            NodeOp::MaxPool2d(_) => "max_pool2d".into(),
            NodeOp::AvgPool2d(_) => "avg_pool2d".into(),
            NodeOp::GlobalAvgPool => "global_avg_pool".into(),
            NodeOp::Reshape => "reshape".into(),
            NodeOp::Permute(_) => "permute".into(),
            NodeOp::Concat { .. } => "concat".into(),
            NodeOp::Slice { .. } => "slice".into(),
            NodeOp::Binary { op, .. } => format!("{op:?}").to_lowercase(),
            NodeOp::Scale(_) => "scale".into(),
            NodeOp::Softmax { log: false, .. } => "softmax".into(),
            NodeOp::Softmax { log: true, .. } => "log_softmax".into(),
            NodeOp::Embedding { .. } => "embedding".into(),
            NodeOp::Reduce { op, .. } => format!("reduce_{op:?}").to_lowercase(),
            NodeOp::Dropout { .. } => "dropout".into(),
            NodeOp::Extension { name } => format!("extension `{name}`"),
        }
    }

    /// True for nodes that hold a value instead of computing one.
    pub fn is_value(&self) -> bool {
        matches!(self, NodeOp::Param { .. } | NodeOp::Constant)
    }

    /// The fused activation slot of the ops that have one (convolution, linear, addition).
    pub fn act_slot(&mut self) -> Option<&mut Option<Activation>> {
        match self {
            NodeOp::Conv2d { act, .. } | NodeOp::Linear { act } => Some(act),
            NodeOp::Binary { op: BinaryOp::Add, act } => Some(act),
            _ => None,
        }
    }

    /// The fused activation, if any.
    pub fn act(&self) -> Option<Activation> {
        match self {
            NodeOp::Conv2d { act, .. } | NodeOp::Linear { act } | NodeOp::Binary { act, .. } => *act,
            _ => None,
        }
    }
}

/// One node: an op, its inputs, the shape of its output when traced, and where in the model it is.
#[derive(Debug, Clone)]
pub struct Node {
    /// What it computes.
    pub op: NodeOp,
    /// The nodes it reads, in the op's argument order.
    pub inputs: Vec<NodeId>,
    /// The output's shape at the traced batch size (1 for [`trace`](super::trace)).
    pub shape: Vec<usize>,
    /// The dotted path of the module that made it: the module owning its parameters
    /// (`"features.0"` for a node reading `"features.0.weight"`), otherwise the innermost container
    /// scope; a parameter's own path for [`NodeOp::Param`].
    pub path: String,
    /// The value of [`NodeOp::Param`] and [`NodeOp::Constant`] nodes.
    pub value: Option<Tensor>,
}

impl Node {
    /// Number of elements of the output at the traced batch size.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}
