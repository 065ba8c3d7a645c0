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
//! is associative, so the order cannot change a result): AVX-512 VNNI intrinsics ([`vnni`]), AVX2
//! intrinsics on i16 pairs ([`avx2`], which widens the panels once into a layout of its own), and the
//! portable loop for the baseline target; [`Backend::detect`] picks the best at run time.

use super::fixed_point::{QuantizedMultiplier, Requant, RoundingPolicy, multiply_by_quantized_multiplier};
use crate::error::{Result, shape_err};
use rayon::prelude::*;
use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod vnni;

/// Rows (positions or samples) per micro-tile.
pub const MR: usize = 8;
/// Output channels per micro-tile (two 512-bit registers of i32).
pub const NR: usize = 32;
/// Products with at least this many multiply-adds run on rayon's threads.
const PARALLEL_MACS: usize = 1 << 18;
/// Bytes of u8 activation rows in one row block (a share of a 512 KiB L2).
const ROW_BLOCK_BYTES: usize = 96 * 1024;
/// Bytes of i16 weights in one channel block (a share of a 512 KiB L2).
const PANEL_BLOCK_BYTES: usize = 192 * 1024;

/// Which implementation of the micro-kernel runs (all give identical results). Measured speed-ups
/// (`benches/side_by_side_int8.sh`, 2 threads; the conv 3x3 32->64 32x32 b4 / conv 1x1 64->128 16x16 b4 /
/// fc 1024x1024 b64 workloads) are written next to each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Plain Rust for the baseline target (and the twin every other backend is tested against).
    Portable,
    /// `vpmaddwd` intrinsics on i16 pairs, 4 x 16 register blocks ([`avx2`]). On a 2-core AMD EPYC
    /// (Zen 3, AVX2 only), one thread, best of N on a loaded machine: 15-36x the portable loop, and
    /// 1.3-1.6 / 0.9-1.2 / 1.2-1.4 of PyTorch 2.15's fbgemm time on the three workloads.
    Avx2,
    /// `vpdpbusd` intrinsics (AVX-512 F/BW/VNNI), 8 x 32 register blocks ([`vnni`]); 0.92-1.40 of
    /// PyTorch's fbgemm time on a 2-core AVX-512 VNNI machine.
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
#[derive(Debug, Clone)]
pub struct PackedWeights {
    rows: usize,
    k: usize,
    data: Vec<i8>,
    sums: Vec<i32>,
    /// The AVX2 kernel's i16 layout, made on its first use (a cache: not part of the value).
    #[cfg(target_arch = "x86_64")]
    wide: OnceLock<avx2::WidePanels>,
}

impl PartialEq for PackedWeights {
    fn eq(&self, other: &Self) -> bool {
        (self.rows, self.k, &self.data, &self.sums) == (other.rows, other.k, &other.data, &other.sums)
    }
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
        Ok(Self {
            rows,
            k,
            data,
            sums,
            #[cfg(target_arch = "x86_64")]
            wide: OnceLock::new(),
        })
    }

    /// The panels widened for the AVX2 kernel (made once, on first use).
    #[cfg(target_arch = "x86_64")]
    fn wide(&self) -> &avx2::WidePanels {
        self.wide.get_or_init(|| avx2::WidePanels::new(self))
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

/// The rescale of one channel in the form the vector epilogue uses: one 64-bit product, one
/// constant, one conditional correction and one arithmetic shift, equal to
/// [`multiply_by_quantized_multiplier`] bit for bit for multipliers in `[0, 2^31)` and shifts in
/// `[-31, 30]`:
///
/// - double rounding: with `p = (x << left) M` (the shift wrapping in i32) and `e = max(-shift, 0)`,
///   gemmlowp's high multiply is `s = floor((p + 2^30) / 2^31)` (its ties-towards-+inf nudge and
///   truncating division reduce to this floor), and `RoundingDivideByPOT(s, e)` for `e >= 1` is
///   `floor((s + 2^(e-1) - [s < 0]) / 2^e)`. Nested floors of integer divisions compose, so the whole is
///   `(p + 2^30 + 2^(e-1) 2^31 - [p < -2^30] 2^31) >> (31 + e)` (no correction when `e = 0`);
///   `|p| <= 2^62` keeps every term inside i64, and `M < 2^31` rules out the high multiply's one
///   saturating case.
/// - single rounding: `(x M + 2^(total - 1)) >> total`, `total = 31 - shift`, as TFLite writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rescale {
    multiplier: i32,
    left: i32,
    add: i64,
    neg_fix: i64,
    shift: i64,
}

impl Rescale {
    /// The form of `m` under `policy`, or `None` outside the ranges where it is exact.
    fn new(m: QuantizedMultiplier, policy: RoundingPolicy) -> Option<Self> {
        if m.multiplier < 0 || !(-31..=30).contains(&m.shift) {
            return None;
        }
        Some(match policy {
            RoundingPolicy::DoubleRounding => {
                let e = (-m.shift).max(0) as i64;
                Self {
                    multiplier: m.multiplier,
                    left: m.shift.max(0),
                    add: (1 << 30) + (((1i64 << e) >> 1) << 31),
                    neg_fix: if e >= 1 { 1 << 31 } else { 0 },
                    shift: 31 + e,
                }
            }
            RoundingPolicy::SingleRounding => {
                let total = (31 - m.shift) as i64;
                Self { multiplier: m.multiplier, left: 0, add: 1 << (total - 1), neg_fix: 0, shift: total }
            }
        })
    }

    /// `MultiplyByQuantizedMultiplier(x)` (see the type's docs).
    #[inline(always)]
    fn apply(self, x: i32) -> i32 {
        let p = x.wrapping_shl(self.left as u32) as i64 * self.multiplier as i64;
        let v = p + self.add - if p < -(1 << 30) { self.neg_fix } else { 0 };
        (v >> self.shift) as i32
    }
}

/// Output-stage parameters of one panel of [`NR`] channels, structure of arrays so the requantization
/// of a tile row vectorises across channels. The 64-bit constants are also kept split by lane parity
/// (`[half * 2 + parity][i]` is channel `16 half + 2 i + parity`), the layout of the even / odd
/// 64-bit products of a 512-bit register.
#[derive(Debug, Clone, PartialEq)]
struct PanelParams {
    multiplier: [i32; NR],
    shift: [i32; NR],
    corr: [i32; NR],
    left: [i32; NR],
    add: [i64; NR],
    neg_fix: [i64; NR],
    shift64: [i64; NR],
    add_split: [[i64; 8]; 4],
    /// `add + 2^63` (wrapping) and `2^(63 - shift)`, split the same way: the AVX2 epilogue's
    /// arithmetic shift as a logical shift of the biased value minus the shifted bias.
    biased_add_split: [[i64; 8]; 4],
    unbias_split: [[i64; 8]; 4],
    neg_fix_split: [[i64; 8]; 4],
    shift64_split: [[i64; 8]; 4],
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
    /// Every multiplier lies where [`Rescale`] is exact (always so for a [`Requant::new`] stage);
    /// otherwise the scalar [`multiply_by_quantized_multiplier`] runs.
    fast: bool,
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
        let mut fast = true;
        let panels = (0..rows.div_ceil(NR))
            .map(|p| {
                let mut pp = PanelParams {
                    multiplier: [0; NR],
                    shift: [0; NR],
                    corr: [0; NR],
                    left: [0; NR],
                    add: [0; NR],
                    neg_fix: [0; NR],
                    shift64: [0; NR],
                    add_split: [[0; 8]; 4],
                    biased_add_split: [[0; 8]; 4],
                    unbias_split: [[0; 8]; 4],
                    neg_fix_split: [[0; 8]; 4],
                    shift64_split: [[0; 8]; 4],
                };
                for j in 0..NR {
                    // Channels past the end get a zero multiplier; their results are never stored.
                    let m = if j < rows - p * NR {
                        pp.corr[j] = corr[p * NR + j];
                        requant.multiplier(channel0 + p * NR + j)
                    } else {
                        QuantizedMultiplier::default()
                    };
                    (pp.multiplier[j], pp.shift[j]) = (m.multiplier, m.shift);
                    let rs = Rescale::new(m, requant.policy).unwrap_or_else(|| {
                        fast = false;
                        Rescale { multiplier: 0, left: 0, add: 0, neg_fix: 0, shift: 0 }
                    });
                    (pp.left[j], pp.add[j], pp.neg_fix[j], pp.shift64[j]) = (rs.left, rs.add, rs.neg_fix, rs.shift);
                    let (slot, i) = ((j / 16) * 2 + j % 2, (j % 16) / 2);
                    pp.add_split[slot][i] = rs.add;
                    pp.biased_add_split[slot][i] = rs.add.wrapping_add(i64::MIN);
                    pp.unbias_split[slot][i] = (1u64 << 63).wrapping_shr(rs.shift as u32) as i64;
                    pp.neg_fix_split[slot][i] = rs.neg_fix;
                    pp.shift64_split[slot][i] = rs.shift;
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
            fast,
        })
    }
}

/// Where the rows of the activation matrix come from.
#[derive(Clone, Copy)]
enum Rows<'a> {
    /// Already offset to u8 (`x ^ 0x80`) and padded to [`PackedWeights::padded_k`] bytes.
    Unsigned(&'a [u8]),
    /// Plain i8 rows of `k` bytes; each tile offsets its rows into a small buffer.
    Signed(&'a [i8]),
    /// Rows written on demand into the tile buffer by a gather function (implicit GEMM).
    Gather(&'a (dyn Fn(usize, &mut [u8]) + Sync)),
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
    run(backend, Rows::Unsigned(a), lda, rows, w, epilogue, out, ldc)
}

/// [`gemm_requant`] on plain i8 activations: row `r` is `x[r * ldx..r * ldx + k]` (`ldx >= k`, no
/// padding needed). The `+128` offset is applied per row block into a per-thread buffer sized to stay
/// in L2, so a strided view of an NHWC tensor (a 1x1 convolution, a fully connected layer) needs no
/// copy of its own.
#[allow(clippy::too_many_arguments)]
pub fn gemm_requant_i8(
    backend: Backend,
    x: &[i8],
    ldx: usize,
    rows: usize,
    w: &PackedWeights,
    epilogue: &Epilogue,
    out: &mut [i8],
    ldc: usize,
) -> Result<()> {
    if rows > 0 && (ldx < w.k || x.len() < (rows - 1) * ldx + w.k) {
        return Err(shape_err("gemm_requant_i8", &[rows, ldx], &[x.len()], "activation rows too short for k"));
    }
    run(backend, Rows::Signed(x), ldx, rows, w, epilogue, out, ldc)
}

/// [`gemm_requant`] on rows that are never materialised: `gather(r0, block)` writes rows `r0..r0 + m`
/// (u8 activations, `x ^ 0x80`; `m` is `block.len() / padded_k`, a row block of up to a few hundred
/// rows) into the consecutive [`PackedWeights::padded_k`]-byte rows of `block`, bytes `0..k` of each
/// (bytes past `k` are ignored), a per-thread buffer sized to stay in L2. A convolution passes its
/// im2row gather here, so the `(positions, kh kw C)` im2row matrix never exists in memory as a whole
/// (implicit GEMM): each row block of output positions gathers its receptive fields once, right before
/// every panel's micro-kernels consume them.
pub fn gemm_requant_gather(
    backend: Backend,
    gather: &(dyn Fn(usize, &mut [u8]) + Sync),
    rows: usize,
    w: &PackedWeights,
    epilogue: &Epilogue,
    out: &mut [i8],
    ldc: usize,
) -> Result<()> {
    run(backend, Rows::Gather(gather), w.padded_k(), rows, w, epilogue, out, ldc)
}

#[allow(clippy::too_many_arguments)]
fn run(
    backend: Backend,
    a: Rows<'_>,
    lda: usize,
    rows: usize,
    w: &PackedWeights,
    epilogue: &Epilogue,
    out: &mut [i8],
    ldc: usize,
) -> Result<()> {
    if out.len() < rows * ldc || epilogue.channel0 + w.rows > ldc || epilogue.rows != w.rows {
        return Err(shape_err("gemm_requant", &[rows, ldc], &[out.len()], "output too small for rows x channels"));
    }
    if !backend.available() {
        return Err(crate::error::arg_err("gemm_requant", format!("backend {backend:?} is not supported by this CPU")));
    }
    if rows == 0 || w.rows == 0 {
        // Nothing to write (and `ldc` may be 0 when there are no channels).
        return Ok(());
    }
    let (pk, k) = (w.padded_k(), w.k);
    let panels = w.rows.div_ceil(NR);
    let parallel = rows * w.rows * w.k >= PARALLEL_MACS;
    // Row blocks: as few as keep a block's activation rows in L2 (the block's gathered or offset rows
    // are made once and read by every panel), a multiple of the thread count so that the threads get
    // equal shares, in whole tiles.
    let cap = (ROW_BLOCK_BYTES / pk.max(1)).max(MR);
    let threads = if parallel { rayon::current_num_threads().max(1) } else { 1 };
    let blocks = rows.div_ceil(cap).div_ceil(threads) * threads;
    let block_rows = rows.div_ceil(blocks).div_ceil(MR).max(1) * MR;
    // Panels per channel block: as many as keep their weights (widened, for AVX2) in L2 while every
    // tile of the row block passes over them, so large weight matrices are read once per row block.
    let panels_per_block = (PANEL_BLOCK_BYTES / (NR * pk.max(1) * 2)).max(1);
    let block = |(buf, wide): &mut (Vec<u8>, Vec<i16>), (b, out_block): (usize, &mut [i8])| {
        let r0 = b * block_rows;
        let n = (rows - r0).min(block_rows);
        // The block's u8 rows, `pk` bytes apart (bytes past `k` stay zero) or `lda` apart in place.
        let (rows_u8, stride): (&[u8], usize) = match a {
            Rows::Unsigned(a) => (&a[r0 * lda..], lda),
            Rows::Signed(x) => {
                for r in 0..n {
                    let src = &x[(r0 + r) * lda..(r0 + r) * lda + k];
                    for (d, &v) in buf[r * pk..r * pk + k].iter_mut().zip(src) {
                        *d = (v as u8) ^ 0x80;
                    }
                }
                (&buf[..], pk)
            }
            Rows::Gather(gather) => {
                gather(r0, &mut buf[..n * pk]);
                (&buf[..], pk)
            }
        };
        for first in (0..panels).step_by(panels_per_block) {
            let panel_range = first..(first + panels_per_block).min(panels);
            for (t, out_tile) in out_block.chunks_mut(MR * ldc).enumerate() {
                let valid = (n - t * MR).min(MR);
                // Missing rows of a last partial tile repeat the first (their results are dropped).
                let row_slices: [&[u8]; MR] = std::array::from_fn(|r| {
                    let at = (t * MR + if r < valid { r } else { 0 }) * stride;
                    &rows_u8[at..at + pk]
                });
                let job =
                    Tile { rows: row_slices, valid, panels: panel_range.clone(), w, epilogue, out: out_tile, ldc };
                match backend {
                    Backend::Portable => job.run_portable(),
                    // SAFETY: `available()` was checked above.
                    #[cfg(target_arch = "x86_64")]
                    Backend::Avx2 => unsafe { job.run_avx2(wide) },
                    #[cfg(target_arch = "x86_64")]
                    Backend::Avx512Vnni => unsafe { job.run_vnni() },
                    #[cfg(not(target_arch = "x86_64"))]
                    _ => unreachable!("unavailable backends are rejected above"),
                }
            }
        }
    };
    // Per-worker buffers: the block's u8 rows (only the signed and gathered forms write it) and the
    // AVX2 kernel's i16 tile rows.
    let new_buf = || {
        let bytes = if matches!(a, Rows::Unsigned(_)) { Vec::new() } else { vec![0u8; block_rows * pk] };
        (bytes, if backend == Backend::Avx2 { vec![0i16; MR * pk] } else { Vec::new() })
    };
    let out = &mut out[..rows * ldc];
    if parallel {
        out.par_chunks_mut(block_rows * ldc).enumerate().for_each_init(new_buf, block);
    } else {
        let mut buf = new_buf();
        out.chunks_mut(block_rows * ldc).enumerate().for_each(|job| block(&mut buf, job));
    }
    Ok(())
}

/// One row tile of [`gemm_requant`]: the channels of `panels` for up to [`MR`] rows.
struct Tile<'a> {
    rows: [&'a [u8]; MR],
    valid: usize,
    panels: std::ops::Range<usize>,
    w: &'a PackedWeights,
    epilogue: &'a Epilogue,
    out: &'a mut [i8],
    ldc: usize,
}

impl<'a> Tile<'a> {
    /// Requantizes the accumulators of panel `p` into the output rows (fixed-length loops over the
    /// panel's channels, so they vectorise; the policy is matched once outside them).
    #[inline(always)]
    fn store(&mut self, p: usize, acc: &[[i32; NR]; MR]) {
        if self.epilogue.fast {
            self.store_fast(p, acc);
        } else {
            match self.epilogue.policy {
                RoundingPolicy::DoubleRounding => self.store_with(p, acc, RoundingPolicy::DoubleRounding),
                RoundingPolicy::SingleRounding => self.store_with(p, acc, RoundingPolicy::SingleRounding),
            }
        }
    }

    /// The output stage through [`Rescale`] (64-bit lanes, no branches on the policy).
    #[inline(always)]
    fn store_fast(&mut self, p: usize, acc: &[[i32; NR]; MR]) {
        let ep = self.epilogue;
        let pp = &ep.panels[p];
        let n = (self.w.rows - p * NR).min(NR);
        let c0 = ep.channel0 + p * NR;
        let mut row = [0i8; NR];
        for (r, acc_r) in acc.iter().enumerate().take(self.valid) {
            for j in 0..NR {
                let rs = Rescale {
                    multiplier: pp.multiplier[j],
                    left: pp.left[j],
                    add: pp.add[j],
                    neg_fix: pp.neg_fix[j],
                    shift: pp.shift64[j],
                };
                let v = rs.apply(acc_r[j].wrapping_add(pp.corr[j]));
                row[j] = v.wrapping_add(ep.zero_point).clamp(ep.act_min, ep.act_max) as i8;
            }
            self.out[r * self.ldc + c0..r * self.ldc + c0 + n].copy_from_slice(&row[..n]);
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

    fn run_portable(mut self) {
        let rows = self.rows;
        let k4 = self.w.padded_k() / 4;
        for p in self.panels.clone() {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{rng, uniform};

    /// Accumulators and multipliers at the edges of their ranges, where the rounding terms change.
    fn edge_values() -> (Vec<i32>, Vec<i32>) {
        let mut xs = vec![0, 1, -1, 2, -2, i32::MAX, i32::MIN, i32::MAX - 1, i32::MIN + 1, 1 << 30, -(1 << 30)];
        for e in 0..31 {
            for d in [-1, 0, 1] {
                xs.push((1i32 << e).wrapping_add(d));
                xs.push((-(1i32 << e)).wrapping_add(d));
                xs.push((3i32 << e.min(29)).wrapping_add(d));
            }
        }
        let ms = vec![0, 1, 1 << 30, (1 << 30) + 1, i32::MAX, i32::MAX - 1, 1_518_500_250, 1_073_741_825];
        (xs, ms)
    }

    /// No rows or no channels is an empty product, and `k = 0` is the bias alone through the output stage, on every
    /// backend (the blocking arithmetic divides by neither).
    #[test]
    fn empty_rows_and_empty_k_are_products_too() {
        let requant = Requant::new(
            vec![QuantizedMultiplier { multiplier: 1 << 30, shift: 1 }; 3],
            2,
            -128,
            127,
            RoundingPolicy::DoubleRounding,
        )
        .unwrap();
        let bias = [5, -7, 300];
        let packed = PackedWeights::new(&[], 3, 0).unwrap();
        let ep = Epilogue::new(&packed, &correction(&packed, &bias, 0), &requant, 0).unwrap();
        let expected: Vec<i8> = bias
            .iter()
            .map(|&b| {
                let v = multiply_by_quantized_multiplier(b, requant.multiplier(0), RoundingPolicy::DoubleRounding);
                v.wrapping_add(2).clamp(-128, 127) as i8
            })
            .collect();
        for backend in [Backend::Portable, Backend::Avx2, Backend::Avx512Vnni] {
            if !backend.available() {
                continue;
            }
            let mut none: [i8; 0] = [];
            gemm_requant_i8(backend, &[], 0, 0, &packed, &ep, &mut none, 3).unwrap();
            let no_channels = PackedWeights::new(&[], 0, 4).unwrap();
            let ep0 = Epilogue::new(&no_channels, &[], &requant, 0).unwrap();
            gemm_requant_i8(backend, &[1; 8], 4, 2, &no_channels, &ep0, &mut none, 0).unwrap();
            let mut out = vec![0i8; 6];
            gemm_requant_i8(backend, &[], 0, 2, &packed, &ep, &mut out, 3).unwrap();
            assert_eq!(out, [expected.clone(), expected.clone()].concat(), "{backend:?}");
        }
    }

    #[test]
    fn rescale_equals_multiply_by_quantized_multiplier() {
        let (mut xs, mut ms) = edge_values();
        let mut r = rng(11);
        for _ in 0..300 {
            xs.push((uniform(&mut r) * 2f64.powi(32) - 2f64.powi(31)) as i64 as i32);
            xs.push((uniform(&mut r) * 2f64.powi(20) - 2f64.powi(19)) as i32);
        }
        for _ in 0..40 {
            ms.push((2f64.powi(30) * (1.0 + uniform(&mut r))).min(i32::MAX as f64) as i32);
        }
        for policy in [RoundingPolicy::DoubleRounding, RoundingPolicy::SingleRounding] {
            for shift in -31..=30 {
                for &multiplier in &ms {
                    let m = QuantizedMultiplier { multiplier, shift };
                    let rs = Rescale::new(m, policy).expect("in range");
                    for &x in &xs {
                        assert_eq!(rs.apply(x), multiply_by_quantized_multiplier(x, m, policy), "{x} {m:?} {policy:?}");
                    }
                }
            }
        }
        assert!(
            Rescale::new(QuantizedMultiplier { multiplier: -1, shift: 0 }, RoundingPolicy::DoubleRounding).is_none()
        );
        assert!(
            Rescale::new(QuantizedMultiplier { multiplier: 1, shift: 31 }, RoundingPolicy::SingleRounding).is_none()
        );
    }

    /// Every backend's fused output stage equals the scalar TFLite rescale of the exact i32 sums, for
    /// left and right shifts, both policies, a partial last panel and a partial last row tile, from u8
    /// from i8 rows and from gathered rows, and with a hand-built stage outside [`Requant::new`]'s ranges (scalar path).
    #[test]
    fn backends_equal_scalar_output_stage() {
        // A product that is one row block and one channel block, and one long enough in `k` to split into
        // several channel blocks and (above the parallel threshold) several row blocks.
        for shape in [(61, 37, 45), (44, 3101, 70)] {
            output_stage_case(shape);
        }
    }

    fn output_stage_case((rows, k, o): (usize, usize, usize)) {
        let mut r = rng(12);
        let mut byte = || ((uniform(&mut r) * 256.0) as i32 - 128) as i8;
        let x: Vec<i8> = (0..rows * k).map(|_| byte()).collect();
        let w: Vec<i8> = (0..o * k).map(|_| byte()).collect();
        let bias: Vec<i32> = (0..o as i32).map(|i| i * 977 - 20_000).collect();
        let zp_in = -3;
        let packed = PackedWeights::new(&w, o, k).unwrap();
        let corr = correction(&packed, &bias, zp_in);
        let pk = packed.padded_k();
        let mut a = vec![0u8; rows * pk];
        for i in 0..rows {
            for j in 0..k {
                a[i * pk + j] = (x[i * k + j] as u8) ^ 0x80;
            }
        }
        for policy in [RoundingPolicy::DoubleRounding, RoundingPolicy::SingleRounding] {
            for hand_built in [false, true] {
                let ms: Vec<QuantizedMultiplier> = (0..o as i32)
                    .map(|c| {
                        if c % 2 == 0 {
                            // Anywhere in the range, mostly clamped.
                            QuantizedMultiplier { multiplier: (1 << 30) + c * 12_345_678, shift: -31 + (c * 7) % 40 }
                        } else {
                            // About 2^-8 in all: outputs inside the clamp range, small right shifts, many ties.
                            let shift = c % 9 - 5;
                            QuantizedMultiplier { multiplier: (1 << (23 - shift)) + c * 1237, shift }
                        }
                    })
                    .collect();
                let mut requant = Requant::new(ms, 5, -100, 120, policy).unwrap();
                if hand_built {
                    requant.multipliers[3].multiplier = i32::MIN;
                }
                let ep = Epilogue::new(&packed, &corr, &requant, 0).unwrap();
                assert_eq!(ep.fast, !hand_built);
                let expected: Vec<i8> = (0..rows * o)
                    .map(|i| {
                        let (row, c) = (i / o, i % o);
                        let acc = (0..k).fold(bias[c], |s, j| {
                            s.wrapping_add((x[row * k + j] as i32 - zp_in) * w[c * k + j] as i32)
                        });
                        let v = multiply_by_quantized_multiplier(acc, requant.multiplier(c), policy);
                        v.wrapping_add(5).clamp(-100, 120) as i8
                    })
                    .collect();
                for backend in [Backend::Portable, Backend::Avx2, Backend::Avx512Vnni] {
                    if !backend.available() {
                        continue;
                    }
                    let mut out = vec![0i8; rows * o];
                    gemm_requant(backend, &a, pk, rows, &packed, &ep, &mut out, o).unwrap();
                    assert_eq!(out, expected, "{backend:?} {policy:?} u8 rows");
                    let mut out = vec![0i8; rows * o];
                    gemm_requant_i8(backend, &x, k, rows, &packed, &ep, &mut out, o).unwrap();
                    assert_eq!(out, expected, "{backend:?} {policy:?} i8 rows");
                    let gather = |r0: usize, tile: &mut [u8]| {
                        for (r, row) in tile.chunks_exact_mut(pk).enumerate() {
                            row[..k].copy_from_slice(&a[(r0 + r) * pk..(r0 + r) * pk + k]);
                        }
                    };
                    let mut out = vec![0i8; rows * o];
                    gemm_requant_gather(backend, &gather, rows, &packed, &ep, &mut out, o).unwrap();
                    assert_eq!(out, expected, "{backend:?} {policy:?} gathered rows");
                }
            }
        }
    }
}
