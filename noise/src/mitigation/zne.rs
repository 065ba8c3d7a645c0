//! Zero-noise extrapolation (Temme, Bravyi & Gambetta 2017; Giurgica-Tiron et al. 2020): run the
//! circuit at amplified noise by unitary folding, `G -> G G† G`, and extrapolate the expectation value
//! back to zero noise.
//!
//! [`fold`] reaches a scale factor `λ >= 1` with `k = floor((λ-1)/2)` global folds `C (C† C)^k` plus
//! folding the last `m = round(((λ-1)/2 - k) d)` gates of the `d`-gate circuit once; the scale
//! actually reached is `(d + 2kd + 2m) / d`. Inverses stay in the device basis (`sx† = rz(π) sx
//! rz(π)` up to a global phase), so folded gates carry the device's noise.

use crate::error::{NoiseError, Result};
use crate::model::NoiseModel;
use crate::sim::run_density;
use serde::Serialize;
use tinylab_quantum::circuit::{GateApplication, Instruction};
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{Angle, Circuit, Gate, StandardGate, ops};

/// How to extrapolate to zero noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Extrapolation {
    /// Least-squares straight line, its value at 0.
    Linear,
    /// The polynomial through every point (degree = points - 1), its value at 0.
    Richardson,
}

/// The inverse of one gate, kept in the device basis where the gate is a basis gate.
fn inverse(app: &GateApplication) -> Result<Vec<GateApplication>> {
    if app.gate == Gate::Standard(StandardGate::Sx) {
        let rz = |q| GateApplication {
            gate: Gate::Standard(StandardGate::Rz),
            qubits: vec![q],
            angles: vec![Angle::Const(std::f64::consts::PI)],
        };
        return Ok(vec![rz(app.qubits[0]), app.clone(), rz(app.qubits[0])]);
    }
    Ok(ops::inverse_application(app)?)
}

/// `circuit` with its noise amplified by about `scale` (>= 1) through unitary folding; returns the
/// folded circuit and the scale reached. Measurements are dropped (expectation values only).
pub fn fold(circuit: &Circuit, scale: f64) -> Result<(Circuit, f64)> {
    if !(1.0..=1e6).contains(&scale) {
        return Err(NoiseError::OutOfRange { what: "folding scale factor".into(), value: scale, lo: 1.0, hi: 1e6 });
    }
    let gates: Vec<&GateApplication> = circuit
        .instructions()
        .iter()
        .filter_map(|i| if let Instruction::Gate(a) = i { Some(a) } else { None })
        .collect();
    let d = gates.len();
    if d == 0 {
        return Ok((circuit.clone(), 1.0));
    }
    let half = (scale - 1.0) / 2.0;
    let k = half.floor() as usize;
    let m = (((half - k as f64) * d as f64).round() as usize).min(d);
    let inverses: Vec<Vec<GateApplication>> = gates.iter().map(|a| inverse(a)).collect::<Result<_>>()?;
    let mut out = Circuit::new(circuit.n_qubits());
    let push = |c: &mut Circuit, a: &GateApplication| c.append(a.gate.clone(), &a.qubits, &a.angles).map(|_| ());
    // Gates 0..d-m once, the last m folded (G G† G), then k rounds of C† C.
    for (i, a) in gates.iter().enumerate() {
        push(&mut out, a)?;
        if i >= d - m {
            for inv in &inverses[i] {
                push(&mut out, inv)?;
            }
            push(&mut out, a)?;
        }
    }
    for _ in 0..k {
        for inv in inverses.iter().rev() {
            for a in inv {
                push(&mut out, a)?;
            }
        }
        for a in &gates {
            push(&mut out, a)?;
        }
    }
    let reached = (d + 2 * k * d + 2 * m) as f64 / d as f64;
    Ok((out, reached))
}

/// Noisy expectations at each scale and the extrapolated value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZneResult {
    /// Scale factors reached by folding.
    pub scales: Vec<f64>,
    /// Noisy expectation value at each scale (density-matrix simulation).
    pub values: Vec<f64>,
    /// The zero-noise estimate.
    pub mitigated: f64,
}

/// Zero-noise extrapolation of `<observable>` for `circuit` under `model`, folding to each of
/// `scales` (the first is usually 1).
pub fn zne_expectation(
    circuit: &Circuit,
    observable: &PauliSum,
    model: &NoiseModel,
    scales: &[f64],
    method: Extrapolation,
) -> Result<ZneResult> {
    if scales.len() < 2 {
        return Err(NoiseError::InvalidSetting {
            setting: "scale factors",
            value: format!("{scales:?}"),
            requirement: "zero-noise extrapolation needs at least two",
        });
    }
    let (mut reached, mut values) = (Vec::new(), Vec::new());
    for &s in scales {
        let (folded, r) = fold(circuit, s)?;
        let rho = run_density(&folded, &[], &[], model, &SimOptions::default())?;
        reached.push(r);
        values.push(observable.expectation_density(&rho)?);
    }
    let mitigated = extrapolate(&reached, &values, method)?;
    Ok(ZneResult { scales: reached, values, mitigated })
}

/// The value at 0 of the fit through `(x, y)`.
pub fn extrapolate(x: &[f64], y: &[f64], method: Extrapolation) -> Result<f64> {
    let distinct = x.iter().enumerate().all(|(i, a)| x[..i].iter().all(|b| (a - b).abs() > 1e-12));
    if x.len() != y.len() || x.len() < 2 || !distinct {
        return Err(NoiseError::InvalidSetting {
            setting: "(scale factors, values)",
            value: format!("({x:?}, {y:?})"),
            requirement: "as many values as scale factors, and at least two distinct scale factors",
        });
    }
    Ok(match method {
        Extrapolation::Linear => {
            let n = x.len() as f64;
            let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
            let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
            let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
            my - sxy / sxx * mx
        }
        // Lagrange interpolation evaluated at 0.
        Extrapolation::Richardson => (0..x.len())
            .map(|i| y[i] * (0..x.len()).filter(|&j| j != i).map(|j| x[j] / (x[j] - x[i])).product::<f64>())
            .sum(),
    })
}
