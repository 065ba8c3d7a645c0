//! Readout errors: a 2x2 confusion matrix per qubit, applied to measurement probabilities.

use crate::error::{NoiseError, Result, check_range};
use serde::{Deserialize, Serialize};

/// `probabilities[i][j] = P(read j | prepared i)` for one qubit (Qiskit Aer's `ReadoutError`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReadoutError {
    /// Rows: prepared 0 and 1; columns: read 0 and 1.
    pub probabilities: [[f64; 2]; 2],
}

impl ReadoutError {
    /// A confusion matrix, checked: entries in [0, 1], rows summing to 1 (to 1e-12).
    pub fn new(probabilities: [[f64; 2]; 2]) -> Result<Self> {
        for (i, row) in probabilities.iter().enumerate() {
            for (j, &p) in row.iter().enumerate() {
                check_range(&format!("P(read {j} | prepared {i})"), p, 0.0, 1.0)?;
            }
            if (row[0] + row[1] - 1.0).abs() > 1e-12 {
                return Err(NoiseError::OutOfRange {
                    what: format!("row {i} of the readout confusion matrix (sum)"),
                    value: row[0] + row[1],
                    lo: 1.0,
                    hi: 1.0,
                });
            }
        }
        Ok(Self { probabilities })
    }

    /// `P(1|0) = p01`, `P(0|1) = p10`.
    pub fn asymmetric(p01: f64, p10: f64) -> Result<Self> {
        Self::new([[1.0 - p01, p01], [p10, 1.0 - p10]])
    }

    /// The same flip probability both ways (how Aer reads a device's `readout_error`).
    pub fn symmetric(p: f64) -> Result<Self> {
        Self::asymmetric(p, p)
    }

    /// Applies this confusion matrix to qubit `qubit` of a probability vector over `2^n` outcomes
    /// (index bit `q` is qubit `q`), in place.
    pub fn apply(&self, probs: &mut [f64], qubit: usize) -> Result<()> {
        if !probs.len().is_power_of_two() || probs.len() >> qubit < 2 {
            return Err(NoiseError::SizeMismatch {
                what: format!("probability vector length for qubit {qubit} (a power of two above it)"),
                expected: 2usize << qubit,
                got: probs.len(),
            });
        }
        let [[p00, p01], [p10, p11]] = self.probabilities;
        let bit = 1usize << qubit;
        for i in 0..probs.len() {
            if i & bit == 0 {
                let (a, b) = (probs[i], probs[i | bit]);
                probs[i] = p00 * a + p10 * b;
                probs[i | bit] = p01 * a + p11 * b;
            }
        }
        Ok(())
    }
}
