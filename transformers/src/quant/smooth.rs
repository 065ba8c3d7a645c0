//! SmoothQuant (Xiao et al. 2023): migrate activation outliers into the weights before W8A8.
//!
//! LLM activations have a few input channels with magnitudes ~100x the rest, which ruin per-token
//! int8 scales; weights have no such channels. With a per-input-channel `s_j > 0`,
//! `X W^T = (X diag(s)^-1) (W diag(s))^T`, and `s_j = max|X_j|^α / max_o |W_oj|^(1-α)` (α = 0.5)
//! equalises the two ranges. The division of `X` costs nothing at run time: it is folded into the
//! gain and bias of the normalisation that produces `X` (LayerNorm or RMSNorm), and the multiplication
//! into every linear layer that reads `X` (q, k, v of attention; fc1, or gate and up, of the MLP).

use tinylab_classical::error::{arg_err, shape_err};
use tinylab_classical::{Result, Tensor};

/// SmoothQuant's default migration strength.
pub const DEFAULT_ALPHA: f32 = 0.5;
/// The smallest scale (and the floor of both ranges), as the reference implementation clamps them.
const MIN_SCALE: f32 = 1e-5;

/// `max_o |W_oj|` per input channel `j` over all rows of all `weights` (each `[out, in]`).
pub fn weight_column_max(weights: &[&Tensor]) -> Result<Vec<f32>> {
    let first = weights.first().ok_or_else(|| arg_err("weight_column_max", "no weights given"))?;
    if first.ndim() != 2 {
        return Err(shape_err("weight_column_max", first.shape(), &[0, 0], "a weight must be [out, in]"));
    }
    let k = first.shape()[1];
    let mut m = vec![0f32; k];
    for w in weights {
        if w.ndim() != 2 || w.shape()[1] != k {
            return Err(shape_err("weight_column_max", w.shape(), first.shape(), "weights must share the input width"));
        }
        for row in w.rows() {
            for (mj, &v) in m.iter_mut().zip(row.iter()) {
                *mj = mj.max(v.abs());
            }
        }
    }
    Ok(m)
}

/// The smoothing scales `s_j = max|X_j|^α / max|W_j|^(1-α)` from calibration maxima `act_max`
/// (see [`super::stats::ActStats::max_abs`]) and the weights that read the activations; `α ∈ [0, 1]`.
pub fn smooth_scales(act_max: &[f32], weights: &[&Tensor], alpha: f32) -> Result<Vec<f32>> {
    if !(0.0..=1.0).contains(&alpha) {
        return Err(arg_err("smooth_scales", format!("alpha = {alpha} must lie in [0, 1]")));
    }
    let wmax = weight_column_max(weights)?;
    if wmax.len() != act_max.len() {
        return Err(shape_err("smooth_scales", &[act_max.len()], &[wmax.len()], "one activation maximum per input"));
    }
    Ok(act_max
        .iter()
        .zip(&wmax)
        .map(|(&a, &w)| (a.max(MIN_SCALE).powf(alpha) / w.max(MIN_SCALE).powf(1.0 - alpha)).max(MIN_SCALE))
        .collect())
}

/// Multiplies column `j` of each weight by `s[j]` (the `W diag(s)` half of the migration).
pub fn scale_weight_columns(weights: &mut [&mut Tensor], s: &[f32]) -> Result<()> {
    for w in weights.iter_mut() {
        if w.ndim() != 2 || w.shape()[1] != s.len() {
            return Err(shape_err("scale_weight_columns", w.shape(), &[s.len()], "weights must be [out, scales]"));
        }
        for mut row in w.rows_mut() {
            for (v, &sj) in row.iter_mut().zip(s) {
                *v *= sj;
            }
        }
    }
    Ok(())
}

/// Divides channel `j` of activations `x` (`[..., s.len()]`) by `s[j]` (the `X diag(s)^-1` half,
/// for inputs that no normalisation precedes).
pub fn divide_input_channels(x: &Tensor, s: &[f32]) -> Result<Tensor> {
    if x.shape().last() != Some(&s.len()) {
        return Err(shape_err("divide_input_channels", x.shape(), &[s.len()], "last axis must match the scales"));
    }
    let mut y = x.as_standard_layout().into_owned();
    for (i, v) in y.iter_mut().enumerate() {
        *v /= s[i % s.len()];
    }
    Ok(y)
}

/// Folds the migration into a normalisation and the linears that read its output: the norm's gain
/// (and bias, for LayerNorm; `None` for RMSNorm) are divided by `s`, each weight's columns multiplied
/// by `s`. The composed float function is unchanged: `(g x̂ + b) / s` then `W diag(s)`.
pub fn fold_into_norm(
    gain: &mut [f32],
    bias: Option<&mut [f32]>,
    weights: &mut [&mut Tensor],
    s: &[f32],
) -> Result<()> {
    if gain.len() != s.len() || bias.as_ref().is_some_and(|b| b.len() != s.len()) {
        return Err(shape_err(
            "fold_into_norm",
            &[gain.len()],
            &[s.len()],
            "gain and bias must have one entry per scale",
        ));
    }
    if s.iter().any(|&v| v <= 0.0 || !v.is_finite()) {
        return Err(arg_err("fold_into_norm", "scales must be positive and finite"));
    }
    scale_weight_columns(weights, s)?;
    for (g, &sj) in gain.iter_mut().zip(s) {
        *g /= sj;
    }
    if let Some(b) = bias {
        for (v, &sj) in b.iter_mut().zip(s) {
            *v /= sj;
        }
    }
    Ok(())
}

/// SmoothQuant in one call: scales from the calibration maxima `act_max` and the weights reading the
/// norm's output, folded into the norm ([`fold_into_norm`]); returns the scales.
pub fn smooth_norm_linears(
    gain: &mut [f32],
    bias: Option<&mut [f32]>,
    weights: &mut [&mut Tensor],
    act_max: &[f32],
    alpha: f32,
) -> Result<Vec<f32>> {
    let s = {
        let views: Vec<&Tensor> = weights.iter().map(|w| &**w).collect();
        smooth_scales(act_max, &views, alpha)?
    };
    fold_into_norm(gain, bias, weights, &s)?;
    Ok(s)
}
