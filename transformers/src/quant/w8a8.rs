//! W8A8 linear layers (SmoothQuant's setting, Xiao et al. 2023): int8 weights with one symmetric
//! scale per output channel, int8 activations with one symmetric scale per token computed on the fly,
//! an int8 x int8 product accumulated exactly in i32, and an f32 output stage
//! `y[t][o] = acc[t][o] * s_x[t] * s_w[o] + bias[o]`.
//!
//! Error bound (used by the tests): with `x = q_x s_x + e_x`, `w = q_w s_w + e_w`, `|e_x| <= s_x / 2`,
//! `|e_w| <= s_w / 2` elementwise, `|y - y_f32| <= Σ_k (|x_k| s_w / 2 + |w_k| s_x / 2 + s_x s_w / 4)`
//! plus f32 rounding.
//!
//! The kernel ([`gemm_i8_i32`] is its exact form) is one generic safe loop: per output channel, the
//! weight row is streamed once against blocks of up to four token rows (four i32 dot products sharing
//! each weight load; the activation codes are widened to i16 once per call), sixteen products per
//! `vpmaddwd` on AVX2 or the same pairs on portable arrays ([`super::simd`]); integer sums are exact,
//! so the result never depends on the path or the thread count.

use super::exec::over_channels;
use super::simd::{KernelPath, LaneKernel, Lanes, on_lanes};
use super::sym::{I8_QMAX, quantize_rows_i8};
use super::tokens::{TokenRows, bias_vec, weight_rows};
use tinylab_classical::error::{arg_err, shape_err};
use tinylab_classical::{Result, Tensor};

/// The longest inner dimension for which an i32 sum of `[-127, 127] x [-127, 127]` products cannot
/// overflow.
pub const MAX_EXACT_K: usize = i32::MAX as usize / (I8_QMAX * I8_QMAX) as usize;

/// Token rows per register block of the kernel.
const ROWS: usize = 4;

/// The generic block (see [`block`]) as a [`LaneKernel`]: `x16` holds the activation codes widened
/// to i16 (`m x k`).
struct Block<'a, T, E> {
    x16: &'a [i16],
    w: &'a [i8],
    m: usize,
    k: usize,
    o0: usize,
    out: &'a mut [T],
    epilogue: E,
}

impl<T, E: Fn(usize, usize, i32) -> T> LaneKernel for Block<'_, T, E> {
    type Output = ();

    #[inline(always)]
    fn run<L: Lanes>(self, lanes: L) {
        let Block { x16, w, m, k, o0, out, epilogue } = self;
        block(lanes, x16, w, m, k, o0, out, epilogue)
    }
}

/// `R` dot products of one weight row with `R` activation rows (i16, each at least `w.len()` long):
/// sixteen products per step through [`Lanes::madd`], the `k % 16` tail in scalar code.
#[inline(always)]
fn dot_rows<L: Lanes, const R: usize>(lanes: L, xs: [&[i16]; R], w: &[i8]) -> [i32; R] {
    let k = w.len();
    let body = k - k % 16;
    let mut acc = [lanes.zero_i32(); R];
    for at in (0..body).step_by(16) {
        let wv = lanes.widen_i8(&w[at..at + 16]);
        for r in 0..R {
            acc[r] = lanes.madd(wv, lanes.load_i16(&xs[r][at..at + 16]), acc[r]);
        }
    }
    std::array::from_fn(|r| {
        let tail = w[body..].iter().zip(&xs[r][body..k]).fold(0i32, |s, (&a, &b)| s.wrapping_add(a as i32 * b as i32));
        lanes.sum_i32(acc[r]).wrapping_add(tail)
    })
}

/// The generic block: channels `o0..o0 + nb` of all `m` rows of `x16` (`m x k` codes) against `w`
/// (`n x k` codes), each i32 sum passed through `epilogue(t, o, acc)` into `out` (`[m, nb]`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block<L: Lanes, T>(
    lanes: L,
    x16: &[i16],
    w: &[i8],
    m: usize,
    k: usize,
    o0: usize,
    out: &mut [T],
    epilogue: impl Fn(usize, usize, i32) -> T,
) {
    let nb = out.len() / m.max(1);
    for j in 0..nb {
        let o = o0 + j;
        let wr = &w[o * k..(o + 1) * k];
        let mut t = 0;
        while t + ROWS <= m {
            let acc = dot_rows::<L, ROWS>(lanes, std::array::from_fn(|r| &x16[(t + r) * k..(t + r + 1) * k]), wr);
            for (r, &a) in acc.iter().enumerate() {
                out[(t + r) * nb + j] = epilogue(t + r, o, a);
            }
            t += ROWS;
        }
        for t in t..m {
            out[t * nb + j] = epilogue(t, o, dot_rows::<L, 1>(lanes, [&x16[t * k..(t + 1) * k]], wr)[0]);
        }
    }
}

fn check_gemm(op: &'static str, m: usize, n: usize, k: usize, x: &[i8], w: &[i8]) -> Result<()> {
    if x.len() != m * k || w.len() != n * k {
        return Err(shape_err(
            op,
            &[m, k],
            &[n, k],
            format!("operand lengths {} and {} do not match", x.len(), w.len()),
        ));
    }
    if k > MAX_EXACT_K {
        return Err(arg_err(op, format!("k = {k} exceeds {MAX_EXACT_K}, where i32 sums could overflow")));
    }
    Ok(())
}

/// The exact integer product `acc[t][o] = Σ_j x[t][j] w[o][j]` of row-major `x` (`m x k`) and `w`
/// (`n x k`, PyTorch layout), codes in `[-127, 127]`, as a row-major `m x n` i32 matrix.
pub fn gemm_i8_i32(m: usize, n: usize, k: usize, x: &[i8], w: &[i8]) -> Result<Vec<i32>> {
    gemm_i8_i32_with(m, n, k, x, w, KernelPath::Auto)
}

/// [`gemm_i8_i32`] on a chosen kernel path (the paths give identical results).
pub fn gemm_i8_i32_with(m: usize, n: usize, k: usize, x: &[i8], w: &[i8], path: KernelPath) -> Result<Vec<i32>> {
    check_gemm("gemm_i8_i32", m, n, k, x, w)?;
    if x.contains(&i8::MIN) || w.contains(&i8::MIN) {
        return Err(arg_err("gemm_i8_i32", "codes must lie in [-127, 127]"));
    }
    let x16: Vec<i16> = x.iter().map(|&v| v as i16).collect();
    Ok(over_channels(m, n, k, |o0, _, out: &mut [i32]| {
        on_lanes(path, Block { x16: &x16, w, m, k, o0, out, epilogue: |_, _, a| a })
    }))
}

/// A linear layer `y = x W^T + b` with int8 weights (per output channel) and int8 activations (per
/// token, dynamic), run on the integer kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct W8A8Linear {
    out_features: usize,
    in_features: usize,
    weight: Vec<i8>,
    w_scales: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl W8A8Linear {
    /// Quantizes `weight` (`[out, in]`) per output channel; `bias` is `[out]` and stays f32.
    pub fn quantize(weight: &Tensor, bias: Option<&Tensor>) -> Result<Self> {
        const OP: &str = "W8A8Linear::quantize";
        let (w, n, k) = weight_rows(OP, weight)?;
        if k == 0 || k > MAX_EXACT_K {
            return Err(arg_err(OP, format!("in_features = {k} must lie in 1..={MAX_EXACT_K}")));
        }
        let bias = bias_vec(OP, bias, n)?;
        let (weight, w_scales) = quantize_rows_i8(w.as_slice().expect("standard layout"), k)?;
        Ok(Self { out_features: n, in_features: k, weight, w_scales, bias })
    }

    /// `x W^T + b` for `x` of shape `[..., in]`: quantizes each token row, runs the integer kernel, and
    /// rescales in f32; the output has shape `[..., out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let rows = TokenRows::new("W8A8Linear::forward", x, self.in_features)?;
        let (m, n, k) = (rows.tokens, self.out_features, self.in_features);
        let (xq, x_scales) = quantize_rows_i8(rows.flat(), k)?;
        let x16: Vec<i16> = xq.iter().map(|&v| v as i16).collect();
        let (w, ws, bias) = (&self.weight, &self.w_scales, self.bias.as_deref());
        let y = over_channels(m, n, k, |o0, _, out: &mut [f32]| {
            let epilogue =
                |t: usize, o: usize, acc: i32| acc as f32 * (x_scales[t] * ws[o]) + bias.map_or(0.0, |b| b[o]);
            on_lanes(KernelPath::Auto, Block { x16: &x16, w, m, k, o0, out, epilogue })
        });
        rows.output(n, y)
    }

    /// The int8 weight codes, row-major `[out, in]`.
    pub fn weight_codes(&self) -> &[i8] {
        &self.weight
    }

    /// The per-output-channel weight scales.
    pub fn weight_scales(&self) -> &[f32] {
        &self.w_scales
    }

    /// The weights the layer represents, `codes * scale`, as an `[out, in]` tensor.
    pub fn dequantized_weight(&self) -> Tensor {
        let k = self.in_features;
        let data = self.weight.iter().enumerate().map(|(i, &q)| q as f32 * self.w_scales[i / k]).collect();
        Tensor::from_shape_vec(ndarray::IxDyn(&[self.out_features, k]), data).expect("length matches")
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// Bytes of the stored layer: codes, scales and bias.
    pub fn bytes(&self) -> usize {
        self.weight.len() + 4 * self.w_scales.len() + 4 * self.bias.as_ref().map_or(0, Vec::len)
    }
}
