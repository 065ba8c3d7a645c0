//! Optimizers, learning-rate schedules and gradient clipping.
//!
//! Optimizers keep their per-parameter state by the parameter's dotted path (see
//! [`crate::nn::named_params`]), so the state can be checkpointed and reloaded into a fresh model.
//! After each update a parameter's pruning mask is re-applied, so pruned weights stay exactly zero.

use crate::nn::{Module, Param};
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Something that updates a model's parameters from their gradients.
pub trait Optimizer {
    /// One update with learning rate `lr` (parameters without a gradient are left alone).
    fn step(&mut self, model: &mut dyn Module, lr: f32);
}

fn apply_mask(p: &mut Param) {
    if let Some(m) = &p.mask {
        p.value *= m;
    }
}

/// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay (PyTorch's
/// `torch.optim.SGD` update rule).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sgd {
    /// Momentum factor (0 for plain SGD).
    pub momentum: f32,
    /// Use Nesterov momentum.
    pub nesterov: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: f32,
    velocity: BTreeMap<String, Tensor>,
}

impl Sgd {
    /// SGD with the given momentum and weight decay, no Nesterov.
    pub fn new(momentum: f32, weight_decay: f32) -> Self {
        Self { momentum, nesterov: false, weight_decay, velocity: BTreeMap::new() }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, model: &mut dyn Module, lr: f32) {
        model.visit_params_mut("", &mut |name, p| {
            let Some(grad) = &p.grad else { return };
            let mut d = grad.clone();
            if self.weight_decay != 0.0 {
                d.scaled_add(self.weight_decay, &p.value);
            }
            if self.momentum != 0.0 {
                let buf = match self.velocity.get_mut(&name) {
                    Some(buf) => {
                        *buf *= self.momentum;
                        *buf += &d;
                        buf
                    }
                    None => self.velocity.entry(name).or_insert(d.clone()),
                };
                if self.nesterov {
                    d.scaled_add(self.momentum, buf);
                } else {
                    d = buf.clone();
                }
            }
            p.value.scaled_add(-lr, &d);
            apply_mask(p);
        });
    }
}

/// Adam (Kingma & Ba 2015) with L2 weight decay, or AdamW (Loshchilov & Hutter 2019) with decoupled
/// weight decay, following PyTorch's update rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Adam {
    /// Decay rates of the first and second moments.
    pub betas: (f32, f32),
    /// Added to the denominator.
    pub eps: f32,
    /// Weight decay.
    pub weight_decay: f32,
    /// Decoupled decay (AdamW) instead of L2 in the gradient (Adam).
    pub decoupled: bool,
    step: u64,
    moments: BTreeMap<String, (Tensor, Tensor)>,
}

impl Adam {
    /// Adam with PyTorch's defaults (betas 0.9, 0.999; eps 1e-8) and L2 weight decay.
    pub fn new(weight_decay: f32) -> Self {
        Self { betas: (0.9, 0.999), eps: 1e-8, weight_decay, decoupled: false, step: 0, moments: BTreeMap::new() }
    }

    /// AdamW with PyTorch's defaults and decoupled weight decay.
    pub fn adamw(weight_decay: f32) -> Self {
        Self { decoupled: true, ..Self::new(weight_decay) }
    }
}

impl Optimizer for Adam {
    fn step(&mut self, model: &mut dyn Module, lr: f32) {
        self.step += 1;
        let (b1, b2) = self.betas;
        let t = self.step as i32;
        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        model.visit_params_mut("", &mut |name, p| {
            let Some(grad) = &p.grad else { return };
            let mut g = grad.clone();
            if self.weight_decay != 0.0 {
                if self.decoupled {
                    p.value *= 1.0 - lr * self.weight_decay;
                } else {
                    g.scaled_add(self.weight_decay, &p.value);
                }
            }
            let (m, v) =
                self.moments.entry(name).or_insert_with(|| (Tensor::zeros(g.raw_dim()), Tensor::zeros(g.raw_dim())));
            ndarray::Zip::from(&mut *m).and(&mut *v).and(&g).for_each(|m, v, &g| {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
            });
            let step = lr / c1;
            let eps = self.eps;
            ndarray::Zip::from(&mut p.value).and(&*m).and(&*v).for_each(|w, &m, &v| {
                *w -= step * m / ((v / c2).sqrt() + eps);
            });
            apply_mask(p);
        });
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
