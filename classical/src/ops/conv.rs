//! 2-d convolution by im2col + GEMM, with stride, padding, dilation and groups (depthwise included).
//!
//! For each sample and group, the receptive fields are unrolled into a `(C/g * KH * KW, OH * OW)`
//! matrix (im2col; skipped for 1x1 stride-1 unpadded convolutions, where the input already is that
//! matrix), and the output is `W_g (O/g, C/g*KH*KW)` times it. The backward pass recomputes the columns,
//! gets `dW` from `dY cols^T` and the input gradient by scattering `W^T dY` back (col2im). Samples run in
//! parallel; per-sample weight gradients are summed in sample order, so results do not depend on the
//! thread count.

use super::linalg::gemm_into;
use crate::autograd::{Op, Var};
use crate::error::{Result, arg_err, shape_err};
use crate::tensor::{Tensor, contiguous};
use ndarray::IxDyn;
use rayon::prelude::*;

/// Geometry of a 2-d convolution (PyTorch's `Conv2d` arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Conv2dSpec {
    /// Step between windows (rows, columns).
    pub stride: (usize, usize),
    /// Zero padding added on each side (rows, columns).
    pub padding: (usize, usize),
    /// Spacing between kernel taps (rows, columns).
    pub dilation: (usize, usize),
    /// Channel groups: input and output channels are split into this many independent groups
    /// (`groups == channels` is a depthwise convolution).
    pub groups: usize,
}

impl Default for Conv2dSpec {
    fn default() -> Self {
        Self { stride: (1, 1), padding: (0, 0), dilation: (1, 1), groups: 1 }
    }
}

impl Conv2dSpec {
    /// Stride and padding equal on both axes, no dilation, one group.
    pub fn new(stride: usize, padding: usize) -> Self {
        Self { stride: (stride, stride), padding: (padding, padding), ..Self::default() }
    }

    /// The same with `groups` groups.
    pub fn with_groups(self, groups: usize) -> Self {
        Self { groups, ..self }
    }
}

/// Every size the kernels need, checked once.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    spec: Conv2dSpec,
}

impl Geometry {
    fn new(x: &[usize], wt: &[usize], spec: Conv2dSpec) -> Result<Self> {
        if x.len() != 4 || wt.len() != 4 {
            return Err(shape_err("conv2d", x, wt, "input must be (N, C, H, W) and weight (O, C/groups, KH, KW)"));
        }
        let g = spec.groups;
        if g == 0 || spec.stride.0 == 0 || spec.stride.1 == 0 || spec.dilation.0 == 0 || spec.dilation.1 == 0 {
            return Err(arg_err("conv2d", format!("groups, stride and dilation must be positive: {spec:?}")));
        }
        let (n, c, h, w) = (x[0], x[1], x[2], x[3]);
        let (o, cg, kh, kw) = (wt[0], wt[1], wt[2], wt[3]);
        if c % g != 0 || o % g != 0 || cg * g != c {
            return Err(shape_err(
                "conv2d",
                x,
                wt,
                format!(
                    "with {g} groups the weight needs {} input channels per group and O divisible by {g}",
                    c / g.max(1)
                ),
            ));
        }
        let span_h = spec.dilation.0 * (kh.max(1) - 1) + 1;
        let span_w = spec.dilation.1 * (kw.max(1) - 1) + 1;
        if kh == 0 || kw == 0 || h + 2 * spec.padding.0 < span_h || w + 2 * spec.padding.1 < span_w {
            return Err(shape_err("conv2d", x, wt, "the (dilated) kernel is larger than the padded input"));
        }
        let oh = (h + 2 * spec.padding.0 - span_h) / spec.stride.0 + 1;
        let ow = (w + 2 * spec.padding.1 - span_w) / spec.stride.1 + 1;
        Ok(Self { n, c, h, w, o, kh, kw, oh, ow, spec })
    }

    fn cg(&self) -> usize {
        self.c / self.spec.groups
    }
    fn og(&self) -> usize {
        self.o / self.spec.groups
    }
    fn col_rows(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    fn l(&self) -> usize {
        self.oh * self.ow
    }
    /// True when the input of a group already is its column matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.spec.stride == (1, 1) && self.spec.padding == (0, 0)
    }

    /// Input row/column of output position `o` and kernel tap `k` along one axis, if inside.
    #[inline(always)]
    fn source(o: usize, k: usize, stride: usize, pad: usize, dil: usize, size: usize) -> Option<usize> {
        let pos = (o * stride + k * dil) as isize - pad as isize;
        (pos >= 0 && (pos as usize) < size).then_some(pos as usize)
    }

    /// The output columns `lo..hi` whose tap `kj` lands inside the input row, and the input column of
    /// output column `lo` (so the loop over them needs no bounds checks).
    #[inline(always)]
    fn valid_columns(&self, kj: usize) -> (usize, usize, usize) {
        let s = self.spec;
        let offset = (kj * s.dilation.1) as isize - s.padding.1 as isize;
        // Smallest oj with oj*stride + offset >= 0, and first oj with oj*stride + offset >= w.
        let first = |bound: isize| -> usize {
            let need = bound - offset;
            if need <= 0 { 0 } else { (need as usize).div_ceil(s.stride.1) }
        };
        let lo = first(0).min(self.ow);
        let hi = first(self.w as isize).clamp(lo, self.ow);
        // With no valid column (a dilated tap beyond the row), `start` is unused: keep it in range.
        let start = if lo < hi { (lo as isize * s.stride.1 as isize + offset).max(0) as usize } else { 0 };
        (lo, hi, start)
    }

    /// Unrolls group `g` of one sample (`x` is `C*H*W`) into `cols` (`col_rows x L`).
    fn im2col(&self, x: &[f32], g: usize, cols: &mut [f32]) {
        let (l, s) = (self.l(), self.spec);
        for c in 0..self.cg() {
            let plane = &x[(g * self.cg() + c) * self.h * self.w..][..self.h * self.w];
            for ki in 0..self.kh {
                for kj in 0..self.kw {
                    let row = &mut cols[((c * self.kh + ki) * self.kw + kj) * l..][..l];
                    let (lo, hi, start) = self.valid_columns(kj);
                    for oi in 0..self.oh {
                        let dst = &mut row[oi * self.ow..(oi + 1) * self.ow];
                        match Self::source(oi, ki, s.stride.0, s.padding.0, s.dilation.0, self.h) {
                            None => dst.fill(0.0),
                            Some(hi_row) => {
                                dst[..lo].fill(0.0);
                                dst[hi..].fill(0.0);
                                let src = &plane[hi_row * self.w..(hi_row + 1) * self.w];
                                if s.stride.1 == 1 {
                                    dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
                                } else {
                                    for (d, &v) in dst[lo..hi].iter_mut().zip(src[start..].iter().step_by(s.stride.1)) {
                                        *d = v;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds the columns `cols` of group `g` back into the input gradient `dx` (`C*H*W`).
    fn col2im(&self, cols: &[f32], g: usize, dx: &mut [f32]) {
        let (l, s) = (self.l(), self.spec);
        for c in 0..self.cg() {
            let plane = &mut dx[(g * self.cg() + c) * self.h * self.w..][..self.h * self.w];
            for ki in 0..self.kh {
                for kj in 0..self.kw {
                    let row = &cols[((c * self.kh + ki) * self.kw + kj) * l..][..l];
                    let (lo, hi, start) = self.valid_columns(kj);
                    for oi in 0..self.oh {
                        let Some(hi_row) = Self::source(oi, ki, s.stride.0, s.padding.0, s.dilation.0, self.h) else {
                            continue;
                        };
                        let src = &row[oi * self.ow + lo..oi * self.ow + hi];
                        let dst = &mut plane[hi_row * self.w..(hi_row + 1) * self.w];
                        for (d, &v) in dst[start..].iter_mut().step_by(s.stride.1).zip(src) {
                            *d += v;
                        }
                    }
                }
            }
        }
    }
}

/// Samples per block of the backward pass (fixed, so that the weight-gradient sums do not depend on
/// the thread count).
const SAMPLES_PER_BLOCK: usize = 8;

#[derive(Debug)]
struct Conv2d {
    geo: Geometry,
    has_bias: bool,
}

impl Op for Conv2d {
    fn name(&self) -> &'static str {
        "conv2d"
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::Conv2d { spec: self.geo.spec, act: None })
    }

    fn backward(&self, inputs: &[&Tensor], output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        self.backward_needed(inputs, output, grad, &[true; 3])
    }

    fn backward_needed(
        &self,
        inputs: &[&Tensor],
        _: &Tensor,
        grad: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let geo = self.geo;
        let (need_dx, need_dw) = (needs[0], needs[1]);
        let (x, wt, dy) = (contiguous(inputs[0]), contiguous(inputs[1]), contiguous(grad));
        let (xs, ws, dys) = (x.as_slice().unwrap(), wt.as_slice().unwrap(), dy.as_slice().unwrap());
        let (chw, l, rows, og) = (geo.c * geo.h * geo.w, geo.l(), geo.col_rows(), geo.og());
        // Samples are processed in blocks of a fixed size: each block writes its samples' input
        // gradients and sums its weight gradient in sample order; the blocks' partial sums are then
        // added in block order. The order of every addition is fixed, whatever the thread count.
        let mut dx = vec![0.0f32; geo.n * chw];
        let scratch = || (vec![0.0f32; if geo.is_pointwise() { 0 } else { rows * l }], vec![0.0f32; rows * l]);
        let partial_dw: Vec<Vec<f32>> = dx
            .par_chunks_mut(SAMPLES_PER_BLOCK * chw)
            .enumerate()
            .map_init(scratch, |(cols, dcols), (block, dx_block)| {
                let mut dw = vec![0.0f32; ws.len()];
                for (j, dx_i) in dx_block.chunks_mut(chw).enumerate() {
                    let i = block * SAMPLES_PER_BLOCK + j;
                    let xi = &xs[i * chw..(i + 1) * chw];
                    let dyi = &dys[i * geo.o * l..(i + 1) * geo.o * l];
                    for g in 0..geo.spec.groups {
                        let dyg = &dyi[g * og * l..(g + 1) * og * l];
                        let wg = &ws[g * og * rows..(g + 1) * og * rows];
                        // dW_g += dY_g (og, L) x cols^T (L, rows)
                        if need_dw {
                            let colsg: &[f32] = if geo.is_pointwise() {
                                &xi[g * rows * l..(g + 1) * rows * l]
                            } else {
                                geo.im2col(xi, g, cols);
                                cols
                            };
                            let dwg = &mut dw[g * og * rows..(g + 1) * og * rows];
                            gemm_into(og, rows, l, dyg, l, 1, colsg, 1, l, dwg, true)?;
                        }
                        // dcols = W_g^T (rows, og) x dY_g (og, L)
                        if !need_dx {
                            continue;
                        }
                        if geo.is_pointwise() {
                            gemm_into(
                                rows,
                                l,
                                og,
                                wg,
                                1,
                                rows,
                                dyg,
                                l,
                                1,
                                &mut dx_i[g * rows * l..(g + 1) * rows * l],
                                false,
                            )?;
                        } else {
                            gemm_into(rows, l, og, wg, 1, rows, dyg, l, 1, dcols, false)?;
                            geo.col2im(dcols, g, dx_i);
                        }
                    }
                }
                Ok(dw)
            })
            .collect::<Result<_>>()?;
        let mut dw = vec![0.0f32; ws.len()];
        for part in &partial_dw {
            dw.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        }
        let mut out = vec![
            need_dx.then(|| Tensor::from_shape_vec(IxDyn(x.shape()), dx).expect("shape")),
            need_dw.then(|| Tensor::from_shape_vec(IxDyn(wt.shape()), dw).expect("shape")),
        ];
        if self.has_bias {
            let mut db = vec![0.0f32; geo.o];
            for i in 0..geo.n {
                for (o, d) in db.iter_mut().enumerate() {
                    *d += dys[(i * geo.o + o) * l..][..l].iter().sum::<f32>();
                }
            }
            out.push(Some(Tensor::from_shape_vec(IxDyn(&[geo.o]), db).expect("shape")));
        }
        Ok(out)
    }
}

/// 2-d convolution of `x` `(N, C, H, W)` with `weight` `(O, C/groups, KH, KW)` and optional `bias`
/// `(O)`; output `(N, O, OH, OW)`.
///
/// ```
/// use tinylab_classical::{Var, ops::{self, Conv2dSpec}, tensor};
/// let x = Var::constant(tensor::ones(&[1, 2, 5, 5]));
/// let w = Var::constant(tensor::ones(&[4, 2, 3, 3]));
/// let y = ops::conv2d(&x, &w, None, Conv2dSpec::default())?; // no padding: 5 - 3 + 1 = 3
/// assert_eq!(y.shape(), &[1, 4, 3, 3]);
/// assert!(y.value().iter().all(|&v| v == 18.0)); // 2 channels x 9 taps
/// # Ok::<(), tinylab_classical::ClassicalError>(())
/// ```
pub fn conv2d(x: &Var, weight: &Var, bias: Option<&Var>, spec: Conv2dSpec) -> Result<Var> {
    let geo = Geometry::new(x.shape(), weight.shape(), spec)?;
    if let Some(b) = bias
        && b.shape() != [geo.o]
    {
        return Err(shape_err("conv2d", weight.shape(), b.shape(), "bias must have one entry per output channel"));
    }
    let (xc, wc) = (contiguous(x.value()), contiguous(weight.value()));
    let (xs, ws) = (xc.as_slice().unwrap(), wc.as_slice().unwrap());
    let (chw, l, rows, og) = (geo.c * geo.h * geo.w, geo.l(), geo.col_rows(), geo.og());
    let bias_values: Option<Vec<f32>> = bias.map(|b| b.value().iter().copied().collect());
    let mut out = vec![0.0f32; geo.n * geo.o * l];
    let scratch = || vec![0.0f32; if geo.is_pointwise() { 0 } else { rows * l }];
    out.par_chunks_mut(geo.o * l).enumerate().try_for_each_init(scratch, |cols, (i, yi)| -> Result<()> {
        let xi = &xs[i * chw..(i + 1) * chw];
        for g in 0..geo.spec.groups {
            let colsg: &[f32] = if geo.is_pointwise() {
                &xi[g * rows * l..(g + 1) * rows * l]
            } else {
                geo.im2col(xi, g, cols);
                cols
            };
            let wg = &ws[g * og * rows..(g + 1) * og * rows];
            gemm_into(og, l, rows, wg, rows, 1, colsg, l, 1, &mut yi[g * og * l..(g + 1) * og * l], false)?;
        }
        if let Some(b) = &bias_values {
            for (o, &bo) in b.iter().enumerate() {
                yi[o * l..(o + 1) * l].iter_mut().for_each(|v| *v += bo);
            }
        }
        Ok(())
    })?;
    let value = Tensor::from_shape_vec(IxDyn(&[geo.n, geo.o, geo.oh, geo.ow]), out).expect("shape");
    let mut inputs = vec![x, weight];
    if let Some(b) = bias {
        inputs.push(b);
    }
    Ok(Var::from_op(Conv2d { geo, has_bias: bias.is_some() }, &inputs, value))
}
