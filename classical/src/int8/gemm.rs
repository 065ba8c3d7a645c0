//! The i8 x i8 -> i32 matrix product under every convolution and fully connected layer, with the
//! requantization fused into its output stage.
//!
//! `acc[r][o] = Σ_k a[r][k] w[o][k]` for rows `r` (output positions or samples, each a contiguous
//! run of `k` activations) and output channels `o`. Activations enter as `u8 = x + 128` (the byte
//! `x ^ 0x80`) so that the AVX-512 VNNI instruction `vpdpbusd` (u8 x i8, four products summed into an
//! i32 lane, no saturation) applies; the offset and the input zero point are removed afterwards through a
//! per-channel correction `-(128 + zp) Σ_k w[o][k]`, folded with the bias (see [`correction`]).
//!
//! The weights are packed once into panels of [`NR`] output channels, `[k / 4][NR][4]` bytes, so the
//! micro-kernel loads 4 consecutive `k` of 16 channels per 512-bit register and broadcasts 4 bytes of
//! each of [`MR`] activation rows. Three backends compute the same wrapping i32 sums (integer addition
//! is associative, so the order cannot change a result): AVX-512 VNNI intrinsics, the portable loop
//! compiled for AVX2, and the portable loop for the baseline target; [`Backend::detect`] picks the best
//! at run time.

use super::fixed_point::{QuantizedMultiplier, Requant, RoundingPolicy, multiply_by_quantized_multiplier};
use crate::error::{Result, shape_err};
use rayon::prelude::*;

/// Rows (positions or samples) per micro-tile.
pub const MR: usize = 8;
/// Output channels per micro-tile (two 512-bit registers of i32).
pub const NR: usize = 32;
/// Products with at least this many multiply-adds run on rayon's threads.
const PARALLEL_MACS: usize = 1 << 18;

/// Which implementation of the micro-kernel runs (all give identical results).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Plain Rust for the baseline target.
    Portable,
    /// The plain Rust loop compiled with AVX2 enabled.
    Avx2,
    /// `vpdpbusd` intrinsics (AVX-512 F/BW/VNNI).
    Avx512Vnni,
}

impl Backend {
    /// The fastest backend this CPU supports.
    pub fn detect() -> Self {
        *DETECTED.get_or_init(|| {
            if Self::Avx512Vnni.available() {
                Self::Avx512Vnni
            } else if Self::Avx2.available() {
                Self::Avx2
            } else {
                Self::Portable
            }
        })
    }

    /// True when this CPU can run the backend.
    pub fn available(self) -> bool {
        match self {
            Self::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512Vnni => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

static DETECTED: std::sync::OnceLock<Backend> = std::sync::OnceLock::new();

/// Weights `(O, K)` packed into panels of [`NR`] channels and groups of 4 along `K` (zero padded).
#[derive(Debug, Clone, PartialEq)]
pub struct PackedWeights {
    rows: usize,
    k: usize,
    data: Vec<i8>,
    sums: Vec<i32>,
}

impl PackedWeights {
    /// Packs row-major `w` of `rows` output channels by `k` inputs.
    pub fn new(w: &[i8], rows: usize, k: usize) -> Result<Self> {
        if w.len() != rows * k {
            return Err(shape_err("PackedWeights::new", &[rows, k], &[w.len()], "weight length must be rows * k"));
        }
        let (k4, panels) = (k.div_ceil(4), rows.div_ceil(NR));
        let mut data = vec![0i8; panels * k4 * NR * 4];
        for o in 0..rows {
            let (p, j) = (o / NR, o % NR);
            for (kk, &v) in w[o * k..(o + 1) * k].iter().enumerate() {
                data[((p * k4 + kk / 4) * NR + j) * 4 + kk % 4] = v;
            }
        }
        let sums = (0..rows).map(|o| w[o * k..(o + 1) * k].iter().map(|&v| v as i32).sum()).collect();
        Ok(Self { rows, k, data, sums })
    }

    /// Output channels.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Inputs per channel.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Bytes of a packed activation row: `k` rounded up to a multiple of 4.
    pub fn padded_k(&self) -> usize {
        self.k.div_ceil(4) * 4
    }

    /// `Σ_k w[o][k]` per output channel.
    pub fn sums(&self) -> &[i32] {
        &self.sums
    }
}

/// The per-channel constant added to the raw u8 x i8 sums: `bias[o] - (128 + input_zero_point) Σ_k
/// w[o][k]`, so that the total is TFLite's `Σ_k (x - zp) w + bias` (wrapping i32, exact whenever that
/// fits in i32).
pub fn correction(w: &PackedWeights, bias: &[i32], input_zero_point: i32) -> Vec<i32> {
    w.sums().iter().zip(bias).map(|(&s, &b)| b.wrapping_sub((128 + input_zero_point).wrapping_mul(s))).collect()
}

/// Output-stage parameters of one panel of [`NR`] channels, structure of arrays so the requantization
/// of a tile row vectorises across channels.
#[derive(Debug, Clone, PartialEq)]
struct PanelParams {
    multiplier: [i32; NR],
    shift: [i32; NR],
    corr: [i32; NR],
}

/// The fused output stage of [`gemm_requant`] for the channels `channel0..channel0 + rows` of a
/// [`Requant`]: correction, rescale, zero point, clamp, laid out per panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Epilogue {
    panels: Vec<PanelParams>,
    rows: usize,
    channel0: usize,
    zero_point: i32,
    act_min: i32,
    act_max: i32,
    policy: RoundingPolicy,
}

impl Epilogue {
    /// The output stage of the weights' channels `channel0 + o` (`o < w.rows()`), with the per-channel
    /// corrections `corr[o]` (see [`correction`]).
    pub fn new(w: &PackedWeights, corr: &[i32], requant: &Requant, channel0: usize) -> Result<Self> {
        let rows = w.rows();
        if corr.len() != rows || (requant.multipliers.len() != 1 && requant.multipliers.len() < channel0 + rows) {
            return Err(shape_err(
                "Epilogue::new",
                &[rows],
                &[corr.len(), requant.multipliers.len()],
                "one entry per channel",
            ));
        }
        let panels = (0..rows.div_ceil(NR))
            .map(|p| {
                let mut pp = PanelParams { multiplier: [0; NR], shift: [0; NR], corr: [0; NR] };
                for j in 0..NR.min(rows - p * NR) {
                    let m = requant.multiplier(channel0 + p * NR + j);
                    (pp.multiplier[j], pp.shift[j], pp.corr[j]) = (m.multiplier, m.shift, corr[p * NR + j]);
                }
                pp
            })
            .collect();
        Ok(Self {
            panels,
            rows,
            channel0,
            zero_point: requant.output_zero_point,
            act_min: requant.act_min,
            act_max: requant.act_max,
            policy: requant.policy,
        })
    }
}

/// Requantized product: for every row `r < rows` of `a` (u8 activations at `a[r * lda..]`, at least
/// [`PackedWeights::padded_k`] bytes readable; bytes past `k` are ignored because the packed weights
/// are zero there) and every output channel `o` of `w`, writes
/// `out[r * ldc + channel0 + o] = clamp(MultiplyByQuantizedMultiplier(acc[r][o] + corr[o]) + zp)`.
#[allow(clippy::too_many_arguments)]
pub fn gemm_requant(
    backend: Backend,
    a: &[u8],
    lda: usize,
    rows: usize,
    w: &PackedWeights,
    epilogue: &Epilogue,
    out: &mut [i8],
    ldc: usize,
) -> Result<()> {
    let pk = w.padded_k();
    if rows > 0 && (lda < pk || a.len() < (rows - 1) * lda + pk) {
        return Err(shape_err("gemm_requant", &[rows, lda], &[a.len()], "activation rows too short for the weights"));
    }
    if out.len() < rows * ldc || epilogue.channel0 + w.rows > ldc || epilogue.rows != w.rows {
        return Err(shape_err("gemm_requant", &[rows, ldc], &[out.len()], "output too small for rows x channels"));
    }
    if !backend.available() {
        return Err(crate::error::arg_err("gemm_requant", format!("backend {backend:?} is not supported by this CPU")));
    }
    let tile = |(t, out_tile): (usize, &mut [i8])| {
        let r0 = t * MR;
        let valid = (rows - r0).min(MR);
        let job = Tile { a, lda, r0, valid, w, epilogue, out: out_tile, ldc };
        match backend {
            Backend::Portable => job.run_portable(),
            // SAFETY: `available()` was checked above.
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => unsafe { job.run_avx2() },
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512Vnni => unsafe { job.run_vnni() },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("unavailable backends are rejected above"),
        }
    };
    let out = &mut out[..rows * ldc];
    if rows * w.rows * w.k >= PARALLEL_MACS {
        out.par_chunks_mut(MR * ldc).enumerate().for_each(tile);
    } else {
        out.chunks_mut(MR * ldc).enumerate().for_each(tile);
    }
    Ok(())
}

/// One row tile of [`gemm_requant`]: all output channels of rows `r0..r0 + valid`.
struct Tile<'a> {
    a: &'a [u8],
    lda: usize,
    r0: usize,
    valid: usize,
    w: &'a PackedWeights,
    epilogue: &'a Epilogue,
    out: &'a mut [i8],
    ldc: usize,
}

impl<'a> Tile<'a> {
    /// Rows of the tile; missing rows of a last partial tile repeat the first (their results are dropped).
    #[inline(always)]
    fn row_slices(&self) -> [&'a [u8]; MR] {
        let (a, pk) = (self.a, self.w.padded_k());
        std::array::from_fn(|r| {
            let row = self.r0 + if r < self.valid { r } else { 0 };
            &a[row * self.lda..row * self.lda + pk]
        })
    }

    /// Requantizes the accumulators of panel `p` into the output rows (fixed-length loops over the
    /// panel's channels, so they vectorise; the policy is matched once outside them).
    #[inline(always)]
    fn store(&mut self, p: usize, acc: &[[i32; NR]; MR]) {
        match self.epilogue.policy {
            RoundingPolicy::DoubleRounding => self.store_with(p, acc, RoundingPolicy::DoubleRounding),
            RoundingPolicy::SingleRounding => self.store_with(p, acc, RoundingPolicy::SingleRounding),
        }
    }

    #[inline(always)]
    fn store_with(&mut self, p: usize, acc: &[[i32; NR]; MR], policy: RoundingPolicy) {
        let ep = self.epilogue;
        let pp = &ep.panels[p];
        let n = (self.w.rows - p * NR).min(NR);
        let c0 = ep.channel0 + p * NR;
        let mut row = [0i8; NR];
        for (r, acc_r) in acc.iter().enumerate().take(self.valid) {
            for j in 0..NR {
                let m = QuantizedMultiplier { multiplier: pp.multiplier[j], shift: pp.shift[j] };
                let v = multiply_by_quantized_multiplier(acc_r[j].wrapping_add(pp.corr[j]), m, policy);
                row[j] = v.wrapping_add(ep.zero_point).clamp(ep.act_min, ep.act_max) as i8;
            }
            self.out[r * self.ldc + c0..r * self.ldc + c0 + n].copy_from_slice(&row[..n]);
        }
    }

    #[inline(always)]
    fn run_generic(&mut self) {
        let rows = self.row_slices();
        let k4 = self.w.padded_k() / 4;
        for p in 0..self.w.rows.div_ceil(NR) {
            let panel = &self.w.data[p * k4 * NR * 4..(p + 1) * k4 * NR * 4];
            let mut acc = [[0i32; NR]; MR];
            for (kk, wk) in panel.chunks_exact(NR * 4).enumerate() {
                for (acc_r, row) in acc.iter_mut().zip(&rows) {
                    let x: [i32; 4] = std::array::from_fn(|t| row[kk * 4 + t] as i32);
                    for (a, wj) in acc_r.iter_mut().zip(wk.chunks_exact(4)) {
                        let dot = x[0] * wj[0] as i32 + x[1] * wj[1] as i32 + x[2] * wj[2] as i32 + x[3] * wj[3] as i32;
                        *a = a.wrapping_add(dot);
                    }
                }
            }
            self.store(p, &acc);
        }
    }

    fn run_portable(mut self) {
        self.run_generic();
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(mut self) {
        self.run_generic();
    }

    // AVX-512 intrinsics are stable since Rust 1.89, the workspace's minimum.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn run_vnni(mut self) {
        use std::arch::x86_64::*;
        let rows = self.row_slices();
        let k4 = self.w.padded_k() / 4;
        for p in 0..self.w.rows.div_ceil(NR) {
            let panel = &self.w.data[p * k4 * NR * 4..(p + 1) * k4 * NR * 4];
            let mut acc = [[_mm512_setzero_si512(); 2]; MR];
            for kk in 0..k4 {
                // SAFETY: the panel holds k4 * NR * 4 bytes and rows hold k4 * 4 bytes each (checked by
                // the slice bounds above); unaligned loads are used throughout.
                unsafe {
                    let wp = panel.as_ptr().add(kk * NR * 4);
                    let w0 = _mm512_loadu_si512(wp as *const __m512i);
                    let w1 = _mm512_loadu_si512(wp.add(64) as *const __m512i);
                    for r in 0..MR {
                        let x = _mm512_set1_epi32((rows[r].as_ptr().add(kk * 4) as *const i32).read_unaligned());
                        acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], x, w0);
                        acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], x, w1);
                    }
                }
            }
            let mut out = [[0i32; NR]; MR];
            for r in 0..MR {
                // SAFETY: each row of `out` holds NR = 32 i32, two 512-bit stores.
                unsafe {
                    _mm512_storeu_si512(out[r].as_mut_ptr() as *mut __m512i, acc[r][0]);
                    _mm512_storeu_si512(out[r].as_mut_ptr().add(16) as *mut __m512i, acc[r][1]);
                }
            }
            self.store(p, &out);
        }
    }
}
