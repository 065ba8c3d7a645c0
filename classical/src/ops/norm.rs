//! Normalisation: batch normalisation (train and eval modes, PyTorch's running-statistics update) and
//! layer normalisation over the last axis.

use crate::autograd::{Op, Var};
use crate::error::{Result, arg_err, shape_err};
use crate::tensor::{Tensor, contiguous};
use ndarray::IxDyn;
use rayon::prelude::*;

/// Running statistics of a batch-norm layer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchNormStats {
    /// Running mean per channel.
    pub mean: Vec<f32>,
    /// Running (unbiased) variance per channel.
    pub var: Vec<f32>,
    /// Weight of the new batch in the update `r <- (1 - m) r + m batch` (PyTorch's `momentum`, 0.1).
    pub momentum: f32,
    /// Added to the variance before the square root.
    pub eps: f32,
}

impl BatchNormStats {
    /// Mean 0, variance 1 for `channels` channels, PyTorch's defaults (momentum 0.1, eps 1e-5).
    pub fn new(channels: usize) -> Self {
        Self { mean: vec![0.0; channels], var: vec![1.0; channels], momentum: 0.1, eps: 1e-5 }
    }
}

#[derive(Debug)]
struct BatchNorm {
    /// The mean each channel was centred with (batch mean in training, running mean in eval); the
    /// backward pass recomputes `x̂ = (x - mean) * inv_std` from the input instead of storing it.
    mean: Vec<f32>,
    /// `1/sqrt(var + eps)` per channel (batch variance in training, running variance in eval).
    inv_std: Vec<f32>,
    train: bool,
    channels: usize,
    inner: usize,
    /// The variance the channels were scaled with and `eps` (for the model graph).
    var: Vec<f32>,
    eps: f32,
}

impl BatchNorm {
    /// Per channel, the `S` f64 sums over the channel's `n` contiguous runs of `inner` values of
    /// `lane_sums(a_run, b_run, f)`, channels in parallel: a fixed order of additions (f32 within a
    /// run, f64 across runs), so the same bits at any thread count. Several sums share one pass.
    fn channel_sums<const S: usize>(
        a: &[f32],
        b: &[f32],
        (n, c, inner): (usize, usize, usize),
        f: impl Fn(usize, f32, f32) -> [f32; S] + Sync,
    ) -> Vec<[f64; S]> {
        let channel = |ch: usize| {
            let mut total = [0.0f64; S];
            for i in 0..n {
                let run = (i * c + ch) * inner..(i * c + ch + 1) * inner;
                let sums = lane_sums(&a[run.clone()], &b[run], |x, y| f(ch, x, y));
                total.iter_mut().zip(sums).for_each(|(t, s)| *t += s as f64);
            }
            total
        };
        if a.len() >= PARALLEL_MIN_LEN {
            (0..c).into_par_iter().map(channel).collect()
        } else {
            (0..c).map(channel).collect()
        }
    }

    /// Applies `f(channel, in_run, out_run)` to every run of `inner` values, samples in parallel.
    fn map_runs(out: &mut [f32], c: usize, inner: usize, f: impl Fn(usize, usize, &mut [f32]) + Sync) {
        let per_sample = (c * inner).max(1);
        let sample = |(i, sample): (usize, &mut [f32])| {
            for (ch, run) in sample.chunks_mut(inner.max(1)).enumerate() {
                f(ch, (i * c + ch) * inner, run);
            }
        };
        if out.len() >= PARALLEL_MIN_LEN {
            out.par_chunks_mut(per_sample).enumerate().for_each(sample);
        } else {
            out.chunks_mut(per_sample).enumerate().for_each(sample);
        }
    }
}

/// Tensors at least this long are normalised with rayon (each output still has one fixed order of
/// operations).
const PARALLEL_MIN_LEN: usize = 1 << 15;

/// The `S` sums `Σ f(a[k], b[k])[s]`, each in 8 interleaved f32 lanes: vectorisable, with a fixed order.
#[inline(always)]
fn lane_sums<const S: usize>(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> [f32; S]) -> [f32; S] {
    let mut lanes = [[0.0f32; 8]; S];
    let whole = a.len() - a.len() % 8;
    for (ca, cb) in a[..whole].chunks_exact(8).zip(b[..whole].chunks_exact(8)) {
        for j in 0..8 {
            let v = f(ca[j], cb[j]);
            for s in 0..S {
                lanes[s][j] += v[s];
            }
        }
    }
    for (j, (&x, &y)) in a[whole..].iter().zip(&b[whole..]).enumerate() {
        let v = f(x, y);
        for s in 0..S {
            lanes[s][j] += v[s];
        }
    }
    lanes.map(|l| l.iter().sum())
}

impl Op for BatchNorm {
    fn name(&self) -> &'static str {
        "batch_norm"
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::BatchNorm { mean: self.mean.clone(), var: self.var.clone(), eps: self.eps })
    }
    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let gamma: Vec<f32> = inputs[1].iter().copied().collect();
        let (c, inner) = (self.channels, self.inner);
        let n = inputs[0].len() / (c * inner).max(1);
        let dy = contiguous(grad);
        let dys = dy.as_slice().unwrap();
        let x = contiguous(inputs[0]);
        let xs = x.as_slice().expect("standard layout");
        let (mean, inv_std) = (&self.mean, &self.inv_std);
        // Σ dy = dβ and Σ dy·x̂ = dγ per channel, in one pass.
        let sums = Self::channel_sums(dys, xs, (n, c, inner), |ch, d, v| [d, d * ((v - mean[ch]) * inv_std[ch])]);
        let (dbeta, dgamma): (Vec<f64>, Vec<f64>) = sums.into_iter().map(|[b, g]| (b, g)).unzip();
        let count = (n * inner) as f32;
        let mut dx = vec![0.0f32; dys.len()];
        Self::map_runs(&mut dx, c, inner, |ch, start, out| {
            let scale = gamma[ch] * self.inv_std[ch];
            let (dy_run, x_run) = (&dys[start..start + out.len()], &xs[start..start + out.len()]);
            if self.train {
                // dx = gamma/sqrt(var+eps) * (dy - mean(dy) - xhat * mean(dy * xhat))
                let (mean_dy, mean_dyx) = (dbeta[ch] as f32 / count, dgamma[ch] as f32 / count);
                let (m, inv) = (mean[ch], inv_std[ch]);
                for ((o, &d), &v) in out.iter_mut().zip(dy_run).zip(x_run) {
                    *o = scale * (d - mean_dy - ((v - m) * inv) * mean_dyx);
                }
            } else {
                for (o, &d) in out.iter_mut().zip(dy_run) {
                    *o = scale * d;
                }
            }
        });
        let to =
            |v: Vec<f64>| Tensor::from_shape_vec(IxDyn(&[c]), v.into_iter().map(|x| x as f32).collect()).expect("c");
        Ok(vec![
            Some(Tensor::from_shape_vec(inputs[0].raw_dim(), dx).expect("shape")),
            Some(to(dgamma)),
            Some(to(dbeta)),
        ])
    }
}

/// Batch normalisation of `x` `(N, C)` or `(N, C, H, W)` per channel, scaled by `gamma` and shifted by
/// `beta` (both `(C)`). In training it normalises by the batch statistics (biased variance) and
/// updates `stats` with the unbiased variance, as PyTorch does; in eval it uses `stats`.
pub fn batch_norm(x: &Var, gamma: &Var, beta: &Var, stats: &mut BatchNormStats, train: bool) -> Result<Var> {
    let s = x.shape();
    if s.len() != 2 && s.len() != 4 {
        return Err(arg_err("batch_norm", format!("input must be (N, C) or (N, C, H, W), got {s:?}")));
    }
    let c = s[1];
    for (what, p) in [("gamma", gamma), ("beta", beta)] {
        if p.shape() != [c] {
            return Err(shape_err("batch_norm", s, p.shape(), format!("{what} needs one entry per channel")));
        }
    }
    if stats.mean.len() != c || stats.var.len() != c {
        return Err(shape_err("batch_norm", s, &[stats.mean.len()], "running statistics have another channel count"));
    }
    let inner: usize = s[2..].iter().product();
    let n = s[0];
    let count = n * inner;
    if train && count < 2 {
        return Err(arg_err("batch_norm", format!("training needs more than one value per channel, got shape {s:?}")));
    }
    let xc = contiguous(x.value());
    let xs = xc.as_slice().unwrap();
    let (mean, var): (Vec<f32>, Vec<f32>) = if train {
        // Two passes (mean, then squared deviations from it) for accuracy on data far from zero.
        let mean: Vec<f64> =
            BatchNorm::channel_sums(xs, xs, (n, c, inner), |_, v, _| [v]).iter().map(|[s]| s / count as f64).collect();
        let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        let var: Vec<f64> =
            BatchNorm::channel_sums(xs, xs, (n, c, inner), |ch, v, _| [(v - mean32[ch]) * (v - mean32[ch])])
                .iter()
                .map(|[s]| s / count as f64)
                .collect();
        let m = stats.momentum;
        for ch in 0..c {
            stats.mean[ch] = (1.0 - m) * stats.mean[ch] + m * mean[ch] as f32;
            let unbiased = var[ch] * count as f64 / (count - 1) as f64;
            stats.var[ch] = (1.0 - m) * stats.var[ch] + m * unbiased as f32;
        }
        (mean32, var.iter().map(|&v| v as f32).collect())
    } else {
        (stats.mean.clone(), stats.var.clone())
    };
    let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + stats.eps).sqrt()).collect();
    let eps = stats.eps;
    let (g, b): (Vec<f32>, Vec<f32>) =
        (gamma.value().iter().copied().collect(), beta.value().iter().copied().collect());
    let mut y = vec![0.0f32; xs.len()];
    BatchNorm::map_runs(&mut y, c, inner, |ch, start, out| {
        let (m, inv) = (mean[ch], inv_std[ch]);
        for (o, &v) in out.iter_mut().zip(&xs[start..start + inner]) {
            *o = g[ch] * ((v - m) * inv) + b[ch];
        }
    });
    let op = BatchNorm { mean, inv_std, train, channels: c, inner, var, eps };
    Ok(Var::from_op(op, &[x, gamma, beta], Tensor::from_shape_vec(IxDyn(s), y).expect("shape")))
}

#[derive(Debug)]
struct LayerNorm {
    xhat: Vec<f32>,
    inv_std: Vec<f32>,
    d: usize,
    eps: f32,
}

impl Op for LayerNorm {
    fn name(&self) -> &'static str {
        "layer_norm"
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::LayerNorm { eps: self.eps })
    }
    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let d = self.d;
        let gamma: Vec<f32> = inputs[1].iter().copied().collect();
        let dy = contiguous(grad);
        let dys = dy.as_slice().unwrap();
        let (mut dgamma, mut dbeta) = (vec![0.0f32; d], vec![0.0f32; d]);
        let mut dx = vec![0.0f32; dys.len()];
        for (r, inv) in self.inv_std.iter().enumerate() {
            let row = r * d..(r + 1) * d;
            let (xh, dyr) = (&self.xhat[row.clone()], &dys[row.clone()]);
            let (mut s1, mut s2) = (0.0f32, 0.0f32);
            for j in 0..d {
                let dxh = dyr[j] * gamma[j];
                s1 += dxh;
                s2 += dxh * xh[j];
                dgamma[j] += dyr[j] * xh[j];
                dbeta[j] += dyr[j];
            }
            for j in 0..d {
                let dxh = dyr[j] * gamma[j];
                dx[r * d + j] = inv * (dxh - s1 / d as f32 - xh[j] * s2 / d as f32);
            }
        }
        let vec1 = |v: Vec<f32>| Tensor::from_shape_vec(IxDyn(&[d]), v).expect("d");
        Ok(vec![
            Some(Tensor::from_shape_vec(inputs[0].raw_dim(), dx).expect("shape")),
            Some(vec1(dgamma)),
            Some(vec1(dbeta)),
        ])
    }
}

/// Layer normalisation over the last axis with `gamma`, `beta` of that axis's length.
pub fn layer_norm(x: &Var, gamma: &Var, beta: &Var, eps: f32) -> Result<Var> {
    let d = *x.shape().last().ok_or_else(|| arg_err("layer_norm", "needs at least one dimension"))?;
    for (what, p) in [("gamma", gamma), ("beta", beta)] {
        if p.shape() != [d] {
            return Err(shape_err("layer_norm", x.shape(), p.shape(), format!("{what} must match the last axis")));
        }
    }
    let xc = contiguous(x.value());
    let xs = xc.as_slice().unwrap();
    let (g, b): (Vec<f32>, Vec<f32>) =
        (gamma.value().iter().copied().collect(), beta.value().iter().copied().collect());
    let rows = xs.len() / d.max(1);
    let (mut xhat, mut y, mut inv_std) = (vec![0.0f32; xs.len()], vec![0.0f32; xs.len()], Vec::with_capacity(rows));
    for r in 0..rows {
        let row = &xs[r * d..(r + 1) * d];
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / d as f64;
        let inv = 1.0 / ((var as f32) + eps).sqrt();
        inv_std.push(inv);
        for j in 0..d {
            xhat[r * d + j] = (row[j] - mean as f32) * inv;
            y[r * d + j] = g[j] * xhat[r * d + j] + b[j];
        }
    }
    let value = Tensor::from_shape_vec(IxDyn(x.shape()), y).expect("shape");
    Ok(Var::from_op(LayerNorm { xhat, inv_std, d, eps }, &[x, gamma, beta], value))
}
