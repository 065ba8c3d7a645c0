//! Affine (linear) quantization: `q = clamp(round(x / scale) + zero_point, qmin, qmax)` and back
//! `x ≈ scale * (q - zero_point)`.
//!
//! The parameters are chosen the way TFLite's converter chooses them (`ChooseQuantizationParams` in
//! TFLite's `quantization_util`): an asymmetric range is first extended to contain 0 so that zero is
//! exactly representable (zero padding, ReLU outputs), the scale is `(max - min) / (qmax - qmin)` and the
//! zero point is `qmin - min / scale` rounded and clamped into `[qmin, qmax]`. Symmetric quantization
//! uses the restricted signed range `[-(2^(b-1) - 1), 2^(b-1) - 1]` with zero point 0, as TFLite's int8
//! weights do (-128 is never used, so `-q` is always representable). Rounding is half away from zero
//! (TFLite's `TfLiteRound`).
//!
//! Per-channel parameters hold one scale and zero point per index of `axis` (TFLite's per-channel
//! weights use the output-channel axis 0).

use crate::error::{Result, arg_err, shape_err};
use crate::tensor::{Tensor, contiguous};

/// Whether the integer grid is centred on zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Symmetry {
    /// Zero point 0, range `[-(2^(b-1) - 1), 2^(b-1) - 1]`: weights.
    Symmetric,
    /// Zero point chosen from the range, full signed range `[-2^(b-1), 2^(b-1) - 1]`: activations.
    Asymmetric,
}

/// One scale for the whole tensor, or one per channel of an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Granularity {
    /// One scale and zero point.
    PerTensor,
    /// One per index of this axis (0 = output channels of a conv or linear weight).
    PerChannel(usize),
}

/// Bits, symmetry and granularity of a linear quantizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuantScheme {
    /// Bit width, 2 to 8 (1 is not a linear grid: see [`crate::compress::qat::Binary`]).
    pub bits: u8,
    /// Symmetric or asymmetric.
    pub symmetry: Symmetry,
    /// Per tensor or per channel.
    pub granularity: Granularity,
}

impl QuantScheme {
    /// TFLite's int8 weight scheme: symmetric, per output channel, 8 bits.
    pub const INT8_WEIGHTS: Self =
        Self { bits: 8, symmetry: Symmetry::Symmetric, granularity: Granularity::PerChannel(0) };
    /// TFLite's int8 activation scheme: asymmetric, per tensor, 8 bits.
    pub const INT8_ACTIVATIONS: Self =
        Self { bits: 8, symmetry: Symmetry::Asymmetric, granularity: Granularity::PerTensor };

    /// A scheme of `bits` bits.
    pub fn new(bits: u8, symmetry: Symmetry, granularity: Granularity) -> Self {
        Self { bits, symmetry, granularity }
    }

    /// The integer range `(qmin, qmax)` of this scheme.
    pub fn range(&self) -> Result<(i32, i32)> {
        integer_range(self.bits, self.symmetry)
    }

    /// Parameters fitted to `w` by its min / max (per channel when the scheme says so).
    pub fn fit(&self, w: &Tensor) -> Result<QuantParams> {
        match self.granularity {
            Granularity::PerTensor => {
                let (lo, hi) = min_max(w.iter().copied());
                QuantParams::from_range(lo, hi, self.bits, self.symmetry)
            }
            Granularity::PerChannel(axis) => {
                let ranges = channel_ranges(w, axis)?;
                QuantParams::per_channel(&ranges, axis, self.bits, self.symmetry)
            }
        }
    }
}

/// `(qmin, qmax)` of a signed `bits`-bit grid.
pub fn integer_range(bits: u8, symmetry: Symmetry) -> Result<(i32, i32)> {
    if !(2..=16).contains(&bits) {
        return Err(arg_err("quantize", format!("{bits} bits: linear quantization takes 2 to 16 bits")));
    }
    let half = 1i32 << (bits - 1);
    Ok(match symmetry {
        Symmetry::Symmetric => (-(half - 1), half - 1),
        Symmetry::Asymmetric => (-half, half - 1),
    })
}

/// Round half away from zero, as C's `round` and TFLite's `TfLiteRound`.
pub fn round_half_away(x: f32) -> f32 {
    x.round()
}

/// Smallest and largest value (`(0, 0)` for an empty input); NaNs are ignored.
pub fn min_max(values: impl Iterator<Item = f32>) -> (f32, f32) {
    let (lo, hi) = values.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi { (0.0, 0.0) } else { (lo, hi) }
}

/// Min and max of every slice along `axis`.
pub fn channel_ranges(w: &Tensor, axis: usize) -> Result<Vec<(f32, f32)>> {
    if axis >= w.ndim() {
        return Err(arg_err("quantize", format!("channel axis {axis} of a {}-d tensor", w.ndim())));
    }
    Ok(w.axis_iter(ndarray::Axis(axis)).map(|c| min_max(c.iter().copied())).collect())
}

/// Scale and zero point of a range, TFLite's `ChooseQuantizationParams`.
///
/// The range is extended to contain 0; a degenerate range (all zeros) gets scale 1 so that
/// dequantization stays finite. Non-finite bounds are an error.
pub fn choose_params(min: f32, max: f32, qmin: i32, qmax: i32, symmetry: Symmetry) -> Result<(f32, i32)> {
    if !(min.is_finite() && max.is_finite()) || min > max {
        return Err(arg_err("quantize", format!("range [{min}, {max}] is not a finite interval")));
    }
    let (min, max) = (min.min(0.0), max.max(0.0));
    match symmetry {
        Symmetry::Symmetric => {
            let absmax = min.abs().max(max);
            Ok((if absmax == 0.0 { 1.0 } else { absmax / qmax as f32 }, 0))
        }
        Symmetry::Asymmetric => {
            if max == min {
                return Ok((1.0, 0));
            }
            // In double precision, as TFLite computes it; the zero point comes from whichever end of
            // the range has the smaller rounding error.
            let scale = (max as f64 - min as f64) / (qmax - qmin) as f64;
            let from_min = qmin as f64 - min as f64 / scale;
            let from_max = qmax as f64 - max as f64 / scale;
            let err_min = qmin.abs() as f64 + (min as f64 / scale).abs();
            let err_max = qmax.abs() as f64 + (max as f64 / scale).abs();
            let zp = if err_min < err_max { from_min } else { from_max };
            let zp = if zp < qmin as f64 {
                qmin
            } else if zp > qmax as f64 {
                qmax
            } else {
                zp.round() as i32
            };
            Ok((scale as f32, zp))
        }
    }
}

/// Scales and zero points of a linear quantizer, per tensor (one entry) or per channel.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuantParams {
    /// One scale, or one per channel.
    pub scale: Vec<f32>,
    /// One zero point, or one per channel.
    pub zero_point: Vec<i32>,
    /// Smallest integer.
    pub qmin: i32,
    /// Largest integer.
    pub qmax: i32,
    /// The channel axis of per-channel parameters.
    pub axis: Option<usize>,
}

impl QuantParams {
    /// Per-tensor parameters for the range `[min, max]`.
    pub fn from_range(min: f32, max: f32, bits: u8, symmetry: Symmetry) -> Result<Self> {
        let (qmin, qmax) = integer_range(bits, symmetry)?;
        let (scale, zp) = choose_params(min, max, qmin, qmax, symmetry)?;
        Ok(Self { scale: vec![scale], zero_point: vec![zp], qmin, qmax, axis: None })
    }

    /// Asymmetric per-tensor parameters (activations).
    pub fn affine(min: f32, max: f32, bits: u8) -> Result<Self> {
        Self::from_range(min, max, bits, Symmetry::Asymmetric)
    }

    /// Symmetric per-tensor parameters for values in `[-absmax, absmax]`.
    pub fn symmetric(absmax: f32, bits: u8) -> Result<Self> {
        Self::from_range(-absmax.abs(), absmax.abs(), bits, Symmetry::Symmetric)
    }

    /// Per-channel parameters from one range per channel of `axis`.
    pub fn per_channel(ranges: &[(f32, f32)], axis: usize, bits: u8, symmetry: Symmetry) -> Result<Self> {
        let (qmin, qmax) = integer_range(bits, symmetry)?;
        let mut scale = Vec::with_capacity(ranges.len());
        let mut zero_point = Vec::with_capacity(ranges.len());
        for &(lo, hi) in ranges {
            let (s, z) = choose_params(lo, hi, qmin, qmax, symmetry)?;
            scale.push(s);
            zero_point.push(z);
        }
        Ok(Self { scale, zero_point, qmin, qmax, axis: Some(axis) })
    }

    /// Symmetric per-channel parameters of a weight along `axis` (TFLite's int8 weights: axis 0).
    pub fn per_channel_symmetric(w: &Tensor, axis: usize, bits: u8) -> Result<Self> {
        Self::per_channel(&channel_ranges(w, axis)?, axis, bits, Symmetry::Symmetric)
    }

    /// Number of channels (1 per tensor).
    pub fn channels(&self) -> usize {
        self.scale.len()
    }

    /// The integer of one value of channel `c`.
    pub fn quantize_value(&self, x: f32, c: usize) -> i32 {
        let q = round_half_away(x / self.scale[c]) as i64 + self.zero_point[c] as i64;
        q.clamp(self.qmin as i64, self.qmax as i64) as i32
    }

    /// The value of integer `q` of channel `c`.
    pub fn dequantize_value(&self, q: i32, c: usize) -> f32 {
        self.scale[c] * (q - self.zero_point[c]) as f32
    }

    /// Calls `f(flat_index, channel)` for every element of a tensor of `shape` in row-major order.
    fn channel_of(&self, shape: &[usize]) -> Result<impl Fn(usize) -> usize + use<>> {
        let (inner, channels) = match self.axis {
            None => (1usize, 1usize),
            Some(axis) => {
                if axis >= shape.len() || shape[axis] != self.channels() {
                    return Err(shape_err(
                        "quantize",
                        shape,
                        &[self.channels()],
                        format!("per-channel parameters along axis {axis} need that many channels"),
                    ));
                }
                (shape[axis + 1..].iter().product(), shape[axis])
            }
        };
        Ok(move |i: usize| (i / inner.max(1)) % channels)
    }

    /// The integers of every element of `x`, in row-major order; a NaN has no integer and is an error.
    pub fn quantize(&self, x: &Tensor) -> Result<Vec<i32>> {
        let channel = self.channel_of(x.shape())?;
        let x = contiguous(x);
        if let Some(i) = x.iter().position(|v| v.is_nan()) {
            return Err(arg_err("quantize", format!("element {i} is NaN")));
        }
        Ok(x.iter().enumerate().map(|(i, &v)| self.quantize_value(v, channel(i))).collect())
    }

    /// The tensor of shape `shape` that integers `q` stand for.
    pub fn dequantize(&self, q: &[i32], shape: &[usize]) -> Result<Tensor> {
        if q.len() != shape.iter().product::<usize>() {
            return Err(shape_err("dequantize", shape, &[q.len()], "one integer per element"));
        }
        let channel = self.channel_of(shape)?;
        let data = q.iter().enumerate().map(|(i, &v)| self.dequantize_value(v, channel(i))).collect();
        crate::tensor::from_vec(shape, data)
    }

    /// `dequantize(quantize(x))`: the value a quantized model computes with (fake quantization). NaNs
    /// stay NaN, so a diverged model shows up as such instead of being quantized to zero.
    pub fn fake_quantize(&self, x: &Tensor) -> Result<Tensor> {
        let channel = self.channel_of(x.shape())?;
        let mut out = crate::tensor::into_contiguous(x.clone());
        for (i, v) in out.iter_mut().enumerate().filter(|(_, v)| !v.is_nan()) {
            let c = channel(i);
            *v = self.dequantize_value(self.quantize_value(*v, c), c);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_activation_params_match_tflite() {
        // [-1, 1] over [-128, 127]: scale 2/255; both ends give -0.5, the max end has the smaller
        // error (127 + 127.5 < 128 + 127.5) and -0.5 rounds away from zero to -1.
        let p = QuantParams::affine(-1.0, 1.0, 8).unwrap();
        assert!((p.scale[0] - 2.0 / 255.0).abs() < 1e-9);
        assert_eq!(p.zero_point[0], -1);
    }

    #[test]
    fn relu_range_uses_qmin_as_zero_point() {
        let p = QuantParams::affine(0.0, 6.0, 8).unwrap();
        assert_eq!(p.zero_point[0], -128);
        assert_eq!(p.quantize_value(0.0, 0), -128);
        assert_eq!(p.quantize_value(6.0, 0), 127);
    }

    #[test]
    fn symmetric_weights_never_use_minus_128() {
        let p = QuantParams::symmetric(2.0, 8).unwrap();
        assert_eq!((p.qmin, p.qmax, p.zero_point[0]), (-127, 127, 0));
        assert_eq!(p.quantize_value(-2.0, 0), -127);
        assert_eq!(p.quantize_value(-5.0, 0), -127);
    }

    #[test]
    fn per_channel_needs_matching_channels() {
        let w = crate::tensor::from_vec(&[2, 3], vec![1.0, -2.0, 0.5, 0.1, 0.2, -0.3]).unwrap();
        let p = QuantParams::per_channel_symmetric(&w, 0, 8).unwrap();
        assert_eq!(p.scale, vec![2.0 / 127.0, 0.3 / 127.0]);
        let q = p.quantize(&w).unwrap();
        assert_eq!(q, vec![64, -127, 32, 42, 85, -127]);
        let wrong = crate::tensor::zeros(&[3, 2]);
        assert!(p.quantize(&wrong).is_err());
    }

    #[test]
    fn nan_is_an_error_to_quantize_and_stays_nan_when_fake_quantized() {
        let p = QuantParams::affine(-1.0, 1.0, 8).unwrap();
        let x = crate::tensor::from_vec(&[3], vec![0.5, f32::NAN, -0.5]).unwrap();
        assert!(p.quantize(&x).unwrap_err().to_string().contains("element 1 is NaN"));
        let f = p.fake_quantize(&x).unwrap();
        assert!(f[[1]].is_nan() && f[[0]].is_finite());
    }

    #[test]
    fn bad_bits_and_ranges_are_errors() {
        assert!(QuantParams::affine(0.0, 1.0, 1).is_err());
        assert!(QuantParams::affine(f32::NAN, 1.0, 8).is_err());
        assert!(QuantParams::affine(2.0, 1.0, 8).is_err());
    }
}
