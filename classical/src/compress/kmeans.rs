//! Weight sharing by k-means clustering, with codebook fine-tuning: the second stage of Deep
//! Compression (Han, Mao & Dally, ICLR 2016, §3).
//!
//! The weights of one tensor are clustered into `k = 2^bits` groups (`bits` in `1..=8`); each weight is
//! then stored as a `bits`-wide index into a codebook of `k` f32 centroids ([`SharedWeights`]).
//!
//! - Initialisation is *linear*: centroids evenly spaced over `[min, max]` of the weights, the choice
//!   the paper found best (§3.2) because it keeps the rare large weights represented.
//! - Lloyd iterations (assign every weight to its nearest centroid, move every centroid to the mean of
//!   its weights) run until no assignment changes, or `max_iter` updates. In one dimension the
//!   centroids stay sorted, so the nearest one is found by binary search; ties go to the lower
//!   centroid, a centroid with no weights stays where it is, and the means are summed in f64 in index
//!   order: the result is deterministic and independent of the thread count.
//! - Pruned weights: with a mask (zero = pruned), masked entries take no part in the clustering, are
//!   not counted in any cluster and reconstruct to exactly `0.0`.
//! - Fine-tuning (§3.3, Eq. 3): the gradient of a centroid is the sum of the loss gradients of the
//!   weights that share it, `dL/dC_k = sum_{i: I_i = k} dL/dW_i`; the indices stay fixed and the
//!   centroids take gradient steps ([`SharedWeights::update_codebook`]).
//!
//! At model level, [`KMeansQuantizer::apply`] clusters the selected parameters and overwrites their
//! values with the reconstruction; [`KMeansState::fine_tune_step`] turns the gradients that
//! [`crate::nn::accumulate_grads`] left on those parameters into centroid updates and rewrites the
//! weights; [`CodebookFineTune`] wraps that and an ordinary optimizer (for the remaining parameters) as
//! an [`Optimizer`], so [`crate::train::fit`] can fine-tune a shared-weight model unchanged.
//!
//! # A manual loop
//!
//! ```
//! use tinylab_classical::compress::kmeans::KMeansQuantizer;
//! use tinylab_classical::nn::{self, Ctx, Module, zoo};
//! use tinylab_classical::optim::{Optimizer, Sgd};
//! use tinylab_classical::{Var, ops, tensor};
//!
//! # fn main() -> tinylab_classical::Result<()> {
//! let mut model = zoo::mlp(&[16, 8, 3], 0)?;
//! let x = tensor::randn(&[32, 16], 1.0, &mut tensor::rng(1));
//! let y: Vec<usize> = (0..32).map(|i| i % 3).collect();
//! // Share the weight matrices (not the biases) among 2^4 = 16 values each.
//! let mut shared = KMeansQuantizer::new(4).apply(&mut model, |_, p| p.value.ndim() >= 2)?;
//! let mut others = Sgd::new(0.9, 0.0);
//! for step in 0..5 {
//!     let mut ctx = Ctx::train(step);
//!     let loss = ops::cross_entropy(&model.forward(&Var::constant(x.clone()), &mut ctx)?, &y)?;
//!     loss.backward()?;
//!     nn::zero_grads(&mut model);
//!     nn::accumulate_grads(&mut model, &ctx);
//!     // Centroid steps for the shared weights; this consumes (clears) their gradients ...
//!     shared.fine_tune_step(&mut model, 1e-3)?;
//!     // ... so the optimizer only moves the biases.
//!     others.step(&mut model, 0.05);
//! }
//! // Every weight matrix still holds at most 16 distinct values.
//! let w = &nn::named_params(&model)[1].1.value;
//! let mut distinct: Vec<u32> = w.iter().map(|v| v.to_bits()).collect();
//! distinct.sort_unstable();
//! distinct.dedup();
//! assert!(distinct.len() <= 16);
//! # Ok(())
//! # }
//! ```
//!
//! With [`crate::train::fit`], pass `&mut CodebookFineTune::new(shared, Sgd::new(0.9, 0.0))` as the
//! optimizer: each step updates the centroids, rewrites the shared weights and then lets the inner
//! optimizer update the rest; its state (codebooks included) is checkpointed with the run.

use crate::error::{Result, arg_err, shape_err};
use crate::nn::{Module, Param};
use crate::optim::Optimizer;
use crate::tensor::{Tensor, contiguous, from_vec};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Lloyd iterations [`KMeansQuantizer::new`] allows before it stops without convergence.
pub const DEFAULT_MAX_ITER: usize = 300;

/// Weights per rayon task in the assignment step; smaller tensors are assigned on one thread.
const PARALLEL_CHUNK: usize = 1 << 14;

/// One tensor stored as a codebook of `2^bits` shared values and a per-entry index into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedWeights {
    shape: Vec<usize>,
    bits: u8,
    codebook: Vec<f32>,
    indices: Vec<u8>,
    kept: Option<Vec<bool>>,
    iterations: usize,
    converged: bool,
}

/// The index of the centroid nearest to `x` in the non-decreasing `c`; ties go to the lowest index.
fn nearest(c: &[f32], x: f32) -> usize {
    let j = c.partition_point(|&v| v < x);
    if j == 0 {
        return 0;
    }
    let lo = c[j - 1];
    if j == c.len() || x - lo <= c[j] - x {
        // The first centroid equal to `lo` (duplicates all sit at the same distance).
        c.partition_point(|&v| v < lo)
    } else {
        j
    }
}

/// Assigns every kept weight to its nearest centroid; returns how many indices changed.
fn assign(data: &[f32], kept: Option<&[bool]>, c: &[f32], indices: &mut [u8]) -> usize {
    let run = |(t, idx): (usize, &mut [u8])| {
        let base = t * PARALLEL_CHUNK;
        let mut changed = 0;
        for (e, slot) in (base..).zip(idx.iter_mut()) {
            if kept.is_some_and(|k| !k[e]) {
                continue;
            }
            let new = nearest(c, data[e]) as u8;
            changed += (new != *slot) as usize;
            *slot = new;
        }
        changed
    };
    if data.len() > PARALLEL_CHUNK && rayon::current_num_threads() > 1 {
        indices.par_chunks_mut(PARALLEL_CHUNK).enumerate().map(run).sum()
    } else {
        indices.chunks_mut(PARALLEL_CHUNK).enumerate().map(run).sum()
    }
}

impl SharedWeights {
    /// Clusters `w` into `2^bits` shared values (linear initialisation, Lloyd iterations until no
    /// assignment changes or `max_iter` centroid updates; `max_iter = 0` gives the linear quantizer:
    /// the evenly spaced grid over `[min, max]` with nearest assignment).
    ///
    /// `mask` (same shape as `w`, zero = pruned) excludes entries from the clustering; they
    /// reconstruct to `0.0`. Errors: `bits` outside `1..=8`, a mask of another shape, a non-finite
    /// kept weight.
    pub fn fit(w: &Tensor, bits: u8, mask: Option<&Tensor>, max_iter: usize) -> Result<Self> {
        if !(1..=8).contains(&bits) {
            return Err(arg_err("kmeans", format!("bits must be in 1..=8, got {bits}")));
        }
        let k = 1usize << bits;
        let wc = contiguous(w);
        let data = wc.as_slice().expect("contiguous");
        let kept: Option<Vec<bool>> = match mask {
            Some(m) if m.shape() != w.shape() => {
                return Err(shape_err("kmeans", w.shape(), m.shape(), "the mask must have the weight's shape"));
            }
            Some(m) => Some(contiguous(m).iter().map(|&v| v != 0.0).collect()),
            None => None,
        };
        let is_kept = |e: usize| kept.as_ref().is_none_or(|k| k[e]);
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for (e, &x) in data.iter().enumerate() {
            if is_kept(e) {
                if !x.is_finite() {
                    return Err(arg_err("kmeans", format!("weight {e} is {x}; k-means needs finite weights")));
                }
                lo = lo.min(x);
                hi = hi.max(x);
            }
        }
        if lo > hi {
            // Nothing to cluster (empty tensor or everything pruned).
            lo = 0.0;
            hi = 0.0;
        }
        let mut codebook: Vec<f32> =
            (0..k)
                .map(|j| {
                    if j + 1 == k {
                        hi
                    } else {
                        (lo as f64 + (hi as f64 - lo as f64) * j as f64 / (k - 1) as f64) as f32
                    }
                })
                .collect();
        let mut indices = vec![0u8; data.len()];
        assign(data, kept.as_deref(), &codebook, &mut indices);
        let (mut iterations, mut converged) = (0, false);
        let (mut sum, mut count, mut cmin, mut cmax) =
            (vec![0.0f64; k], vec![0usize; k], vec![f32::INFINITY; k], vec![f32::NEG_INFINITY; k]);
        while iterations < max_iter {
            sum.fill(0.0);
            count.fill(0);
            cmin.fill(f32::INFINITY);
            cmax.fill(f32::NEG_INFINITY);
            for (e, (&x, &i)) in data.iter().zip(&indices).enumerate() {
                if is_kept(e) {
                    let i = i as usize;
                    sum[i] += x as f64;
                    count[i] += 1;
                    cmin[i] = cmin[i].min(x);
                    cmax[i] = cmax[i].max(x);
                }
            }
            for j in 0..k {
                if count[j] > 0 {
                    // The f64 mean rounded to f32, kept inside the cluster's range against rounding.
                    codebook[j] = ((sum[j] / count[j] as f64) as f32).clamp(cmin[j], cmax[j]);
                }
            }
            if codebook.windows(2).any(|p| p[0] > p[1]) {
                // Only when rounding ties sent a weight past a neighbouring centroid; the next
                // assignment is recomputed from scratch, so reordering is harmless.
                codebook.sort_by(f32::total_cmp);
            }
            iterations += 1;
            if assign(data, kept.as_deref(), &codebook, &mut indices) == 0 {
                converged = true;
                break;
            }
        }
        Ok(Self { shape: w.shape().to_vec(), bits, codebook, indices, kept, iterations, converged })
    }

    /// The dense tensor: `codebook[index]` for kept entries, `0.0` for pruned ones.
    pub fn reconstruct(&self) -> Tensor {
        let data = self
            .indices
            .iter()
            .enumerate()
            .map(|(e, &i)| if self.is_kept(e) { self.codebook[i as usize] } else { 0.0 })
            .collect();
        from_vec(&self.shape, data).expect("shape matches")
    }

    fn is_kept(&self, e: usize) -> bool {
        self.kept.as_ref().is_none_or(|k| k[e])
    }

    /// `dL/dC_k = sum over kept entries with index k of dL/dW` (Deep Compression Eq. 3), summed in f64
    /// in index order; `grad` has the weight's shape.
    pub fn codebook_grad(&self, grad: &Tensor) -> Result<Vec<f32>> {
        if grad.shape() != self.shape.as_slice() {
            return Err(shape_err("codebook_grad", &self.shape, grad.shape(), "gradient must have the weight's shape"));
        }
        let g = contiguous(grad);
        let mut sums = vec![0.0f64; self.codebook.len()];
        for (e, (&gv, &i)) in g.iter().zip(&self.indices).enumerate() {
            if self.is_kept(e) {
                sums[i as usize] += gv as f64;
            }
        }
        Ok(sums.into_iter().map(|s| s as f32).collect())
    }

    /// One gradient step on the centroids, `C_k -= lr dL/dC_k`, with the indices fixed; returns the
    /// centroid gradient. Call [`SharedWeights::reconstruct`] for the updated weights.
    pub fn update_codebook(&mut self, grad: &Tensor, lr: f32) -> Result<Vec<f32>> {
        let g = self.codebook_grad(grad)?;
        for (c, gk) in self.codebook.iter_mut().zip(&g) {
            *c -= lr * gk;
        }
        Ok(g)
    }

    /// Number of kept entries assigned to each centroid (the symbol frequencies for Huffman coding).
    pub fn counts(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.codebook.len()];
        for (e, &i) in self.indices.iter().enumerate() {
            if self.is_kept(e) {
                counts[i as usize] += 1;
            }
        }
        counts
    }

    /// The shape of the weight tensor.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Index width: the codebook has `2^bits` entries.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// The shared values.
    pub fn codebook(&self) -> &[f32] {
        &self.codebook
    }

    /// The codebook index of every entry, row-major (meaningless, and 0, for pruned entries).
    pub fn indices(&self) -> &[u8] {
        &self.indices
    }

    /// Which entries take part (`None`: all of them); pruned entries are `false`.
    pub fn kept(&self) -> Option<&[bool]> {
        self.kept.as_deref()
    }

    /// Number of kept entries.
    pub fn kept_len(&self) -> usize {
        self.kept.as_ref().map_or(self.indices.len(), |k| k.iter().filter(|&&b| b).count())
    }

    /// Centroid updates performed by [`SharedWeights::fit`].
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// Whether the Lloyd iterations stopped because no assignment changed (rather than at `max_iter`).
    pub fn converged(&self) -> bool {
        self.converged
    }
}

/// Clusters the selected parameters of a model: see [`KMeansQuantizer::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KMeansQuantizer {
    /// Index width per weight; `2^bits` shared values per tensor.
    pub bits: u8,
    /// Cap on Lloyd iterations per tensor.
    pub max_iter: usize,
}

impl KMeansQuantizer {
    /// `2^bits` clusters per tensor, at most [`DEFAULT_MAX_ITER`] Lloyd iterations.
    pub fn new(bits: u8) -> Self {
        Self { bits, max_iter: DEFAULT_MAX_ITER }
    }

    /// Clusters every parameter for which `filter(path, param)` holds (per tensor, using the
    /// parameter's pruning mask when it has one), replaces its value by the reconstruction and returns
    /// the codebooks by parameter path. Errors as [`SharedWeights::fit`], naming the parameter.
    pub fn apply(&self, model: &mut dyn Module, filter: impl Fn(&str, &Param) -> bool) -> Result<KMeansState> {
        let mut layers = BTreeMap::new();
        let mut error = None;
        model.visit_params_mut("", &mut |path, p| {
            if error.is_some() || !filter(&path, p) {
                return;
            }
            match SharedWeights::fit(&p.value, self.bits, p.mask.as_ref(), self.max_iter) {
                Ok(s) => {
                    p.value = s.reconstruct();
                    layers.insert(path, s);
                }
                Err(e) => error = Some(arg_err("KMeansQuantizer::apply", format!("`{path}`: {e}"))),
            }
        });
        match error {
            Some(e) => Err(e),
            None => Ok(KMeansState { layers }),
        }
    }
}

/// The codebooks of a model's shared-weight parameters, by parameter path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KMeansState {
    /// Shared weights of each clustered parameter.
    pub layers: BTreeMap<String, SharedWeights>,
}

impl KMeansState {
    /// Fine-tunes the codebooks from the parameters' gradients (left by
    /// [`crate::nn::accumulate_grads`]): for every clustered parameter with a gradient, one centroid
    /// step of learning rate `lr`, the value rewritten as the reconstruction, and the gradient taken
    /// (set to `None`) so that an optimizer stepping afterwards leaves these parameters alone.
    /// Errors when a clustered path is missing from `model` or a gradient has another shape (nothing
    /// is changed then).
    pub fn fine_tune_step(&mut self, model: &mut dyn Module, lr: f32) -> Result<()> {
        self.check(model)?;
        self.step_checked(model, lr);
        Ok(())
    }

    /// Writes every clustered parameter's reconstruction into `model` (after editing a codebook by
    /// hand, or into a fresh copy of the model); errors when a path is missing or has another shape.
    pub fn write_weights(&self, model: &mut dyn Module) -> Result<()> {
        self.check(model)?;
        model.visit_params_mut("", &mut |path, p| {
            if let Some(s) = self.layers.get(&path) {
                p.value = s.reconstruct();
            }
        });
        Ok(())
    }

    /// Checks that every clustered path exists in `model` with its shape, and that gradients present
    /// have it too.
    fn check(&self, model: &mut dyn Module) -> Result<()> {
        let mut error = None;
        let mut seen = 0;
        model.visit_params_mut("", &mut |path, p| {
            let Some(s) = self.layers.get(&path) else { return };
            seen += 1;
            let bad = if p.value.shape() != s.shape() {
                Some(p.value.shape())
            } else {
                p.grad.as_ref().map(|g| g.shape()).filter(|gs| *gs != s.shape())
            };
            if let (Some(shape), None) = (bad, &error) {
                error = Some(shape_err("KMeansState", s.shape(), shape, format!("parameter or gradient of `{path}`")));
            }
        });
        if let Some(e) = error {
            return Err(e);
        }
        if seen != self.layers.len() {
            return Err(arg_err(
                "KMeansState",
                format!("{} clustered paths, {seen} found in the model", self.layers.len()),
            ));
        }
        Ok(())
    }

    /// The step of [`KMeansState::fine_tune_step`], skipping any parameter whose gradient does not fit.
    fn step_checked(&mut self, model: &mut dyn Module, lr: f32) {
        model.visit_params_mut("", &mut |path, p| {
            let Some(s) = self.layers.get_mut(&path) else { return };
            let Some(g) = p.grad.take() else { return };
            if s.update_codebook(&g, lr).is_ok() {
                p.value = s.reconstruct();
            }
        });
    }
}

/// An [`Optimizer`] for fine-tuning a shared-weight model: each step first takes centroid steps for
/// the clustered parameters (learning rate `lr * codebook_lr_scale`; see
/// [`KMeansState::fine_tune_step`], which consumes their gradients), then runs `inner` on the rest.
///
/// A clustered path missing from the model, or a gradient of another shape, is skipped here (an
/// `Optimizer` step cannot fail); call [`KMeansState::fine_tune_step`] directly to get those as errors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodebookFineTune<O> {
    /// The codebooks.
    pub state: KMeansState,
    /// The optimizer of the parameters that are not clustered.
    pub inner: O,
    /// Multiplies the learning rate for the centroid steps (a centroid's gradient sums over all its
    /// weights, so it is typically much larger than one weight's).
    pub codebook_lr_scale: f32,
}

impl<O> CodebookFineTune<O> {
    /// Centroid steps at the optimizer's learning rate (`codebook_lr_scale = 1`).
    pub fn new(state: KMeansState, inner: O) -> Self {
        Self { state, inner, codebook_lr_scale: 1.0 }
    }
}

impl<O: Optimizer> Optimizer for CodebookFineTune<O> {
    fn step(&mut self, model: &mut dyn Module, lr: f32) {
        self.state.step_checked(model, lr * self.codebook_lr_scale);
        self.inner.step(model, lr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_breaks_ties_downwards_and_skips_duplicates() {
        let c = [-1.0, 0.0, 0.0, 1.0];
        assert_eq!(nearest(&c, -5.0), 0);
        assert_eq!(nearest(&c, -0.5), 0); // tie between -1 and 0
        assert_eq!(nearest(&c, 0.2), 1); // the first of the two zeros
        assert_eq!(nearest(&c, 0.0), 1);
        assert_eq!(nearest(&c, 0.7), 3);
        assert_eq!(nearest(&c, 9.0), 3);
        assert_eq!(nearest(&[2.0, 2.0], 3.0), 0);
    }

    #[test]
    fn two_well_separated_groups_converge_to_their_means() {
        let w = from_vec(&[6], vec![1.0, 2.0, 3.0, 10.0, 11.0, 12.0]).unwrap();
        let s = SharedWeights::fit(&w, 1, None, 10).unwrap();
        assert!(s.converged());
        assert_eq!(s.codebook(), &[2.0, 11.0]);
        assert_eq!(s.indices(), &[0, 0, 0, 1, 1, 1]);
    }
}
