//! The short-range branch of Lite Transformer's long-short range attention (Wu et al. 2020, "Lite
//! Transformer with long-short range attention"): a depthwise causal 1-d convolution over tokens
//! followed by a linear projection, on half of a block's channels while attention takes the other
//! half ([`super::block::Block`]). (Lite Transformer gates the convolution's input with a GLU and
//! may use a dynamic kernel; this keeps the plain depthwise kernel.)
//!
//! The convolution is an op with a hand-written backward. Output `y[b, t, c] = bias[c] + sum_j
//! w[c, j] x[b, t - (K - 1) + j, c]` (PyTorch's `Conv1d(C, C, K, groups = C, padding = K - 1)` with the
//! right end trimmed); inputs before the first token come from a history (zeros for a fresh sequence,
//! the last `K - 1` inputs of earlier tokens when decoding with a cache).

use super::attn::Step;
use super::init::{Init, linear};
use ndarray::IxDyn;
use rayon::prelude::*;
use tinylab_classical::autograd::{Op, Var};
use tinylab_classical::error::{arg_err, shape_err};
use tinylab_classical::nn::{Ctx, Linear, Module, Param, join};
use tinylab_classical::tensor::{contiguous, randn, zeros};
use tinylab_classical::{Result, Tensor};

/// The tape record of [`causal_depthwise_conv`].
#[derive(Debug)]
struct CausalDepthwise {
    batch: usize,
    tokens: usize,
    channels: usize,
    kernel: usize,
    /// `[batch, kernel - 1, channels]`: the inputs before token 0.
    history: Vec<f32>,
    has_bias: bool,
}

impl CausalDepthwise {
    /// Input `x[b, t + j - (K - 1), c]`: from the history when the index falls before token 0.
    #[inline]
    fn input(&self, xs: &[f32], b: usize, t: usize, j: usize, c: usize) -> f32 {
        let (k1, ch) = (self.kernel - 1, self.channels);
        if t + j >= k1 { xs[(b * self.tokens + t + j - k1) * ch + c] } else { self.history[(b * k1 + t + j) * ch + c] }
    }
}

/// The depthwise causal convolution of `x` `[batch * tokens, channels]` (sequence-major rows) with
/// `weight` `[channels, 1, kernel]` and an optional `bias` `[channels]`; `history` `[batch, kernel - 1,
/// channels]` holds the inputs before token 0 (no gradient flows into it). Differentiable in `x`,
/// `weight` and `bias`.
pub fn causal_depthwise_conv(x: &Var, weight: &Var, bias: Option<&Var>, batch: usize, history: &[f32]) -> Result<Var> {
    let (xs, ws) = (x.shape(), weight.shape());
    if xs.len() != 2 || ws.len() != 3 || ws[1] != 1 || ws[0] != xs[1] || ws[2] == 0 {
        return Err(shape_err("causal_conv", xs, ws, "needs x [rows, channels] and weight [channels, 1, kernel]"));
    }
    if batch == 0 || !xs[0].is_multiple_of(batch) {
        return Err(arg_err("causal_conv", format!("{} rows do not split into {batch} sequences", xs[0])));
    }
    let (channels, kernel) = (ws[0], ws[2]);
    if history.len() != batch * (kernel - 1) * channels {
        return Err(shape_err(
            "causal_conv",
            &[history.len()],
            &[batch, kernel - 1, channels],
            "the history must be [batch, kernel - 1, channels]",
        ));
    }
    if let Some(b) = bias
        && b.shape() != [channels]
    {
        return Err(shape_err("causal_conv", ws, b.shape(), "one bias per channel"));
    }
    let op = CausalDepthwise {
        batch,
        tokens: xs[0] / batch,
        channels,
        kernel,
        history: history.to_vec(),
        has_bias: bias.is_some(),
    };
    let (xc, wc) = (contiguous(x.value()), contiguous(weight.value()));
    let (xv, w) = (xc.as_slice().expect("contiguous"), wc.as_slice().expect("contiguous"));
    let bv: Vec<f32> = bias.map(|b| b.value().iter().copied().collect()).unwrap_or_else(|| vec![0.0; channels]);
    let mut y = vec![0f32; xv.len()];
    y.par_chunks_mut(channels.max(1)).enumerate().for_each(|(row, yr)| {
        let (b, t) = (row / op.tokens, row % op.tokens);
        for (c, o) in yr.iter_mut().enumerate() {
            let mut acc = bv[c];
            for j in 0..kernel {
                acc += w[c * kernel + j] * op.input(xv, b, t, j, c);
            }
            *o = acc;
        }
    });
    let value = Tensor::from_shape_vec(IxDyn(xs), y).expect("shape");
    let inputs: Vec<&Var> = std::iter::once(x).chain(std::iter::once(weight)).chain(bias).collect();
    Ok(Var::from_op(op, &inputs, value))
}

impl Op for CausalDepthwise {
    fn name(&self) -> &'static str {
        "causal_conv"
    }

    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (ch, k, k1) = (self.channels, self.kernel, self.kernel - 1);
        let (xc, wc, gc) = (contiguous(inputs[0]), contiguous(inputs[1]), contiguous(grad));
        let (xs, w, g) = (
            xc.as_slice().expect("contiguous"),
            wc.as_slice().expect("contiguous"),
            gc.as_slice().expect("contiguous"),
        );
        // dx[b, s, c] = sum_j w[c, j] g[b, s + (K - 1) - j, c] over the outputs before the sequence end.
        let mut dx = vec![0f32; xs.len()];
        dx.par_chunks_mut(ch.max(1)).enumerate().for_each(|(row, dr)| {
            let (b, s) = (row / self.tokens, row % self.tokens);
            for (c, o) in dr.iter_mut().enumerate() {
                let mut acc = 0f32;
                for j in 0..k {
                    let t = s + k1 - j;
                    if t < self.tokens {
                        acc += w[c * k + j] * g[(b * self.tokens + t) * ch + c];
                    }
                }
                *o = acc;
            }
        });
        // dw[c, j] = sum_{b, t} g[b, t, c] x[b, t + j - (K - 1), c], rows in order per channel.
        let mut dw = vec![0f32; ch * k];
        dw.par_chunks_mut(k.max(1)).enumerate().for_each(|(c, dwc)| {
            for (j, o) in dwc.iter_mut().enumerate() {
                let mut acc = 0f32;
                for b in 0..self.batch {
                    for t in 0..self.tokens {
                        acc += g[(b * self.tokens + t) * ch + c] * self.input(xs, b, t, j, c);
                    }
                }
                *o = acc;
            }
        });
        let mut grads = vec![
            Some(Tensor::from_shape_vec(inputs[0].raw_dim(), dx).expect("shape")),
            Some(Tensor::from_shape_vec(IxDyn(&[ch, 1, k]), dw).expect("shape")),
        ];
        if self.has_bias {
            let mut db = vec![0f32; ch];
            for row in g.chunks(ch.max(1)) {
                db.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
            }
            grads.push(Some(Tensor::from_shape_vec(IxDyn(&[ch]), db).expect("shape")));
        }
        Ok(grads)
    }
}

/// LSRA's short-range branch: the depthwise causal convolution (`weight` `[C, 1, K]`, `bias`), then
/// `out_proj` `[C, C]`.
#[derive(Debug, Clone)]
pub struct CausalConv {
    /// `[channels, 1, kernel]`, PyTorch's depthwise `Conv1d` layout.
    pub weight: Param,
    /// `[channels]`, if used.
    pub bias: Option<Param>,
    /// The projection after the convolution.
    pub out_proj: Linear,
}

impl CausalConv {
    /// A freshly initialised branch over `channels` channels with `kernel` taps (weights
    /// `N(0, 1/kernel)`, so a tap-average starts near unit gain).
    pub fn new(channels: usize, kernel: usize, bias: bool, init: &mut Init) -> Self {
        let weight = Param::new("weight", randn(&[channels, 1, kernel], 1.0 / (kernel as f32).sqrt(), &mut init.rng));
        Self {
            weight,
            bias: bias.then(|| Param::new("bias", zeros(&[channels]))),
            out_proj: linear(channels, channels, bias, init.residual_std, init),
        }
    }

    /// Taps of the convolution.
    pub fn kernel(&self) -> usize {
        self.weight.value.shape()[2]
    }

    /// The branch output for `x` `[batch * tokens, channels]`; with a cache, the history comes from
    /// and goes back to `step.history`.
    pub fn forward(&mut self, x: &Var, step: &mut Step, ctx: &mut Ctx) -> Result<Var> {
        let (k1, ch) = (self.kernel() - 1, x.shape()[1]);
        let fresh = vec![0f32; step.batch * k1 * ch];
        let history = match step.history.as_deref() {
            Some(h) if !h.is_empty() => h.to_vec(),
            _ => fresh,
        };
        let (w, b) = (ctx.param(&self.weight), self.bias.as_ref().map(|b| ctx.param(b)));
        let y = causal_depthwise_conv(x, &w, b.as_ref(), step.batch, &history)?;
        if let Some(h) = step.history.as_deref_mut() {
            *h = next_history(&history, x.value(), step.batch, k1, ch);
        }
        super::decode::project(&mut self.out_proj, &y, ctx)
    }

    /// Calls `f` with the path and value of each parameter.
    pub fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        f(join(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            f(join(prefix, "bias"), b);
        }
        self.out_proj.visit_params(&join(prefix, "out_proj"), f);
    }

    /// Calls `f` with the path and a mutable reference of each parameter.
    pub fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        f(join(prefix, "weight"), &mut self.weight);
        if let Some(b) = &mut self.bias {
            f(join(prefix, "bias"), b);
        }
        self.out_proj.visit_params_mut(&join(prefix, "out_proj"), f);
    }
}

/// The last `k1` inputs of each sequence after `x` `[batch * tokens, ch]` follows `history`.
fn next_history(history: &[f32], x: &Tensor, batch: usize, k1: usize, ch: usize) -> Vec<f32> {
    let xc = contiguous(x);
    let xs = xc.as_slice().expect("contiguous");
    let tokens = xs.len() / (batch * ch).max(1);
    let mut out = Vec::with_capacity(batch * k1 * ch);
    for b in 0..batch {
        // The sequence history ++ x, of length k1 + tokens; keep its last k1 rows.
        for r in tokens..tokens + k1 {
            let row =
                if r >= k1 { &xs[(b * tokens + r - k1) * ch..][..ch] } else { &history[(b * k1 + r) * ch..][..ch] };
            out.extend_from_slice(row);
        }
    }
    out
}
