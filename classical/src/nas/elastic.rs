//! Elastic layers of a once-for-all supernet (Cai et al., "Once-for-All", ICLR 2020, sec. 3.2): one
//! set of max-size weights from which every smaller layer is sliced, differentiably, so that training
//! any sub-network trains the shared weights.
//!
//! - [`ElasticPointwise`]: a 1x1 convolution whose first `out` output and first `in` input channels
//!   run (elastic expand ratio: after [`ElasticBlock::sort_channels`] the first channels are the most
//!   important ones).
//! - [`ElasticDepthwise`]: a depthwise convolution with an elastic kernel. The `kmax x kmax` kernel is
//!   the weight itself; a smaller `k x k` kernel is the centre `k x k` of the next larger (already
//!   transformed) kernel, flattened to `k^2` and multiplied by a learned `k^2 x k^2` matrix shared by
//!   all channels of the layer (OFA's kernel transformation, initialised to the identity so that at
//!   first a small kernel is the plain centre crop): `w_k = reshape(flat(centre_k(w_{k'})) M_k^T)`.
//! - [`ElasticBlock`]: the MBConv block of [`super::build`] (1x1 expansion, BN, ReLU6, depthwise, BN,
//!   ReLU6, 1x1 projection, BN, residual) over these layers, BatchNorm sliced to the active channels.
//!
//! Every layer's weights for a choice come from one function (`*_for`) that both the forward pass and
//! the extraction into a standalone network call, so an extracted model sees the very tensors the
//! supernet computed with.

use super::space::BlockChoice;
use crate::autograd::Var;
use crate::error::{Result, arg_err};
use crate::nn::{BatchNorm, Ctx, Module, Param, StateDict, join};
use crate::ops::{self, Activation, BatchNormStats, Conv2dSpec};
use crate::tensor::Tensor;
use ndarray::Axis;

/// `x` restricted to its first `n` entries along `axis`; `x` itself when that is all of it (so the
/// largest network pays no copy).
pub fn take(x: &Var, axis: usize, n: usize) -> Result<Var> {
    if x.shape().get(axis) == Some(&n) { Ok(x.clone()) } else { ops::slice(x, axis, 0, n) }
}

/// The centre `k x k` of the last two axes of a `(C, 1, K, K)` kernel (`K - k` even).
fn centre(w: &Var, k: usize) -> Result<Var> {
    let big = w.shape()[2];
    let off = (big - k) / 2;
    ops::slice(&ops::slice(w, 2, off, off + k)?, 3, off, off + k)
}

/// A 1x1 convolution (no bias) of which the first output and input channels run.
#[derive(Debug, Clone)]
pub struct ElasticPointwise {
    /// `(max out, max in, 1, 1)`.
    pub weight: Param,
}

impl ElasticPointwise {
    /// The layer around a `(out, in, 1, 1)` weight.
    pub fn new(weight: Tensor) -> Result<Self> {
        if weight.ndim() != 4 || weight.shape()[2] != 1 || weight.shape()[3] != 1 {
            return Err(arg_err("ElasticPointwise", format!("weight must be (O, I, 1, 1), got {:?}", weight.shape())));
        }
        Ok(Self { weight: Param::new("weight", weight) })
    }

    /// The weight of the first `out` output and `inputs` input channels.
    pub fn weight_for(&self, out: usize, inputs: usize, ctx: &mut Ctx) -> Result<Var> {
        let s = self.weight.value.shape();
        if out > s[0] || inputs > s[1] || out == 0 || inputs == 0 {
            return Err(arg_err("ElasticPointwise", format!("{out} x {inputs} channels of a {s:?} weight")));
        }
        take(&take(&ctx.param(&self.weight), 0, out)?, 1, inputs)
    }

    /// The convolution of `x` (its channels are the active inputs) to `out` channels.
    pub fn forward(&self, x: &Var, out: usize, ctx: &mut Ctx) -> Result<Var> {
        let w = self.weight_for(out, x.shape().get(1).copied().unwrap_or(0), ctx)?;
        ops::conv2d(x, &w, None, Conv2dSpec::default())
    }
}

/// A depthwise convolution with elastic channels and kernel size (see the module docs).
#[derive(Debug, Clone)]
pub struct ElasticDepthwise {
    /// `(max channels, 1, kmax, kmax)`.
    pub weight: Param,
    /// One `(k^2, k^2)` matrix per kernel size `k` below the largest, ascending as `kernels`.
    pub transforms: Vec<Param>,
    /// The kernel sizes, ascending odd.
    pub kernels: Vec<usize>,
    /// Stride of the convolution.
    pub stride: usize,
}

impl ElasticDepthwise {
    /// The layer around a `(C, 1, kmax, kmax)` weight (`kmax` the last of `kernels`), the kernel
    /// transformations at the identity.
    pub fn new(weight: Tensor, kernels: &[usize], stride: usize) -> Result<Self> {
        if kernels.is_empty() || kernels.iter().any(|k| k % 2 == 0) {
            return Err(arg_err("ElasticDepthwise", format!("kernels {kernels:?} must be odd and non-empty")));
        }
        let kmax = kernels[kernels.len() - 1];
        let s = weight.shape().to_vec();
        if s.len() != 4 || s[1] != 1 || s[2] != kmax || s[3] != kmax {
            return Err(arg_err("ElasticDepthwise", format!("weight {s:?} is not (C, 1, {kmax}, {kmax})")));
        }
        if kernels.windows(2).any(|w| w[0] >= w[1] || (w[1] - w[0]) % 2 != 0) {
            return Err(arg_err("ElasticDepthwise", format!("kernels {kernels:?} must ascend with even steps")));
        }
        let transforms = kernels[..kernels.len() - 1]
            .iter()
            .map(|&k| Param::new(&Self::transform_name(k), ndarray::Array2::<f32>::eye(k * k).into_dyn()))
            .collect();
        Ok(Self { weight: Param::new("weight", weight), transforms, kernels: kernels.to_vec(), stride })
    }

    /// The parameter name of the transformation matrix that makes the `k x k` kernel.
    pub fn transform_name(k: usize) -> String {
        format!("transform{k}")
    }

    /// The `(channels, 1, kernel, kernel)` weight: the first `channels` channels, transformed down
    /// from the largest kernel through every size in between.
    pub fn weight_for(&self, channels: usize, kernel: usize, ctx: &mut Ctx) -> Result<Var> {
        let Some(pos) = self.kernels.iter().position(|&k| k == kernel) else {
            return Err(arg_err("ElasticDepthwise", format!("kernel {kernel} is not one of {:?}", self.kernels)));
        };
        let max = self.weight.value.shape()[0];
        if channels == 0 || channels > max {
            return Err(arg_err("ElasticDepthwise", format!("{channels} channels of a layer with {max}")));
        }
        let mut w = take(&ctx.param(&self.weight), 0, channels)?;
        for i in (pos..self.kernels.len() - 1).rev() {
            let k = self.kernels[i];
            let flat = ops::reshape(&centre(&w, k)?, &[channels, k * k])?;
            let m = ctx.param(&self.transforms[i]);
            w = ops::reshape(&ops::linear(&flat, &m, None)?, &[channels, 1, k, k])?;
        }
        Ok(w)
    }

    /// The depthwise convolution of `x` (its channels are the active ones) with a `kernel` kernel,
    /// padding `kernel / 2`.
    pub fn forward(&self, x: &Var, kernel: usize, ctx: &mut Ctx) -> Result<Var> {
        let c = x.shape().get(1).copied().unwrap_or(0);
        let w = self.weight_for(c, kernel, ctx)?;
        ops::conv2d(x, &w, None, Conv2dSpec::new(self.stride, kernel / 2).with_groups(c))
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        f(join(prefix, "weight"), &self.weight);
        for t in &self.transforms {
            f(join(prefix, &t.name), t);
        }
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        f(join(prefix, "weight"), &mut self.weight);
        for t in &mut self.transforms {
            let name = join(prefix, &t.name);
            f(name, t);
        }
    }
}

/// The running statistics of the first `c` channels of `bn`.
fn bn_stats(bn: &BatchNorm, c: usize) -> BatchNormStats {
    BatchNormStats { mean: bn.stats.mean[..c].to_vec(), var: bn.stats.var[..c].to_vec(), ..bn.stats.clone() }
}

/// Batch normalisation of `x` with the first `x.shape()[1]` channels of `bn` (OFA's elastic BN): the
/// sliced scale and shift, and the running statistics of those channels (updated in training).
pub fn bn_forward(bn: &mut BatchNorm, x: &Var, ctx: &mut Ctx) -> Result<Var> {
    let c = x.shape().get(1).copied().unwrap_or(0);
    let max = bn.stats.mean.len();
    if c == max {
        return bn.forward(x, ctx);
    }
    if c == 0 || c > max {
        return Err(arg_err("elastic batch_norm", format!("{c} channels of a layer with {max}")));
    }
    let g = take(&ctx.param(&bn.gamma), 0, c)?;
    let b = take(&ctx.param(&bn.beta), 0, c)?;
    let mut stats = bn_stats(bn, c);
    let y = ops::batch_norm(x, &g, &b, &mut stats, ctx.train)?;
    bn.stats.mean[..c].copy_from_slice(&stats.mean);
    bn.stats.var[..c].copy_from_slice(&stats.var);
    Ok(y)
}

/// Writes the first `c` channels of `bn` into `state` under `prefix`, in [`BatchNorm`]'s names.
fn export_bn(bn: &BatchNorm, c: usize, prefix: &str, state: &mut StateDict) {
    let take_vec = |p: &Param| p.value.iter().take(c).copied().collect::<Vec<f32>>();
    state.params.insert(join(prefix, "weight"), (vec![c], take_vec(&bn.gamma)));
    state.params.insert(join(prefix, "bias"), (vec![c], take_vec(&bn.beta)));
    let stats = bn_stats(bn, c);
    state.buffers.insert(join(prefix, "running_mean"), stats.mean);
    state.buffers.insert(join(prefix, "running_var"), stats.var);
}

/// Writes the value of `w` into `state` as parameter `name`.
fn export_var(w: &Var, name: String, state: &mut StateDict) {
    state.params.insert(name, (w.shape().to_vec(), w.value().iter().copied().collect()));
}

/// Reorders `t` along `axis` so that new index `i` holds old index `order[i]`.
fn permute_axis(t: &Tensor, axis: usize, order: &[usize]) -> Tensor {
    t.select(Axis(axis), order)
}

/// Reorders a per-channel vector.
fn permute_vec(v: &[f32], order: &[usize]) -> Vec<f32> {
    order.iter().map(|&i| v[i]).collect()
}

/// Reorders the channels of a BatchNorm layer.
fn permute_bn(bn: &mut BatchNorm, order: &[usize]) {
    bn.gamma.value = permute_axis(&bn.gamma.value, 0, order);
    bn.beta.value = permute_axis(&bn.beta.value, 0, order);
    bn.stats.mean = permute_vec(&bn.stats.mean, order);
    bn.stats.var = permute_vec(&bn.stats.var, order);
}

/// An elastic MBConv block: the expansion (when the largest expand ratio is above 1), the depthwise
/// convolution with elastic kernel, the projection, each with its BatchNorm.
#[derive(Debug, Clone)]
pub struct ElasticBlock {
    /// The 1x1 expansion `(in * max expand, in)` and its BN; `None` when every expand ratio is 1.
    pub expand: Option<(ElasticPointwise, BatchNorm)>,
    /// The depthwise convolution and its BN.
    pub depthwise: (ElasticDepthwise, BatchNorm),
    /// The 1x1 projection `(out, in * max expand)` and its BN.
    pub project: (ElasticPointwise, BatchNorm),
    /// Input channels.
    pub in_channels: usize,
    /// Whether the block adds its input.
    pub residual: bool,
}

/// Where the layers of one block sit in the standalone network of [`super::build`] (dotted paths
/// of the convolution and BN layers), for a block whose layer prefix is `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPaths {
    /// Expansion convolution and BN, when the block has an expansion.
    pub expand: Option<(String, String)>,
    /// Depthwise convolution and BN.
    pub depthwise: (String, String),
    /// Projection convolution and BN.
    pub project: (String, String),
}

impl BlockPaths {
    /// The paths inside a block at `prefix` (its `Sequential`, `.body` already appended for a
    /// residual block), with or without the expansion layers (conv, BN, ReLU6 each).
    pub fn new(prefix: &str, has_expand: bool) -> Self {
        let at = |i: usize| join(prefix, &i.to_string());
        let o = if has_expand { 3 } else { 0 };
        BlockPaths {
            expand: has_expand.then(|| (at(0), at(1))),
            depthwise: (at(o), at(o + 1)),
            project: (at(o + 3), at(o + 4)),
        }
    }
}

impl ElasticBlock {
    /// The block of the given max-size weights: expansion `(H, in, 1, 1)` (if any), depthwise
    /// `(H, 1, kmax, kmax)`, projection `(out, H, 1, 1)`; BatchNorms fresh.
    pub fn new(
        expand: Option<Tensor>,
        depthwise: Tensor,
        project: Tensor,
        kernels: &[usize],
        stride: usize,
        residual: bool,
    ) -> Result<Self> {
        let depthwise = ElasticDepthwise::new(depthwise, kernels, stride)?;
        let (expand, project) = (expand.map(ElasticPointwise::new).transpose()?, ElasticPointwise::new(project)?);
        let hidden = depthwise.weight.value.shape()[0];
        let in_channels = expand.as_ref().map_or(hidden, |e| e.weight.value.shape()[1]);
        let (proj_shape, out) = (project.weight.value.shape(), project.weight.value.shape()[0]);
        if expand.as_ref().is_some_and(|e| e.weight.value.shape()[0] != hidden) || proj_shape[1] != hidden {
            return Err(arg_err(
                "ElasticBlock",
                format!("expansion, depthwise and projection disagree on the {hidden} hidden channels"),
            ));
        }
        Ok(Self {
            expand: expand.map(|e| (e, BatchNorm::new(hidden))),
            depthwise: (depthwise, BatchNorm::new(hidden)),
            project: (project, BatchNorm::new(out)),
            in_channels,
            residual,
        })
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.project.0.weight.value.shape()[0]
    }

    /// Hidden channels of the largest expand ratio.
    pub fn max_hidden(&self) -> usize {
        self.depthwise.0.weight.value.shape()[0]
    }

    fn hidden(&self, choice: BlockChoice) -> Result<usize> {
        let h = self.in_channels * choice.expand;
        if h == 0 || h > self.max_hidden() || (choice.expand != 1 && self.expand.is_none()) {
            return Err(arg_err(
                "ElasticBlock",
                format!("expand {} of a block with {} of {} hidden channels", choice.expand, h, self.max_hidden()),
            ));
        }
        Ok(h)
    }

    /// The block at `choice` on `x`: the layer sequence of the standalone block, op for op.
    pub fn forward(&mut self, x: &Var, choice: BlockChoice, ctx: &mut Ctx) -> Result<Var> {
        let hidden = self.hidden(choice)?;
        let out = self.out_channels();
        let mut h = x.clone();
        if choice.expand != 1
            && let Some((conv, bn)) = &mut self.expand
        {
            h = ops::activation(&bn_forward(bn, &conv.forward(&h, hidden, ctx)?, ctx)?, Activation::Relu6);
        }
        let (dw, bn) = &mut self.depthwise;
        h = ops::activation(&bn_forward(bn, &dw.forward(&h, choice.kernel, ctx)?, ctx)?, Activation::Relu6);
        let (proj, bn) = &mut self.project;
        let y = bn_forward(bn, &proj.forward(&h, out, ctx)?, ctx)?;
        if self.residual { ops::add(&y, x) } else { Ok(y) }
    }

    /// Writes the block's weights at `choice` into `state` at `paths` (the standalone layout), as
    /// the forward pass computes them (in evaluation mode).
    pub fn export(&self, choice: BlockChoice, paths: &BlockPaths, state: &mut StateDict) -> Result<()> {
        let hidden = self.hidden(choice)?;
        let mut ctx = Ctx::eval();
        match (&self.expand, &paths.expand) {
            (Some((conv, bn)), Some((cp, bp))) if choice.expand != 1 => {
                export_var(&conv.weight_for(hidden, self.in_channels, &mut ctx)?, join(cp, "weight"), state);
                export_bn(bn, hidden, bp, state);
            }
            (_, None) if choice.expand == 1 => {}
            _ => return Err(arg_err("ElasticBlock::export", "expansion layers and paths disagree")),
        }
        let (dw, bn) = &self.depthwise;
        export_var(&dw.weight_for(hidden, choice.kernel, &mut ctx)?, join(&paths.depthwise.0, "weight"), state);
        export_bn(bn, hidden, &paths.depthwise.1, state);
        let (proj, bn) = &self.project;
        export_var(&proj.weight_for(self.out_channels(), hidden, &mut ctx)?, join(&paths.project.0, "weight"), state);
        export_bn(bn, self.out_channels(), &paths.project.1, state);
        Ok(())
    }

    /// OFA's channel sorting for elastic expand: reorders the hidden channels by decreasing L1 norm
    /// of the projection weights that read them (ties by index), permuting the expansion's output
    /// channels, its BN, the depthwise channels and BN, and the projection's input channels alike,
    /// so the largest block computes the same function and a smaller expand ratio keeps the most
    /// important channels. Returns the order (new channel `i` is old channel `order[i]`).
    pub fn sort_channels(&mut self) -> Vec<usize> {
        let w = &self.project.0.weight.value;
        let importance: Vec<f32> =
            (0..self.max_hidden()).map(|c| w.index_axis(Axis(1), c).iter().map(|v| v.abs()).sum()).collect();
        let mut order: Vec<usize> = (0..importance.len()).collect();
        order.sort_by(|&a, &b| importance[b].total_cmp(&importance[a]).then(a.cmp(&b)));
        if let Some((conv, bn)) = &mut self.expand {
            conv.weight.value = permute_axis(&conv.weight.value, 0, &order);
            permute_bn(bn, &order);
        }
        let (dw, bn) = &mut self.depthwise;
        dw.weight.value = permute_axis(&dw.weight.value, 0, &order);
        permute_bn(bn, &order);
        let proj = &mut self.project.0.weight;
        proj.value = permute_axis(&proj.value, 1, &order);
        order
    }

    /// Calls `f` with every parameter's path under `prefix`.
    pub fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        if let Some((conv, bn)) = &self.expand {
            f(join(prefix, "expand.weight"), &conv.weight);
            bn.visit_params(&join(prefix, "expand_bn"), f);
        }
        self.depthwise.0.visit(&join(prefix, "depthwise"), f);
        self.depthwise.1.visit_params(&join(prefix, "depthwise_bn"), f);
        f(join(prefix, "project.weight"), &self.project.0.weight);
        self.project.1.visit_params(&join(prefix, "project_bn"), f);
    }

    /// Calls `f` with every parameter mutably (the paths of [`visit_params`](Self::visit_params)).
    pub fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        if let Some((conv, bn)) = &mut self.expand {
            f(join(prefix, "expand.weight"), &mut conv.weight);
            bn.visit_params_mut(&join(prefix, "expand_bn"), f);
        }
        self.depthwise.0.visit_mut(&join(prefix, "depthwise"), f);
        self.depthwise.1.visit_params_mut(&join(prefix, "depthwise_bn"), f);
        f(join(prefix, "project.weight"), &mut self.project.0.weight);
        self.project.1.visit_params_mut(&join(prefix, "project_bn"), f);
    }

    /// Calls `f` with every BN running-statistics buffer.
    pub fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Vec<f32>)) {
        if let Some((_, bn)) = &mut self.expand {
            bn.visit_buffers_mut(&join(prefix, "expand_bn"), f);
        }
        self.depthwise.1.visit_buffers_mut(&join(prefix, "depthwise_bn"), f);
        self.project.1.visit_buffers_mut(&join(prefix, "project_bn"), f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{randn, rng};

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn largest_kernel_is_a_plain_depthwise_convolution() {
        let w = randn(&[6, 1, 7, 7], 0.3, &mut rng(1));
        let x = Var::constant(randn(&[2, 6, 9, 9], 1.0, &mut rng(2)));
        let dw = ElasticDepthwise::new(w.clone(), &[3, 5, 7], 2).unwrap();
        let y = dw.forward(&x, 7, &mut Ctx::eval()).unwrap();
        let plain = ops::conv2d(&x, &Var::constant(w), None, Conv2dSpec::new(2, 3).with_groups(6)).unwrap();
        assert_eq!(y.value(), plain.value(), "bit for bit");
    }

    #[test]
    fn identity_transforms_give_the_centre_crop() {
        let w = randn(&[4, 1, 7, 7], 1.0, &mut rng(3));
        let dw = ElasticDepthwise::new(w.clone(), &[3, 5, 7], 1).unwrap();
        let k3 = dw.weight_for(3, 3, &mut Ctx::eval()).unwrap();
        assert_eq!(k3.shape(), &[3, 1, 3, 3]);
        for c in 0..3 {
            for i in 0..3 {
                for j in 0..3 {
                    assert_eq!(k3.value()[[c, 0, i, j]], w[[c, 0, i + 2, j + 2]]);
                }
            }
        }
    }

    #[test]
    fn a_transformed_kernel_matches_the_closed_form() {
        // w5 = centre5(w7) M5^T per channel, w3 = centre3(w5) M3^T.
        let w = randn(&[2, 1, 7, 7], 1.0, &mut rng(4));
        let mut dw = ElasticDepthwise::new(w.clone(), &[3, 5, 7], 1).unwrap();
        dw.transforms[0].value = randn(&[9, 9], 0.5, &mut rng(5));
        dw.transforms[1].value = randn(&[25, 25], 0.5, &mut rng(6));
        let got = dw.weight_for(2, 3, &mut Ctx::eval()).unwrap();
        let (m3, m5) = (&dw.transforms[0].value, &dw.transforms[1].value);
        for c in 0..2 {
            let c5: Vec<f64> = (0..25).map(|t| w[[c, 0, 1 + t / 5, 1 + t % 5]] as f64).collect();
            let w5: Vec<f64> = (0..25).map(|r| (0..25).map(|t| c5[t] * m5[[r, t]] as f64).sum()).collect();
            let c3: Vec<f64> = (0..9).map(|t| w5[(1 + t / 3) * 5 + 1 + t % 3]).collect();
            for r in 0..9 {
                let want: f64 = (0..9).map(|t| c3[t] * m3[[r, t]] as f64).sum();
                let v = got.value()[[c, 0, r / 3, r % 3]] as f64;
                assert!((v - want).abs() < 1e-4, "channel {c} tap {r}: {v} vs {want}");
            }
        }
    }

    #[test]
    fn transform_gradient_matches_finite_differences() {
        // d/dM of sum(conv(x, w3(M)) * r) by central differences, for a few entries of M3 and M5.
        let w = randn(&[2, 1, 7, 7], 1.0, &mut rng(7));
        let x = Var::constant(randn(&[1, 2, 6, 6], 1.0, &mut rng(8)));
        let r = Var::constant(randn(&[1, 2, 6, 6], 1.0, &mut rng(9)));
        let mut dw = ElasticDepthwise::new(w, &[3, 5, 7], 1).unwrap();
        dw.transforms[0].value = &dw.transforms[0].value + &randn(&[9, 9], 0.2, &mut rng(10));
        let loss = |dw: &ElasticDepthwise, ctx: &mut Ctx| -> Var {
            ops::sum(&ops::mul(&dw.forward(&x, 3, ctx).unwrap(), &r).unwrap())
        };
        let mut ctx = Ctx::train(0);
        loss(&dw, &mut ctx).backward().unwrap();
        let mut net = Holder(dw.clone());
        crate::nn::accumulate_grads(&mut net, &ctx);
        let h = 1e-2f32;
        for (t, idx) in [(0usize, [2usize, 5usize]), (0, [8, 0]), (1, [12, 12]), (1, [6, 18])] {
            let analytic = net.0.transforms[t].grad.as_ref().unwrap()[idx];
            let eval_at = |d: f32| {
                let mut p = dw.clone();
                p.transforms[t].value[idx] += d;
                loss(&p, &mut Ctx::eval()).item().unwrap() as f64
            };
            let numeric = (eval_at(h) - eval_at(-h)) / (2.0 * h as f64);
            assert!((analytic as f64 - numeric).abs() < 2e-2 * (1.0 + numeric.abs()), "{analytic} vs {numeric}");
        }
    }

    /// A module around a depthwise layer, to collect its gradients.
    #[derive(Debug)]
    struct Holder(ElasticDepthwise);
    impl Module for Holder {
        fn forward(&mut self, x: &Var, _: &mut Ctx) -> Result<Var> {
            Ok(x.clone())
        }
        fn visit_params<'a>(&'a self, p: &str, f: &mut dyn FnMut(String, &'a Param)) {
            self.0.visit(p, f)
        }
        fn visit_params_mut(&mut self, p: &str, f: &mut dyn FnMut(String, &mut Param)) {
            self.0.visit_mut(p, f)
        }
    }

    fn block(seed: u64) -> ElasticBlock {
        let mut r = rng(seed);
        let mut b = ElasticBlock::new(
            Some(randn(&[24, 4, 1, 1], 0.5, &mut r)),
            randn(&[24, 1, 7, 7], 0.3, &mut r),
            randn(&[4, 24, 1, 1], 0.5, &mut r),
            &[3, 5, 7],
            1,
            true,
        )
        .unwrap();
        // Non-trivial BN state so that a wrong permutation shows.
        let bns = [&mut b.expand.as_mut().unwrap().1, &mut b.depthwise.1];
        for bn in bns {
            bn.gamma.value = randn(&[24], 0.3, &mut r).mapv(|v| v + 1.0);
            bn.beta.value = randn(&[24], 0.3, &mut r);
            bn.stats.mean = randn(&[24], 0.3, &mut r).iter().copied().collect();
            bn.stats.var = randn(&[24], 0.3, &mut r).iter().map(|v| 1.0 + v.abs()).collect();
        }
        b
    }

    #[test]
    fn channel_sorting_keeps_the_largest_block_and_orders_importance() {
        let mut b = block(11);
        let x = Var::constant(randn(&[2, 4, 5, 5], 1.0, &mut rng(12)));
        let choice = BlockChoice { kernel: 7, expand: 6 };
        let before = b.forward(&x, choice, &mut Ctx::eval()).unwrap();
        let order = b.sort_channels();
        let after = b.forward(&x, choice, &mut Ctx::eval()).unwrap();
        assert!(max_abs_diff(before.value(), after.value()) < 1e-5);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..24).collect::<Vec<_>>(), "a permutation");
        let w = &b.project.0.weight.value;
        let l1: Vec<f32> = (0..24).map(|c| w.index_axis(Axis(1), c).iter().map(|v| v.abs()).sum()).collect();
        assert!(l1.windows(2).all(|p| p[0] >= p[1]), "{l1:?}");
    }

    #[test]
    fn sliced_batch_norm_is_a_batch_norm_of_the_first_channels() {
        let mut r = rng(15);
        let mut big = BatchNorm::new(6);
        big.gamma.value = randn(&[6], 1.0, &mut r);
        big.beta.value = randn(&[6], 1.0, &mut r);
        let mut small = BatchNorm::new(4);
        small.gamma.value = big.gamma.value.slice(ndarray::s![..4]).to_owned().into_dyn();
        small.beta.value = big.beta.value.slice(ndarray::s![..4]).to_owned().into_dyn();
        let x = Var::constant(randn(&[3, 4, 2, 2], 1.0, &mut r));
        let y = bn_forward(&mut big, &x, &mut Ctx::train(0)).unwrap();
        let want = small.forward(&x, &mut Ctx::train(0)).unwrap();
        assert_eq!(y.value(), want.value());
        assert_eq!(&big.stats.mean[..4], &small.stats.mean[..]);
        assert_eq!(&big.stats.var[..4], &small.stats.var[..]);
        assert_eq!(&big.stats.mean[4..], &[0.0, 0.0], "inactive channels keep their statistics");
        assert!(bn_forward(&mut big, &Var::constant(randn(&[3, 7, 2, 2], 1.0, &mut r)), &mut Ctx::eval()).is_err());
    }

    #[test]
    fn bad_choices_are_errors() {
        let mut b = block(13);
        let x = Var::constant(randn(&[1, 4, 5, 5], 1.0, &mut rng(14)));
        assert!(b.forward(&x, BlockChoice { kernel: 4, expand: 6 }, &mut Ctx::eval()).is_err());
        assert!(b.forward(&x, BlockChoice { kernel: 3, expand: 8 }, &mut Ctx::eval()).is_err());
        assert!(ElasticDepthwise::new(randn(&[2, 1, 5, 5], 1.0, &mut rng(0)), &[3, 5, 7], 1).is_err());
    }
}
