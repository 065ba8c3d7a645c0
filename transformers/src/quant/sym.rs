//! Symmetric integer quantization with one scale per row: `s = max|x| / qmax`,
//! `q = clamp(round(x / s), -qmax, qmax)`, so `|x - q s| <= s / 2` for every element of the row.
//!
//! This is the int8 scheme of LLM.int8() and SmoothQuant (Dettmers et al. 2022; Xiao et al. 2023):
//! per output channel for weights, per token (computed at run time, "dynamic") for activations. The
//! range is `[-127, 127]` (no `-128`), so a product of two codes never reaches `2^14` in magnitude.

use tinylab_classical::Result;
use tinylab_classical::error::shape_err;

/// The largest int8 code of the symmetric scheme.
pub const I8_QMAX: i32 = 127;

/// The scale of one row: `max|x| / qmax` (0 for a row of zeros; NaNs are ignored).
pub fn symmetric_scale(row: &[f32], qmax: i32) -> f32 {
    row.iter().fold(0f32, |a, &v| a.max(v.abs())) / qmax as f32
}

/// The code of `v` under scale `s` (0 when `s` is 0).
#[inline(always)]
pub fn quantize_symmetric(v: f32, s: f32, qmax: i32) -> i32 {
    if s > 0.0 { ((v / s).round() as i32).clamp(-qmax, qmax) } else { 0 }
}

/// Quantizes each row of the row-major `x` (`rows x cols`) to int8 with its own scale; returns the
/// codes and the per-row scales.
pub fn quantize_rows_i8(x: &[f32], cols: usize) -> Result<(Vec<i8>, Vec<f32>)> {
    if cols == 0 || !x.len().is_multiple_of(cols) {
        return Err(shape_err("quantize_rows_i8", &[x.len()], &[cols], "length must be a multiple of the row width"));
    }
    let mut codes = vec![0i8; x.len()];
    let mut scales = Vec::with_capacity(x.len() / cols);
    for (row, q) in x.chunks_exact(cols).zip(codes.chunks_exact_mut(cols)) {
        let s = symmetric_scale(row, I8_QMAX);
        for (c, &v) in q.iter_mut().zip(row) {
            *c = quantize_symmetric(v, s, I8_QMAX) as i8;
        }
        scales.push(s);
    }
    Ok((codes, scales))
}
