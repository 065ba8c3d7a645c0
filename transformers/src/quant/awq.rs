//! AWQ, activation-aware weight quantization (Lin et al. 2023): protect the weights of salient input
//! channels (large mean activation) by scaling them up before int4 rounding.
//!
//! With `s_j = mean|X_j|^α` (normalised by `sqrt(max s · min s)`), the layer computes
//! `(X diag(s)^-1) Q(W diag(s))^T`; `1 / s` is folded into the previous op (see
//! [`super::smooth::fold_into_norm`]). `α` is searched on `grid` points of `[0, 1]` for the smallest
//! output MSE on the calibration inputs (`α = 0` is round-to-nearest). Then each group's range is
//! clipped: for shrink ratios `1, 1 - 1/clip_grid, ...` down to `1 - max_shrink`, the group's weights
//! are clamped to `±ratio · max|w|`, quantized, and the ratio with the smallest error of the group's
//! share of the output, `Σ_t (x_t,g · (w_g - q_g))^2`, is kept.

use super::int4::{Int4Matrix, group_params, quantize_code};
use super::smooth::{divide_input_channels, scale_weight_columns};
use super::stats::ActStats;
use super::tokens::weight_rows;
use rayon::prelude::*;
use tinylab_classical::error::{arg_err, shape_err};
use tinylab_classical::ops::gemm_into;
use tinylab_classical::{Result, Tensor};

/// Settings of [`awq_quantize`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AwqConfig {
    /// Inputs per quantization group.
    pub group: usize,
    /// Points of the `α` grid over `[0, 1]`.
    pub grid: usize,
    /// Steps of the clipping search.
    pub clip_grid: usize,
    /// The largest fraction of a group's range the clipping search removes.
    pub max_shrink: f32,
    /// Calibration tokens used by the clipping search (the first ones).
    pub clip_tokens: usize,
}

impl Default for AwqConfig {
    fn default() -> Self {
        Self { group: 128, grid: 20, clip_grid: 20, max_shrink: 0.5, clip_tokens: 512 }
    }
}

/// What [`awq_quantize`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct AwqResult {
    /// The per-input-channel scales: the quantized weight is of `W diag(s)`, the inputs must be
    /// divided by them.
    pub scales: Vec<f32>,
    /// The chosen exponent.
    pub alpha: f32,
    /// The int4 weight of `W diag(s)`, clipped.
    pub weight: Int4Matrix,
}

/// `x w^T` (`[t, k]` by `[n, k]`) in f32.
fn product(x: &[f32], w: &[f32], t: usize, n: usize, k: usize) -> Result<Vec<f32>> {
    let mut y = vec![0f32; t * n];
    gemm_into(t, n, k, x, k, 1, w, 1, k, &mut y, false)?;
    Ok(y)
}

fn mse(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&u, &v)| (u as f64 - v as f64).powi(2)).sum::<f64>() / a.len().max(1) as f64
}

/// AWQ int4 quantization of `weight` (`[out, in]`) with calibration inputs `x` (`[tokens, in]`).
pub fn awq_quantize(weight: &Tensor, x: &Tensor, cfg: AwqConfig) -> Result<AwqResult> {
    const OP: &str = "awq_quantize";
    let (w, n, k) = weight_rows(OP, weight)?;
    if x.ndim() != 2 || x.shape()[1] != k || x.shape()[0] == 0 {
        return Err(shape_err(
            OP,
            x.shape(),
            weight.shape(),
            "calibration inputs must be [tokens, in] with tokens > 0",
        ));
    }
    if cfg.grid < 2 || cfg.clip_grid == 0 || !(0.0..1.0).contains(&cfg.max_shrink) {
        return Err(arg_err(OP, "grid >= 2, clip_grid >= 1 and max_shrink in [0, 1) are required"));
    }
    let x = x.as_standard_layout().into_owned();
    let t = x.shape()[0];
    let mut stats = ActStats::new(k);
    stats.observe(&x)?;
    let mean = stats.mean_abs();
    let target = product(x.as_slice().expect("standard"), w.as_slice().expect("standard"), t, n, k)?;
    let w = w.into_owned();

    // The α search: scale, round, undo the scale on the weight side, compare outputs.
    let mut best: Option<(f64, f32, Vec<f32>)> = None;
    for i in 0..cfg.grid {
        let alpha = i as f32 / (cfg.grid - 1) as f32;
        let s = awq_scales(&mean, alpha);
        let mut ws = w.clone();
        scale_weight_columns(&mut [&mut ws], &s)?;
        let mut dq = Int4Matrix::quantize_rtn(&ws, cfg.group)?.dequantize();
        let inv: Vec<f32> = s.iter().map(|v| 1.0 / v).collect();
        scale_weight_columns(&mut [&mut dq], &inv)?;
        let y = product(x.as_slice().expect("standard"), dq.as_slice().expect("standard"), t, n, k)?;
        let e = mse(&y, &target);
        if best.as_ref().is_none_or(|b| e < b.0) {
            best = Some((e, alpha, s));
        }
    }
    let (_, alpha, s) = best.expect("grid >= 2");

    // The clipping search on W diag(s) against the inputs X diag(s)^-1.
    let mut ws = w.clone();
    scale_weight_columns(&mut [&mut ws], &s)?;
    let xs = divide_input_channels(&x, &s)?;
    let tc = t.min(cfg.clip_tokens.max(1));
    let xs = &xs.as_slice().expect("standard")[..tc * k];
    let wsd = ws.as_slice().expect("standard");
    let steps = ((cfg.clip_grid as f32 * cfg.max_shrink) as usize).max(1);
    let group = cfg.group;
    // Validates the group before the search.
    Int4Matrix::from_codes(0, k, group, &[], vec![], vec![])?;
    let rows: Vec<(Vec<u8>, Vec<f32>, Vec<u8>)> = (0..n)
        .into_par_iter()
        .map(|o| {
            let row = &wsd[o * k..(o + 1) * k];
            let mut codes = vec![0u8; k];
            let (mut scales, mut zeros) = (Vec::new(), Vec::new());
            for g0 in (0..k).step_by(group) {
                let wg = &row[g0..g0 + group];
                let amax = wg.iter().fold(0f32, |a, v| a.max(v.abs()));
                let mut best: Option<(f64, f32, u8, Vec<u8>)> = None;
                for step in 0..steps {
                    let m = amax * (1.0 - step as f32 / cfg.clip_grid as f32);
                    let clipped: Vec<f32> = wg.iter().map(|v| v.clamp(-m, m)).collect();
                    let (lo, hi) = clipped.iter().fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                    let (sc, z) = group_params(lo, hi);
                    let q: Vec<u8> = clipped.iter().map(|&v| quantize_code(v, sc, z)).collect();
                    let d: Vec<f64> =
                        wg.iter().zip(&q).map(|(&v, &c)| v as f64 - sc as f64 * (c as f64 - z as f64)).collect();
                    let err: f64 = xs
                        .chunks_exact(k)
                        .map(|xt| xt[g0..g0 + group].iter().zip(&d).map(|(&a, &b)| a as f64 * b).sum::<f64>().powi(2))
                        .sum();
                    if best.as_ref().is_none_or(|b| err < b.0) {
                        best = Some((err, sc, z, q));
                    }
                }
                let (_, sc, z, q) = best.expect("steps >= 1");
                codes[g0..g0 + group].copy_from_slice(&q);
                scales.push(sc);
                zeros.push(z);
            }
            (codes, scales, zeros)
        })
        .collect();
    let mut codes = Vec::with_capacity(n * k);
    let (mut scales, mut zeros) = (Vec::new(), Vec::new());
    for (c, sc, z) in rows {
        codes.extend(c);
        scales.extend(sc);
        zeros.extend(z);
    }
    Ok(AwqResult { scales: s, alpha, weight: Int4Matrix::from_codes(n, k, group, &codes, scales, zeros)? })
}

/// `s_j = max(mean|X_j|, 1e-4)^α / sqrt(max s · min s)`.
pub fn awq_scales(mean_abs: &[f32], alpha: f32) -> Vec<f32> {
    let s: Vec<f32> = mean_abs.iter().map(|&m| m.max(1e-4).powf(alpha)).collect();
    let (lo, hi) = s.iter().fold((f32::INFINITY, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let norm = (lo * hi).sqrt();
    s.iter().map(|v| v / norm).collect()
}
