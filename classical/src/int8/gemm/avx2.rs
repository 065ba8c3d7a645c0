//! The AVX2 micro-kernel: i16 pairs through `vpmaddwd`, with the output stage on the registers.
//!
//! AVX2 has no exact u8 x i8 dot product: `vpmaddubsw` sums two u8 x i8 products into a *saturating*
//! i16 (`255 * 127 * 2 = 64770` overflows it), which is why fbgemm has PyTorch quantize x86 activations
//! to 7 bits (`reduce_range`). Here both operands are widened to i16 and `vpmaddwd` (two i16 x i16
//! products summed into an i32 lane, exact for these ranges) does the multiply-adds, so the wrapping
//! i32 sums are those of the portable loop, bit for bit. On the AMD Zen cores this costs no more
//! multiplier slots per multiply-add than the `vpmaddubsw` route (`vpmaddubsw` + `vpmaddwd` by ones is
//! two multiplies per 32 products; `vpmaddwd` is one per 16).
//!
//! Layout: the weights are widened once per [`PackedWeights`] into [`WidePanels`] (each panel of
//! [`NR`] channels as two halves of [`HALF`] channels, `[k / 2][HALF][2]` i16); each tile's activation
//! rows are widened into a per-thread i16 buffer. The micro-kernel keeps a [`ROWS`] x [`HALF`] block of
//! accumulators in 8 ymm registers: per pair of `k` it loads two weight registers and broadcasts one
//! i32 (two i16) per row, 8 `vpmaddwd` to 2 loads and 4 broadcasts.

use super::{MR, NR, PackedWeights, RoundingPolicy, Tile};
use std::arch::x86_64::*;

/// Channels per half panel (two ymm registers of i32).
pub(super) const HALF: usize = 16;
/// Rows per register block.
const ROWS: usize = 4;

/// The weights of a [`PackedWeights`] widened to i16 for this kernel: element
/// `((p * 2 + h) * k2 + kk) * 2 * HALF + 2 j + t` is weight `k = 2 kk + t` of channel
/// `p * NR + h * HALF + j` (`k2 = padded_k / 2`; zero past the last channel and past `k`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct WidePanels(Vec<i16>);

impl WidePanels {
    /// Rewrites the `[k / 4][NR][4]` i8 panels as `[2][k / 2][HALF][2]` i16 panels.
    pub(super) fn new(w: &PackedWeights) -> Self {
        let (pk, k4) = (w.padded_k(), w.padded_k() / 4);
        let k2 = pk / 2;
        let panels = w.rows.div_ceil(NR);
        let mut wide = vec![0i16; panels * NR * pk];
        for p in 0..panels {
            for j in 0..NR {
                let (h, jj) = (j / HALF, j % HALF);
                for kk in 0..pk {
                    let v = w.data[((p * k4 + kk / 4) * NR + j) * 4 + kk % 4];
                    wide[((p * 2 + h) * k2 + kk / 2) * 2 * HALF + 2 * jj + kk % 2] = v as i16;
                }
            }
        }
        Self(wide)
    }
}

impl Tile<'_> {
    /// All output channels of the tile's rows: widen the rows into `scratch` (`MR * padded_k` i16),
    /// then per panel two halves x two row blocks of the micro-kernel, then the output stage.
    ///
    /// # Safety
    /// The CPU must support AVX2 ([`super::Backend::Avx2`] available).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn run_avx2(mut self, scratch: &mut [i16]) {
        let pk = self.w.padded_k();
        let k2 = pk / 2;
        for (r, row) in self.rows.iter().enumerate().take(self.valid) {
            for (d, &s) in scratch[r * pk..(r + 1) * pk].iter_mut().zip(&row[..pk]) {
                *d = s as i16;
            }
        }
        let wide = &self.w.wide().0;
        let blocks = self.valid.div_ceil(ROWS);
        for p in self.panels.clone() {
            let channels = (self.w.rows - p * NR).min(NR);
            let mut acc = [[0i32; NR]; MR];
            for h in 0..channels.div_ceil(HALF) {
                let panel = &wide[(p * 2 + h) * k2 * 2 * HALF..(p * 2 + h + 1) * k2 * 2 * HALF];
                for b in 0..blocks {
                    // Rows past `valid` of the last block repeat row 0 (their sums are never stored).
                    let rows: [&[i16]; ROWS] = std::array::from_fn(|i| {
                        let r = b * ROWS + i;
                        let r = if r < self.valid { r } else { 0 };
                        &scratch[r * pk..(r + 1) * pk]
                    });
                    // SAFETY: AVX2 is enabled on this function; the slices hold k2 pairs each.
                    let block = unsafe { micro_kernel(rows, panel, k2) };
                    for (i, sums) in block.iter().enumerate() {
                        acc[b * ROWS + i][h * HALF..(h + 1) * HALF].copy_from_slice(sums);
                    }
                }
            }
            if self.epilogue.fast {
                match self.epilogue.policy {
                    // SAFETY: AVX2 is enabled on this function.
                    RoundingPolicy::DoubleRounding => unsafe { self.store_avx2::<true>(p, &acc) },
                    RoundingPolicy::SingleRounding => unsafe { self.store_avx2::<false>(p, &acc) },
                }
            } else {
                self.store(p, &acc);
            }
        }
    }

    /// The output stage of panel `p` in groups of 8 channels: [`super::Rescale`] on the even and odd
    /// 64-bit products (`vpmuldq`; the arithmetic 64-bit right shift AVX2 lacks is a logical shift of
    /// the value biased by 2^63, minus the shifted bias), merged back to 32-bit lanes, zero point, clamp, narrowed to 8 bytes
    /// (`DOUBLE` selects the rounding policy).
    #[target_feature(enable = "avx2")]
    unsafe fn store_avx2<const DOUBLE: bool>(&mut self, p: usize, acc: &[[i32; NR]; MR]) {
        let ep = self.epilogue;
        let pp = &ep.panels[p];
        let n = (self.w.rows - p * NR).min(NR);
        let c0 = ep.channel0 + p * NR;
        let zp = _mm256_set1_epi32(ep.zero_point);
        let (lo, hi) = (_mm256_set1_epi32(ep.act_min), _mm256_set1_epi32(ep.act_max));
        let below = _mm256_set1_epi64x(-(1 << 30));
        // Dword 0 of each 128-bit lane holds 4 narrowed channels after the two packs.
        let gather_bytes = _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0);
        for g in 0..n.div_ceil(8) {
            let load = |v: &[i32; NR]| {
                // SAFETY: 8 g + 8 <= NR lanes of the array.
                unsafe { _mm256_loadu_si256(v.as_ptr().add(8 * g) as *const __m256i) }
            };
            // The split 64-bit constants: slot `2 half + parity`, entries `(g % 2) * 4..` are the
            // group's even (parity 0) or odd (parity 1) channels, as the VNNI epilogue lays them out.
            let load64 = |v: &[[i64; 8]; 4], parity: usize| {
                // SAFETY: (g % 2) * 4 + 4 <= 8 entries of the slot.
                unsafe { _mm256_loadu_si256(v[(g / 2) * 2 + parity].as_ptr().add((g % 2) * 4) as *const __m256i) }
            };
            let (corr, left, m_even) = (load(&pp.corr), load(&pp.left), load(&pp.multiplier));
            let m_odd = _mm256_srli_epi64::<32>(m_even);
            let add = [load64(&pp.biased_add_split, 0), load64(&pp.biased_add_split, 1)];
            let unbias = [load64(&pp.unbias_split, 0), load64(&pp.unbias_split, 1)];
            let neg_fix = [load64(&pp.neg_fix_split, 0), load64(&pp.neg_fix_split, 1)];
            let shift = [load64(&pp.shift64_split, 0), load64(&pp.shift64_split, 1)];
            let width = (n - 8 * g).min(8);
            for (r, acc_r) in acc.iter().enumerate().take(self.valid) {
                let x = _mm256_add_epi32(load(acc_r), corr);
                let x = if DOUBLE { _mm256_sllv_epi32(x, left) } else { x };
                let prods = [_mm256_mul_epi32(x, m_even), _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), m_odd)];
                let res: [__m256i; 2] = std::array::from_fn(|s| {
                    let v = _mm256_add_epi64(prods[s], add[s]);
                    let v = if DOUBLE {
                        let neg = _mm256_cmpgt_epi64(below, prods[s]);
                        _mm256_sub_epi64(v, _mm256_and_si256(neg, neg_fix[s]))
                    } else {
                        v
                    };
                    // `v + 2^63` is `v` as an unsigned number: floor((v + 2^63) / 2^s) - 2^(63 - s) is
                    // floor(v / 2^s) exactly, for s in 1..=62.
                    _mm256_sub_epi64(_mm256_srlv_epi64(v, shift[s]), unbias[s])
                });
                // Even channels sit in the low dwords of `res[0]`, odd ones in the low dwords of `res[1]`.
                let v = _mm256_blend_epi32::<0b1010_1010>(res[0], _mm256_slli_epi64::<32>(res[1]));
                let v = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(v, zp), lo), hi);
                let v = _mm256_packs_epi32(v, v);
                let v = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(v, v), gather_bytes);
                let bytes = (_mm256_extract_epi64::<0>(v) as u64).to_le_bytes().map(|b| b as i8);
                let at = r * self.ldc + c0 + 8 * g;
                self.out[at..at + width].copy_from_slice(&bytes[..width]);
            }
        }
    }
}

/// `ROWS x HALF` sums `Σ_kk rows[r][2kk..2kk+2] · panel[kk][j][..]` (wrapping i32).
///
/// # Safety
/// The CPU must support AVX2; every row holds at least `2 k2` and `panel` at least `k2 * 2 * HALF` i16.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn micro_kernel(rows: [&[i16]; ROWS], panel: &[i16], k2: usize) -> [[i32; HALF]; ROWS] {
    assert!(panel.len() >= k2 * 2 * HALF && rows.iter().all(|r| r.len() >= 2 * k2));
    let mut acc = [[_mm256_setzero_si256(); 2]; ROWS];
    let row_ptrs = rows.map(|r| r.as_ptr());
    for kk in 0..k2 {
        // SAFETY: kk < k2 and the lengths were asserted above; unaligned loads throughout.
        unsafe {
            let wp = panel.as_ptr().add(kk * 2 * HALF);
            let w0 = _mm256_loadu_si256(wp as *const __m256i);
            let w1 = _mm256_loadu_si256(wp.add(HALF) as *const __m256i);
            for r in 0..ROWS {
                let x = _mm256_set1_epi32((row_ptrs[r].add(2 * kk) as *const i32).read_unaligned());
                acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(x, w0));
                acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(x, w1));
            }
        }
    }
    let mut out = [[0i32; HALF]; ROWS];
    for (o, a) in out.iter_mut().zip(&acc) {
        // SAFETY: each output row holds HALF = 16 i32, two 256-bit stores.
        unsafe {
            _mm256_storeu_si256(o.as_mut_ptr() as *mut __m256i, a[0]);
            _mm256_storeu_si256(o.as_mut_ptr().add(8) as *mut __m256i, a[1]);
        }
    }
    out
}
