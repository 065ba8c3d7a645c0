//! The AVX-512 VNNI micro-kernel: `vpdpbusd` (u8 x i8, four products summed into an i32 lane, no
//! saturation) on the packed `[k / 4][NR][4]` panels, 8 rows x 32 channels of accumulators in 16
//! zmm registers, with the output stage on the registers ([`Tile::store_vnni`]).
//!
//! Measured on a 2-core AVX-512 VNNI machine (benches/side_by_side_int8.sh, issue 16's figures):
//! 0.92-1.40 of PyTorch's fbgemm int8 time on the three bench workloads.

use super::{MR, NR, RoundingPolicy, Tile};

impl Tile<'_> {
    // AVX-512 intrinsics are stable since Rust 1.89, the workspace's minimum.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn run_vnni(mut self) {
        use std::arch::x86_64::*;
        let rows = self.rows;
        let k4 = self.w.padded_k() / 4;
        for p in self.panels.clone() {
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
            if self.epilogue.fast {
                match self.epilogue.policy {
                    // SAFETY: same target features as this function.
                    RoundingPolicy::DoubleRounding => unsafe { self.store_vnni::<true>(p, &acc) },
                    RoundingPolicy::SingleRounding => unsafe { self.store_vnni::<false>(p, &acc) },
                }
            } else {
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

    /// The output stage of panel `p` on the accumulator registers: [`Rescale`] on the even and odd
    /// 64-bit products (`vpmuldq`), merged back to 32-bit lanes, zero point, clamp, and a masked
    /// narrowing store of the panel's valid channels (`DOUBLE` selects the rounding policy).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn store_vnni<const DOUBLE: bool>(
        &mut self,
        p: usize,
        acc: &[[std::arch::x86_64::__m512i; 2]; MR],
    ) {
        use std::arch::x86_64::*;
        let ep = self.epilogue;
        let pp = &ep.panels[p];
        let n = (self.w.rows - p * NR).min(NR);
        let c0 = ep.channel0 + p * NR;
        let zp = _mm512_set1_epi32(ep.zero_point);
        let (lo, hi) = (_mm512_set1_epi32(ep.act_min), _mm512_set1_epi32(ep.act_max));
        let below = _mm512_set1_epi64(-(1 << 30));
        // Bounds: every store below writes channels c0 + 16 h + (< 16, masked to < n) of rows < valid,
        // inside `out` (checked by `run`: rows * ldc elements and channel0 + w.rows <= ldc).
        assert!(self.out.len() >= (self.valid - 1) * self.ldc + c0 + n);
        for h in 0..2 {
            if n <= 16 * h {
                break;
            }
            let mask: __mmask16 = if n >= 16 * (h + 1) { 0xffff } else { ((1u32 << (n - 16 * h)) - 1) as u16 };
            // SAFETY: the parameter arrays hold NR = 32 lanes (i32) / 8 lanes per split (i64).
            let (corr, left, m_even, add, neg_fix, shift) = unsafe {
                let load = |ptr: *const i32| _mm512_loadu_si512(ptr as *const __m512i);
                let load64 = |ptr: *const i64| _mm512_loadu_si512(ptr as *const __m512i);
                (
                    load(pp.corr.as_ptr().add(16 * h)),
                    load(pp.left.as_ptr().add(16 * h)),
                    load(pp.multiplier.as_ptr().add(16 * h)),
                    [load64(pp.add_split[2 * h].as_ptr()), load64(pp.add_split[2 * h + 1].as_ptr())],
                    [load64(pp.neg_fix_split[2 * h].as_ptr()), load64(pp.neg_fix_split[2 * h + 1].as_ptr())],
                    [load64(pp.shift64_split[2 * h].as_ptr()), load64(pp.shift64_split[2 * h + 1].as_ptr())],
                )
            };
            let m_odd = _mm512_srli_epi64::<32>(m_even);
            for (r, acc_r) in acc.iter().enumerate().take(self.valid) {
                let x = _mm512_add_epi32(acc_r[h], corr);
                let x = if DOUBLE { _mm512_sllv_epi32(x, left) } else { x };
                let prods = [_mm512_mul_epi32(x, m_even), _mm512_mul_epi32(_mm512_srli_epi64::<32>(x), m_odd)];
                let res: [__m512i; 2] = std::array::from_fn(|s| {
                    let v = _mm512_add_epi64(prods[s], add[s]);
                    let v = if DOUBLE {
                        let neg = _mm512_cmplt_epi64_mask(prods[s], below);
                        _mm512_mask_sub_epi64(v, neg, v, neg_fix[s])
                    } else {
                        v
                    };
                    _mm512_srav_epi64(v, shift[s])
                });
                // Odd lanes take the low dword of each odd product (dwords 0 and 2 of each 128-bit lane).
                let v = _mm512_mask_shuffle_epi32::<_MM_PERM_CCAA>(res[0], 0xaaaa, res[1]);
                let v = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(v, zp), lo), hi);
                // SAFETY: see the bounds assertion above.
                unsafe {
                    let dst = self.out.as_mut_ptr().add(r * self.ldc + c0 + 16 * h);
                    _mm512_mask_cvtepi32_storeu_epi8(dst, mask, v);
                }
            }
        }
    }
}
