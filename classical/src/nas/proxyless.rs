//! ProxylessNAS (Cai, Zhu and Han, "ProxylessNAS: Direct Neural Architecture Search on Target Task
//! and Hardware", ICLR 2019): a supernet whose every block slot is a mixed op over the space's
//! (kernel, expand) choices, searched by path binarisation.
//!
//! Each block holds architecture logits `α` with path probabilities `p = softmax(α)`. Binary gates
//! keep one path active per step, so memory is that of one sub-network:
//! - a weight step samples one path per block from `p` (uniformly during warm-up) and trains its
//!   weights on a training batch;
//! - an architecture step samples two distinct paths per block from `p`, draws the active one from
//!   their renormalised probabilities `q`, runs both (`y = g_a o_a + g_b o_b` with one-hot gates `g`),
//!   and takes `∂L/∂α_i = Σ_j ∂L/∂g_j q_j (δ_ij - q_i)` for the pair (the paper's BinaryConnect-style
//!   estimate, section 3.2.1); after the update the pair's logits are shifted so that
//!   `exp(α_a) + exp(α_b)` is unchanged, which leaves the other paths' probabilities as they were;
//! - the latency term `λ Σ_blocks Σ_paths p_i F_i` (section 3.3, expected latency from a per-choice
//!   table `F`) is differentiable in every logit: `∂/∂α_i = λ p_i (F_i - Σ_j p_j F_j)`.
//!
//! Depth is not searched: every stage runs all `max_depth` slots (the paper's zero op is left out).
//! The final [`ArchConfig`] takes the most probable path of every block.

use super::build::{mbconv_body, stem};
use super::space::{ArchConfig, BlockChoice, BlockSpec, SearchSpace};
use crate::autograd::Var;
use crate::data::ImageDataset;
use crate::error::{Result, arg_err};
use crate::nn::{self, Ctx, GlobalAvgPool, Linear, Module, Param, Sequential};
use crate::ops;
use crate::optim::{Adam, Optimizer};
use crate::tensor::{rng, uniform};
use ndarray::Axis;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Settings of [`ProxylessSupernet::search`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxylessConfig {
    /// Weight steps in all; an architecture step follows each weight step after warm-up.
    pub steps: usize,
    /// Weight steps with uniformly sampled paths and no architecture update.
    pub warmup_steps: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Adam learning rate of the weights.
    pub weight_lr: f32,
    /// SGD learning rate of the architecture logits.
    pub arch_lr: f64,
    /// Weight `λ` of the expected-latency term.
    pub lambda: f64,
    /// Seed of the weights, the batches and the gates.
    pub seed: u64,
}

/// One block slot: the candidate paths and their logits.
#[derive(Debug)]
struct MixedBlock {
    choices: Vec<BlockChoice>,
    specs: Vec<BlockSpec>,
    paths: Vec<Sequential>,
    logits: Vec<f64>,
    residual: bool,
}

/// Which paths of a block the next forward pass runs.
#[derive(Debug, Clone)]
enum Gate {
    /// One path.
    Single(usize),
    /// Two paths, `y = g_a o_a + g_b o_b` with one-hot gate leaves (the architecture step).
    Pair { a: usize, b: usize, ga: Var, gb: Var },
}

/// A supernet of a [`SearchSpace`] with a mixed op per block slot (see the module docs).
#[derive(Debug)]
pub struct ProxylessSupernet {
    space: SearchSpace,
    stem: Sequential,
    blocks: Vec<MixedBlock>,
    head: Sequential,
    /// The path each block runs in [`Module::forward`].
    active: Vec<usize>,
}

/// What a search did, per architecture step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxylessReport {
    /// The most probable path of every block.
    pub arch: ArchConfig,
    /// Path probabilities per block at the end, in the order of [`ProxylessSupernet::choices`].
    pub probabilities: Vec<Vec<f64>>,
    /// Expected latency `Σ_blocks Σ_paths p_i F_i` after each architecture step.
    pub expected_latency: Vec<f64>,
    /// Training loss of each weight step.
    pub train_loss: Vec<f64>,
}

impl ProxylessSupernet {
    /// The supernet of `space` at full depth with weights from `seed`; every block starts with
    /// uniform path probabilities. Spaces with a feature-mix layer are refused.
    pub fn new(space: &SearchSpace, seed: u64) -> Result<Self> {
        if space.head_channels.is_some() {
            return Err(arg_err("ProxylessSupernet", "spaces with a feature-mix layer are not supported"));
        }
        let mut r = rng(seed);
        let stem_net = stem(space, &mut r);
        let full = space.uniform(space.max_depth(), space.kernels[0], space.expands[0]);
        let choices: Vec<BlockChoice> = space
            .kernels
            .iter()
            .flat_map(|&kernel| space.expands.iter().map(move |&expand| BlockChoice { kernel, expand }))
            .collect();
        let mut blocks = Vec::new();
        for base in space.active_blocks(&full)? {
            let specs: Vec<BlockSpec> = choices
                .iter()
                .map(|c| BlockSpec {
                    kernel: c.kernel,
                    expand: c.expand,
                    hidden_channels: base.in_channels * c.expand,
                    ..base
                })
                .collect();
            let paths = specs.iter().map(|s| mbconv_body(s, &mut r)).collect();
            blocks.push(MixedBlock {
                choices: choices.clone(),
                specs,
                paths,
                logits: vec![0.0; choices.len()],
                residual: base.residual,
            });
        }
        let features = space.stage_out(space.stages.len() - 1);
        let head = Sequential::new().push(GlobalAvgPool).push(Linear::new(features, space.classes, true, &mut r));
        let active = vec![0; blocks.len()];
        Ok(Self { space: space.clone(), stem: stem_net, blocks, head, active })
    }

    /// The candidate (kernel, expand) choices of every block, in the order of its logits.
    pub fn choices(&self) -> &[BlockChoice] {
        &self.blocks[0].choices
    }

    /// The resolved spec of every path of every block (what a latency table reads).
    pub fn path_specs(&self) -> Vec<Vec<BlockSpec>> {
        self.blocks.iter().map(|b| b.specs.clone()).collect()
    }

    /// Path probabilities `softmax(α)` of every block.
    pub fn probabilities(&self) -> Vec<Vec<f64>> {
        self.blocks.iter().map(|b| softmax(&b.logits)).collect()
    }

    /// The sub-network of the most probable path of every block (the first of equals), at full depth.
    pub fn derive(&self) -> ArchConfig {
        let d = self.space.max_depth();
        let mut arch = self.space.uniform(d, self.space.kernels[0], self.space.expands[0]);
        for (i, b) in self.blocks.iter().enumerate() {
            let best = (0..b.logits.len()).fold(0, |m, j| if b.logits[j] > b.logits[m] { j } else { m });
            arch.blocks[i / d][i % d] = b.choices[best];
        }
        arch
    }

    /// `Σ_blocks Σ_paths p_i F_i` with `F = latency(spec)` of each path.
    pub fn expected_latency(&self, latency: &dyn Fn(&BlockSpec) -> f64) -> f64 {
        self.blocks.iter().map(|b| dot(&softmax(&b.logits), &b.specs.iter().map(latency).collect::<Vec<_>>())).sum()
    }

    /// Runs ProxylessNAS on `train` (weight steps) and `valid` (architecture steps) with the latency
    /// table `latency` and returns the derived config, the final probabilities and the curves. The
    /// weights and logits carry over between calls; the weights' Adam state starts afresh.
    pub fn search(
        &mut self,
        train: &ImageDataset,
        valid: &ImageDataset,
        latency: &dyn Fn(&BlockSpec) -> f64,
        cfg: &ProxylessConfig,
    ) -> Result<ProxylessReport> {
        let op = "ProxylessSupernet::search";
        if cfg.batch_size == 0 || train.is_empty() || valid.is_empty() {
            return Err(arg_err(op, "needs a positive batch size and non-empty training and validation sets"));
        }
        let expected = [self.space.in_channels, self.space.resolution, self.space.resolution];
        if train.image_shape() != expected || valid.image_shape() != expected {
            return Err(arg_err(
                op,
                format!(
                    "images {:?} / {:?} do not match the space's {expected:?}",
                    train.image_shape(),
                    valid.image_shape()
                ),
            ));
        }
        if !(cfg.lambda >= 0.0 && cfg.lambda.is_finite() && cfg.arch_lr.is_finite()) {
            return Err(arg_err(op, format!("lambda {} must be finite and non-negative", cfg.lambda)));
        }
        if self.choices().len() < 2 {
            return Err(arg_err(op, "needs at least two (kernel, expand) choices to search over"));
        }
        let tables: Vec<Vec<f64>> = self.blocks.iter().map(|b| b.specs.iter().map(latency).collect()).collect();
        if let Some(v) = tables.iter().flatten().find(|v| !v.is_finite()) {
            return Err(arg_err(op, format!("latency {v} is not finite")));
        }
        let mut r = rng(crate::seed::derive(cfg.seed, &[1]));
        let mut opt = Adam::new(0.0);
        let mut report = ProxylessReport {
            arch: self.derive(),
            probabilities: Vec::new(),
            expected_latency: Vec::new(),
            train_loss: Vec::new(),
        };
        for step in 0..cfg.steps {
            // Weight step: one sampled path per block.
            let warm = step < cfg.warmup_steps;
            for i in 0..self.blocks.len() {
                let p = if warm { vec![1.0; self.blocks[i].logits.len()] } else { softmax(&self.blocks[i].logits) };
                self.active[i] = sample(&p, &mut r);
            }
            let (x, y) = batch(train, cfg.batch_size, &mut r);
            let mut ctx = Ctx::train(crate::seed::derive(cfg.seed, &[2, step as u64]));
            let loss = ops::cross_entropy(&self.forward(&x, &mut ctx)?, &y)?;
            loss.backward()?;
            nn::zero_grads(self);
            nn::accumulate_grads(self, &ctx);
            opt.step(self, cfg.weight_lr);
            report.train_loss.push(loss.value().iter().next().copied().unwrap_or(f32::NAN) as f64);
            if warm {
                continue;
            }
            // Architecture step: two sampled paths per block, one active.
            let mut pairs = Vec::with_capacity(self.blocks.len());
            for i in 0..self.blocks.len() {
                let p = softmax(&self.blocks[i].logits);
                let a = sample(&p, &mut r);
                let mut rest = p.clone();
                rest[a] = 0.0;
                let b = sample(&rest, &mut r);
                let q = softmax(&[self.blocks[i].logits[a], self.blocks[i].logits[b]]);
                let a_active = uniform(&mut r) < q[0];
                let one_hot = |on: bool| -> Result<Var> {
                    Ok(Var::leaf(crate::tensor::from_vec(&[1], vec![f32::from(u8::from(on))])?))
                };
                pairs.push((a, b, one_hot(a_active)?, one_hot(!a_active)?));
            }
            let (x, y) = batch(valid, cfg.batch_size, &mut r);
            let mut ctx = Ctx::train(crate::seed::derive(cfg.seed, &[3, step as u64]));
            let gates: Vec<Gate> = pairs
                .iter()
                .map(|(a, b, ga, gb)| Gate::Pair { a: *a, b: *b, ga: ga.clone(), gb: gb.clone() })
                .collect();
            ops::cross_entropy(&self.forward_gated(&x, &mut ctx, &gates)?, &y)?.backward()?;
            for (block, ((a, b, ga, gb), table)) in self.blocks.iter_mut().zip(pairs.iter().zip(&tables)) {
                let grad = |g: &Var| g.grad().and_then(|t| t.iter().next().copied()).unwrap_or(0.0) as f64;
                let (la, lb) = (block.logits[*a], block.logits[*b]);
                let (da, db) = pair_grad(la, lb, grad(ga), grad(gb));
                let (na, nb) = (la - cfg.arch_lr * da, lb - cfg.arch_lr * db);
                // Keep exp(α_a) + exp(α_b), so the other paths' probabilities do not move.
                let offset = log_sum_exp(&[na, nb]) - log_sum_exp(&[la, lb]);
                block.logits[*a] = na - offset;
                block.logits[*b] = nb - offset;
                // Expected-latency term on every logit.
                let lat = latency_grad(&block.logits, table);
                for (l, g) in block.logits.iter_mut().zip(lat) {
                    *l -= cfg.arch_lr * cfg.lambda * g;
                }
            }
            report.expected_latency.push(self.expected_latency(latency));
        }
        report.arch = self.derive();
        report.probabilities = self.probabilities();
        Ok(report)
    }
}

impl ProxylessSupernet {
    /// The supernet with the paths `gates` select.
    fn forward_gated(&mut self, x: &Var, ctx: &mut Ctx, gates: &[Gate]) -> Result<Var> {
        let mut h = self.stem.forward(x, ctx)?;
        for (block, gate) in self.blocks.iter_mut().zip(gates) {
            let out = match gate {
                Gate::Single(i) => block.paths[*i].forward(&h, ctx)?,
                Gate::Pair { a, b, ga, gb } => {
                    let oa = block.paths[*a].forward(&h, ctx)?;
                    let ob = block.paths[*b].forward(&h, ctx)?;
                    ops::add(&ops::mul(&oa, ga)?, &ops::mul(&ob, gb)?)?
                }
            };
            h = if block.residual { ops::add(&out, &h)? } else { out };
        }
        self.head.forward(&h, ctx)
    }
}

impl Module for ProxylessSupernet {
    /// The supernet on the paths last sampled for a weight step (path 0 of every block before any).
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let gates: Vec<Gate> = self.active.iter().map(|&i| Gate::Single(i)).collect();
        self.forward_gated(x, ctx, &gates)
    }

    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        self.stem.visit_params(&nn::join(prefix, "stem"), f);
        for (i, b) in self.blocks.iter().enumerate() {
            for (j, p) in b.paths.iter().enumerate() {
                p.visit_params(&nn::join(prefix, &format!("blocks.{i}.{j}")), f);
            }
        }
        self.head.visit_params(&nn::join(prefix, "head"), f);
    }

    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        self.stem.visit_params_mut(&nn::join(prefix, "stem"), f);
        for (i, b) in self.blocks.iter_mut().enumerate() {
            for (j, p) in b.paths.iter_mut().enumerate() {
                p.visit_params_mut(&nn::join(prefix, &format!("blocks.{i}.{j}")), f);
            }
        }
        self.head.visit_params_mut(&nn::join(prefix, "head"), f);
    }

    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Vec<f32>)) {
        self.stem.visit_buffers_mut(&nn::join(prefix, "stem"), f);
        for (i, b) in self.blocks.iter_mut().enumerate() {
            for (j, p) in b.paths.iter_mut().enumerate() {
                p.visit_buffers_mut(&nn::join(prefix, &format!("blocks.{i}.{j}")), f);
            }
        }
        self.head.visit_buffers_mut(&nn::join(prefix, "head"), f);
    }
}

/// The two-path estimate of `∂L/∂(α_a, α_b)` from the gate gradients `∂L/∂g_a`, `∂L/∂g_b`:
/// `Σ_j ∂L/∂g_j ∂q_j/∂α_i` with `q = softmax(α_a, α_b)` and `∂q_j/∂α_i = q_j (δ_ij - q_i)`.
fn pair_grad(la: f64, lb: f64, dga: f64, dgb: f64) -> (f64, f64) {
    let q = softmax(&[la, lb]);
    let da = dga * q[0] * (1.0 - q[0]) - dgb * q[1] * q[0];
    let db = dgb * q[1] * (1.0 - q[1]) - dga * q[0] * q[1];
    (da, db)
}

/// `∂/∂α_i Σ_j p_j F_j = p_i (F_i - Σ_j p_j F_j)` with `p = softmax(α)`.
fn latency_grad(logits: &[f64], table: &[f64]) -> Vec<f64> {
    let p = softmax(logits);
    let mean = dot(&p, table);
    p.iter().zip(table).map(|(pi, fi)| pi * (fi - mean)).collect()
}

/// A batch of `n` images drawn with replacement.
fn batch(data: &ImageDataset, n: usize, r: &mut ChaCha8Rng) -> (Var, Vec<usize>) {
    let idx: Vec<usize> = (0..n).map(|_| ((uniform(r) * data.len() as f64) as usize).min(data.len() - 1)).collect();
    let x = data.images.select(Axis(0), &idx).into_dyn();
    (Var::constant(x), idx.iter().map(|&i| data.labels[i]).collect())
}

/// An index drawn with probability proportional to `weights` (non-negative, not all zero).
fn sample(weights: &[f64], r: &mut ChaCha8Rng) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = uniform(r) * total;
    for (i, &w) in weights.iter().enumerate() {
        if u < w {
            return i;
        }
        u -= w;
    }
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

fn softmax(v: &[f64]) -> Vec<f64> {
    let l = log_sum_exp(v);
    v.iter().map(|x| (x - l).exp()).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nas::space::StageSpec;
    use ndarray::Array4;

    /// One stage of one stride-1 block with kernels {3, 7} and expands {2, 4} on 24x24 images.
    fn space() -> SearchSpace {
        SearchSpace::new_checked(SearchSpace {
            width: 1.0,
            resolution: 24,
            in_channels: 1,
            classes: 2,
            stem_channels: 8,
            first_block_channels: 8,
            stages: vec![StageSpec { channels: 8, stride: 1 }],
            head_channels: None,
            depths: vec![1],
            kernels: vec![3, 7],
            expands: vec![2, 4],
        })
        .unwrap()
    }

    /// Two 2x2 dots 12 pixels apart, horizontally (class 0) or vertically (class 1). The stem and
    /// the first block see 7x7 input pixels; the block's depthwise kernel at stride 2 adds
    /// `2 (k - 1)`: 11 pixels for k = 3, which never holds both dots, 19 for k = 7, which does.
    fn dots(n: usize, seed: u64) -> ImageDataset {
        let mut r = rng(seed);
        let mut images = Array4::<f32>::zeros((n, 1, 24, 24));
        let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
        for (i, &l) in labels.iter().enumerate() {
            let along = 2 * ((uniform(&mut r) * 6.0) as usize).min(5);
            let across = 2 * ((uniform(&mut r) * 12.0) as usize).min(11);
            for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                for off in [0, 12] {
                    let (y, x) = if l == 0 { (across + dy, along + off + dx) } else { (along + off + dy, across + dx) };
                    images[[i, 0, y, x]] = 1.0;
                }
            }
        }
        ImageDataset::new(images, labels, 2).unwrap()
    }

    /// Latency of a path: its depthwise and pointwise multiply-accumulates per output pixel.
    fn latency(b: &BlockSpec) -> f64 {
        (b.hidden_channels * (b.kernel * b.kernel + b.in_channels + b.out_channels)) as f64 / 1000.0
    }

    fn cfg(lambda: f64) -> ProxylessConfig {
        ProxylessConfig { steps: 200, warmup_steps: 80, batch_size: 16, weight_lr: 3e-3, arch_lr: 0.5, lambda, seed: 5 }
    }

    /// Central differences of `dga q_a + dgb q_b` and of `Σ p_j F_j`.
    #[test]
    fn two_path_and_latency_gradients_match_finite_differences() {
        let (la, lb, dga, dgb, h) = (0.3, -0.8, 1.7, -0.4, 1e-6);
        let f = |a: f64, b: f64| {
            let q = softmax(&[a, b]);
            dga * q[0] + dgb * q[1]
        };
        let (da, db) = pair_grad(la, lb, dga, dgb);
        assert!((da - (f(la + h, lb) - f(la - h, lb)) / (2.0 * h)).abs() < 1e-8);
        assert!((db - (f(la, lb + h) - f(la, lb - h)) / (2.0 * h)).abs() < 1e-8);
        let (logits, table) = (vec![0.5, -1.0, 2.0, 0.0], vec![3.0, 1.0, 7.0, 2.0]);
        let g = latency_grad(&logits, &table);
        for i in 0..4 {
            let at = |d: f64| {
                let mut l = logits.clone();
                l[i] += d;
                dot(&softmax(&l), &table)
            };
            assert!((g[i] - (at(h) - at(-h)) / (2.0 * h)).abs() < 1e-7, "{i}");
        }
    }

    #[test]
    fn mismatched_data_and_settings_are_refused() {
        let s = space();
        let mut net = ProxylessSupernet::new(&s, 0).unwrap();
        let small = crate::data::synthetic::shapes(4, 8, 0.0, 0).unwrap();
        let e = net.search(&small, &small, &latency, &cfg(0.0)).unwrap_err().to_string();
        assert!(e.contains("do not match the space's [1, 24, 24]"), "{e}");
        let d = dots(4, 0);
        assert!(net.search(&d, &d, &latency, &ProxylessConfig { lambda: -1.0, ..cfg(0.0) }).is_err());
        assert!(net.search(&d, &d, &|_| f64::NAN, &cfg(0.0)).unwrap_err().to_string().contains("not finite"));
        let one = SearchSpace { kernels: vec![3], expands: vec![2], ..s };
        let mut net = ProxylessSupernet::new(&one, 0).unwrap();
        assert!(net.search(&d, &d, &latency, &cfg(0.0)).unwrap_err().to_string().contains("two"));
    }

    #[test]
    fn a_large_latency_weight_picks_the_cheapest_path_and_none_picks_large_kernels() {
        let s = space();
        let (train, valid) = (dots(256, 1), dots(128, 2));
        let cheapest = BlockChoice { kernel: 3, expand: 2 };
        let mut fast = ProxylessSupernet::new(&s, 0).unwrap();
        let rep = fast
            .search(&train, &valid, &latency, &ProxylessConfig { steps: 60, warmup_steps: 20, ..cfg(50.0) })
            .unwrap();
        assert!(rep.arch.blocks.iter().flatten().all(|c| *c == cheapest), "{:?}", rep.probabilities);
        assert!(rep.expected_latency.last() < rep.expected_latency.first());
        let mut free = ProxylessSupernet::new(&s, 0).unwrap();
        let rep = free.search(&train, &valid, &latency, &cfg(0.0)).unwrap();
        // Kernel 7 is the only one that sees both dots: its paths (choices 2 and 3) gather the
        // probability (0.89 at seed 5; 0.85 to 0.87 at seeds 1 to 3 when this test was written).
        assert!(rep.arch.blocks.iter().flatten().all(|c| c.kernel == 7), "{:?}", rep.probabilities);
        let p = &rep.probabilities[0];
        assert!(p[2] + p[3] > 0.7, "{p:?}");
        assert_eq!(free.choices()[2], BlockChoice { kernel: 7, expand: 2 });
        s.check(&rep.arch).unwrap();
    }
}
