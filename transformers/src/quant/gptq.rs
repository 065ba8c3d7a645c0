//! GPTQ (Frantar et al. 2023): int4 weights quantized column by column, each column's rounding error
//! compensated on the columns not yet quantized, using second-order information of the layer's
//! inputs.
//!
//! With calibration inputs `X` (`n` tokens), `H = 2 X^T X / n + λ I`, `λ = damp · mean(diag H)`
//! (damp 0.01), and `U` the upper Cholesky factor of `H^-1`: for column `i`, `q_i = quant(w_i)`,
//! `e = (w_i - q_i) / U_ii`, `w_j -= e U_ij` for `j > i`. The updates are applied lazily in blocks of
//! 128 columns (inside a block at once, to the rest of the matrix at the end of the block), which
//! gives the same result as the column-by-column form. Groups use the asymmetric int4 parameters of
//! [`super::int4`], fixed from the (updated) weights when a group starts. Columns whose `H_ii = 0`
//! (inputs that are always zero) are set to zero, as in the reference.
//!
//! The output rows are independent given `U`, so they are quantized in parallel (deterministic).
//! The Cholesky factors are computed in f64 ([`super::linalg`]).

use super::int4::{Int4Matrix, group_params, quantize_code};
use super::linalg::upper_cholesky_of_inverse;
use super::tokens::{TokenRows, weight_rows};
use rayon::prelude::*;
use tinylab_classical::error::{arg_err, shape_err};
use tinylab_classical::{Result, Tensor};

/// Settings of [`gptq_quantize`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GptqConfig {
    /// Inputs per quantization group (a multiple of 32 dividing the input width).
    pub group: usize,
    /// Dampening `λ / mean(diag H)`.
    pub damp: f64,
    /// Columns per lazy batch update (a multiple of `group`).
    pub block: usize,
}

impl Default for GptqConfig {
    fn default() -> Self {
        Self { group: 128, damp: 0.01, block: 128 }
    }
}

/// The running `Σ_t x_t x_t^T` of a layer's calibration inputs and their count, from which
/// `H = 2 X^T X / n` is formed.
#[derive(Debug, Clone, PartialEq)]
pub struct Hessian {
    k: usize,
    sum: Vec<f64>,
    tokens: usize,
}

impl Hessian {
    /// Empty statistics for `k` inputs.
    pub fn new(k: usize) -> Self {
        Self { k, sum: vec![0.0; k * k], tokens: 0 }
    }

    /// Adds a batch `x` of shape `[..., k]`.
    pub fn observe(&mut self, x: &Tensor) -> Result<()> {
        let rows = TokenRows::new("Hessian::observe", x, self.k)?;
        let k = self.k;
        let data = rows.flat();
        // Rows of the sum are independent outputs; each sums the tokens in order.
        self.sum.par_chunks_mut(k.max(1)).enumerate().for_each(|(i, row)| {
            for x in data.chunks_exact(k) {
                let xi = x[i] as f64;
                if xi != 0.0 {
                    for (s, &xj) in row.iter_mut().zip(x) {
                        *s += xi * xj as f64;
                    }
                }
            }
        });
        self.tokens += rows.tokens;
        Ok(())
    }

    /// `H = 2 X^T X / n`, row-major `k x k`.
    pub fn matrix(&self) -> Vec<f64> {
        let f = 2.0 / self.tokens.max(1) as f64;
        self.sum.iter().map(|s| s * f).collect()
    }

    /// Input width.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Tokens seen.
    pub fn tokens(&self) -> usize {
        self.tokens
    }
}

/// GPTQ int4 quantization of `weight` (`[out, in]`) with the calibration statistics `hessian`.
pub fn gptq_quantize(weight: &Tensor, hessian: &Hessian, cfg: GptqConfig) -> Result<Int4Matrix> {
    const OP: &str = "gptq_quantize";
    let (w, rows, k) = weight_rows(OP, weight)?;
    if hessian.k != k {
        return Err(shape_err(OP, weight.shape(), &[hessian.k], "the Hessian's width must be the weight's inputs"));
    }
    if hessian.tokens == 0 {
        return Err(arg_err(OP, "the Hessian has seen no calibration tokens"));
    }
    if cfg.group == 0 || cfg.block == 0 || !cfg.block.is_multiple_of(cfg.group) {
        return Err(arg_err(OP, format!("block ({}) must be a multiple of the group ({})", cfg.block, cfg.group)));
    }
    if cfg.damp.is_nan() || cfg.damp < 0.0 {
        return Err(arg_err(OP, format!("damp = {} must be >= 0", cfg.damp)));
    }
    let mut h = hessian.matrix();
    let dead: Vec<bool> = (0..k).map(|i| h[i * k + i] == 0.0).collect();
    for (i, &d) in dead.iter().enumerate() {
        if d {
            h[i * k + i] = 1.0;
        }
    }
    let mean_diag = (0..k).map(|i| h[i * k + i]).sum::<f64>() / k as f64;
    for i in 0..k {
        h[i * k + i] += cfg.damp * mean_diag;
    }
    let u = upper_cholesky_of_inverse(&h, k)?;
    let w = w.as_slice().expect("standard layout");
    // Validates the group against the width before the work starts.
    let groups = {
        let probe = Int4Matrix::from_codes(0, k, cfg.group, &[], vec![], vec![])?;
        probe.cols() / cfg.group
    };
    let per_row: Vec<(Vec<u8>, Vec<f32>, Vec<u8>)> =
        (0..rows).into_par_iter().map(|r| quantize_row(&w[r * k..(r + 1) * k], &dead, &u, k, cfg)).collect();
    let mut codes = Vec::with_capacity(rows * k);
    let (mut scales, mut zeros) = (Vec::with_capacity(rows * groups), Vec::with_capacity(rows * groups));
    for (c, s, z) in per_row {
        codes.extend(c);
        scales.extend(s);
        zeros.extend(z);
    }
    Int4Matrix::from_codes(rows, k, cfg.group, &codes, scales, zeros)
}

/// One output row through GPTQ's column loop with lazy block updates.
fn quantize_row(w: &[f32], dead: &[bool], u: &[f64], k: usize, cfg: GptqConfig) -> (Vec<u8>, Vec<f32>, Vec<u8>) {
    let mut w: Vec<f64> = w.iter().zip(dead).map(|(&v, &d)| if d { 0.0 } else { v as f64 }).collect();
    let mut codes = vec![0u8; k];
    let (mut scales, mut zeros) = (Vec::new(), Vec::new());
    let (mut s, mut z) = (1f32, 0u8);
    let mut err = vec![0f64; cfg.block];
    for i1 in (0..k).step_by(cfg.block) {
        let i2 = (i1 + cfg.block).min(k);
        for i in i1..i2 {
            if (i - i1).is_multiple_of(cfg.group) {
                let (lo, hi) = w[i..i + cfg.group].iter().fold((0f64, 0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                (s, z) = group_params(lo as f32, hi as f32);
                scales.push(s);
                zeros.push(z);
            }
            let q = quantize_code(w[i] as f32, s, z);
            codes[i] = q;
            let dq = s as f64 * (q as f64 - z as f64);
            let e = (w[i] - dq) / u[i * k + i];
            for j in i + 1..i2 {
                w[j] -= e * u[i * k + j];
            }
            err[i - i1] = e;
        }
        // The lazy batch update of the columns after the block.
        for (c, &e) in err[..i2 - i1].iter().enumerate() {
            let urow = &u[(i1 + c) * k..(i1 + c + 1) * k];
            for (wj, &uj) in w[i2..].iter_mut().zip(&urow[i2..]) {
                *wj -= e * uj;
            }
        }
    }
    (codes, scales, zeros)
}
