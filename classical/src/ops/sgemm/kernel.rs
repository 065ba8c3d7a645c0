//! The micro-kernel contract and its portable implementation.
//!
//! A micro-kernel computes one `MR x NR` tile of `C` from a packed sliver of `A` (`kc` steps of
//! [`MR`] values, `a[p * MR + i] = A(i, p)`) and a packed sliver of `B` (`kc` steps of [`NR`]
//! values, `b[p * NR + j] = B(p, j)`):
//!
//! ```text
//! acc(i, j) = fma(A(i, kc-1), B(kc-1, j), ... fma(A(i, 1), B(1, j), fma(A(i, 0), B(0, j), 0)))
//! C(i, j)   = C(i, j) + acc(i, j)   (add)      or      acc(i, j)   (overwrite)
//! ```
//!
//! Every implementation performs exactly these IEEE operations in exactly this order (one fused
//! multiply-add per step, one rounding each, then one addition), so they agree bit for bit: the
//! AVX2+FMA kernel and [`portable::<Fused>`](portable) are compared that way in the tests. The only
//! kernel that rounds differently is [`portable::<Unfused>`](portable), the fallback for x86-64 CPUs
//! without FMA, where `f32::mul_add` would be a slow software routine.

/// Rows of a micro-tile (six 8-lane rows of accumulators: 12 of the 16 AVX2 registers).
pub(crate) const MR: usize = 6;
/// Columns of a micro-tile (two 8-lane registers).
pub(crate) const NR: usize = 16;

/// A micro-kernel: `kc`, the packed slivers `a` (`kc * MR` values) and `b` (`kc * NR` values), the
/// tile `c` (`MR` rows of `NR` values, rows `ldc` apart) and whether to add to it or overwrite it.
///
/// # Safety
/// `a` must be readable for `kc * MR` values, `b` for `kc * NR`, and `c.add(i * ldc + j)` writable
/// for every `i < MR`, `j < NR`, with nothing else accessing those values during the call; the
/// kernel's CPU features must be present.
pub(crate) type KernelFn = unsafe fn(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, add: bool);

/// How the portable kernel multiplies and adds.
pub(crate) trait MulAdd {
    /// `a * b + c`.
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// One rounding per step (`f32::mul_add`): the arithmetic of every SIMD kernel.
pub(crate) struct Fused;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// A rounded product, then a rounded sum: for CPUs without a fused multiply-add instruction.
pub(crate) struct Unfused;

impl MulAdd for Unfused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// The portable micro-kernel (see the module docs for its arithmetic), written so that the compiler
/// can keep the tile in vector registers.
///
/// # Safety
/// The contract of [`KernelFn`] (it needs no CPU feature).
pub(crate) unsafe fn portable<F: MulAdd>(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, add: bool) {
    // SAFETY: the caller guarantees `kc * MR` readable values at `a` and `kc * NR` at `b`.
    let (a, b) = unsafe { (std::slice::from_raw_parts(a, kc * MR), std::slice::from_raw_parts(b, kc * NR)) };
    let mut acc = [[0.0f32; NR]; MR];
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for (row, &ai) in acc.iter_mut().zip(ap) {
            for (v, &bj) in row.iter_mut().zip(bp) {
                *v = F::mul_add(ai, bj, *v);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: the caller guarantees row `i < MR` of the tile (`NR` values at `c + i * ldc`) is
        // writable and not aliased during the call.
        let dst = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), NR) };
        if add {
            dst.iter_mut().zip(row).for_each(|(d, &v)| *d += v);
        } else {
            dst.copy_from_slice(row);
        }
    }
}

/// Columns summed at once by [`few_rows`] (a stack buffer of accumulators).
const FEW_ROWS_CHUNK: usize = 256;

/// `C = A B` or `C += A B` for an `A` of very few rows (a depthwise convolution's one output
/// channel), where a padded `MR`-row tile would mostly multiply zeros. Element `(i, j)` is
/// `acc = fma(A(i, k-1), B(k-1, j), ... fma(A(i, 0), B(0, j), 0))` over the whole of `k`, then
/// `C + acc` or `acc`: a fixed order that depends on the shapes alone. `c` is `m x n` row-major.
/// The caller checked that `a` (`m x k`) and `b` (`k x n`) lie inside their slices.
#[inline(always)]
pub(crate) fn few_rows<F: MulAdd>(
    (m, n, k): (usize, usize, usize),
    a: super::Strided,
    b: super::Strided,
    c: &mut [f32],
    add: bool,
) {
    let mut acc = [0.0f32; FEW_ROWS_CHUNK];
    for i in 0..m {
        for j0 in (0..n).step_by(FEW_ROWS_CHUNK) {
            let w = FEW_ROWS_CHUNK.min(n - j0);
            let acc = &mut acc[..w];
            acc.fill(0.0);
            for p in 0..k {
                let ai = a.data[i * a.rs + p * a.cs];
                let first = p * b.rs + j0 * b.cs;
                if b.cs == 1 {
                    for (v, &bj) in acc.iter_mut().zip(&b.data[first..first + w]) {
                        *v = F::mul_add(ai, bj, *v);
                    }
                } else {
                    for (jj, v) in acc.iter_mut().enumerate() {
                        *v = F::mul_add(ai, b.data[first + jj * b.cs], *v);
                    }
                }
            }
            let dst = &mut c[i * n + j0..i * n + j0 + w];
            if add {
                dst.iter_mut().zip(acc.iter()).for_each(|(d, &v)| *d += v);
            } else {
                dst.copy_from_slice(acc);
            }
        }
    }
}
