//! Convolution (any kernel, stride, padding, dilation and groups) by implicit im2row (each GEMM tile gathers
//! its receptive fields) + the fused i8 GEMM (a 1x1
//! stride-1 unpadded convolution runs the GEMM on the NHWC input directly), as
//! TFLite's `reference_integer_ops::ConvPerChannel` computes it: `Σ (x - zp_in) w + bias`, rescaled per
//! output channel, plus the output zero point, clamped. Padded taps contribute nothing (they hold the
//! input zero point, the real value 0).

use super::{Dims, conv_out, source};
use crate::error::{Result, arg_err, shape_err};
use crate::int8::gemm::{Backend, Epilogue, PackedWeights, correction, gemm_requant_gather, gemm_requant_i8};
use crate::int8::weights::QuantizedWeights;
use crate::ops::Conv2dSpec;

/// An int8 convolution layer with per-channel weights.
#[derive(Debug, Clone, PartialEq)]
pub struct QConv2d {
    weights: QuantizedWeights,
    shape: [usize; 4],
    spec: Conv2dSpec,
    /// Per group, weights reordered to `(O/g, KH, KW, C/g)` (the im2row order) and packed, with their
    /// output stage.
    packed: Vec<(PackedWeights, Epilogue)>,
}

impl QConv2d {
    /// A convolution with quantized weights `(O, C/groups, KH, KW)` (PyTorch order, row-major) and
    /// the geometry `spec`.
    pub fn new(weights: QuantizedWeights, spec: Conv2dSpec) -> Result<Self> {
        let shape = weights.shape4("QConv2d::new")?;
        weights.check("QConv2d::new")?;
        let QuantizedWeights { values: weight, bias, input_zero_point, requant, .. } = &weights;
        let (weight, bias, input_zero_point, requant) = (weight, bias, *input_zero_point, requant);
        let [o, cg, kh, kw] = shape;
        let g = spec.groups;
        if weight.len() != o * cg * kh * kw || bias.len() != o {
            return Err(shape_err("QConv2d::new", &shape, &[weight.len(), bias.len()], "weight and bias sizes"));
        }
        if g == 0 || o % g != 0 || o == 0 || cg == 0 {
            return Err(arg_err("QConv2d::new", format!("{o} output channels do not split into {g} groups")));
        }
        if !(-128..=127).contains(&input_zero_point) {
            return Err(arg_err("QConv2d::new", format!("input zero point {input_zero_point} is not an i8")));
        }
        if requant.multipliers.len() != 1 && requant.multipliers.len() != o {
            return Err(shape_err("QConv2d::new", &shape, &[requant.multipliers.len()], "one multiplier per channel"));
        }
        let (og, k) = (o / g, cg * kh * kw);
        let mut packed = Vec::with_capacity(g);
        for gi in 0..g {
            let mut reordered = vec![0i8; og * k];
            for oo in 0..og {
                let src = &weight[(gi * og + oo) * k..][..k];
                for c in 0..cg {
                    for t in 0..kh * kw {
                        reordered[oo * k + t * cg + c] = src[c * kh * kw + t];
                    }
                }
            }
            let p = PackedWeights::new(&reordered, og, k)?;
            let corr = correction(&p, &bias[gi * og..(gi + 1) * og], input_zero_point);
            let epilogue = Epilogue::new(&p, &corr, requant, gi * og)?;
            packed.push((p, epilogue));
        }
        Ok(Self { weights, shape, spec, packed })
    }

    /// The quantized weights.
    pub fn weights(&self) -> &QuantizedWeights {
        &self.weights
    }

    /// The weight shape.
    pub fn weight_shape(&self) -> [usize; 4] {
        self.shape
    }
    /// Stride, padding, dilation, groups.
    pub fn spec(&self) -> Conv2dSpec {
        self.spec
    }

    /// Output dims for input dims `d`, or a shape error.
    pub fn output_dims(&self, d: Dims) -> Result<Dims> {
        let [o, cg, kh, kw] = self.shape;
        if d.c != cg * self.spec.groups {
            return Err(shape_err("QConv2d", &d.nchw(), &self.shape, "input channels must be C/groups * groups"));
        }
        let (oh, ow) = conv_out("QConv2d", d, kh, kw, &self.spec)?;
        Ok(Dims::new(d.n, o, oh, ow))
    }

    /// The NHWC output for NHWC input `x` with dims `d`, on the detected backend.
    pub fn forward(&self, x: &[i8], d: Dims) -> Result<(Vec<i8>, Dims)> {
        self.forward_with(Backend::detect(), x, d)
    }

    /// The same on a chosen backend.
    pub fn forward_with(&self, backend: Backend, x: &[i8], d: Dims) -> Result<(Vec<i8>, Dims)> {
        d.check("QConv2d", x.len())?;
        let od = self.output_dims(d)?;
        let [o, cg, kh, kw] = self.shape;
        let positions = od.h * od.w;
        let mut out = vec![0i8; od.len()];
        if kh == 1 && kw == 1 && self.spec.stride == (1, 1) && self.spec.padding == (0, 0) {
            // A 1x1 stride-1 unpadded convolution on NHWC is the product (N H W, C) x (C, O): row r of
            // group gi is x[r * C + gi * C/g..][..C/g] as it lies, so no im2row copy is made.
            for (gi, (packed, epilogue)) in self.packed.iter().enumerate() {
                gemm_requant_i8(
                    backend,
                    x.get(gi * cg..).unwrap_or(&[]),
                    d.c,
                    d.n * positions,
                    packed,
                    epilogue,
                    &mut out,
                    o,
                )?;
            }
            return Ok((out, od));
        }
        let pad_byte = (self.weights.input_zero_point as i8 as u8) ^ 0x80;
        let s = self.spec;
        let rows = d.n * positions;
        for (gi, (packed, epilogue)) in self.packed.iter().enumerate() {
            // With one group and no column dilation, the in-range taps of a kernel row are one
            // contiguous run of the NHWC input (`(hi - lo) * C` bytes), copied in one go.
            let runs = self.spec.groups == 1 && s.dilation.1 == 1;
            // Row r of the (implicit) im2row matrix: the receptive field of output position r, gathered
            // by the GEMM into its per-thread row-block buffer right before use.
            let fill_row = |n: usize, oi: usize, oj: usize, row: &mut [u8]| {
                for ki in 0..kh {
                    let taps = &mut row[ki * kw * cg..(ki + 1) * kw * cg];
                    let Some(ih) = source(oi, ki, s.stride.0, s.padding.0, s.dilation.0, d.h) else {
                        taps.fill(pad_byte);
                        continue;
                    };
                    let line = &x[(n * d.h + ih) * d.w * d.c..(n * d.h + ih + 1) * d.w * d.c];
                    if runs {
                        // Taps kj in lo..hi land on columns start + kj inside 0..W.
                        let start = (oj * s.stride.1) as isize - s.padding.1 as isize;
                        let lo = (-start).clamp(0, kw as isize) as usize;
                        let hi = (d.w as isize - start).clamp(lo as isize, kw as isize) as usize;
                        if lo == 0 && hi == kw {
                            let from = start as usize * cg;
                            offset_copy(taps, &line[from..from + kw * cg]);
                            continue;
                        }
                        taps[..lo * cg].fill(pad_byte);
                        taps[hi * cg..].fill(pad_byte);
                        if lo < hi {
                            let from = (start + lo as isize) as usize * cg;
                            offset_copy(&mut taps[lo * cg..hi * cg], &line[from..from + (hi - lo) * cg]);
                        }
                    } else {
                        for (kj, dst) in taps.chunks_exact_mut(cg).enumerate() {
                            match source(oj, kj, s.stride.1, s.padding.1, s.dilation.1, d.w) {
                                Some(iw) => offset_copy(dst, &line[iw * d.c + gi * cg..][..cg]),
                                None => dst.fill(pad_byte),
                            }
                        }
                    }
                }
            };
            // A block of rows r0.. walks the output positions in order, with no division per row.
            let pk = packed.padded_k();
            let fill = |r0: usize, tile: &mut [u8]| {
                let (mut n, l) = (r0 / positions, r0 % positions);
                let (mut oi, mut oj) = (l / od.w, l % od.w);
                for row in tile.chunks_exact_mut(pk) {
                    fill_row(n, oi, oj, row);
                    oj += 1;
                    if oj == od.w {
                        (oi, oj) = (oi + 1, 0);
                        if oi == od.h {
                            (n, oi) = (n + 1, 0);
                        }
                    }
                }
            };
            gemm_requant_gather(backend, &fill, rows, packed, epilogue, &mut out, o)?;
        }
        Ok((out, od))
    }

    /// Multiply-accumulates per sample for input dims `d`.
    pub fn macs(&self, d: Dims) -> Result<usize> {
        let od = self.output_dims(d)?;
        let [o, cg, kh, kw] = self.shape;
        Ok(o * od.h * od.w * cg * kh * kw)
    }
}

/// `dst[i] = src[i] + 128` as u8 (the byte `src[i] ^ 0x80`), the GEMM's activation offset.
#[inline(always)]
fn offset_copy(dst: &mut [u8], src: &[i8]) {
    for (t, &v) in dst.iter_mut().zip(src) {
        *t = (v as u8) ^ 0x80;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::int8::fixed_point::{Requant, RoundingPolicy, quantize_multiplier};
    use crate::int8::gemm::Backend;
    use crate::int8::kernels::{ConvKernel, nchw_to_nhwc, nhwc_to_nchw};
    use crate::int8::reference;
    use crate::tensor::{rng, uniform};

    /// The copy-free 1x1 path (groups 1 and 3, channel counts off the multiples of 4 and of the panel
    /// width, a partial last row tile) equals the i128 reference on every backend, under both
    /// policies; an empty batch gives an empty output.
    #[test]
    fn pointwise_conv_equals_reference() {
        let mut r = rng(21);
        for (groups, cg, og, n, h, w, single) in [
            (1, 64, 40, 2, 5, 3, false),
            (1, 7, 33, 1, 4, 4, true),
            (3, 5, 11, 2, 3, 5, false),
            (3, 8, 2, 1, 2, 2, true),
        ] {
            let policy = if single { RoundingPolicy::SingleRounding } else { RoundingPolicy::DoubleRounding };
            let (c, o) = (cg * groups, og * groups);
            let mut byte = |lo: f64| (lo + uniform(&mut r) * (127.0 - lo + 1.0)).floor() as i8;
            let d = Dims::new(n, c, h, w);
            let x: Vec<i8> = (0..d.len()).map(|_| byte(-128.0)).collect();
            let weight: Vec<i8> = (0..o * cg).map(|_| byte(-127.0)).collect();
            let bias: Vec<i32> = (0..o as i32).map(|i| i * 311 - 5000).collect();
            let ms = (0..o).map(|i| quantize_multiplier(2f64.powf(-12.0 + (i % 9) as f64), policy).unwrap()).collect();
            let rq = Requant::new(ms, -7, -128, 127, policy).unwrap();
            let spec = Conv2dSpec { groups, ..Conv2dSpec::new(1, 0) };
            let shape = [o, cg, 1, 1];
            let (want, wd) = reference::conv2d(&x, d, &weight, shape, &bias, spec, 9, &rq).unwrap();
            let conv = QConv2d::from_parts(weight, shape, bias, spec, 9, rq).unwrap();
            for b in [Backend::Portable, Backend::Avx2, Backend::Avx512Vnni] {
                if b.available() {
                    let (got, gd) = conv.forward_with(b, &nchw_to_nhwc(&x, d), d).unwrap();
                    assert_eq!(gd, wd);
                    assert_eq!(nhwc_to_nchw(&got, gd), want, "{b:?} groups {groups}");
                }
            }
            let (empty, ed) = conv.forward(&[], Dims::new(0, c, h, w)).unwrap();
            assert!(empty.is_empty() && ed.n == 0);
        }
    }

    /// The im2row fill by contiguous runs (one group, no column dilation), with windows hanging off
    /// both sides, strides and row dilation, equals the i128 reference on every backend.
    #[test]
    fn im2row_runs_equal_reference() {
        let mut r = rng(22);
        for ((kh, kw), stride, padding, dilation, c, o) in [
            ((3, 3), (1, 1), (1, 1), (1, 1), 5, 7),
            ((3, 2), (2, 3), (2, 1), (1, 1), 8, 33),
            ((1, 3), (1, 1), (0, 2), (2, 1), 3, 4),
            ((2, 4), (3, 1), (1, 3), (1, 1), 6, 2),
        ] {
            let mut byte = |lo: f64| (lo + uniform(&mut r) * (127.0 - lo + 1.0)).floor() as i8;
            let d = Dims::new(2, c, 6, 7);
            let x: Vec<i8> = (0..d.len()).map(|_| byte(-128.0)).collect();
            let weight: Vec<i8> = (0..o * c * kh * kw).map(|_| byte(-127.0)).collect();
            let bias: Vec<i32> = (0..o as i32).map(|i| 700 - i * 97).collect();
            let policy = RoundingPolicy::DoubleRounding;
            let ms = (0..o).map(|i| quantize_multiplier(2f64.powf(-11.0 + (i % 5) as f64), policy).unwrap()).collect();
            let rq = Requant::new(ms, 3, -128, 127, policy).unwrap();
            let spec = Conv2dSpec { stride, padding, dilation, groups: 1 };
            let shape = [o, c, kh, kw];
            let (want, wd) = reference::conv2d(&x, d, &weight, shape, &bias, spec, -20, &rq).unwrap();
            let conv = QConv2d::from_parts(weight, shape, bias, spec, -20, rq).unwrap();
            for b in [Backend::Portable, Backend::Avx2, Backend::Avx512Vnni] {
                if b.available() {
                    let (got, gd) = conv.forward_with(b, &nchw_to_nhwc(&x, d), d).unwrap();
                    assert_eq!(gd, wd);
                    assert_eq!(nhwc_to_nchw(&got, gd), want, "{b:?} kernel {kh}x{kw}");
                }
            }
        }
    }
}
