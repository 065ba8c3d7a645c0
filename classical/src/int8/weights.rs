//! The integer parameters of a convolution, depthwise convolution or fully connected layer, in one
//! struct that the kernels own, the saved format stores and the C lowering reads.

use super::fixed_point::{QuantizedMultiplier, Requant, RoundingPolicy, quantize_multiplier};
use crate::compress::quant::QuantParams;
use crate::error::{Result, arg_err, shape_err};
use crate::tensor::{Tensor, from_vec};

/// Quantized weights with everything a layer's integer arithmetic needs (TFLite's int8 scheme):
/// int8 weights per output channel with their scales and zero points (symmetric: zero), the int32
/// bias at scale `s_in s_w[o]`, the input's zero point and the output stage (per-channel fixed-point
/// multipliers and shifts, output zero point, clamp range).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuantizedWeights {
    /// Row-major int8 weights in PyTorch's layout: `(O, C/groups, KH, KW)` for convolutions,
    /// `(O, 1, KH, KW)` for depthwise ones, `(out, in)` for fully connected layers.
    pub values: Vec<i8>,
    /// Their shape.
    pub shape: Vec<usize>,
    /// Scale of each output channel's weights (the real weight is `scale * (q - zero_point)`).
    pub scales: Vec<f32>,
    /// Zero point of each output channel's weights (0: symmetric).
    pub zero_points: Vec<i32>,
    /// int32 bias per output channel at scale `s_in s_w[o]`.
    pub bias: Vec<i32>,
    /// The zero point the input must have.
    pub input_zero_point: i32,
    /// The output stage: per-channel `s_in s_w[o] / s_out` as multiplier and shift, output zero
    /// point, clamp.
    pub requant: Requant,
}

impl QuantizedWeights {
    /// Quantizes a float `weight` (output channels on axis 0) and `bias` for an input quantized with
    /// `input` and an output with `output` clamped to `(lo, hi)`: weights per channel, symmetric on
    /// [-127, 127]; the bias rounded at scale `s_in s_w[o]`; multipliers `s_in s_w[o] / s_out`
    /// computed in f64, as TFLite does.
    pub fn quantize(
        weight: &Tensor,
        bias: &Tensor,
        input: &QuantParams,
        output: &QuantParams,
        (lo, hi): (i32, i32),
        policy: RoundingPolicy,
    ) -> Result<Self> {
        let (s_in, s_out) = (input.scale[0], output.scale[0]);
        let wp = QuantParams::per_channel_symmetric(weight, 0, 8)?;
        let values = wp.quantize(weight)?.into_iter().map(|v| v as i8).collect();
        if bias.len() != wp.scale.len() {
            return Err(shape_err("QuantizedWeights::quantize", weight.shape(), bias.shape(), "one bias per channel"));
        }
        let bias = bias
            .iter()
            .zip(&wp.scale)
            .map(|(&b, &sw)| {
                (b as f64 / (s_in as f64 * sw as f64)).round().clamp(i32::MIN as f64, i32::MAX as f64) as i32
            })
            .collect();
        let multipliers = wp
            .scale
            .iter()
            .map(|&sw| quantize_multiplier(s_in as f64 * sw as f64 / s_out as f64, policy))
            .collect::<Result<Vec<QuantizedMultiplier>>>()?;
        let requant = Requant::new(multipliers, output.zero_point[0], lo, hi, policy)?;
        let zero_points = vec![0; wp.scale.len()];
        Ok(Self {
            values,
            shape: weight.shape().to_vec(),
            scales: wp.scale,
            zero_points,
            bias,
            input_zero_point: input.zero_point[0],
            requant,
        })
    }

    /// Weights given as integers only (kernel tests and benches): unit scales, zero points 0.
    pub fn unscaled(
        values: Vec<i8>,
        shape: Vec<usize>,
        bias: Vec<i32>,
        input_zero_point: i32,
        requant: Requant,
    ) -> Self {
        let channels = shape.first().copied().unwrap_or(0);
        Self {
            values,
            shape,
            scales: vec![1.0; channels],
            zero_points: vec![0; channels],
            bias,
            input_zero_point,
            requant,
        }
    }

    /// Output channels.
    pub fn channels(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// The shape as four dimensions (convolutions), or an error naming `op`.
    pub fn shape4(&self, op: &'static str) -> Result<[usize; 4]> {
        match self.shape[..] {
            [o, c, kh, kw] => Ok([o, c, kh, kw]),
            _ => Err(arg_err(op, format!("a convolution weight needs 4 dimensions, got {:?}", self.shape))),
        }
    }

    /// Checks the per-channel vectors have one entry per output channel.
    pub(crate) fn check(&self, op: &'static str) -> Result<()> {
        let o = self.channels();
        if self.scales.len() != o
            || self.zero_points.len() != o
            || Some(self.values.len()) != self.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
        {
            return Err(shape_err(
                op,
                &self.shape,
                &[self.values.len(), self.scales.len(), self.zero_points.len()],
                "weights, scales and zero points per output channel",
            ));
        }
        Ok(())
    }

    /// The dequantized float weight `scale[o] * (q - zero_point[o])`.
    pub fn dequantized(&self) -> Result<Tensor> {
        let per = self.values.len() / self.channels().max(1);
        let data = self
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let o = i / per.max(1);
                (v as i32 - self.zero_points[o]) as f32 * self.scales[o]
            })
            .collect();
        from_vec(&self.shape, data)
    }

    /// The dequantized float bias `b[o] s_in s_w[o]` for input scale `s_in`.
    pub fn dequantized_bias(&self, s_in: f32) -> Result<Tensor> {
        let data =
            self.bias.iter().zip(&self.scales).map(|(&v, &s)| (v as f64 * s_in as f64 * s as f64) as f32).collect();
        from_vec(&[self.bias.len()], data)
    }

    /// Bytes of storage: int8 weights, int32 biases, and per channel a weight scale (4 B) and a
    /// multiplier (4 B mantissa + 1 B shift), plus the output's scale and zero point (5 B).
    pub fn storage(&self) -> (usize, usize, usize) {
        (self.values.len(), 4 * self.bias.len(), 9 * self.bias.len() + 5)
    }
}
