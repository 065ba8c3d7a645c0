//! Reading a density matrix: probabilities, seeded sampling, measurement with collapse, partial trace
//! and purity.

use super::{DensityMatrix, check_qubits};
use crate::error::{QuantumError, Result};
use crate::matrix::C64;
use crate::statevector::measure::sample_indices;

impl DensityMatrix {
    /// The diagonal `ρ[i][i]` (real parts): outcome probabilities of measuring every qubit, index bit
    /// `q` being qubit `q`.
    pub fn probabilities(&self) -> Vec<f64> {
        (0..self.dim()).map(|i| self.get(i, i).re).collect()
    }

    /// Probabilities of the outcomes of measuring `qubits` only (bit `j` of an outcome is `qubits[j]`).
    pub fn marginal_probabilities(&self, qubits: &[usize]) -> Result<Vec<f64>> {
        check_qubits(qubits, self.n_qubits, "marginal")?;
        let mut out = vec![0.0; 1 << qubits.len()];
        for (i, p) in self.probabilities().into_iter().enumerate() {
            let j = qubits.iter().enumerate().fold(0, |j, (b, &q)| j | (i >> q & 1) << b);
            out[j] += p;
        }
        Ok(out)
    }

    /// `shots` seeded samples of measuring every qubit (basis-state indices).
    pub fn sample(&self, shots: usize, seed: u64) -> Result<Vec<usize>> {
        let probs: Vec<f64> = self.probabilities().into_iter().map(|p| p.max(0.0)).collect();
        sample_indices(&probs, shots, seed)
    }

    /// Measures `qubit` with the given `outcome`: projects, renormalises and returns the outcome's
    /// probability (an error when it is zero, since the state would be undefined).
    pub fn measure(&mut self, qubit: usize, outcome: bool) -> Result<f64> {
        check_qubits(&[qubit], self.n_qubits, "measure")?;
        let n = self.n_qubits;
        let want = outcome as usize;
        let p: f64 = (0..self.dim()).filter(|i| i >> qubit & 1 == want).map(|i| self.get(i, i).re).sum();
        if p <= 0.0 {
            return Err(QuantumError::Unsupported(format!(
                "outcome {want} of qubit {qubit} has probability {p}; the post-measurement state is undefined"
            )));
        }
        let scale = 1.0 / p;
        for (idx, v) in self.data.iter_mut().enumerate() {
            let (r, c) = (idx & ((1 << n) - 1), idx >> n);
            *v = if r >> qubit & 1 == want && c >> qubit & 1 == want { *v * scale } else { C64::new(0.0, 0.0) };
        }
        Ok(p)
    }

    /// The reduced state of `keep` (in that order: bit `j` of the result's indices is `keep[j]`),
    /// tracing out every other qubit.
    pub fn partial_trace(&self, keep: &[usize]) -> Result<DensityMatrix> {
        check_qubits(keep, self.n_qubits, "partial trace")?;
        let m = keep.len();
        let traced: Vec<usize> = (0..self.n_qubits).filter(|q| !keep.contains(q)).collect();
        let mut out = DensityMatrix { n_qubits: m, data: DensityMatrix::allocate(m)? };
        let spread = |local: usize, qubits: &[usize]| {
            qubits.iter().enumerate().fold(0usize, |i, (b, &q)| i | (local >> b & 1) << q)
        };
        for r in 0..1usize << m {
            for c in 0..1usize << m {
                let (rr, cc) = (spread(r, keep), spread(c, keep));
                let mut sum = C64::new(0.0, 0.0);
                for t in 0..1usize << traced.len() {
                    let e = spread(t, &traced);
                    sum += self.get(rr | e, cc | e);
                }
                out.data[r | c << m] = sum;
            }
        }
        Ok(out)
    }

    /// `Tr ρ²` (1 for a pure state, `1/2^n` for the maximally mixed one).
    pub fn purity(&self) -> f64 {
        // ρ is Hermitian, so Tr ρ² = Σ |ρ_ij|².
        self.data.iter().map(|v| v.norm_sqr()).sum()
    }
}
