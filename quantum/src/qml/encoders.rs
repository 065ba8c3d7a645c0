//! Encoders: circuits (or initial states) that load classical features into qubits.
//!
//! Features enter as [`Angle::Input`]s, so one circuit serves a whole batch and gradients with
//! respect to features come for free. Conventions follow the systems researchers compare with:
//! [`ryzxy_4x4`] is TorchQuantum's `"4x4_ryzxy"` encoder, [`zz_feature_map`] is Qiskit's
//! `ZZFeatureMap` with full entanglement (Havlíček et al., Nature 567, 209 (2019)), and
//! [`amplitude_circuit`] prepares a real vector with uniformly controlled RY rotations (Möttönen et
//! al., Quantum Inf. Comput. 5, 467 (2005)).

use crate::circuit::{Angle, Circuit};
use crate::error::{QuantumError, Result};
use crate::gate::{Gate, StandardGate};
use crate::matrix::C64;
use std::f64::consts::PI;

/// A single-qubit rotation axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// `RX`.
    X,
    /// `RY`.
    Y,
    /// `RZ`.
    Z,
}

impl Rotation {
    fn gate(self) -> StandardGate {
        match self {
            Rotation::X => StandardGate::Rx,
            Rotation::Y => StandardGate::Ry,
            Rotation::Z => StandardGate::Rz,
        }
    }
}

/// Angle encoding: `R(scale · x[first_feature + i])` on `qubits[i]`.
pub fn angle_encoding(
    circuit: &mut Circuit,
    rotation: Rotation,
    qubits: &[usize],
    first_feature: usize,
    scale: f64,
) -> Result<()> {
    for (i, &q) in qubits.iter().enumerate() {
        let angle = Angle::Input { index: first_feature + i, scale, offset: 0.0 };
        circuit.append(rotation.gate().into(), &[q], &[angle])?;
    }
    Ok(())
}

/// TorchQuantum's `"4x4_ryzxy"` encoder: 16 features on qubits 0..3 as `RY(x0..x3)`, `RZ(x4..x7)`,
/// `RX(x8..x11)`, `RY(x12..x15)` (feature `4k + i` on qubit `i`).
pub fn ryzxy_4x4(circuit: &mut Circuit) -> Result<()> {
    if circuit.n_qubits() < 4 {
        return Err(QuantumError::QubitOutOfRange { qubit: 3, n_qubits: circuit.n_qubits() });
    }
    for (k, rotation) in [Rotation::Y, Rotation::Z, Rotation::X, Rotation::Y].into_iter().enumerate() {
        angle_encoding(circuit, rotation, &[0, 1, 2, 3], 4 * k, 1.0)?;
    }
    Ok(())
}

/// Qiskit's `ZZFeatureMap` with full entanglement on every qubit of the circuit, `reps` times: `H` on
/// every qubit, `P(2 x_i)` on qubit `i`, then for every pair `i < j`: `CX(i, j)`,
/// `P(2 (π - x_i)(π - x_j))` on `j`, `CX(i, j)`. Feature `i` goes to qubit `i`.
pub fn zz_feature_map(circuit: &mut Circuit, reps: usize) -> Result<()> {
    let n = circuit.n_qubits();
    for _ in 0..reps {
        for q in 0..n {
            circuit.h(q)?;
        }
        for q in 0..n {
            circuit.p(Angle::Input { index: q, scale: 2.0, offset: 0.0 }, q)?;
        }
        for i in 0..n {
            for j in i + 1..n {
                let pair = Angle::InputPair { first: i, second: j, center: PI, scale: 2.0, offset: 0.0 };
                circuit.cx(i, j)?.p(pair, j)?.cx(i, j)?;
            }
        }
    }
    Ok(())
}

/// The amplitude-encoded state of `x` on `n_qubits` qubits: `x / |x|`, padded with zeros (basis
/// index `i` holds `x[i]`). Errors for too many features or a zero vector.
pub fn amplitude_state(x: &[f64], n_qubits: usize) -> Result<Vec<C64>> {
    let dim = 1usize << n_qubits;
    if x.len() > dim {
        return Err(QuantumError::SizeMismatch {
            what: format!("features for amplitude encoding on {n_qubits} qubits (at most)"),
            expected: dim,
            got: x.len(),
        });
    }
    let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return Err(QuantumError::Unsupported("amplitude encoding needs a finite, non-zero feature vector".into()));
    }
    let mut state = vec![C64::new(0.0, 0.0); dim];
    for (s, v) in state.iter_mut().zip(x) {
        *s = C64::new(v / norm, 0.0);
    }
    Ok(state)
}

/// A circuit of constant uniformly controlled `RY` rotations that prepares
/// [`amplitude_state`]`(x, n_qubits)` from |0...0> exactly (signs included): the highest qubit first,
/// each lower qubit rotated by the ratio of its subtree norms under every pattern of the qubits above.
/// Gate count grows as `2^n`; meant for the few qubits of QML models and for export to hardware.
pub fn amplitude_circuit(x: &[f64], n_qubits: usize) -> Result<Circuit> {
    let amps: Vec<f64> = amplitude_state(x, n_qubits)?.iter().map(|z| z.re).collect();
    let mut c = Circuit::new(n_qubits);
    for level in 0..n_qubits {
        let target = n_qubits - 1 - level;
        let controls: Vec<usize> = (target + 1..n_qubits).collect();
        let block = 1usize << (target + 1);
        for pattern in 0..1usize << level {
            // Amplitudes whose qubits above `target` spell `pattern`.
            let sub = &amps[pattern * block..(pattern + 1) * block];
            let (low, high) = sub.split_at(block / 2);
            let theta = if target == 0 {
                2.0 * high[0].atan2(low[0])
            } else {
                let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
                2.0 * norm(high).atan2(norm(low))
            };
            if theta == 0.0 {
                continue;
            }
            let flips: Vec<usize> =
                controls.iter().enumerate().filter(|(b, _)| pattern >> b & 1 == 0).map(|(_, &q)| q).collect();
            for &q in &flips {
                c.x(q)?;
            }
            if controls.is_empty() {
                c.ry(theta, target)?;
            } else {
                let mut qubits = controls.clone();
                qubits.push(target);
                c.append(Gate::controlled(StandardGate::Ry.into(), controls.len())?, &qubits, &[Angle::Const(theta)])?;
            }
            for &q in &flips {
                c.x(q)?;
            }
        }
    }
    Ok(c)
}
