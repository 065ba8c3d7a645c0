//! The f32 twin of the quantized kernels: `y = x W^T + b` with the same channel blocks, four-row
//! register blocks, lane layout and run-time dispatch as [`super::int4`], so that a benchmark can
//! measure what quantization buys at equal kernel quality (the classical `gemm_into` packs its
//! operands, which dominates at batch 1).

use super::exec::{RowBlock, RowDot, over_channels};
use super::simd::{KernelPath, Lanes, on_lanes};
use super::tokens::{TokenRows, bias_vec, weight_rows};
use tinylab_classical::{Result, Tensor};

/// An f32 linear layer run on the streaming kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseLinear {
    out_features: usize,
    in_features: usize,
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl DenseLinear {
    /// A layer from an `[out, in]` weight and an optional `[out]` bias.
    pub fn new(weight: &Tensor, bias: Option<&Tensor>) -> Result<Self> {
        let (w, n, k) = weight_rows("DenseLinear::new", weight)?;
        let bias = bias_vec("DenseLinear::new", bias, n)?;
        Ok(Self { out_features: n, in_features: k, weight: w.iter().copied().collect(), bias })
    }

    /// `x W^T + b` for `x` of shape `[..., in]`; the output has shape `[..., out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let rows = TokenRows::new("DenseLinear::forward", x, self.in_features)?;
        let (m, n, k) = (rows.tokens, self.out_features, self.in_features);
        let view = DenseRows { weight: &self.weight, bias: self.bias.as_deref(), in_features: k, out_features: n };
        rows.output(n, view.times(rows.flat(), m))
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// Bytes of the stored layer.
    pub fn bytes(&self) -> usize {
        4 * (self.weight.len() + self.bias.as_ref().map_or(0, Vec::len))
    }
}

/// A borrowed row-major `[out, in]` weight (and optional bias) on the streaming kernel: what
/// [`DenseLinear`] runs, and what the decoding path of the models runs on a weight where it lies.
#[derive(Debug, Clone, Copy)]
pub struct DenseRows<'a> {
    /// Row-major `[out, in]` values.
    pub weight: &'a [f32],
    /// One value per output, if any.
    pub bias: Option<&'a [f32]>,
    /// The inner dimension.
    pub in_features: usize,
    /// Output channels (rows of the weight).
    pub out_features: usize,
}

impl DenseRows<'_> {
    /// `x W^T + b` for the `m` rows of `x` (row-major `[m, in]`): `[m, out]` row-major, each element
    /// one fixed-order sum (the same bits at any thread count and on either [`KernelPath`]).
    pub fn times(&self, x: &[f32], m: usize) -> Vec<f32> {
        debug_assert_eq!(x.len(), m * self.in_features);
        debug_assert_eq!(self.weight.len(), self.out_features * self.in_features);
        over_channels(m, self.out_features, self.in_features, |o0, _, out: &mut [f32]| {
            on_lanes(KernelPath::Auto, RowBlock { w: self, x, m, o0, out })
        })
    }
}

impl RowDot for DenseRows<'_> {
    fn cols(&self) -> usize {
        self.in_features
    }

    /// Channel `o` against `R` rows: 16 lanes of fused multiply-adds, a fixed tree, then the tail.
    #[inline(always)]
    fn row_dot<L: Lanes, const R: usize>(&self, lanes: L, o: usize, xs: [&[f32]; R]) -> [f32; R] {
        let k = self.in_features;
        let w = &self.weight[o * k..(o + 1) * k];
        let body = k - k % 16;
        let mut acc = [[lanes.splat(0.0); 2]; R];
        for at in (0..body).step_by(16) {
            let (w0, w1) = (lanes.load(&w[at..at + 8]), lanes.load(&w[at + 8..at + 16]));
            for r in 0..R {
                acc[r][0] = lanes.fma(w0, lanes.load(&xs[r][at..at + 8]), acc[r][0]);
                acc[r][1] = lanes.fma(w1, lanes.load(&xs[r][at + 8..at + 16]), acc[r][1]);
            }
        }
        std::array::from_fn(|r| {
            let mut v = lanes.to_array(lanes.add(acc[r][0], acc[r][1]));
            let mut width = 4;
            while width > 0 {
                for i in 0..width {
                    v[i] += v[i + width];
                }
                width /= 2;
            }
            let tail = w[body..].iter().zip(&xs[r][body..k]).fold(v[0], |s, (&a, &b)| a.mul_add(b, s));
            tail + self.bias.map_or(0.0, |b| b[o])
        })
    }
}
