//! Small dense complex matrices: gate unitaries and fused blocks.
//!
//! A `k`-qubit operator is a `2^k x 2^k` row-major matrix. Index bit `j` of a row or column refers to
//! the `j`-th qubit the operator acts on (little-endian, as in Qiskit), so `kron(a, b)` puts `b` on the
//! operator's first qubit and `a` on its second.

use crate::error::{QuantumError, Result};
use num_complex::Complex64;

/// Complex amplitude type used throughout the simulators.
pub type C64 = Complex64;

/// Tolerance of the unitarity check on user matrices: max |U^dagger U - I|.
pub const UNITARY_TOLERANCE: f64 = 1e-9;

/// A square complex matrix, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    dim: usize,
    data: Vec<C64>,
}

impl Matrix {
    /// The `dim x dim` identity.
    pub fn identity(dim: usize) -> Self {
        let mut data = vec![C64::new(0.0, 0.0); dim * dim];
        for i in 0..dim {
            data[i * dim + i] = C64::new(1.0, 0.0);
        }
        Self { dim, data }
    }

    /// A matrix from row-major entries; `data.len()` must be a perfect square.
    pub fn from_rows(data: Vec<C64>) -> Result<Self> {
        let dim = (data.len() as f64).sqrt().round() as usize;
        if dim * dim != data.len() || dim == 0 {
            return Err(QuantumError::SizeMismatch {
                what: "entries of a square matrix".into(),
                expected: dim.max(1) * dim.max(1),
                got: data.len(),
            });
        }
        Ok(Self { dim, data })
    }

    /// A 2x2 matrix from its rows.
    pub fn from_2x2(m: [[C64; 2]; 2]) -> Self {
        Self { dim: 2, data: m.iter().flatten().copied().collect() }
    }

    /// A diagonal matrix.
    pub fn diagonal(d: &[C64]) -> Self {
        let mut m = Self::identity(d.len());
        for (i, &x) in d.iter().enumerate() {
            m.data[i * d.len() + i] = x;
        }
        m
    }

    /// Row and column count.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of qubits the matrix acts on (log2 of the dimension).
    pub fn n_qubits(&self) -> usize {
        self.dim.trailing_zeros() as usize
    }

    /// Row-major entries.
    pub fn data(&self) -> &[C64] {
        &self.data
    }

    /// Entry at row `r`, column `c`.
    pub fn get(&self, r: usize, c: usize) -> C64 {
        self.data[r * self.dim + c]
    }

    /// Sets the entry at row `r`, column `c`.
    pub fn set(&mut self, r: usize, c: usize, v: C64) {
        self.data[r * self.dim + c] = v;
    }

    /// Matrix product `self * rhs`, or an error naming both sizes when they differ.
    pub fn try_matmul(&self, rhs: &Matrix) -> crate::Result<Matrix> {
        if self.dim != rhs.dim {
            return Err(crate::QuantumError::SizeMismatch {
                what: "matrix product (both factors the same size)".into(),
                expected: self.dim,
                got: rhs.dim,
            });
        }
        Ok(self.matmul(rhs))
    }

    /// Matrix product `self * rhs` of two matrices of one size (the simulators' products, whose
    /// sizes agree by construction).
    ///
    /// # Panics
    ///
    /// When the sizes differ; [`Matrix::try_matmul`] returns an error instead.
    pub fn matmul(&self, rhs: &Matrix) -> Matrix {
        assert_eq!(self.dim, rhs.dim, "matmul of matrices of different sizes");
        let n = self.dim;
        let mut out = vec![C64::new(0.0, 0.0); n * n];
        for i in 0..n {
            for k in 0..n {
                let a = self.data[i * n + k];
                if a == C64::new(0.0, 0.0) {
                    continue;
                }
                for j in 0..n {
                    out[i * n + j] += a * rhs.data[k * n + j];
                }
            }
        }
        Matrix { dim: n, data: out }
    }

    /// Kronecker product `self ⊗ rhs`: `rhs` acts on the low index bits.
    pub fn kron(&self, rhs: &Matrix) -> Matrix {
        let (a, b) = (self.dim, rhs.dim);
        let n = a * b;
        let mut data = vec![C64::new(0.0, 0.0); n * n];
        for i in 0..a {
            for j in 0..a {
                let x = self.data[i * a + j];
                for k in 0..b {
                    for l in 0..b {
                        data[(i * b + k) * n + (j * b + l)] = x * rhs.data[k * b + l];
                    }
                }
            }
        }
        Matrix { dim: n, data }
    }

    /// Conjugate transpose.
    pub fn dagger(&self) -> Matrix {
        self.transpose().conj()
    }

    /// Transpose (no conjugation).
    pub fn transpose(&self) -> Matrix {
        let n = self.dim;
        let mut data = vec![C64::new(0.0, 0.0); n * n];
        for i in 0..n {
            for j in 0..n {
                data[j * n + i] = self.data[i * n + j];
            }
        }
        Matrix { dim: n, data }
    }

    /// Entry-wise complex conjugate.
    pub fn conj(&self) -> Matrix {
        Matrix { dim: self.dim, data: self.data.iter().map(|z| z.conj()).collect() }
    }

    /// The matrix times a scalar.
    pub fn scale(&self, s: C64) -> Matrix {
        Matrix { dim: self.dim, data: self.data.iter().map(|z| z * s).collect() }
    }

    /// Largest entry of `|U^dagger U - I|`: zero for an exactly unitary matrix.
    pub fn unitarity_deviation(&self) -> f64 {
        let p = self.dagger().matmul(self);
        let n = self.dim;
        let mut worst = 0.0f64;
        for i in 0..n {
            for j in 0..n {
                let target = if i == j { 1.0 } else { 0.0 };
                worst = worst.max((p.data[i * n + j] - C64::new(target, 0.0)).norm());
            }
        }
        worst
    }

    /// Errors with [`QuantumError::NotUnitary`] unless the matrix is unitary to [`UNITARY_TOLERANCE`].
    pub fn check_unitary(&self) -> Result<()> {
        let deviation = self.unitarity_deviation();
        if deviation.is_finite() && deviation <= UNITARY_TOLERANCE {
            Ok(())
        } else {
            Err(QuantumError::NotUnitary { deviation, tolerance: UNITARY_TOLERANCE })
        }
    }

    /// True when every off-diagonal entry is exactly zero.
    pub fn is_diagonal(&self) -> bool {
        let n = self.dim;
        (0..n).all(|i| (0..n).all(|j| i == j || self.data[i * n + j] == C64::new(0.0, 0.0)))
    }

    /// The diagonal entries.
    pub fn diag(&self) -> Vec<C64> {
        (0..self.dim).map(|i| self.data[i * self.dim + i]).collect()
    }

    /// Largest entry-wise distance to `other` (NaN if any entry is NaN).
    pub fn max_abs_diff(&self, other: &Matrix) -> f64 {
        max_propagating_nan(self.data.iter().zip(&other.data).map(|(a, b)| (a - b).norm()))
    }

    /// Distance to `other` after removing the global phase: `max |self - e^{iφ} other|` with `e^{iφ}`
    /// the phase of the overlap `Σ self_ij conj(other_ij)` (the best phase when the two agree up to
    /// phase). NaN if any entry is NaN.
    pub fn max_abs_diff_up_to_phase(&self, other: &Matrix) -> f64 {
        let overlap: C64 = self.data.iter().zip(&other.data).map(|(a, b)| a * b.conj()).sum();
        let phase = if overlap.norm() > 0.0 { overlap / overlap.norm() } else { C64::new(1.0, 0.0) };
        max_propagating_nan(self.data.iter().zip(&other.data).map(|(a, b)| (a - b * phase).norm()))
    }
}

/// The maximum of `values`, NaN if any value is NaN (`f64::max` would drop it).
fn max_propagating_nan(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |m: f64, d| if m.is_nan() || d.is_nan() { f64::NAN } else { m.max(d) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_matmul_refuses_different_sizes() {
        let err = Matrix::identity(2).try_matmul(&Matrix::identity(4)).unwrap_err();
        assert_eq!(err.to_string(), "matrix product (both factors the same size): expected 2, got 4");
        assert_eq!(Matrix::identity(2).try_matmul(&Matrix::identity(2)).unwrap(), Matrix::identity(2));
    }
}
