//! SmoothQuant (Xiao et al. 2023) on a [`Gpt`]: per block, the activation outliers of the two norm
//! outputs are migrated into the weights that read them, with the scales folded into the norms.
//!
//! For block `i`, `s = max|X_j|^α / max|W_j|^(1-α)` is computed from the calibration maxima of
//! `norm1`'s output and the columns of `q_proj`, `k_proj`, `v_proj`; `norm1`'s gain (and bias) are
//! divided by `s` and those weights' columns multiplied by it. The same for `norm2` and `fc1` (GELU)
//! or `gate_proj` and `up_proj` (SwiGLU). The float function is unchanged (up to rounding); the
//! activations the W8A8 layers see are flatter. The inputs of `o_proj` and `fc2` / `down_proj` are
//! left as they are, as in the paper's default setting for OPT / Llama.

use super::gpt::Gpt;
use super::norm::Norm;
use super::qlinear::Calibration;
use crate::quant::ActStats;
use crate::quant::smooth::smooth_norm_linears;
use tinylab_classical::error::arg_err;
use tinylab_classical::nn::Linear;
use tinylab_classical::{Result, Tensor};

/// The per-channel maxima `max_t |x_tj|` of `x` `[rows, channels]`.
fn column_max(x: &Tensor) -> Result<Vec<f32>> {
    let mut stats = ActStats::new(x.shape().get(1).copied().unwrap_or(0));
    stats.observe(x)?;
    Ok(stats.max_abs().to_vec())
}

/// Folds the scales of `act_max` into `norm` and `layers` (see the module doc); returns them.
fn fold(norm: &mut Norm, layers: Vec<&mut Linear>, act_max: &[f32], alpha: f32) -> Result<Vec<f32>> {
    let mut weights: Vec<&mut Tensor> = layers.into_iter().map(|l| &mut l.weight.value).collect();
    let gain =
        norm.weight.value.as_slice_mut().ok_or_else(|| arg_err("smooth_gpt", "the norm gain is not contiguous"))?;
    let bias = match &mut norm.bias {
        Some(b) => {
            Some(b.value.as_slice_mut().ok_or_else(|| arg_err("smooth_gpt", "the norm bias is not contiguous"))?)
        }
        None => None,
    };
    smooth_norm_linears(gain, bias, &mut weights, act_max, alpha)
}

/// SmoothQuant with migration strength `alpha` ∈ [0, 1] folded into every block of `model`, from
/// `calibration` (of this float model, [`Gpt::calibrate`]); returns each block's two scale vectors.
/// Refused on a model with quantized layers (they would keep the old weights) and on LSRA blocks.
pub fn smooth_gpt(model: &mut Gpt, calibration: &Calibration, alpha: f32) -> Result<Vec<[Vec<f32>; 2]>> {
    if model.is_quantized() {
        return Err(arg_err("smooth_gpt", "smooth the float model, then quantize it"));
    }
    let mut scales = Vec::new();
    for (i, block) in model.blocks.iter_mut().enumerate() {
        if block.conv.is_some() {
            return Err(arg_err(
                "smooth_gpt",
                format!("block {i} is an LSRA block, whose norm1 feeds a convolution too"),
            ));
        }
        let attn_max = column_max(calibration.get(&format!("blocks.{i}.attn.q_proj"))?)?;
        let a = &mut block.attn;
        let s1 = fold(&mut block.norm1, vec![&mut a.q_proj, &mut a.k_proj, &mut a.v_proj], &attn_max, alpha)?;
        let mlp = &mut block.mlp;
        let input_name = if mlp.gate.is_some() { "up_proj" } else { "fc1" };
        let mlp_max = column_max(calibration.get(&format!("blocks.{i}.mlp.{input_name}"))?)?;
        let mut layers = vec![&mut mlp.input];
        if let Some(g) = &mut mlp.gate {
            layers.push(g);
        }
        let s2 = fold(&mut block.norm2, layers, &mlp_max, alpha)?;
        scales.push([s1, s2]);
    }
    Ok(scales)
}
