//! The x86-64 micro-kernels of the 6 x 16 tile. AVX2 + FMA: twelve `ymm` accumulators, two loads of
//! `B` and six broadcasts of `A` per step of `k`. AVX-512: six `zmm` accumulators, one load of `B`
//! and six broadcasts, half the multiply-add instructions for the same tile. Both perform the
//! arithmetic of [`super::kernel::portable::<Fused>`] (one fused multiply-add chain per element, in
//! the order of `k`), so they agree bit for bit.

use super::kernel::{MR, NR};
use std::arch::x86_64::{
    __m256, __m512, _MM_HINT_T0, _mm_prefetch, _mm256_add_ps, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps,
    _mm256_setzero_ps, _mm256_storeu_ps, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps,
    _mm512_setzero_ps, _mm512_storeu_ps,
};

/// Starts fetching the `MR` rows of the tile at `c` (read after the loop when accumulating; C is
/// often out of L2).
#[inline(always)]
fn prefetch_tile(c: *mut f32, ldc: usize) {
    for i in 0..MR {
        let row = c.wrapping_add(i * ldc) as *const i8;
        // SAFETY: prefetching is a hint that never faults, whatever the address.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(row);
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(60));
        }
    }
}

/// The [`KernelFn`](super::kernel::KernelFn) for CPUs with AVX2 and FMA.
///
/// # Safety
/// The contract of [`KernelFn`](super::kernel::KernelFn), and the CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn avx2_fma(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, add: bool) {
    if add {
        prefetch_tile(c, ldc);
    }
    let mut acc: [[__m256; 2]; MR] = [[_mm256_setzero_ps(); 2]; MR];
    for p in 0..kc {
        // SAFETY: p < kc, so the NR = 16 values at b + p * NR and the MR values at a + p * MR lie inside
        // the `kc * NR` and `kc * MR` the caller guarantees readable.
        unsafe {
            let bp = b.add(p * NR);
            let (b0, b1) = (_mm256_loadu_ps(bp), _mm256_loadu_ps(bp.add(8)));
            let ap = a.add(p * MR);
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*ap.add(i));
                row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: the caller guarantees the NR values at c + i * ldc (i < MR) writable and unaliased.
        unsafe {
            let dst = c.add(i * ldc);
            if add {
                _mm256_storeu_ps(dst, _mm256_add_ps(_mm256_loadu_ps(dst), row[0]));
                _mm256_storeu_ps(dst.add(8), _mm256_add_ps(_mm256_loadu_ps(dst.add(8)), row[1]));
            } else {
                _mm256_storeu_ps(dst, row[0]);
                _mm256_storeu_ps(dst.add(8), row[1]);
            }
        }
    }
}

/// The [`KernelFn`](super::kernel::KernelFn) for CPUs with AVX-512F: the tile's rows are one `zmm`
/// each (`NR = 16`).
///
/// # Safety
/// The contract of [`KernelFn`](super::kernel::KernelFn), and the CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn avx512(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, add: bool) {
    const { assert!(NR == 16, "one zmm per tile row") };
    if add {
        prefetch_tile(c, ldc);
    }
    let mut acc: [__m512; MR] = [_mm512_setzero_ps(); MR];
    for p in 0..kc {
        // SAFETY: as in `avx2_fma`: the NR values at b + p * NR and the MR at a + p * MR are readable.
        unsafe {
            let b0 = _mm512_loadu_ps(b.add(p * NR));
            let ap = a.add(p * MR);
            for (i, row) in acc.iter_mut().enumerate() {
                *row = _mm512_fmadd_ps(_mm512_set1_ps(*ap.add(i)), b0, *row);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: the caller guarantees the NR values at c + i * ldc (i < MR) writable and unaliased.
        unsafe {
            let dst = c.add(i * ldc);
            let value = if add { _mm512_add_ps(_mm512_loadu_ps(dst), *row) } else { *row };
            _mm512_storeu_ps(dst, value);
        }
    }
}

/// [`super::kernel::few_rows`] with fused multiply-adds, compiled for AVX2 + FMA (the same code and
/// bits as the portable build, vectorised).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn few_rows_avx2_fma(
    dims: (usize, usize, usize),
    a: super::Strided,
    b: super::Strided,
    c: &mut [f32],
    add: bool,
) {
    super::kernel::few_rows::<super::kernel::Fused>(dims, a, b, c, add);
}
