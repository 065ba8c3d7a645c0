//! Superoperators: a channel on `k` qubits as one `4^k x 4^k` matrix acting on the vectorised density
//! matrix.

use crate::error::{QuantumError, Result};
use crate::matrix::{C64, Matrix};
use crate::statevector::kernel::MAX_DENSE_TARGETS;

/// The superoperator `S = Σ_i conj(K_i) ⊗ K_i` of a channel on `k` qubits, in the index convention of
/// [`DensityMatrix`](super::DensityMatrix): bit `j < k` of an index is row qubit `j`, bit `k + j` is
/// column qubit `j`, so `S` applied to the `2k` vector qubits `[q_0..q_{k-1}, q_0+n..q_{k-1}+n]` maps
/// `ρ` to `Σ K ρ K†`.
#[derive(Debug, Clone, PartialEq)]
pub struct Superop {
    k: usize,
    matrix: Matrix,
}

impl Superop {
    /// The superoperator of Kraus operators on `k <= 3` qubits (all of one dimension `2^k`).
    pub fn from_kraus(kraus: &[Matrix]) -> Result<Self> {
        let first = kraus
            .first()
            .ok_or_else(|| QuantumError::Unsupported("a channel needs at least one Kraus operator".into()))?;
        let dim = first.dim();
        if !dim.is_power_of_two() || dim < 2 {
            return Err(QuantumError::SizeMismatch {
                what: "Kraus operator dimension (a power of two >= 2)".into(),
                expected: dim.next_power_of_two().max(2),
                got: dim,
            });
        }
        let k = dim.trailing_zeros() as usize;
        if 2 * k > MAX_DENSE_TARGETS {
            return Err(QuantumError::Unsupported(format!(
                "superoperators are built for channels on at most {} qubits, got {k}",
                MAX_DENSE_TARGETS / 2
            )));
        }
        let mut total = Matrix::diagonal(&vec![C64::new(0.0, 0.0); dim * dim]);
        for m in kraus {
            if m.dim() != dim {
                return Err(QuantumError::SizeMismatch {
                    what: "Kraus operator dimension".into(),
                    expected: dim,
                    got: m.dim(),
                });
            }
            let term = m.conj().kron(m);
            for r in 0..dim * dim {
                for c in 0..dim * dim {
                    total.set(r, c, total.get(r, c) + term.get(r, c));
                }
            }
        }
        Ok(Self { k, matrix: total })
    }

    /// A superoperator from its matrix (`4^k x 4^k`, in the convention above).
    pub fn from_matrix(matrix: Matrix) -> Result<Self> {
        let dim = matrix.dim();
        let bits = dim.trailing_zeros() as usize;
        if !dim.is_power_of_two() || !bits.is_multiple_of(2) || bits == 0 || bits > MAX_DENSE_TARGETS {
            return Err(QuantumError::SizeMismatch {
                what: "superoperator dimension (4^k with 1 <= k <= 3)".into(),
                expected: 4,
                got: dim,
            });
        }
        Ok(Self { k: bits / 2, matrix })
    }

    /// Qubits the channel acts on.
    pub fn n_qubits(&self) -> usize {
        self.k
    }

    /// The `4^k x 4^k` matrix.
    pub fn matrix(&self) -> &Matrix {
        &self.matrix
    }

    /// `self` after `first`: the superoperator of applying `first`, then `self` (same qubits).
    pub fn after(&self, first: &Superop) -> Result<Superop> {
        if first.k != self.k {
            return Err(QuantumError::SizeMismatch {
                what: "qubits of composed channels".into(),
                expected: self.k,
                got: first.k,
            });
        }
        Ok(Superop { k: self.k, matrix: self.matrix.matmul(&first.matrix) })
    }
}
