//! The AVX2 + FMA micro-kernel: a 6 x 16 tile in twelve `ymm` accumulators, two loads of `B` and six
//! broadcasts of `A` per step of `k`. Same arithmetic as [`super::kernel::portable::<Fused>`].

use super::kernel::{MR, NR};
use std::arch::x86_64::{
    __m256, _MM_HINT_T0, _mm_prefetch, _mm256_add_ps, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps,
    _mm256_setzero_ps, _mm256_storeu_ps,
};

/// The [`KernelFn`](super::kernel::KernelFn) for CPUs with AVX2 and FMA.
///
/// # Safety
/// The contract of [`KernelFn`](super::kernel::KernelFn), and the CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn avx2_fma(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, add: bool) {
    if add {
        // The tile is read after the loop: start fetching it now (C is often out of L2).
        for i in 0..MR {
            let row = c.wrapping_add(i * ldc) as *const i8;
            _mm_prefetch::<_MM_HINT_T0>(row);
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(60));
        }
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
