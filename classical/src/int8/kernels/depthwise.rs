//! Depthwise convolution (`groups == C`, output channel `o` reads input channel `o / multiplier`), as
//! TFLite's `reference_integer_ops::DepthwiseConvPerChannel`: `Σ_taps (x - zp_in) w + bias`, rescaled
//! per channel. The input is first widened to i16 `x - zp_in` in a zero-padded NHWC buffer with one
//! lane per output channel, so each tap is a contiguous i16 x i16 -> i32 multiply-add over channels.

use super::{Dims, conv_out};
use crate::error::{Result, arg_err, shape_err};
use crate::int8::weights::QuantizedWeights;
use crate::ops::Conv2dSpec;
use rayon::prelude::*;

/// An int8 depthwise convolution with per-channel weights.
#[derive(Debug, Clone, PartialEq)]
pub struct QDepthwiseConv2d {
    weights: QuantizedWeights,
    shape: [usize; 4],
    spec: Conv2dSpec,
    /// Weights as `[tap][channel]` i16.
    taps: Vec<i16>,
}

impl QDepthwiseConv2d {
    /// A depthwise convolution with quantized weights `(O, 1, KH, KW)` where `O` is a multiple of
    /// the `spec.groups` input channels.
    pub fn new(weights: QuantizedWeights, spec: Conv2dSpec) -> Result<Self> {
        let shape = weights.shape4("QDepthwiseConv2d::new")?;
        weights.check("QDepthwiseConv2d::new")?;
        let QuantizedWeights { values: weight, bias, input_zero_point, requant, .. } = &weights;
        let input_zero_point = *input_zero_point;
        let [o, one, kh, kw] = shape;
        if weight.len() != o * kh * kw || bias.len() != o || one != 1 {
            return Err(shape_err(
                "QDepthwiseConv2d::new",
                &shape,
                &[weight.len(), bias.len()],
                "weight (O, 1, KH, KW)",
            ));
        }
        if spec.groups == 0 || o % spec.groups != 0 {
            return Err(arg_err(
                "QDepthwiseConv2d::new",
                format!("{o} channels are not a multiple of {}", spec.groups),
            ));
        }
        if !(-128..=127).contains(&input_zero_point) {
            return Err(arg_err("QDepthwiseConv2d::new", format!("input zero point {input_zero_point} is not an i8")));
        }
        if requant.multipliers.len() != 1 && requant.multipliers.len() != o {
            return Err(shape_err("QDepthwiseConv2d::new", &shape, &[requant.multipliers.len()], "multipliers"));
        }
        let mut taps = vec![0i16; kh * kw * o];
        for c in 0..o {
            for t in 0..kh * kw {
                taps[t * o + c] = weight[c * kh * kw + t] as i16;
            }
        }
        Ok(Self { weights, shape, spec, taps })
    }

    /// The quantized weights.
    pub fn weights(&self) -> &QuantizedWeights {
        &self.weights
    }

    /// The weight shape.
    pub fn weight_shape(&self) -> [usize; 4] {
        self.shape
    }
    /// Stride, padding, dilation, groups (= input channels).
    pub fn spec(&self) -> Conv2dSpec {
        self.spec
    }

    /// Output dims for input dims `d`, or a shape error.
    pub fn output_dims(&self, d: Dims) -> Result<Dims> {
        let [o, _, kh, kw] = self.shape;
        if d.c != self.spec.groups {
            return Err(shape_err("QDepthwiseConv2d", &d.nchw(), &self.shape, "input channels must equal groups"));
        }
        let (oh, ow) = conv_out("QDepthwiseConv2d", d, kh, kw, &self.spec)?;
        Ok(Dims::new(d.n, o, oh, ow))
    }

    /// Multiply-accumulates per sample for input dims `d`.
    pub fn macs(&self, d: Dims) -> Result<usize> {
        let od = self.output_dims(d)?;
        Ok(od.c * od.h * od.w * self.shape[2] * self.shape[3])
    }

    /// The NHWC output for NHWC input `x` with dims `d`.
    pub fn forward(&self, x: &[i8], d: Dims) -> Result<(Vec<i8>, Dims)> {
        d.check("QDepthwiseConv2d", x.len())?;
        let od = self.output_dims(d)?;
        let [o, _, kh, kw] = self.shape;
        let s = self.spec;
        let mult = o / d.c;
        let (hp, wp) = (d.h + 2 * s.padding.0, d.w + 2 * s.padding.1);
        // x - zp per output channel, zero in the padding.
        let mut padded = vec![0i16; d.n * hp * wp * o];
        padded.par_chunks_mut(hp * wp * o).enumerate().for_each(|(n, plane)| {
            for ih in 0..d.h {
                for iw in 0..d.w {
                    let src = &x[((n * d.h + ih) * d.w + iw) * d.c..][..d.c];
                    let dst = &mut plane[((ih + s.padding.0) * wp + iw + s.padding.1) * o..][..o];
                    for (j, v) in dst.iter_mut().enumerate() {
                        *v = src[j / mult] as i16 - self.weights.input_zero_point as i16;
                    }
                }
            }
        });
        let mut out = vec![0i8; od.len()];
        let row_len = od.w * o;
        let row = |acc: &mut Vec<i32>, (r, out_row): (usize, &mut [i8])| {
            let (n, oi) = (r / od.h, r % od.h);
            for (oj, a) in acc.chunks_exact_mut(o).enumerate() {
                a.copy_from_slice(&self.weights.bias);
                for ki in 0..kh {
                    let ih = oi * s.stride.0 + ki * s.dilation.0;
                    for kj in 0..kw {
                        let iw = oj * s.stride.1 + kj * s.dilation.1;
                        let src = &padded[((n * hp + ih) * wp + iw) * o..][..o];
                        let w = &self.taps[(ki * kw + kj) * o..][..o];
                        for ((a, &xv), &wv) in a.iter_mut().zip(src).zip(w) {
                            *a = a.wrapping_add(xv as i32 * wv as i32);
                        }
                    }
                }
            }
            for (a, dst) in acc.chunks_exact(o).zip(out_row.chunks_exact_mut(o)) {
                self.weights.requant.apply_channels(a, 0, dst);
            }
        };
        out.par_chunks_mut(row_len.max(1)).enumerate().for_each_init(|| vec![0i32; row_len], row);
        Ok((out, od))
    }
}
