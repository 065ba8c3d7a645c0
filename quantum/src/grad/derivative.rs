//! Derivatives of gate matrices with respect to one of their angles, and the parameter-shift rule
//! that the spectrum of the angle's generator implies.
//!
//! Every angle of the gate library enters its matrix through `cos(a/2)`, `sin(a/2)`, `e^{±ia/2}` or
//! `e^{ia}`, so each entry is a trigonometric polynomial with frequencies in `{0, ±1/2, ±1}`. Common
//! gates get a closed form (a half-period shift for Pauli rotations, a phase projector for `u3`'s
//! `φ`/`λ` and the phase gates); any other gate is differentiated exactly by trigonometric
//! interpolation on five equispaced angles over the period `4π`.
//!
//! Shift rules follow Wierichs, Izaac, Wang & Lin, "General parameter-shift rules for quantum
//! gradients", Quantum 6, 677 (2022): when the distinct positive differences of the generator's
//! eigenvalues are `ω0·{1..R}`, the derivative of any expectation value is a combination of `2R`
//! shifted evaluations. Pauli rotations get the two-term rule, controlled rotations the four-term rule
//! (Anselmetti et al. 2021), and any other equidistant spectrum its own rule.

use crate::error::{QuantumError, Result};
use crate::gate::{Gate, StandardGate};
use crate::matrix::{C64, Matrix};
use crate::ops::{OpMatrix, single_op_matrix};
use std::f64::consts::PI;

/// How the derivative of a base matrix with respect to one angle is formed.
enum Rule {
    /// `M(a + π) / 2`: `a` enters only as `cos(a/2)`, `sin(a/2)` or `e^{±ia/2}`.
    HalfPeriodShift,
    /// `diag(0, i) · M`: `a` multiplies row 1 by `e^{ia}` (`u3`'s `φ`).
    PhaseOnRow,
    /// `M · diag(0, i)`: `a` multiplies column 1 by `e^{ia}` (`u3`'s `λ`, `p`).
    PhaseOnColumn,
    /// `i · M`: `a` is a global phase `e^{ia}` of the base (`cu`'s `γ`).
    GlobalPhase,
    /// Exact trigonometric interpolation.
    Interpolate,
}

fn rule(gate: &Gate, which: usize) -> Rule {
    use StandardGate as G;
    let base = match gate {
        Gate::Controlled { base, .. } => base.as_ref(),
        g => g,
    };
    let Gate::Standard(g) = base else { return Rule::Interpolate };
    match (g, which) {
        (G::Rx | G::Ry | G::Rz | G::Rxx | G::Ryy | G::Rzz | G::Rzx | G::Crx | G::Cry | G::Crz, 0) => {
            Rule::HalfPeriodShift
        }
        (G::U3 | G::U | G::Cu3 | G::Cu, 0) => Rule::HalfPeriodShift,
        (G::U3 | G::U | G::Cu3 | G::Cu, 1) | (G::U2, 0) => Rule::PhaseOnRow,
        (G::U3 | G::U | G::Cu3 | G::Cu, 2) | (G::U2, 1) | (G::P | G::U1 | G::Cp | G::Cu1, 0) => Rule::PhaseOnColumn,
        (G::Cu, 3) => Rule::GlobalPhase,
        _ => Rule::Interpolate,
    }
}

fn entries(m: &OpMatrix) -> &[C64] {
    match m {
        OpMatrix::Dense(d) => d.data(),
        OpMatrix::Diagonal(d) => d,
    }
}

fn with_entries(like: &OpMatrix, data: Vec<C64>) -> Result<OpMatrix> {
    Ok(match like {
        OpMatrix::Dense(_) => OpMatrix::Dense(Matrix::from_rows(data)?),
        OpMatrix::Diagonal(_) => OpMatrix::Diagonal(data),
    })
}

fn base_at(gate: &Gate, angles: &[f64], which: usize, delta: f64) -> Result<OpMatrix> {
    let mut shifted = angles.to_vec();
    shifted[which] += delta;
    Ok(single_op_matrix(gate, &shifted)?.1)
}

/// `∂M/∂a` of the base matrix of `gate` (the matrix on its targets, controls stripped, as
/// [`single_op_matrix`] gives it) with respect to angle `which`, at `angles`.
pub fn base_derivative(gate: &Gate, angles: &[f64], which: usize) -> Result<OpMatrix> {
    if which >= angles.len() {
        return Err(QuantumError::Unsupported(format!("gate `{}` has no angle {which}", gate.name())));
    }
    let i = C64::new(0.0, 1.0);
    let zero = C64::new(0.0, 0.0);
    match rule(gate, which) {
        Rule::HalfPeriodShift => {
            let m = base_at(gate, angles, which, PI)?;
            let data = entries(&m).iter().map(|z| z * 0.5).collect();
            with_entries(&m, data)
        }
        Rule::PhaseOnRow | Rule::PhaseOnColumn | Rule::GlobalPhase => {
            let m = single_op_matrix(gate, angles)?.1;
            let on_row = matches!(rule(gate, which), Rule::PhaseOnRow);
            let global = matches!(rule(gate, which), Rule::GlobalPhase);
            let data = match &m {
                OpMatrix::Diagonal(d) => {
                    d.iter().enumerate().map(|(k, z)| if global || k == 1 { i * z } else { zero }).collect()
                }
                OpMatrix::Dense(d) => {
                    let dim = d.dim();
                    (0..dim * dim)
                        .map(|k| {
                            let (r, c) = (k / dim, k % dim);
                            let selected = if on_row { r == 1 } else { c == 1 };
                            if global || selected { i * d.get(r, c) } else { zero }
                        })
                        .collect()
                }
            };
            with_entries(&m, data)
        }
        Rule::Interpolate => interpolated_derivative(gate, angles, which),
    }
}

/// `∂M/∂a` by exact trigonometric interpolation: samples `f_k = M(a + 4πk/5)`, `k = 0..4`; with
/// frequencies `m/2`, `m = -2..2`, the rotated coefficients are `c_m = (1/5) Σ_k f_k e^{-2πimk/5}`
/// and `M'(a) = Σ_m (im/2) c_m`.
fn interpolated_derivative(gate: &Gate, angles: &[f64], which: usize) -> Result<OpMatrix> {
    let zero = C64::new(0.0, 0.0);
    let samples: Vec<OpMatrix> =
        (0..5).map(|k| base_at(gate, angles, which, 4.0 * PI * k as f64 / 5.0)).collect::<Result<_>>()?;
    let mut data = vec![zero; entries(&samples[0]).len()];
    for m in -2i32..=2 {
        let weight = C64::new(0.0, m as f64 / 2.0) / 5.0;
        for (k, sample) in samples.iter().enumerate() {
            let twiddle = C64::from_polar(1.0, -2.0 * PI * (m as f64) * (k as f64) / 5.0);
            for (d, &f) in data.iter_mut().zip(entries(sample)) {
                *d += weight * twiddle * f;
            }
        }
    }
    with_entries(&samples[0], data)
}

/// A parameter-shift rule: `∂f/∂a = Σ coefficient · f(a + shift)` for the listed terms.
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftRule {
    /// `(shift, coefficient)` pairs.
    pub terms: Vec<(f64, f64)>,
}

impl ShiftRule {
    /// The rule for a trigonometric polynomial with frequencies `unit·{1..=count}` (Wierichs et al.
    /// 2022, eq. 33): shifts `x_μ/unit` with `x_μ = (2μ-1)π/(2R)` and coefficients
    /// `unit·(-1)^{μ-1} / (4R sin²(x_μ/2))`, `μ = 1..2R`.
    pub fn equidistant(unit: f64, count: usize) -> ShiftRule {
        let r = count as f64;
        let terms = (1..=2 * count)
            .map(|mu| {
                let x = (2 * mu - 1) as f64 * PI / (2.0 * r);
                let sign = if mu % 2 == 1 { 1.0 } else { -1.0 };
                (x / unit, unit * sign / (4.0 * r * (x / 2.0).sin().powi(2)))
            })
            .collect();
        ShiftRule { terms }
    }
}

/// The dense matrix of `base` on targets + controls (targets in the low bits), identity where a
/// control is 0.
fn controlled_dense(base: &OpMatrix, n_controls: usize, identity_elsewhere: bool) -> Matrix {
    let base = base.to_dense();
    let k = base.dim();
    let dim = k << n_controls;
    let mut full = Matrix::identity(dim);
    let all_on = (1usize << n_controls) - 1;
    for r in 0..dim {
        for c in 0..dim {
            let value = if r / k == all_on && c / k == all_on {
                base.get(r % k, c % k)
            } else if r == c && identity_elsewhere {
                C64::new(1.0, 0.0)
            } else {
                C64::new(0.0, 0.0)
            };
            full.set(r, c, value);
        }
    }
    full
}

/// The shift rule of angle `which` of `gate` at `angles`, from the eigenvalues of its generator
/// `H = i U† ∂U/∂a` (controls included); an error when the eigenvalue differences are not multiples
/// of one frequency.
pub fn shift_rule(gate: &Gate, angles: &[f64], which: usize) -> Result<ShiftRule> {
    let (n_controls, base) = single_op_matrix(gate, angles)?;
    let u = controlled_dense(&base, n_controls, true);
    let du = controlled_dense(&base_derivative(gate, angles, which)?, n_controls, false);
    let h = u.dagger().matmul(&du).scale(C64::new(0.0, 1.0));
    let dim = h.dim();
    let hermitian = nalgebra::DMatrix::from_fn(dim, dim, |r, c| (h.get(r, c) + h.get(c, r).conj()) * 0.5);
    let eigenvalues = hermitian.symmetric_eigenvalues();
    let mut gaps: Vec<f64> = Vec::new();
    for a in eigenvalues.iter() {
        for b in eigenvalues.iter() {
            let d = a - b;
            if d > 1e-9 && !gaps.iter().any(|g| (g - d).abs() < 1e-9) {
                gaps.push(d);
            }
        }
    }
    if gaps.is_empty() {
        // The angle has no effect: its derivative is zero.
        return Ok(ShiftRule { terms: Vec::new() });
    }
    let unit = gaps.iter().copied().fold(f64::INFINITY, f64::min);
    let mut count = 0usize;
    for g in &gaps {
        let ratio = g / unit;
        if (ratio - ratio.round()).abs() > 1e-7 {
            return Err(QuantumError::Unsupported(format!(
                "angle {which} of gate `{}` has generator frequencies {gaps:?} that are not multiples of one \
                 frequency; no equidistant shift rule applies",
                gate.name()
            )));
        }
        count = count.max(ratio.round() as usize);
    }
    Ok(ShiftRule::equidistant(unit, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_diff(a: &OpMatrix, b: &OpMatrix) -> f64 {
        let (a, b) = (a.to_dense(), b.to_dense());
        a.data().iter().zip(b.data()).map(|(x, y)| (x - y).norm()).fold(0.0, f64::max)
    }

    #[test]
    fn closed_forms_match_interpolation_and_finite_differences() {
        let gates: &[(StandardGate, &[f64])] = &[
            (StandardGate::Rx, &[0.3]),
            (StandardGate::Crz, &[1.1]),
            (StandardGate::U3, &[0.4, -1.2, 2.1]),
            (StandardGate::Cu, &[0.4, -1.2, 2.1, 0.7]),
            (StandardGate::P, &[0.9]),
            (StandardGate::Rzx, &[-0.8]),
            (StandardGate::U2, &[0.2, 0.5]),
        ];
        for &(g, angles) in gates {
            let gate = Gate::Standard(g);
            for which in 0..angles.len() {
                let closed = base_derivative(&gate, angles, which).unwrap();
                // Interpolation through a controlled wrapper of an unknown kind.
                let h = 1e-6;
                let plus = base_at(&gate, angles, which, h).unwrap().to_dense();
                let minus = base_at(&gate, angles, which, -h).unwrap().to_dense();
                let fd: Vec<C64> = plus.data().iter().zip(minus.data()).map(|(p, m)| (p - m) / (2.0 * h)).collect();
                let fd = OpMatrix::Dense(Matrix::from_rows(fd).unwrap());
                assert!(max_diff(&closed, &fd) < 1e-9, "{g:?} angle {which}");
            }
        }
    }

    #[test]
    fn interpolation_agrees_with_every_closed_form() {
        for g in StandardGate::ALL.iter().copied().filter(|g| g.n_params() > 0) {
            let gate = Gate::Standard(g);
            let angles: Vec<f64> = (0..g.n_params()).map(|k| 0.3 + 0.7 * k as f64).collect();
            for which in 0..angles.len() {
                let closed = base_derivative(&gate, &angles, which).unwrap();
                let interp = interpolated_derivative(&gate, &angles, which).unwrap();
                assert!(max_diff(&closed, &interp) < 1e-14, "{g:?} angle {which}");
            }
        }
    }

    #[test]
    fn shift_rules_by_spectrum() {
        let rx = shift_rule(&Gate::Standard(StandardGate::Rx), &[0.2], 0).unwrap();
        assert_eq!(rx.terms.len(), 2);
        assert!((rx.terms[0].0 - PI / 2.0).abs() < 1e-12 && (rx.terms[0].1 - 0.5).abs() < 1e-12);
        let crx = shift_rule(&Gate::Standard(StandardGate::Crx), &[0.2], 0).unwrap();
        assert_eq!(crx.terms.len(), 4);
        let d1 = (2f64.sqrt() + 1.0) / (4.0 * 2f64.sqrt());
        let d2 = (2f64.sqrt() - 1.0) / (4.0 * 2f64.sqrt());
        assert!((crx.terms[0].0 - PI / 2.0).abs() < 1e-12 && (crx.terms[0].1 - d1).abs() < 1e-12);
        assert!((crx.terms[1].0 - 3.0 * PI / 2.0).abs() < 1e-12 && (crx.terms[1].1 + d2).abs() < 1e-12);
        let cp = shift_rule(&Gate::Standard(StandardGate::Cp), &[0.2], 0).unwrap();
        assert_eq!(cp.terms.len(), 2);
        let cu3_theta = shift_rule(&Gate::Standard(StandardGate::Cu3), &[0.2, 0.1, 0.3], 0).unwrap();
        assert_eq!(cu3_theta.terms.len(), 4);
        let cu3_phi = shift_rule(&Gate::Standard(StandardGate::Cu3), &[0.2, 0.1, 0.3], 1).unwrap();
        assert_eq!(cu3_phi.terms.len(), 2);
    }
}
