//! The layers: each owns its parameters and implements [`Module`].

use super::{Ctx, Module, Param, join};
use crate::autograd::Var;
use crate::error::{Result, shape_err};
use crate::ops::{self, Activation, BatchNormStats, Conv2dSpec, Pool2dSpec};
use crate::tensor::rand_uniform;

/// PyTorch's default initialisation bound `1/sqrt(fan_in)` (Kaiming-uniform with `a = sqrt(5)`).
fn default_bound(fan_in: usize) -> f32 {
    1.0 / (fan_in.max(1) as f32).sqrt()
}

/// A fully connected layer `y = x W^T + b`, `W` of shape `(out, in)`.
///
/// ```
/// use tinylab_classical::{Var, nn::{Ctx, Linear, Module}, tensor};
/// let mut fc = Linear::new(64, 10, true, &mut tensor::rng(0));
/// let x = Var::constant(tensor::zeros(&[32, 64]));
/// let y = fc.forward(&x, &mut Ctx::eval())?;
/// assert_eq!(y.shape(), &[32, 10]); // (N, in) -> (N, out)
/// # Ok::<(), tinylab_classical::ClassicalError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Linear {
    /// `(out, in)`.
    pub weight: Param,
    /// `(out)`, if used.
    pub bias: Option<Param>,
}

impl Linear {
    /// A layer initialised as PyTorch does, from a seeded generator.
    pub fn new(inputs: usize, outputs: usize, bias: bool, rng: &mut rand_chacha::ChaCha8Rng) -> Self {
        let b = default_bound(inputs);
        Self {
            weight: Param::new("weight", rand_uniform(&[outputs, inputs], -b, b, rng)),
            bias: bias.then(|| Param::new("bias", rand_uniform(&[outputs], -b, b, rng))),
        }
    }
}

impl Module for Linear {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let w = ctx.param(&self.weight);
        let b = self.bias.as_ref().map(|b| ctx.param(b));
        ops::linear(x, &w, b.as_ref())
    }
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        f(join(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            f(join(prefix, "bias"), b);
        }
    }
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        f(join(prefix, "weight"), &mut self.weight);
        if let Some(b) = &mut self.bias {
            f(join(prefix, "bias"), b);
        }
    }
}

/// A 2-d convolution layer.
///
/// ```
/// use tinylab_classical::{Var, nn::{Conv2d, Ctx, Module}, ops::Conv2dSpec, tensor};
/// // 3x3, stride 2, padding 1: (N, 3, 32, 32) -> (N, 16, 16, 16).
/// let mut conv = Conv2d::new(3, 16, 3, Conv2dSpec::new(2, 1), true, &mut tensor::rng(0));
/// let y = conv.forward(&Var::constant(tensor::zeros(&[4, 3, 32, 32])), &mut Ctx::eval())?;
/// assert_eq!(y.shape(), &[4, 16, 16, 16]);
/// # Ok::<(), tinylab_classical::ClassicalError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// `(out, in/groups, k, k)`.
    pub weight: Param,
    /// `(out)`, if used.
    pub bias: Option<Param>,
    /// Stride, padding, dilation, groups.
    pub spec: Conv2dSpec,
}

impl Conv2d {
    /// A `k x k` convolution initialised as PyTorch does.
    pub fn new(
        inputs: usize,
        outputs: usize,
        k: usize,
        spec: Conv2dSpec,
        bias: bool,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Self {
        Self::new_rect(inputs, outputs, (k, k), spec, bias, rng)
    }

    /// A `kh x kw` convolution initialised as PyTorch does: the rectangular kernels of audio models
    /// (DS-CNN's 10x4 first layer over MFCC frames x coefficients).
    pub fn new_rect(
        inputs: usize,
        outputs: usize,
        (kh, kw): (usize, usize),
        spec: Conv2dSpec,
        bias: bool,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Self {
        let per_group = inputs / spec.groups.max(1);
        let b = default_bound(per_group * kh * kw);
        Self {
            weight: Param::new("weight", rand_uniform(&[outputs, per_group, kh, kw], -b, b, rng)),
            bias: bias.then(|| Param::new("bias", rand_uniform(&[outputs], -b, b, rng))),
            spec,
        }
    }
}

impl Module for Conv2d {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let w = ctx.param(&self.weight);
        let b = self.bias.as_ref().map(|b| ctx.param(b));
        ops::conv2d(x, &w, b.as_ref(), self.spec)
    }
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        f(join(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            f(join(prefix, "bias"), b);
        }
    }
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        f(join(prefix, "weight"), &mut self.weight);
        if let Some(b) = &mut self.bias {
            f(join(prefix, "bias"), b);
        }
    }
}

/// Batch normalisation over channels of `(N, C)` or `(N, C, H, W)` inputs.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    /// Scale `(C)`, initialised to 1.
    pub gamma: Param,
    /// Shift `(C)`, initialised to 0.
    pub beta: Param,
    /// Running statistics.
    pub stats: BatchNormStats,
}

impl BatchNorm {
    /// PyTorch's defaults for `channels` channels.
    pub fn new(channels: usize) -> Self {
        Self {
            gamma: Param::new("weight", crate::tensor::ones(&[channels])),
            beta: Param::new("bias", crate::tensor::zeros(&[channels])),
            stats: BatchNormStats::new(channels),
        }
    }
}

impl Module for BatchNorm {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let (g, b) = (ctx.param(&self.gamma), ctx.param(&self.beta));
        ops::batch_norm(x, &g, &b, &mut self.stats, ctx.train)
    }
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        f(join(prefix, "weight"), &self.gamma);
        f(join(prefix, "bias"), &self.beta);
    }
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        f(join(prefix, "weight"), &mut self.gamma);
        f(join(prefix, "bias"), &mut self.beta);
    }
    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Vec<f32>)) {
        f(join(prefix, "running_mean"), &mut self.stats.mean);
        f(join(prefix, "running_var"), &mut self.stats.var);
    }
}

/// Layer normalisation over the last axis.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    /// Scale, initialised to 1.
    pub gamma: Param,
    /// Shift, initialised to 0.
    pub beta: Param,
    /// Added to the variance.
    pub eps: f32,
}

impl LayerNorm {
    /// For a last axis of length `d`.
    pub fn new(d: usize) -> Self {
        Self {
            gamma: Param::new("weight", crate::tensor::ones(&[d])),
            beta: Param::new("bias", crate::tensor::zeros(&[d])),
            eps: 1e-5,
        }
    }
}

impl Module for LayerNorm {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let (g, b) = (ctx.param(&self.gamma), ctx.param(&self.beta));
        ops::layer_norm(x, &g, &b, self.eps)
    }
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        f(join(prefix, "weight"), &self.gamma);
        f(join(prefix, "bias"), &self.beta);
    }
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        f(join(prefix, "weight"), &mut self.gamma);
        f(join(prefix, "bias"), &mut self.beta);
    }
}

/// A token embedding table `(vocab, dim)`.
#[derive(Debug, Clone)]
pub struct Embedding {
    /// The table.
    pub table: Param,
}

impl Embedding {
    /// A table with N(0, 1) entries, as PyTorch initialises it.
    pub fn new(vocab: usize, dim: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Self {
        Self { table: Param::new("weight", crate::tensor::randn(&[vocab, dim], 1.0, rng)) }
    }

    /// The rows of `indices`.
    pub fn lookup(&self, indices: &[usize], ctx: &mut Ctx) -> Result<Var> {
        ops::embedding(&ctx.param(&self.table), indices)
    }
}

/// The two visitor methods of a layer without parameters.
macro_rules! no_params {
    () => {
        fn visit_params<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a Param)) {}
        fn visit_params_mut(&mut self, _: &str, _: &mut dyn FnMut(String, &mut Param)) {}
    };
}

/// An element-wise activation.
#[derive(Debug, Clone, Copy)]
pub struct Act {
    /// Which nonlinearity.
    pub kind: Activation,
}

impl Module for Act {
    fn forward(&mut self, x: &Var, _: &mut Ctx) -> Result<Var> {
        Ok(ops::activation(x, self.kind))
    }
    no_params!();
}

/// Max pooling.
#[derive(Debug, Clone, Copy)]
pub struct MaxPool2d {
    /// Window geometry.
    pub spec: Pool2dSpec,
}

impl Module for MaxPool2d {
    fn forward(&mut self, x: &Var, _: &mut Ctx) -> Result<Var> {
        ops::max_pool2d(x, self.spec)
    }
    no_params!();
}

/// Average pooling.
#[derive(Debug, Clone, Copy)]
pub struct AvgPool2d {
    /// Window geometry.
    pub spec: Pool2dSpec,
}

impl Module for AvgPool2d {
    fn forward(&mut self, x: &Var, _: &mut Ctx) -> Result<Var> {
        ops::avg_pool2d(x, self.spec)
    }
    no_params!();
}

/// Global average pooling `(N, C, H, W) -> (N, C)`.
#[derive(Debug, Clone, Copy)]
pub struct GlobalAvgPool;

impl Module for GlobalAvgPool {
    fn forward(&mut self, x: &Var, _: &mut Ctx) -> Result<Var> {
        ops::global_avg_pool(x)
    }
    no_params!();
}

/// `(N, ...) -> (N, prod(...))`.
#[derive(Debug, Clone, Copy)]
pub struct Flatten;

impl Module for Flatten {
    fn forward(&mut self, x: &Var, _: &mut Ctx) -> Result<Var> {
        ops::flatten(x)
    }
    no_params!();
}

/// Inverted dropout with probability `p`, active in training only.
#[derive(Debug, Clone, Copy)]
pub struct Dropout {
    /// Drop probability.
    pub p: f32,
}

impl Module for Dropout {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let train = ctx.train;
        ops::dropout(x, self.p, train, ctx.rng())
    }
    no_params!();
}

/// Layers applied one after another; parameter paths are `index.name`.
#[derive(Debug, Default)]
pub struct Sequential {
    /// The layers in order.
    pub layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// An empty stack.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer.
    pub fn push(mut self, layer: impl Module + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }
}

impl Module for Sequential {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let mut h = x.clone();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let _scope = crate::graph::scope(&i.to_string());
            h = layer.forward(&h, ctx)?;
        }
        Ok(h)
    }
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        for (i, layer) in self.layers.iter().enumerate() {
            layer.visit_params(&join(prefix, &i.to_string()), f);
        }
    }
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.visit_params_mut(&join(prefix, &i.to_string()), f);
        }
    }
    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Vec<f32>)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.visit_buffers_mut(&join(prefix, &i.to_string()), f);
        }
    }
    fn child(&self, name: &str) -> Option<&dyn Module> {
        self.layers.get(name.parse::<usize>().ok()?).map(|l| l.as_ref() as &dyn Module)
    }
    fn child_mut(&mut self, name: &str) -> Option<&mut dyn Module> {
        self.layers.get_mut(name.parse::<usize>().ok()?).map(|l| l.as_mut() as &mut dyn Module)
    }
}

/// `post(body(x) + shortcut(x))`, the shortcut being the identity when absent: ResNet blocks and
/// MobileNetV2's inverted residuals.
#[derive(Debug)]
pub struct Residual {
    /// The main branch.
    pub body: Sequential,
    /// The projection of the shortcut, if shapes change.
    pub shortcut: Option<Sequential>,
    /// An activation after the sum (ResNet's ReLU), if any.
    pub post: Option<Activation>,
}

impl Module for Residual {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let main = {
            let _scope = crate::graph::scope("body");
            self.body.forward(x, ctx)?
        };
        let skip = match &mut self.shortcut {
            Some(s) => {
                let _scope = crate::graph::scope("shortcut");
                s.forward(x, ctx)?
            }
            None => x.clone(),
        };
        if main.shape() != skip.shape() {
            return Err(shape_err("residual", main.shape(), skip.shape(), "branch and shortcut must agree"));
        }
        let sum = ops::add(&main, &skip)?;
        Ok(match self.post {
            Some(a) => ops::activation(&sum, a),
            None => sum,
        })
    }
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        self.body.visit_params(&join(prefix, "body"), f);
        if let Some(s) = &self.shortcut {
            s.visit_params(&join(prefix, "shortcut"), f);
        }
    }
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        self.body.visit_params_mut(&join(prefix, "body"), f);
        if let Some(s) = &mut self.shortcut {
            s.visit_params_mut(&join(prefix, "shortcut"), f);
        }
    }
    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Vec<f32>)) {
        self.body.visit_buffers_mut(&join(prefix, "body"), f);
        if let Some(s) = &mut self.shortcut {
            s.visit_buffers_mut(&join(prefix, "shortcut"), f);
        }
    }
    fn child(&self, name: &str) -> Option<&dyn Module> {
        match name {
            "body" => Some(&self.body),
            "shortcut" => self.shortcut.as_ref().map(|s| s as &dyn Module),
            _ => None,
        }
    }
    fn child_mut(&mut self, name: &str) -> Option<&mut dyn Module> {
        match name {
            "body" => Some(&mut self.body),
            "shortcut" => self.shortcut.as_mut().map(|s| s as &mut dyn Module),
            _ => None,
        }
    }
}
