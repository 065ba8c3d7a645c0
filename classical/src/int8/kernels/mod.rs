//! The integer kernels. Activations are stored NHWC (channels contiguous): im2row copies whole channel
//! runs, per-channel requantization and depthwise / pooling loops vectorise over channels, and every
//! output row of a GEMM is contiguous. [`Dims`] always names the logical `(N, C, H, W)` sizes.

pub mod add;
pub mod concat;
pub mod conv;
pub mod depthwise;
pub mod fully_connected;
pub mod pool;

use crate::error::{Result, arg_err, shape_err};
use crate::int8::fixed_point::Requant;
use crate::int8::weights::QuantizedWeights;
use crate::ops::Conv2dSpec;

/// The convolution kernels ([`conv::QConv2d`], [`depthwise::QDepthwiseConv2d`]): built from quantized
/// weights and a geometry, or from integers alone.
pub trait ConvKernel: Sized {
    /// The kernel for `weights` `(O, C/groups, KH, KW)` and geometry `spec`.
    fn from_weights(weights: QuantizedWeights, spec: Conv2dSpec) -> Result<Self>;

    /// The kernel from integers alone (unit weight scales, for tests and benches): `weight` in
    /// PyTorch's order, i32 `bias` `(O)`, the input zero point and the output stage.
    fn from_parts(
        weight: Vec<i8>,
        shape: [usize; 4],
        bias: Vec<i32>,
        spec: Conv2dSpec,
        input_zero_point: i32,
        requant: Requant,
    ) -> Result<Self> {
        Self::from_weights(QuantizedWeights::unscaled(weight, shape.to_vec(), bias, input_zero_point, requant), spec)
    }
}

impl ConvKernel for conv::QConv2d {
    fn from_weights(weights: QuantizedWeights, spec: Conv2dSpec) -> Result<Self> {
        Self::new(weights, spec)
    }
}

impl ConvKernel for depthwise::QDepthwiseConv2d {
    fn from_weights(weights: QuantizedWeights, spec: Conv2dSpec) -> Result<Self> {
        Self::new(weights, spec)
    }
}

/// Logical sizes of an NHWC activation tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dims {
    /// Samples.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
}

impl Dims {
    /// `(n, c, h, w)`.
    pub fn new(n: usize, c: usize, h: usize, w: usize) -> Self {
        Self { n, c, h, w }
    }

    /// Elements.
    pub fn len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The NCHW shape.
    pub fn nchw(&self) -> [usize; 4] {
        [self.n, self.c, self.h, self.w]
    }

    /// An error unless `data` holds exactly these dims.
    pub fn check(&self, op: &'static str, data: usize) -> Result<()> {
        if data != self.len() {
            return Err(shape_err(op, &self.nchw(), &[data], "data length differs from N*C*H*W"));
        }
        Ok(())
    }
}

/// Output side of a convolution / pooling window along one axis, or an error when the (dilated)
/// window does not fit the padded input.
pub fn out_size(op: &'static str, size: usize, k: usize, stride: usize, pad: usize, dil: usize) -> Result<usize> {
    if k == 0 || stride == 0 || dil == 0 {
        return Err(arg_err(op, format!("kernel {k}, stride {stride} and dilation {dil} must be positive")));
    }
    // Checked: the sizes may come from a file.
    let span = dil.checked_mul(k - 1).and_then(|s| s.checked_add(1));
    let padded = pad.checked_mul(2).and_then(|p| p.checked_add(size));
    let (Some(span), Some(padded)) = (span, padded) else {
        return Err(arg_err(op, format!("kernel {k}, dilation {dil}, padding {pad}: the window size overflows")));
    };
    if padded < span {
        return Err(arg_err(op, format!("window span {span} exceeds the padded input {size} + 2*{pad}")));
    }
    Ok((padded - span) / stride + 1)
}

/// Output `(oh, ow)` of a convolution with kernel `(kh, kw)`.
pub fn conv_out(op: &'static str, d: Dims, kh: usize, kw: usize, spec: &Conv2dSpec) -> Result<(usize, usize)> {
    Ok((
        out_size(op, d.h, kh, spec.stride.0, spec.padding.0, spec.dilation.0)?,
        out_size(op, d.w, kw, spec.stride.1, spec.padding.1, spec.dilation.1)?,
    ))
}

/// Input coordinate of output `o` and tap `k` along one axis, if inside `0..size`.
#[inline(always)]
pub fn source(o: usize, k: usize, stride: usize, pad: usize, dil: usize, size: usize) -> Option<usize> {
    let pos = (o * stride + k * dil) as isize - pad as isize;
    (pos >= 0 && (pos as usize) < size).then_some(pos as usize)
}

/// NCHW -> NHWC copy.
pub fn nchw_to_nhwc<T: Copy + Default>(x: &[T], d: Dims) -> Vec<T> {
    let mut out = vec![T::default(); d.len()];
    let plane = d.h * d.w;
    for n in 0..d.n {
        for c in 0..d.c {
            for p in 0..plane {
                out[(n * plane + p) * d.c + c] = x[(n * d.c + c) * plane + p];
            }
        }
    }
    out
}

/// NHWC -> NCHW copy.
pub fn nhwc_to_nchw<T: Copy + Default>(x: &[T], d: Dims) -> Vec<T> {
    let mut out = vec![T::default(); d.len()];
    let plane = d.h * d.w;
    for n in 0..d.n {
        for p in 0..plane {
            for c in 0..d.c {
                out[(n * d.c + c) * plane + p] = x[(n * plane + p) * d.c + c];
            }
        }
    }
    out
}
