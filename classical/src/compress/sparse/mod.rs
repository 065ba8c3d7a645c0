//! Sparse storage of pruned weights and sparse x dense kernels.
//!
//! Two formats, both built from a dense tensor viewed as a matrix `(rows, cols) = (shape[0], rest)`
//! (a convolution weight `(cout, cin, kh, kw)` becomes `(cout, cin kh kw)`, the left operand of the
//! im2col GEMM):
//!
//! - [`Csr`], compressed sparse row (Saad, *Iterative Methods for Sparse Linear Systems*, 2003, §3.4):
//!   `rows + 1` row pointers, one `u32` column index and one `f32` value per non-zero;
//!   `4 (rows + 1) + 8 nnz` bytes.
//! - [`Bitmask`]: one bit per entry saying whether it is non-zero, then the non-zero values packed in
//!   row-major order; `ceil(rows cols / 8) + 4 nnz` bytes. Cheaper than CSR above about 1/32 density
//!   (a bit per entry against 32 bits per non-zero), the format of sparse accelerators such as
//!   SparTen (Gondimalla et al., MICRO 2019).
//!
//! Dense storage takes `4 rows cols` bytes ([`dense_bytes`]), so CSR saves memory below 50 % density
//! and the bitmask below about 97 %; whether the *kernels* beat dense GEMM is a different, measured
//! question (`cargo bench --bench sparse`, and [`break_even`] to read the crossing off the timings).
//!
//! Kernels ([`Csr::matmul`], [`Bitmask::matmul`], [`Csr::matvec`], [`Bitmask::matvec`]): each output
//! element `C[i, j] = sum_p A[i, k_p] B[k_p, j]` is summed from `0.0` over the row's non-zeros in
//! increasing column order `k_p`, one multiply then one add per term (no fused multiply-add), so both
//! formats give bit-identical results to each other and to the plain loop in that order, at any thread
//! count (rows are split over rayon, never a sum). The matmul kernel keeps a block of 64 output columns
//! in registers while it walks the row's non-zeros; it is compiled for AVX2 and AVX-512 too and picked
//! at run time, which changes only the speed (the same IEEE operations in the same order).
//!
//! Zeros: an entry is stored when it is not `== 0.0`, so `-0.0` is treated as zero (pruning by a mask
//! multiplies negative weights into `-0.0`) and comes back as `+0.0`; every other value, NaN included,
//! round-trips bit for bit.

mod bitmask;
mod csr;
mod kernels;

pub use bitmask::Bitmask;
pub use csr::Csr;

use crate::error::{Result, arg_err, shape_err};
use crate::tensor::Tensor;

/// The matrix view `(rows, cols) = (shape[0], product of the rest)` of a tensor with at least one axis.
pub fn matrix_dims(shape: &[usize]) -> Result<(usize, usize)> {
    match shape.split_first() {
        Some((&rows, rest)) => Ok((rows, rest.iter().product())),
        None => Err(arg_err("sparse", "a 0-d tensor has no matrix view (needs at least one axis)")),
    }
}

/// Bytes of dense f32 storage of a `rows x cols` matrix: `4 rows cols`.
pub fn dense_bytes(rows: usize, cols: usize) -> usize {
    4 * rows * cols
}

/// Checks the dense right operand of `A (m, k) x B (k, n)` and returns `n`.
fn check_rhs(op: &'static str, lhs: &[usize], k: usize, b: &Tensor) -> Result<usize> {
    if b.ndim() != 2 || b.shape()[0] != k {
        return Err(shape_err(op, lhs, b.shape(), format!("right operand must be 2-d with {k} rows")));
    }
    Ok(b.shape()[1])
}

/// Checks the dense vector of `A (m, k) x x (k)`.
fn check_vec(op: &'static str, lhs: &[usize], k: usize, x: &Tensor) -> Result<()> {
    if x.ndim() != 1 || x.len() != k {
        return Err(shape_err(op, lhs, x.shape(), format!("vector must be 1-d of length {k}")));
    }
    Ok(())
}

/// The sparsity at which a sparse kernel first beats dense, from timings over a sweep.
///
/// `sparsity` holds increasing sparsities (fractions of zeros, in `[0, 1]`), `sparse_time[i]` the time of
/// the sparse kernel at `sparsity[i]`, `dense_time` the time of the dense kernel (which does not depend
/// on the sparsity). Returns `Some(s)` where `s` is the first sampled sparsity at which the sparse
/// kernel is faster, linearly interpolated (in time) with the previous sample where it was not, so
/// `s` estimates where the two curves cross; `Some(sparsity[0])` when it already wins at the first
/// sample, `None` when it never does. The time units only have to agree.
pub fn break_even(sparsity: &[f64], sparse_time: &[f64], dense_time: f64) -> Result<Option<f64>> {
    if sparsity.len() != sparse_time.len() {
        return Err(shape_err("break_even", &[sparsity.len()], &[sparse_time.len()], "one time per sparsity"));
    }
    if sparsity.windows(2).any(|w| w[0] >= w[1]) || sparsity.iter().any(|s| !(0.0..=1.0).contains(s)) {
        return Err(arg_err("break_even", "sparsities must be increasing and within [0, 1]"));
    }
    if !dense_time.is_finite() || sparse_time.iter().any(|t| !t.is_finite()) {
        return Err(arg_err("break_even", "timings must be finite"));
    }
    let Some(i) = sparse_time.iter().position(|&t| t < dense_time) else { return Ok(None) };
    if i == 0 {
        return Ok(Some(sparsity[0]));
    }
    // Sparse time falls from t0 >= dense to t1 < dense between s0 and s1: where the line crosses dense.
    let (s0, s1, t0, t1) = (sparsity[i - 1], sparsity[i], sparse_time[i - 1], sparse_time[i]);
    Ok(Some(s0 + (s1 - s0) * (t0 - dense_time) / (t0 - t1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn break_even_interpolates_between_samples() {
        // Crosses 10 between 0.5 (time 12) and 0.7 (time 8): halfway, at 0.6.
        let s = [0.3, 0.5, 0.7, 0.9];
        assert_eq!(break_even(&s, &[14.0, 12.0, 8.0, 2.0], 10.0).unwrap(), Some(0.6));
        assert_eq!(break_even(&s, &[9.0, 8.0, 7.0, 6.0], 10.0).unwrap(), Some(0.3));
        assert_eq!(break_even(&s, &[19.0, 18.0, 17.0, 16.0], 10.0).unwrap(), None);
        assert!(break_even(&s, &[1.0], 10.0).is_err());
        assert!(break_even(&[0.5, 0.4], &[1.0, 1.0], 10.0).is_err());
    }

    #[test]
    fn matrix_view_of_a_conv_weight() {
        assert_eq!(matrix_dims(&[8, 3, 3, 3]).unwrap(), (8, 27));
        assert_eq!(matrix_dims(&[5]).unwrap(), (5, 1));
        assert!(matrix_dims(&[]).is_err());
    }
}
