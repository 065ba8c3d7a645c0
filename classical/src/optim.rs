//! Optimizers, learning-rate schedules and gradient clipping.
//!
//! Optimizers keep their per-parameter state by the parameter's dotted path (see
//! [`crate::nn::named_params`]), so the state can be checkpointed and reloaded into a fresh model.
//! After each update a parameter's pruning mask is re-applied, so pruned weights stay exactly zero.

use crate::autograd::Var;
use crate::error::{Result, arg_err, shape_err};
use crate::nn::{self, Ctx, Module, Param};
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// Something that updates a model's parameters from their gradients.
pub trait Optimizer {
    /// One update with learning rate `lr` (parameters without a gradient are left alone).
    fn step(&mut self, model: &mut dyn Module, lr: f32);

    /// Sets every parameter's gradient to the one the pass recorded in `ctx` left on it (clearing
    /// the others), then takes one [`step`](Optimizer::step): the update for a pass whose loss has
    /// already been back-propagated (a second model trained on the same loss, as a distillation
    /// adapter is).
    fn step_from(&mut self, model: &mut dyn Module, ctx: &Ctx, lr: f32) {
        nn::zero_grads(model);
        nn::accumulate_grads(model, ctx);
        self.step(model, lr);
    }

    /// The training step of a hand-written loop: back-propagates `loss` (a scalar computed by a
    /// forward pass of `model` in `ctx`), replaces the model's gradients with the ones that pass
    /// recorded, and takes one step. Errors (before anything changes) when `loss` is not a scalar
    /// or has no gradient path. Gradient clipping belongs between the two halves, where
    /// [`crate::train::Trainer`] does it.
    fn backward_step(&mut self, model: &mut dyn Module, loss: &Var, ctx: &Ctx, lr: f32) -> Result<()> {
        loss.backward()?;
        self.step_from(model, ctx, lr);
        Ok(())
    }
}

/// An optimizer that also updates plain `f64` parameter vectors (the angles of a variational
/// circuit), keeping one state per `key` beside the per-tensor states. The update rules are the
/// same code as the tensor updates ([`Real`]).
pub trait VectorOptimizer {
    /// One update of `params` along `-grad` with learning rate `lr`, using and advancing the state
    /// kept under `key` (created on first use). Errors, changing nothing, when `params` and `grad`
    /// differ in length, when `key` holds the state of a vector of another length, or when a
    /// gradient entry is not finite.
    fn step_vector(&mut self, key: &str, params: &mut [f64], grad: &[f64], lr: f64) -> Result<()>;
}

/// The float types the update rules run in: `f32` for tensors, `f64` for parameter vectors. The
/// optimizers' hyperparameters are `f64` and converted (rounded to nearest) once per step.
pub trait Real:
    Copy
    + PartialEq
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// `x` rounded to this type.
    fn from_f64(x: f64) -> Self;
    /// The square root.
    fn sqrt(self) -> Self;
    /// `self^n`.
    fn powi(self, n: i32) -> Self;
}

macro_rules! real {
    ($t:ty) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
        }
    };
}
real!(f32);
real!(f64);

fn apply_mask(p: &mut Param) {
    if let Some(m) = &p.mask {
        p.value *= m;
    }
}

/// Checks a vector update's lengths against each other and against the stored state's length.
fn check_vector(key: &str, params: &[f64], grad: &[f64], state_len: Option<usize>) -> Result<()> {
    if params.len() != grad.len() {
        return Err(shape_err(
            "step_vector",
            &[params.len()],
            &[grad.len()],
            format!("`{key}`: one gradient entry per parameter"),
        ));
    }
    if let Some(n) = state_len
        && n != params.len()
    {
        return Err(shape_err(
            "step_vector",
            &[params.len()],
            &[n],
            format!("`{key}`: the state was made for another length"),
        ));
    }
    if let Some(i) = grad.iter().position(|g| !g.is_finite()) {
        return Err(arg_err("step_vector", format!("`{key}`: gradient entry {i} is {}", grad[i])));
    }
    Ok(())
}

/// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay (PyTorch's
/// `torch.optim.SGD` update rule).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sgd {
    /// Momentum factor (0 for plain SGD).
    pub momentum: f64,
    /// Use Nesterov momentum.
    pub nesterov: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    velocity: BTreeMap<String, Tensor>,
    vectors: BTreeMap<String, Vec<f64>>,
}

/// SGD's constants of one step in the precision of the parameters.
struct SgdStep<F> {
    momentum: F,
    nesterov: bool,
    weight_decay: F,
    lr: F,
}

impl Sgd {
    /// SGD with the given momentum and weight decay, no Nesterov.
    pub fn new(momentum: impl Into<f64>, weight_decay: impl Into<f64>) -> Self {
        Self {
            momentum: momentum.into(),
            nesterov: false,
            weight_decay: weight_decay.into(),
            velocity: BTreeMap::new(),
            vectors: BTreeMap::new(),
        }
    }

    fn constants<F: Real>(&self, lr: F) -> SgdStep<F> {
        SgdStep {
            momentum: F::from_f64(self.momentum),
            nesterov: self.nesterov,
            weight_decay: F::from_f64(self.weight_decay),
            lr,
        }
    }
}

/// The SGD update of one parameter `w` with gradient `grad`; `velocity` is its momentum buffer
/// (unused without momentum), `fresh` when the buffer has not been written yet.
fn sgd_update<F: Real>(c: &SgdStep<F>, w: &mut F, velocity: &mut F, fresh: bool, grad: F) {
    let mut d = grad;
    if c.weight_decay != F::ZERO {
        d = d + c.weight_decay * *w;
    }
    if c.momentum != F::ZERO {
        *velocity = if fresh { d } else { *velocity * c.momentum + d };
        d = if c.nesterov { d + c.momentum * *velocity } else { *velocity };
    }
    *w = *w + -c.lr * d;
}

impl Optimizer for Sgd {
    fn step(&mut self, model: &mut dyn Module, lr: f32) {
        let c = self.constants(lr);
        model.visit_params_mut("", &mut |name, p| {
            let Some(grad) = &p.grad else { return };
            if c.momentum == 0.0 {
                let mut unused = 0.0;
                ndarray::Zip::from(&mut p.value).and(grad).for_each(|w, &g| sgd_update(&c, w, &mut unused, true, g));
            } else {
                let fresh = !self.velocity.contains_key(&name);
                let buf = self.velocity.entry(name).or_insert_with(|| Tensor::zeros(grad.raw_dim()));
                ndarray::Zip::from(&mut p.value).and(buf).and(grad).for_each(|w, v, &g| sgd_update(&c, w, v, fresh, g));
            }
            apply_mask(p);
        });
    }
}

impl VectorOptimizer for Sgd {
    fn step_vector(&mut self, key: &str, params: &mut [f64], grad: &[f64], lr: f64) -> Result<()> {
        let c = self.constants(lr);
        let uses_state = c.momentum != 0.0;
        check_vector(key, params, grad, self.vectors.get(key).filter(|_| uses_state).map(Vec::len))?;
        if !uses_state {
            let mut unused = 0.0;
            params.iter_mut().zip(grad).for_each(|(w, &g)| sgd_update(&c, w, &mut unused, true, g));
            return Ok(());
        }
        let fresh = !self.vectors.contains_key(key);
        let buf = self.vectors.entry(key.to_string()).or_insert_with(|| vec![0.0; params.len()]);
        params.iter_mut().zip(buf.iter_mut()).zip(grad).for_each(|((w, v), &g)| sgd_update(&c, w, v, fresh, g));
        Ok(())
    }
}

/// Adam (Kingma & Ba 2015) with L2 weight decay, or AdamW (Loshchilov & Hutter 2019) with decoupled
/// weight decay, following PyTorch's update rules.
///
/// With moments `m`, `v` and step count `t`, a parameter moves by
/// `-lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)`, evaluated in that order (the
/// order of the experiments' former f64 Adam, so variational results kept their bits; the f32
/// tensor updates round once differently from the former `(lr / (1 - beta1^t)) * m`). Tensors share one step count
/// (incremented by every [`Optimizer::step`]); every vector stepped by
/// [`VectorOptimizer::step_vector`] has its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Adam {
    /// Decay rates of the first and second moments.
    pub betas: (f64, f64),
    /// Added to the denominator.
    pub eps: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Decoupled decay (AdamW) instead of L2 in the gradient (Adam).
    pub decoupled: bool,
    step: u64,
    moments: BTreeMap<String, (Tensor, Tensor)>,
    vectors: BTreeMap<String, AdamVector>,
}

/// The state of one parameter vector under [`Adam`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AdamVector {
    step: u64,
    m: Vec<f64>,
    v: Vec<f64>,
}

/// Adam's constants of one step in the precision of the parameters.
struct AdamStep<F> {
    beta1: F,
    beta2: F,
    eps: F,
    weight_decay: F,
    decoupled: bool,
    /// `1 - lr * weight_decay`, the decoupled shrink factor.
    shrink: F,
    /// The learning rate.
    lr: F,
    /// `1 - beta1^t`.
    correction1: F,
    /// `1 - beta2^t`.
    correction2: F,
}

impl Adam {
    /// Adam with PyTorch's defaults (betas 0.9, 0.999; eps 1e-8) and L2 weight decay.
    pub fn new(weight_decay: impl Into<f64>) -> Self {
        Self {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: weight_decay.into(),
            decoupled: false,
            step: 0,
            moments: BTreeMap::new(),
            vectors: BTreeMap::new(),
        }
    }

    /// AdamW with PyTorch's defaults and decoupled weight decay.
    pub fn adamw(weight_decay: impl Into<f64>) -> Self {
        Self { decoupled: true, ..Self::new(weight_decay) }
    }

    /// Updates taken so far on tensors.
    pub fn steps(&self) -> u64 {
        self.step
    }

    fn constants<F: Real>(&self, t: u64, lr: F) -> AdamStep<F> {
        let (beta1, beta2) = (F::from_f64(self.betas.0), F::from_f64(self.betas.1));
        let t = t.min(i32::MAX as u64) as i32;
        let weight_decay = F::from_f64(self.weight_decay);
        AdamStep {
            beta1,
            beta2,
            eps: F::from_f64(self.eps),
            weight_decay,
            decoupled: self.decoupled,
            shrink: F::ONE - lr * weight_decay,
            lr,
            correction1: F::ONE - beta1.powi(t),
            correction2: F::ONE - beta2.powi(t),
        }
    }
}

/// The Adam update of one parameter `w` with moments `m`, `v` and gradient `grad`.
fn adam_update<F: Real>(c: &AdamStep<F>, w: &mut F, m: &mut F, v: &mut F, grad: F) {
    let mut g = grad;
    if c.weight_decay != F::ZERO {
        if c.decoupled {
            *w = *w * c.shrink;
        } else {
            g = g + c.weight_decay * *w;
        }
    }
    *m = c.beta1 * *m + (F::ONE - c.beta1) * g;
    *v = c.beta2 * *v + (F::ONE - c.beta2) * g * g;
    *w = *w - c.lr * (*m / c.correction1) / ((*v / c.correction2).sqrt() + c.eps);
}

impl Optimizer for Adam {
    fn step(&mut self, model: &mut dyn Module, lr: f32) {
        self.step += 1;
        let c = self.constants(self.step, lr);
        model.visit_params_mut("", &mut |name, p| {
            let Some(grad) = &p.grad else { return };
            let (m, v) = self
                .moments
                .entry(name)
                .or_insert_with(|| (Tensor::zeros(grad.raw_dim()), Tensor::zeros(grad.raw_dim())));
            ndarray::Zip::from(&mut p.value)
                .and(m)
                .and(v)
                .and(grad)
                .for_each(|w, m, v, &g| adam_update(&c, w, m, v, g));
            apply_mask(p);
        });
    }
}

impl VectorOptimizer for Adam {
    fn step_vector(&mut self, key: &str, params: &mut [f64], grad: &[f64], lr: f64) -> Result<()> {
        check_vector(key, params, grad, self.vectors.get(key).map(|s| s.m.len()))?;
        let t = self.vectors.get(key).map_or(0, |s| s.step) + 1;
        let c = self.constants(t, lr);
        let n = params.len();
        let state = self.vectors.entry(key.to_string()).or_insert_with(|| AdamVector {
            step: 0,
            m: vec![0.0; n],
            v: vec![0.0; n],
        });
        state.step = t;
        for (((w, m), v), &g) in params.iter_mut().zip(&mut state.m).zip(&mut state.v).zip(grad) {
            adam_update(&c, w, m, v, g);
        }
        Ok(())
    }
}

/// A learning rate as a function of the epoch (or step) index.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum LrSchedule {
    /// Always `base`.
    Constant {
        /// The rate.
        base: f32,
    },
    /// `base * gamma^(t / every)` (PyTorch's `StepLR`).
    Step {
        /// Initial rate.
        base: f32,
        /// Decay factor.
        gamma: f32,
        /// Period.
        every: usize,
    },
    /// Linear warm-up from `base / warmup` over `warmup` steps, then cosine decay to `min` at `total`.
    Cosine {
        /// Peak rate.
        base: f32,
        /// Final rate.
        min: f32,
        /// Warm-up length (0 for none).
        warmup: usize,
        /// Total length.
        total: usize,
    },
}

impl LrSchedule {
    /// The rate at step `t` (0-based).
    pub fn at(&self, t: usize) -> f32 {
        match *self {
            LrSchedule::Constant { base } => base,
            LrSchedule::Step { base, gamma, every } => base * gamma.powi((t / every.max(1)) as i32),
            LrSchedule::Cosine { base, min, warmup, total } => {
                if t < warmup {
                    base * (t + 1) as f32 / warmup as f32
                } else {
                    let span = total.saturating_sub(warmup).max(1);
                    let progress = ((t - warmup) as f32 / span as f32).min(1.0);
                    min + 0.5 * (base - min) * (1.0 + (std::f32::consts::PI * progress).cos())
                }
            }
        }
    }
}

/// Scales all gradients so that their global L2 norm is at most `max_norm`; returns the norm before
/// clipping (PyTorch's `clip_grad_norm_`).
pub fn clip_grad_norm(model: &mut dyn Module, max_norm: f32) -> f32 {
    let mut sq = 0.0f64;
    model.visit_params("", &mut |_, p| {
        if let Some(g) = &p.grad {
            sq += g.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
        }
    });
    let norm = sq.sqrt() as f32;
    if norm > max_norm && norm > 0.0 {
        let s = max_norm / (norm + 1e-6);
        model.visit_params_mut("", &mut |_, p| {
            if let Some(g) = &mut p.grad {
                *g *= s;
            }
        });
    }
    norm
}
