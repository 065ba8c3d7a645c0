//! Normalisation: batch normalisation (train and eval modes, PyTorch's running-statistics update) and
//! layer normalisation over the last axis.

use crate::autograd::{Op, Var};
use crate::error::{Result, arg_err, shape_err};
use crate::tensor::{Tensor, contiguous};
use ndarray::IxDyn;

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
    /// Normalised input.
    xhat: Tensor,
    /// `1/sqrt(var + eps)` per channel (batch variance in training, running variance in eval).
    inv_std: Vec<f32>,
    train: bool,
    channels: usize,
    inner: usize,
}

impl BatchNorm {
    /// Visits every element as (channel, flat index).
    fn for_each_channel(n: usize, c: usize, inner: usize, mut f: impl FnMut(usize, usize)) {
        for i in 0..n {
            for ch in 0..c {
                for s in 0..inner {
                    f(ch, (i * c + ch) * inner + s);
                }
            }
        }
    }
}

impl Op for BatchNorm {
    fn name(&self) -> &'static str {
        "batch_norm"
    }
    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let gamma: Vec<f32> = inputs[1].iter().copied().collect();
        let (c, inner) = (self.channels, self.inner);
        let n = inputs[0].len() / (c * inner).max(1);
        let dy = contiguous(grad);
        let dys = dy.as_slice().unwrap();
        let xhat = self.xhat.as_slice().unwrap();
        let (mut dgamma, mut dbeta) = (vec![0.0f64; c], vec![0.0f64; c]);
        Self::for_each_channel(n, c, inner, |ch, i| {
            dgamma[ch] += (dys[i] * xhat[i]) as f64;
            dbeta[ch] += dys[i] as f64;
        });
        let count = (n * inner) as f32;
        let mut dx = vec![0.0f32; dys.len()];
        Self::for_each_channel(n, c, inner, |ch, i| {
            let scale = gamma[ch] * self.inv_std[ch];
            dx[i] = if self.train {
                // dx = gamma/sqrt(var+eps) * (dy - mean(dy) - xhat * mean(dy * xhat))
                scale * (dys[i] - dbeta[ch] as f32 / count - xhat[i] * dgamma[ch] as f32 / count)
            } else {
                scale * dys[i]
            };
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
        let (mut sum, mut sq) = (vec![0.0f64; c], vec![0.0f64; c]);
        BatchNorm::for_each_channel(n, c, inner, |ch, i| sum[ch] += xs[i] as f64);
        let mean: Vec<f64> = sum.iter().map(|v| v / count as f64).collect();
        BatchNorm::for_each_channel(n, c, inner, |ch, i| sq[ch] += (xs[i] as f64 - mean[ch]).powi(2));
        let var: Vec<f64> = sq.iter().map(|v| v / count as f64).collect();
        let m = stats.momentum;
        for ch in 0..c {
            stats.mean[ch] = (1.0 - m) * stats.mean[ch] + m * mean[ch] as f32;
            let unbiased = var[ch] * count as f64 / (count - 1) as f64;
            stats.var[ch] = (1.0 - m) * stats.var[ch] + m * unbiased as f32;
        }
        (mean.iter().map(|&v| v as f32).collect(), var.iter().map(|&v| v as f32).collect())
    } else {
        (stats.mean.clone(), stats.var.clone())
    };
    let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + stats.eps).sqrt()).collect();
    let (g, b) = (gamma.value(), beta.value());
    let (g, b): (Vec<f32>, Vec<f32>) = (g.iter().copied().collect(), b.iter().copied().collect());
    let mut xhat = vec![0.0f32; xs.len()];
    let mut y = vec![0.0f32; xs.len()];
    BatchNorm::for_each_channel(n, c, inner, |ch, i| {
        xhat[i] = (xs[i] - mean[ch]) * inv_std[ch];
        y[i] = g[ch] * xhat[i] + b[ch];
    });
    let op = BatchNorm {
        xhat: Tensor::from_shape_vec(IxDyn(&[xs.len()]), xhat).expect("flat"),
        inv_std,
        train,
        channels: c,
        inner,
    };
    Ok(Var::from_op(op, &[x, gamma, beta], Tensor::from_shape_vec(IxDyn(s), y).expect("shape")))
}

#[derive(Debug)]
struct LayerNorm {
    xhat: Vec<f32>,
    inv_std: Vec<f32>,
    d: usize,
}

impl Op for LayerNorm {
    fn name(&self) -> &'static str {
        "layer_norm"
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
    Ok(Var::from_op(LayerNorm { xhat, inv_std, d }, &[x, gamma, beta], value))
}
