//! Concatenation of int8 tensors along the channel axis (NHWC: per pixel, the channels of each input
//! in turn), each input requantized to the output's scale and zero point as TFLite's int8
//! `Requantize` does it: `zp_out + MultiplyByQuantizedMultiplier(x - zp_in, s_in / s_out)`, clamped.
//! An input that already has the output's parameters is copied.

use super::Dims;
use crate::error::{Result, arg_err, shape_err};
use crate::int8::fixed_point::{
    QuantizedMultiplier, RoundingPolicy, multiply_by_quantized_multiplier, quantize_multiplier,
};

/// How one input of a concatenation is brought to the output's parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConcatInput {
    /// The input's zero point.
    pub zero_point: i32,
    /// `s_in / s_out`, or `None` when the input has the output's parameters (a copy).
    pub multiplier: Option<QuantizedMultiplier>,
}

/// Parameters of an int8 concatenation along channels.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QConcat {
    /// One entry per input, in order.
    pub inputs: Vec<ConcatInput>,
    /// The output's zero point.
    pub output_zero_point: i32,
    /// Rounding of the rescales.
    pub policy: RoundingPolicy,
}

impl QConcat {
    /// The parameters for inputs `(scale, zero point)` and the output `(scale, zero point)`.
    pub fn new(inputs: &[(f32, i32)], output: (f32, i32), policy: RoundingPolicy) -> Result<Self> {
        if inputs.len() < 2 {
            return Err(arg_err("QConcat::new", format!("needs two or more inputs, got {}", inputs.len())));
        }
        let inputs = inputs
            .iter()
            .map(|&(s, zp)| {
                let same = s == output.0 && zp == output.1;
                let multiplier =
                    (!same).then(|| quantize_multiplier(s as f64 / output.0 as f64, policy)).transpose()?;
                Ok(ConcatInput { zero_point: zp, multiplier })
            })
            .collect::<Result<_>>()?;
        Ok(Self { inputs, output_zero_point: output.1, policy })
    }

    /// Input `i`'s value `x` in the output's parameters.
    #[inline(always)]
    pub fn rescale(&self, i: usize, x: i8) -> i8 {
        let p = self.inputs[i];
        match p.multiplier {
            None => x,
            Some(m) => {
                let v = multiply_by_quantized_multiplier(x as i32 - p.zero_point, m, self.policy);
                v.saturating_add(self.output_zero_point).clamp(-128, 127) as i8
            }
        }
    }

    /// Concatenates NHWC inputs `xs` of dims `dims` (same `n`, `h`, `w`) along channels.
    pub fn forward(&self, xs: &[&[i8]], dims: &[Dims]) -> Result<(Vec<i8>, Dims)> {
        if xs.len() != self.inputs.len() || dims.len() != xs.len() {
            return Err(arg_err(
                "QConcat",
                format!("{} inputs for a concatenation of {}", xs.len(), self.inputs.len()),
            ));
        }
        let d0 = dims[0];
        for (x, d) in xs.iter().zip(dims) {
            if (d.n, d.h, d.w) != (d0.n, d0.h, d0.w) {
                return Err(shape_err("QConcat", &d0.nchw(), &d.nchw(), "inputs differ outside the channel axis"));
            }
            d.check("QConcat", x.len())?;
        }
        let c: usize = dims.iter().map(|d| d.c).sum();
        let out_dims = Dims::new(d0.n, c, d0.h, d0.w);
        let mut out = Vec::with_capacity(out_dims.len());
        for pixel in 0..d0.n * d0.h * d0.w {
            for (i, (x, d)) in xs.iter().zip(dims).enumerate() {
                out.extend(x[pixel * d.c..(pixel + 1) * d.c].iter().map(|&v| self.rescale(i, v)));
            }
        }
        Ok((out, out_dims))
    }
}
