//! Readout-error mitigation: undo each qubit's confusion matrix (tensored inverse, as Qiskit's
//! `LocalReadoutMitigator`), then project onto probability distributions.

use crate::error::{NoiseError, Result};
use crate::model::NoiseModel;

/// Applies the inverse of each qubit's readout confusion matrix in `model` to measured probabilities
/// over `2^n_qubits` outcomes, then returns the nearest probability distribution (Euclidean
/// projection onto the simplex; the inverse alone can give negative "probabilities").
pub fn mitigate_readout(measured: &[f64], n_qubits: usize, model: &NoiseModel) -> Result<Vec<f64>> {
    if measured.len() != 1 << n_qubits {
        return Err(NoiseError::SizeMismatch {
            what: format!("measured probabilities of {n_qubits} qubits"),
            expected: 1 << n_qubits,
            got: measured.len(),
        });
    }
    let mut p = measured.to_vec();
    for q in 0..n_qubits {
        let Some(err) = model.readout_error(q) else { continue };
        let [[a, b], [c, d]] = err.probabilities;
        // measured[j] = Σ_i P(j|i) true[i]: the matrix M[j][i] = P(j|i) = [[a, c], [b, d]].
        let det = a * d - b * c;
        if det.abs() < 1e-12 {
            return Err(NoiseError::SingularConfusion { qubit: q, determinant: det });
        }
        let inv = [[d / det, -c / det], [-b / det, a / det]];
        let bit = 1usize << q;
        for i in 0..p.len() {
            if i & bit == 0 {
                let (m0, m1) = (p[i], p[i | bit]);
                p[i] = inv[0][0] * m0 + inv[0][1] * m1;
                p[i | bit] = inv[1][0] * m0 + inv[1][1] * m1;
            }
        }
    }
    Ok(nearest_distribution(&p))
}

/// The probability vector closest to `v` in Euclidean distance (Duchi et al. 2008: sort, find the
/// threshold, clip).
pub fn nearest_distribution(v: &[f64]) -> Vec<f64> {
    let mut sorted = v.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let (mut cumulative, mut theta) = (0.0, 0.0);
    for (k, &x) in sorted.iter().enumerate() {
        cumulative += x;
        let t = (cumulative - 1.0) / (k + 1) as f64;
        if x - t > 0.0 {
            theta = t;
        }
    }
    v.iter().map(|&x| (x - theta).max(0.0)).collect()
}
