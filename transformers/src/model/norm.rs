//! The two normalisations of a decoder: layer norm (classical's op) and RMS norm (Zhang & Sennrich
//! 2019, "Root mean square layer normalization"), an op with a hand-written backward.

use super::config::NormKind;
use crate::PARALLEL_MIN_LEN;
use ndarray::IxDyn;
use rayon::prelude::*;
use tinylab_classical::autograd::{Op, Var};
use tinylab_classical::error::{arg_err, shape_err};
use tinylab_classical::nn::{Ctx, Param, join};
use tinylab_classical::tensor::{contiguous, ones, zeros};
use tinylab_classical::{Result, Tensor, ops};

/// The tape record of [`rms_norm`]: the per-row `1 / rms`.
#[derive(Debug)]
struct RmsNorm {
    inv_rms: Vec<f32>,
    d: usize,
}

/// `y = x / sqrt(mean(x^2) + eps) * weight` over the last axis (`weight` has that axis's length):
/// RMS norm, differentiable in `x` and `weight`.
pub fn rms_norm(x: &Var, weight: &Var, eps: f32) -> Result<Var> {
    let d = *x.shape().last().ok_or_else(|| arg_err("rms_norm", "needs at least one dimension"))?;
    if weight.shape() != [d] {
        return Err(shape_err("rms_norm", x.shape(), weight.shape(), "the weight must match the last axis"));
    }
    let xc = contiguous(x.value());
    let xs = xc.as_slice().expect("contiguous");
    let wc = contiguous(weight.value());
    let w = wc.as_slice().expect("contiguous");
    let rows = xs.len() / d.max(1);
    let mut inv_rms = vec![0f32; rows];
    let mut y = vec![0f32; xs.len()];
    let row = |(r, (yr, inv)): (usize, (&mut [f32], &mut f32))| {
        let xr = &xs[r * d..][..d];
        let ms = xr.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / d as f64;
        *inv = 1.0 / ((ms as f32) + eps).sqrt();
        for ((o, &v), &g) in yr.iter_mut().zip(xr).zip(w) {
            *o = v * *inv * g;
        }
    };
    if d > 0 {
        if xs.len() >= PARALLEL_MIN_LEN {
            y.par_chunks_mut(d).zip(inv_rms.par_iter_mut()).enumerate().for_each(row);
        } else {
            y.chunks_mut(d).zip(inv_rms.iter_mut()).enumerate().for_each(row);
        }
    }
    let value = Tensor::from_shape_vec(IxDyn(x.shape()), y).expect("shape");
    Ok(Var::from_op(RmsNorm { inv_rms, d }, &[x, weight], value))
}

impl Op for RmsNorm {
    fn name(&self) -> &'static str {
        "rms_norm"
    }

    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let d = self.d;
        let (xc, wc, gc) = (contiguous(inputs[0]), contiguous(inputs[1]), contiguous(grad));
        let (xs, w, gs) = (
            xc.as_slice().expect("contiguous"),
            wc.as_slice().expect("contiguous"),
            gc.as_slice().expect("contiguous"),
        );
        let mut dx = vec![0f32; xs.len()];
        // With n = x * r (r = 1/rms): dx = r (g w - n mean(g w n)).
        let row = |(r, dxr): (usize, &mut [f32])| {
            let (xr, gr, inv) = (&xs[r * d..][..d], &gs[r * d..][..d], self.inv_rms[r]);
            let dot: f32 = xr.iter().zip(gr).zip(w).map(|((&x, &g), &wj)| g * wj * x * inv).sum();
            let mean = dot / d as f32;
            for (((o, &x), &g), &wj) in dxr.iter_mut().zip(xr).zip(gr).zip(w) {
                *o = inv * (g * wj - x * inv * mean);
            }
        };
        let mut dw = vec![0f32; d];
        if d > 0 {
            if xs.len() >= PARALLEL_MIN_LEN {
                dx.par_chunks_mut(d).enumerate().for_each(row);
            } else {
                dx.chunks_mut(d).enumerate().for_each(row);
            }
            // Rows in order: the same sums whatever the thread count.
            for (r, inv) in self.inv_rms.iter().enumerate() {
                for ((acc, &x), &g) in dw.iter_mut().zip(&xs[r * d..][..d]).zip(&gs[r * d..][..d]) {
                    *acc += g * x * inv;
                }
            }
        }
        Ok(vec![
            Some(Tensor::from_shape_vec(inputs[0].raw_dim(), dx).expect("shape")),
            Some(Tensor::from_shape_vec(IxDyn(&[d]), dw).expect("d")),
        ])
    }
}

/// A normalisation layer over the last axis with its parameters (`weight`, and `bias` for a layer
/// norm with biases), as PyTorch's `nn.LayerNorm` / `nn.RMSNorm` name them.
#[derive(Debug, Clone)]
pub struct Norm {
    /// Which normalisation.
    pub kind: NormKind,
    /// The scale, initialised to 1.
    pub weight: Param,
    /// The shift of a layer norm with biases, initialised to 0.
    pub bias: Option<Param>,
    /// Added to the variance or mean square.
    pub eps: f32,
}

impl Norm {
    /// A fresh layer over `d` channels (`bias` only applies to a layer norm).
    pub fn new(kind: NormKind, d: usize, bias: bool, eps: f32) -> Self {
        let bias = (bias && kind == NormKind::LayerNorm).then(|| Param::new("bias", zeros(&[d])));
        Self { kind, weight: Param::new("weight", ones(&[d])), bias, eps }
    }

    /// The normalised `x` (`[rows, d]` or any shape ending in `d`).
    pub fn forward(&self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let w = ctx.param(&self.weight);
        match self.kind {
            NormKind::RmsNorm => rms_norm(x, &w, self.eps),
            NormKind::LayerNorm => {
                let b = match &self.bias {
                    Some(b) => ctx.param(b),
                    None => Var::constant(zeros(w.shape())),
                };
                ops::layer_norm(x, &w, &b, self.eps)
            }
        }
    }

    /// Calls `f` with the path and value of each parameter.
    pub fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        f(join(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            f(join(prefix, "bias"), b);
        }
    }

    /// Calls `f` with the path and a mutable reference of each parameter.
    pub fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        f(join(prefix, "weight"), &mut self.weight);
        if let Some(b) = &mut self.bias {
            f(join(prefix, "bias"), b);
        }
    }
}
