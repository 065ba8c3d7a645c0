//! The class logits of a QuantumNAS classifier: `logit_i = scale · Σ_{q ∈ group_i} <Z_q>`.
//!
//! Raw `<Z_q>` lie in `[-1, 1]`, so a softmax over them can never be confident: on two classes the
//! cross-entropy of a perfect classifier is still `ln(1 + e^-2) ≈ 0.13` and typical losses sit near
//! `ln 2`, and noisy validation losses of different candidates hardly differ. TorchQuantum's
//! QuantumNAS and QOC examples read the qubits out the same way and compare summed groups for two
//! classes (`<Z0 + Z1>` against `<Z2 + Z3>`); a fixed scale (a softmax temperature `1/scale`) lets the
//! cross-entropy separate good candidates from poor ones (Wang et al., QuantumNAS, HPCA 2022; Wang
//! et al., QOC, DAC 2022). The scale is part of the observables, so training, search scores,
//! fine-tuning and evaluation (noiseless, on the density matrix with readout error, or from shots)
//! all see the same logits.

use crate::error::{NoiseError, Result};
use tinylab_quantum::pauli::{Pauli, PauliString, PauliSum};

/// One observable per class: `scale` times the sum of `Z` on the qubits of `groups[i]` (see the
/// module documentation). Errors on no groups, an empty group, or a scale that is not finite and
/// positive.
pub fn class_readout(groups: &[Vec<usize>], scale: f64) -> Result<Vec<PauliSum>> {
    if groups.is_empty() || groups.iter().any(Vec::is_empty) {
        return Err(NoiseError::InvalidSetting {
            setting: "readout qubit groups",
            value: format!("{groups:?}"),
            requirement: "at least one group, and no group empty",
        });
    }
    if !(scale.is_finite() && scale > 0.0) {
        return Err(NoiseError::InvalidSetting {
            setting: "logit scale",
            value: scale.to_string(),
            requirement: "finite and positive",
        });
    }
    groups
        .iter()
        .map(|group| {
            let terms =
                group.iter().map(|&q| Ok((scale, PauliString::new(&[(q, Pauli::Z)])?))).collect::<Result<Vec<_>>>()?;
            Ok(PauliSum::new(terms))
        })
        .collect()
}

/// The usual groups: one qubit per class (`[[0], [1], ...]`) when `classes` is at least 3 or
/// `n_qubits` is below 4, and for two classes the halves of the qubits (`<Z0 + Z1>` against
/// `<Z2 + Z3>` on four), as TorchQuantum reads out MNIST-2.
pub fn default_groups(classes: usize, n_qubits: usize) -> Vec<Vec<usize>> {
    if classes == 2 && n_qubits >= 4 {
        let half = n_qubits / 2;
        vec![(0..half).collect(), (half..2 * half).collect()]
    } else {
        (0..classes).map(|q| vec![q]).collect()
    }
}
