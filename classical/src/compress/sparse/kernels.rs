//! Row kernels shared by the CSR and bitmask formats.
//!
//! A sparse row is given as its non-zeros' column indices and values, in increasing column order.
//! [`row_times_dense`] writes `out[j] = sum_p vals[p] * b[cols[p], j]` for all `j`, summing each
//! element from `0.0` in the order of `p` with a separate multiply and add, so the result is fixed by
//! the inputs alone. The body is compiled three times (baseline, AVX2, AVX-512) and the widest the CPU
//! has is chosen once per call; Rust never contracts a multiply and an add into an FMA, so every
//! variant performs the same IEEE operations and gives the same bits.

/// Output columns kept in registers while walking a row's non-zeros (8 AVX2 or 4 AVX-512 registers).
const BLOCK: usize = 64;

/// Multiply-adds below which a product runs on one thread (as in [`crate::ops::linalg`]).
pub(super) const PARALLEL_WORK: usize = 1 << 18;

/// Rows handed to a rayon task at a time: enough tasks to balance rows of uneven density.
pub(super) fn rows_per_task(rows: usize) -> usize {
    rows.div_ceil(8 * rayon::current_num_threads().max(1)).max(1)
}

/// The instruction-set variant of the matmul row kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Isa {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Isa {
    /// The widest variant this CPU supports.
    pub(super) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }
}

/// `out = row * b` for a sparse row (`cols`, `vals`) and a dense row-major `b` with `n` columns;
/// `out.len() == n`, every `cols[p] * n + n <= b.len()` (checked by the callers' constructors).
#[inline(always)]
fn row_times_dense_body(cols: &[u32], vals: &[f32], b: &[f32], n: usize, out: &mut [f32]) {
    let mut j0 = 0;
    while j0 + BLOCK <= n {
        let mut acc = [0.0f32; BLOCK];
        for (&c, &v) in cols.iter().zip(vals) {
            let brow: &[f32; BLOCK] = b[c as usize * n + j0..][..BLOCK].try_into().expect("block length");
            for t in 0..BLOCK {
                acc[t] += v * brow[t];
            }
        }
        out[j0..j0 + BLOCK].copy_from_slice(&acc);
        j0 += BLOCK;
    }
    if j0 < n {
        let tail = &mut out[j0..n];
        tail.fill(0.0);
        for (&c, &v) in cols.iter().zip(vals) {
            let brow = &b[c as usize * n + j0..c as usize * n + n];
            for (o, &x) in tail.iter_mut().zip(brow) {
                *o += v * x;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
/// # Safety
/// The CPU must support AVX2.
unsafe fn row_times_dense_avx2(cols: &[u32], vals: &[f32], b: &[f32], n: usize, out: &mut [f32]) {
    row_times_dense_body(cols, vals, b, n, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
/// # Safety
/// The CPU must support AVX-512F.
unsafe fn row_times_dense_avx512(cols: &[u32], vals: &[f32], b: &[f32], n: usize, out: &mut [f32]) {
    row_times_dense_body(cols, vals, b, n, out)
}

/// `out = row * b` (see the module docs) on the given instruction-set variant.
#[inline]
pub(super) fn row_times_dense(isa: Isa, cols: &[u32], vals: &[f32], b: &[f32], n: usize, out: &mut [f32]) {
    match isa {
        Isa::Baseline => row_times_dense_body(cols, vals, b, n, out),
        // SAFETY: `Isa::detect` returned these variants only after the CPU reported the feature.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { row_times_dense_avx2(cols, vals, b, n, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { row_times_dense_avx512(cols, vals, b, n, out) },
    }
}

/// `sum_p vals[p] * x[cols[p]]`, summed from `0.0` in the order of `p`.
#[inline]
pub(super) fn row_dot(cols: &[u32], vals: &[f32], x: &[f32]) -> f32 {
    let mut acc = 0.0f32;
    for (&c, &v) in cols.iter().zip(vals) {
        acc += v * x[c as usize];
    }
    acc
}

/// [`row_dot`] of four rows at once: the four sums advance in lockstep, so their add latencies
/// overlap, while each is still summed in its own row order (the same bits as four `row_dot` calls).
#[inline]
pub(super) fn rows_dot4(cols: [&[u32]; 4], vals: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    let common = cols.iter().map(|c| c.len()).min().unwrap_or(0);
    let mut acc = [0.0f32; 4];
    for p in 0..common {
        for r in 0..4 {
            acc[r] += vals[r][p] * x[cols[r][p] as usize];
        }
    }
    for r in 0..4 {
        for (&c, &v) in cols[r][common..].iter().zip(&vals[r][common..]) {
            acc[r] += v * x[c as usize];
        }
    }
    acc
}
