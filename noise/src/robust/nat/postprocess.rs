//! QuantumNAT's post-measurement processing (Wang et al., DAC 2022, Sec. 3.1 and 3.2): the measured
//! expectation values of a batch are normalized per qubit (mean 0, standard deviation 1 over the
//! batch), which undoes the shrinking and shifting noise causes, then quantized to a few levels,
//! which snaps small deviations back to the noise-free value.
//!
//! Normalization always uses the statistics of the batch at hand, in training and at test time: on
//! the device, the statistics come from the device's own outcomes on the test batch, so the
//! device-specific scale and offset cancel (the paper's choice; running averages from noise-free
//! training would carry the wrong scale to the device). Quantization uses the shared linear quantizer
//! of `classical::compress` with the clipped straight-through estimator in training.

use crate::error::{NoiseError, Result};
use tinylab_classical::Var;
use tinylab_classical::compress::qat::fake_quantize_ste;
use tinylab_classical::compress::quant::QuantParams;
use tinylab_classical::ops::{BatchNormStats, batch_norm};
use tinylab_classical::tensor;

/// Normalizes each column of `x` `(batch, outputs)` by its batch mean and (biased) standard
/// deviation, `(x - mean) / sqrt(var + 1e-5)`, differentiably. Needs a batch of at least two rows.
pub fn normalize(x: &Var) -> Result<Var> {
    let shape = x.shape().to_vec();
    if shape.len() != 2 {
        return Err(NoiseError::InvalidShape {
            what: "post-measurement normalization",
            expected: "(batch, outputs)",
            got: shape,
        });
    }
    let columns = shape[1];
    let ones = Var::constant(tensor::from_vec(&[columns], vec![1.0; columns])?);
    let zeros = Var::constant(tensor::from_vec(&[columns], vec![0.0; columns])?);
    let mut stats = BatchNormStats::new(columns);
    Ok(batch_norm(x, &ones, &zeros, &mut stats, true)?)
}

/// A uniform grid of `levels` values on `[-clip, clip]` (an odd count, so the batch mean 0 is a
/// level): the linear quantizer with scale `2 clip / (levels - 1)`, zero point 0 and integers
/// `-(levels-1)/2 ..= (levels-1)/2`. Values beyond `clip` clamp to the end levels.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct OutcomeQuantizer {
    /// Number of levels (odd, at least 3).
    pub levels: usize,
    /// The largest level (in normalized units).
    pub clip: f32,
}

impl OutcomeQuantizer {
    /// A quantizer, checked: odd `levels >= 3`, finite `clip > 0`.
    pub fn new(levels: usize, clip: f32) -> Result<Self> {
        if levels < 3 || levels.is_multiple_of(2) || levels > 1 << 16 {
            return Err(NoiseError::InvalidSetting {
                setting: "post-measurement quantization levels",
                value: levels.to_string(),
                requirement: "an odd number from 3 to 65536 (so 0 is a level)",
            });
        }
        if !(clip > 0.0 && clip.is_finite()) {
            return Err(NoiseError::OutOfRange {
                what: "quantization clip".into(),
                value: clip as f64,
                lo: 0.0,
                hi: f64::MAX,
            });
        }
        Ok(Self { levels, clip })
    }

    /// The shared linear quantizer's parameters for this grid.
    pub fn params(&self) -> QuantParams {
        let half = ((self.levels - 1) / 2) as i32;
        QuantParams { scale: vec![self.clip / half as f32], zero_point: vec![0], qmin: -half, qmax: half, axis: None }
    }

    /// `x` snapped to the grid (round half away from zero, clamped), with the clipped
    /// straight-through gradient.
    pub fn quantize(&self, x: &Var) -> Result<Var> {
        Ok(fake_quantize_ste(x, &self.params())?)
    }
}

/// The whole post-processing: normalization (when `normalize`), then quantization (when given).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct PostProcess {
    /// Normalize each output over the batch.
    pub normalize: bool,
    /// Quantize the (normalized) outputs.
    pub quantize: Option<OutcomeQuantizer>,
}

impl PostProcess {
    /// Applies the steps to a batch of outcomes `(batch, outputs)`.
    pub fn apply(&self, x: &Var) -> Result<Var> {
        let normalized = if self.normalize { normalize(x)? } else { x.clone() };
        match &self.quantize {
            Some(q) => q.quantize(&normalized),
            None => Ok(normalized),
        }
    }
}
