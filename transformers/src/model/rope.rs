//! Rotary position embeddings (Su et al. 2021, "RoFormer"), as an op with a hand-written backward.
//!
//! The rotate-half convention of Llama and Hugging Face: channel `i < D/2` is paired with channel
//! `i + D/2`, and the pair at position `p` is rotated by the angle `p * base^(-2i/D)`:
//! `y_i = x_i cos - x_{i+D/2} sin`, `y_{i+D/2} = x_{i+D/2} cos + x_i sin`. A rotation is orthogonal, so
//! the backward pass is the rotation by the opposite angle. Positions start at an offset, so that
//! the new tokens of a KV-cached step are rotated for where they sit in the sequence.

use ndarray::IxDyn;
use rayon::prelude::*;
use tinylab_classical::autograd::{Op, Var};
use tinylab_classical::error::shape_err;
use tinylab_classical::tensor::contiguous;
use tinylab_classical::{Result, Tensor};

/// `cos` and `sin` of every (position, frequency) pair: `[tokens, D/2]` each, computed in f64.
#[derive(Debug, Clone)]
struct Table {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
}

impl Table {
    fn new(tokens: usize, offset: usize, head_dim: usize, base: f32) -> Self {
        let half = head_dim / 2;
        let freqs: Vec<f64> = (0..half).map(|i| (base as f64).powf(-2.0 * i as f64 / head_dim as f64)).collect();
        let mut cos = Vec::with_capacity(tokens * half);
        let mut sin = Vec::with_capacity(tokens * half);
        for t in 0..tokens {
            let pos = (offset + t) as f64;
            for f in &freqs {
                let angle = pos * f;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        Self { cos, sin, half }
    }

    /// Rotates every `[tokens, D]` slab of `x` into `out`, by `+angle` (`sign = 1`) or `-angle`
    /// (`sign = -1`).
    fn rotate(&self, x: &[f32], out: &mut [f32], tokens: usize, sign: f32) {
        let (half, d) = (self.half, 2 * self.half);
        let slab = (tokens * d).max(1);
        let rotate_slab = |(o, xs): (&mut [f32], &[f32])| {
            for t in 0..tokens {
                let (c, s) = (&self.cos[t * half..][..half], &self.sin[t * half..][..half]);
                let (xr, or) = (&xs[t * d..][..d], &mut o[t * d..][..d]);
                for i in 0..half {
                    let (a, b, sn) = (xr[i], xr[i + half], sign * s[i]);
                    or[i] = a * c[i] - b * sn;
                    or[i + half] = b * c[i] + a * sn;
                }
            }
        };
        if x.len() >= crate::PARALLEL_MIN_LEN {
            out.par_chunks_mut(slab).zip(x.par_chunks(slab)).for_each(rotate_slab);
        } else {
            out.chunks_mut(slab).zip(x.chunks(slab)).for_each(rotate_slab);
        }
    }
}

/// The tape record of [`rope`].
#[derive(Debug)]
struct Rope {
    table: Table,
    tokens: usize,
}

/// Rotates queries or keys `x` `[batch, heads, tokens, head_dim]` whose token `t` sits at position
/// `offset + t`, with frequency base `base`; `head_dim` must be even. Differentiable in `x`.
pub fn rope(x: &Var, offset: usize, base: f32) -> Result<Var> {
    let s = x.shape();
    if s.len() != 4 || !s[3].is_multiple_of(2) {
        return Err(shape_err(
            "rope",
            s,
            &[0, 0, 0, 2],
            "needs [batch, heads, tokens, head_dim] with an even head_dim",
        ));
    }
    let (tokens, head_dim) = (s[2], s[3]);
    let table = Table::new(tokens, offset, head_dim, base);
    let xc = contiguous(x.value());
    let mut out = vec![0f32; xc.len()];
    table.rotate(xc.as_slice().expect("contiguous"), &mut out, tokens, 1.0);
    let value = Tensor::from_shape_vec(IxDyn(s), out).expect("shape");
    Ok(Var::from_op(Rope { table, tokens }, &[x], value))
}

impl Op for Rope {
    fn name(&self) -> &'static str {
        "rope"
    }

    fn backward(&self, _: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let gc = contiguous(grad);
        let mut out = vec![0f32; gc.len()];
        self.table.rotate(gc.as_slice().expect("contiguous"), &mut out, self.tokens, -1.0);
        Ok(vec![Some(Tensor::from_shape_vec(grad.raw_dim(), out).expect("shape"))])
    }
}
