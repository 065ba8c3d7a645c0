//! Distances between states: Uhlmann fidelity, trace distance, and the smallest eigenvalue (a
//! positivity check), by Hermitian eigendecomposition (nalgebra).

use super::DensityMatrix;
use crate::error::{QuantumError, Result};
use nalgebra::DMatrix;
use num_complex::Complex64;

fn to_nalgebra(rho: &DensityMatrix) -> DMatrix<Complex64> {
    let dim = rho.dim();
    DMatrix::from_fn(dim, dim, |r, c| rho.get(r, c))
}

fn same_size(a: &DensityMatrix, b: &DensityMatrix) -> Result<()> {
    if a.n_qubits() != b.n_qubits() {
        return Err(QuantumError::SizeMismatch {
            what: "qubits of the two density matrices".into(),
            expected: a.n_qubits(),
            got: b.n_qubits(),
        });
    }
    Ok(())
}

/// Eigenvalues of a Hermitian matrix (ascending).
fn hermitian_eigenvalues(m: DMatrix<Complex64>) -> Vec<f64> {
    let mut values: Vec<f64> = m.symmetric_eigen().eigenvalues.iter().copied().collect();
    values.sort_by(f64::total_cmp);
    values
}

/// `sqrt(m)` of a Hermitian positive semi-definite matrix (negative rounding noise clipped to 0).
fn hermitian_sqrt(m: DMatrix<Complex64>) -> DMatrix<Complex64> {
    let eig = m.symmetric_eigen();
    let v = &eig.eigenvectors;
    let d = DMatrix::from_diagonal(&eig.eigenvalues.map(|l| Complex64::new(l.max(0.0).sqrt(), 0.0)));
    v * d * v.adjoint()
}

/// Uhlmann fidelity `F(ρ, σ) = (Tr sqrt(sqrt(ρ) σ sqrt(ρ)))²` (1 for equal states; `<ψ|ρ|ψ>` when
/// `σ = |ψ><ψ|`).
pub fn fidelity(rho: &DensityMatrix, sigma: &DensityMatrix) -> Result<f64> {
    same_size(rho, sigma)?;
    let s = hermitian_sqrt(to_nalgebra(rho));
    let inner = &s * to_nalgebra(sigma) * &s;
    // Symmetrise away rounding so the Hermitian solver sees a Hermitian matrix.
    let inner = (&inner + inner.adjoint()) * Complex64::new(0.5, 0.0);
    let root_trace: f64 = hermitian_eigenvalues(inner).iter().map(|&l| l.max(0.0).sqrt()).sum();
    Ok(root_trace * root_trace)
}

/// Trace distance `½ Tr|ρ - σ|` (0 for equal states, 1 for orthogonal ones).
pub fn trace_distance(rho: &DensityMatrix, sigma: &DensityMatrix) -> Result<f64> {
    same_size(rho, sigma)?;
    let diff = to_nalgebra(rho) - to_nalgebra(sigma);
    Ok(0.5 * hermitian_eigenvalues(diff).iter().map(|l| l.abs()).sum::<f64>())
}

/// The smallest eigenvalue of `ρ` (>= 0 up to rounding for a valid state).
pub fn min_eigenvalue(rho: &DensityMatrix) -> f64 {
    hermitian_eigenvalues(to_nalgebra(rho)).first().copied().unwrap_or(0.0)
}
