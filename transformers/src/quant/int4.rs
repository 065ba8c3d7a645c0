//! Weight-only int4 with groups along the input dimension, asymmetric per group with an integer zero
//! point (the storage of AWQ and GPTQ, Lin et al. 2023; Frantar et al. 2023): `w ≈ s (q - z)`,
//! `q, z ∈ [0, 15]`, one `(s, z)` per `group` consecutive inputs of an output channel.
//!
//! Parameters of a group with values in `[lo, hi]` ([`group_params`]): the range is widened to hold 0
//! (`lo <= 0 <= hi`, as GPTQ does), `s = (hi - lo) / 15`, `z = round(-lo / s)`. Then `-z s` and
//! `(15 - z) s` are within `s / 2` of `lo` and `hi`, so rounding to the grid and clamping to `[0, 15]`
//! leave every value of the range within `s / 2` of its reconstruction.
//!
//! Packing ([`pack_codes`]): each run of 32 codes of a row takes 16 bytes, byte `i` holding code `i` in
//! its low nibble and code `i + 16` in its high nibble, so a kernel unpacks 16 contiguous codes with
//! one mask and 16 with one shift (no interleaving shuffles).
//!
//! The kernel ([`Int4Matrix::matmul`]) never forms the dequantised matrix: per output channel it
//! streams the packed row once, unpacks 32 codes at a time to `q - z` in f32, and accumulates their
//! products with up to four token rows in 16 fixed lanes (fused multiply-adds, a fixed reduction tree
//! at the end of each group), then scales the group's sum. It is written once over
//! [`super::simd::Lanes`] and runs on AVX2 registers or on portable arrays with identical results. The order of every sum is fixed, so the
//! output is bit-identical whatever the thread count.

use super::exec::{RowBlock, RowDot, over_channels};
use super::simd::{KernelPath, Lanes, on_lanes};
use super::tokens::{TokenRows, bias_vec, weight_rows};
use tinylab_classical::error::{arg_err, shape_err};
use tinylab_classical::{Result, Tensor};

/// The largest int4 code.
pub const INT4_QMAX: u8 = 15;
/// Codes per packed run (16 bytes).
pub const PACK_RUN: usize = 32;

/// The scale and zero point of a group whose values lie in `[lo, hi]` (see the module doc); a group
/// of zeros gets `(1, 0)`.
pub fn group_params(lo: f32, hi: f32) -> (f32, u8) {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let s = (hi - lo) / INT4_QMAX as f32;
    if s <= 0.0 || !s.is_finite() {
        return (1.0, 0);
    }
    (s, (-lo / s).round().clamp(0.0, INT4_QMAX as f32) as u8)
}

/// The code of `v` in a group with scale `s` and zero point `z`: `clamp(round(v / s) + z, 0, 15)`.
#[inline(always)]
pub fn quantize_code(v: f32, s: f32, z: u8) -> u8 {
    ((v / s).round() + z as f32).clamp(0.0, INT4_QMAX as f32) as u8
}

/// Packs a row of codes (`codes.len()` a multiple of [`PACK_RUN`], each `< 16`) into bytes, see the
/// module doc.
pub fn pack_codes(codes: &[u8]) -> Result<Vec<u8>> {
    if !codes.len().is_multiple_of(PACK_RUN) {
        return Err(shape_err("pack_codes", &[codes.len()], &[PACK_RUN], "length must be a multiple of 32"));
    }
    if codes.iter().any(|&c| c > INT4_QMAX) {
        return Err(arg_err("pack_codes", "codes must lie in [0, 15]"));
    }
    Ok(codes
        .chunks_exact(PACK_RUN)
        .flat_map(|run| (0..PACK_RUN / 2).map(move |i| run[i] | (run[i + 16] << 4)))
        .collect())
}

/// The codes of packed bytes (the inverse of [`pack_codes`]).
pub fn unpack_codes(packed: &[u8]) -> Vec<u8> {
    packed
        .chunks(PACK_RUN / 2)
        .flat_map(|run| run.iter().map(|&b| b & 15).chain(run.iter().map(|&b| b >> 4)).collect::<Vec<_>>())
        .collect()
}

/// Bytes of a packed `[out, in]` int4 matrix with groups of `group` inputs: half a byte per weight,
/// an f32 scale and a one-byte zero point per group.
pub fn int4_bytes(out_features: usize, in_features: usize, group: usize) -> usize {
    let groups = out_features * in_features.div_ceil(group.max(1));
    out_features * in_features / 2 + groups * 5
}

/// A packed int4 `[out, in]` matrix with per-group scales and zero points.
#[derive(Debug, Clone, PartialEq)]
pub struct Int4Matrix {
    rows: usize,
    cols: usize,
    group: usize,
    packed: Vec<u8>,
    scales: Vec<f32>,
    zeros: Vec<u8>,
}

fn check_group(op: &'static str, cols: usize, group: usize) -> Result<()> {
    if group == 0 || !group.is_multiple_of(PACK_RUN) || cols == 0 || !cols.is_multiple_of(group) {
        return Err(arg_err(op, format!("the group ({group}) must be a multiple of 32 dividing in_features ({cols})")));
    }
    Ok(())
}

impl Int4Matrix {
    /// A matrix from codes (row-major `rows x cols`, each `< 16`) and per-group scales and zero
    /// points (row-major `rows x cols / group`), as GPTQ and AWQ produce them.
    pub fn from_codes(
        rows: usize,
        cols: usize,
        group: usize,
        codes: &[u8],
        scales: Vec<f32>,
        zeros: Vec<u8>,
    ) -> Result<Self> {
        const OP: &str = "Int4Matrix::from_codes";
        check_group(OP, cols, group)?;
        let groups = rows * cols / group;
        if codes.len() != rows * cols || scales.len() != groups || zeros.len() != groups {
            return Err(shape_err(
                OP,
                &[rows, cols],
                &[codes.len(), scales.len(), zeros.len()],
                "codes, scales and zeros",
            ));
        }
        if zeros.iter().any(|&z| z > INT4_QMAX) {
            return Err(arg_err(OP, "zero points must lie in [0, 15]"));
        }
        Ok(Self { rows, cols, group, packed: pack_codes(codes)?, scales, zeros })
    }

    /// Round-to-nearest quantization of `weight` (`[out, in]`) with groups of `group` inputs (32, 64,
    /// 128, ...: a multiple of 32 dividing `in`): the baseline of AWQ and GPTQ.
    pub fn quantize_rtn(weight: &Tensor, group: usize) -> Result<Self> {
        const OP: &str = "Int4Matrix::quantize_rtn";
        let (w, rows, cols) = weight_rows(OP, weight)?;
        check_group(OP, cols, group)?;
        let w = w.as_slice().expect("standard layout");
        let mut codes = vec![0u8; rows * cols];
        let mut scales = Vec::with_capacity(rows * cols / group);
        let mut zeros = Vec::with_capacity(rows * cols / group);
        for (g, (vals, q)) in w.chunks_exact(group).zip(codes.chunks_exact_mut(group)).enumerate() {
            let _ = g;
            let (lo, hi) = vals.iter().fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let (s, z) = group_params(lo, hi);
            for (c, &v) in q.iter_mut().zip(vals) {
                *c = quantize_code(v, s, z);
            }
            scales.push(s);
            zeros.push(z);
        }
        Self::from_codes(rows, cols, group, &codes, scales, zeros)
    }

    /// Output channels.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Inputs per group.
    pub fn group(&self) -> usize {
        self.group
    }

    /// The packed codes, `cols / 2` bytes per row.
    pub fn packed(&self) -> &[u8] {
        &self.packed
    }

    /// The codes, row-major `rows x cols`.
    pub fn codes(&self) -> Vec<u8> {
        unpack_codes(&self.packed)
    }

    /// Per-group scales, row-major `rows x cols / group`.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// Per-group zero points, row-major `rows x cols / group`.
    pub fn zeros(&self) -> &[u8] {
        &self.zeros
    }

    /// Bytes of the stored matrix ([`int4_bytes`]).
    pub fn bytes(&self) -> usize {
        int4_bytes(self.rows, self.cols, self.group)
    }

    /// The matrix it represents, `s (q - z)`, as an `[out, in]` tensor.
    pub fn dequantize(&self) -> Tensor {
        let data = self
            .codes()
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let g = i / self.group;
                self.scales[g] * (q as f32 - self.zeros[g] as f32)
            })
            .collect();
        Tensor::from_shape_vec(ndarray::IxDyn(&[self.rows, self.cols]), data).expect("length matches")
    }

    /// `x Q^T` for row-major `x` (`m x cols`): a row-major `m x rows` result, unpacking on the fly.
    pub fn matmul(&self, x: &[f32], m: usize) -> Result<Vec<f32>> {
        self.matmul_with(x, m, KernelPath::Auto)
    }

    /// [`Int4Matrix::matmul`] on a chosen kernel path (the paths give identical results).
    pub fn matmul_with(&self, x: &[f32], m: usize, path: KernelPath) -> Result<Vec<f32>> {
        if x.len() != m * self.cols {
            return Err(shape_err("Int4Matrix::matmul", &[m, self.cols], &[x.len()], "x must be m x in_features"));
        }
        let k = self.cols;
        Ok(over_channels(m, self.rows, k, |o0, _, out: &mut [f32]| on_lanes(path, RowBlock { w: self, x, m, o0, out })))
    }
}

impl RowDot for Int4Matrix {
    fn cols(&self) -> usize {
        self.cols
    }

    /// Output channel `o` against `R` token rows (each `cols` long): the generic kernel. Lane `i` of
    /// a group's 16 accumulators sums codes `i` and `i + 16` of every run of 32 (the packed byte
    /// `i`); the lanes are added in a fixed tree at the end of the group and scaled.
    #[inline(always)]
    fn row_dot<L: Lanes, const R: usize>(&self, lanes: L, o: usize, xs: [&[f32]; R]) -> [f32; R] {
        let (k, group) = (self.cols, self.group);
        let groups = k / group;
        let packed = &self.packed[o * k / 2..(o + 1) * k / 2];
        let (scales, zeros) = (&self.scales[o * groups..(o + 1) * groups], &self.zeros[o * groups..(o + 1) * groups]);
        let mut y = [0f32; R];
        for g in 0..groups {
            let z = lanes.splat(zeros[g] as f32);
            let mut acc = [[lanes.splat(0.0); 2]; R];
            for at in (g * group..(g + 1) * group).step_by(PACK_RUN) {
                let q = lanes.nibbles(&packed[at / 2..at / 2 + 16], z);
                for r in 0..R {
                    let x = &xs[r][at..at + PACK_RUN];
                    acc[r][0] = lanes.fma(q[0], lanes.load(&x[0..8]), acc[r][0]);
                    acc[r][1] = lanes.fma(q[1], lanes.load(&x[8..16]), acc[r][1]);
                    acc[r][0] = lanes.fma(q[2], lanes.load(&x[16..24]), acc[r][0]);
                    acc[r][1] = lanes.fma(q[3], lanes.load(&x[24..32]), acc[r][1]);
                }
            }
            for r in 0..R {
                let v = lanes.to_array(lanes.add(acc[r][0], acc[r][1]));
                y[r] = scales[g].mul_add(reduce(v), y[r]);
            }
        }
        y
    }
}

/// The sum of eight lanes in a fixed pairwise order.
#[inline(always)]
fn reduce(mut v: [f32; 8]) -> f32 {
    let mut width = 4;
    while width > 0 {
        for i in 0..width {
            v[i] += v[i + width];
        }
        width /= 2;
    }
    v[0]
}

/// A linear layer `y = x Q^T + b` with packed int4 weights ([`Int4Matrix`]) and f32 activations.
#[derive(Debug, Clone, PartialEq)]
pub struct Int4Linear {
    weight: Int4Matrix,
    bias: Option<Vec<f32>>,
}

impl Int4Linear {
    /// A layer from a quantized matrix and an optional `[out]` bias.
    pub fn new(weight: Int4Matrix, bias: Option<&Tensor>) -> Result<Self> {
        let bias = bias_vec("Int4Linear::new", bias, weight.rows)?;
        Ok(Self { weight, bias })
    }

    /// Round-to-nearest int4 quantization of an `[out, in]` weight ([`Int4Matrix::quantize_rtn`]).
    pub fn quantize_rtn(weight: &Tensor, bias: Option<&Tensor>, group: usize) -> Result<Self> {
        Self::new(Int4Matrix::quantize_rtn(weight, group)?, bias)
    }

    /// `x Q^T + b` for `x` of shape `[..., in]`; the output has shape `[..., out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let rows = TokenRows::new("Int4Linear::forward", x, self.weight.cols)?;
        let mut y = self.weight.matmul(rows.flat(), rows.tokens)?;
        if let Some(b) = &self.bias {
            for row in y.chunks_exact_mut(self.weight.rows) {
                for (v, &bv) in row.iter_mut().zip(b) {
                    *v += bv;
                }
            }
        }
        rows.output(self.weight.rows, y)
    }

    /// The quantized weight.
    pub fn weight(&self) -> &Int4Matrix {
        &self.weight
    }

    /// Bytes of the stored layer: the packed matrix and the f32 bias.
    pub fn bytes(&self) -> usize {
        self.weight.bytes() + 4 * self.bias.as_ref().map_or(0, Vec::len)
    }
}
