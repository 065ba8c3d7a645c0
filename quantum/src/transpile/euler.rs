//! One-qubit gates in the basis `rz`, `sx`, `x` (up to global phase).
//!
//! With Qiskit's `u3(θ,φ,λ) = [[cos θ/2, -e^{iλ} sin θ/2], [e^{iφ} sin θ/2, e^{i(φ+λ)} cos θ/2]]` and
//! `rz(α) = diag(e^{-iα/2}, e^{iα/2})`, in time order (checked in the tests, exact up to a phase):
//!
//! - `u3(θ,φ,λ) = rz(λ) · sx · rz(θ+π) · sx · rz(φ+π)`, the general case (also for symbolic angles);
//! - `u3(0,φ,λ) = rz(φ+λ)`;
//! - `u3(π/2,φ,λ) = rz(λ-π/2) · sx · rz(φ+π/2)`;
//! - `u3(π,φ,λ) = x · rz(φ-λ+π)`.
//!
//! A constant gate is first written as `e^{iγ} u3(θ,φ,λ)` with `θ ∈ [0, π]` (ZYZ angles of its
//! matrix); `θ` within [`SNAP`] of 0, π/2 or π takes the shorter form, and an `rz` whose angle is
//! within [`SNAP`] of a multiple of 2π is left out (it is a global phase). Snapping changes the
//! unitary by at most about `SNAP`.

use crate::circuit::{Angle, GateApplication};
use crate::gate::{Gate, StandardGate};
use crate::ops;
use crate::synthesis::su2::{self, M2};
use std::f64::consts::{FRAC_PI_2, PI, TAU};

/// Tolerance of the special cases of the one-qubit synthesis (radians).
pub const SNAP: f64 = 1e-12;

pub(crate) fn gate(g: StandardGate, qubits: &[usize], angles: Vec<Angle>) -> GateApplication {
    GateApplication { gate: Gate::Standard(g), qubits: qubits.to_vec(), angles }
}

/// `a` reduced to `(-π, π]`.
fn wrap(a: f64) -> f64 {
    let r = a.rem_euclid(TAU);
    if r > PI { r - TAU } else { r }
}

fn rz_const(q: usize, a: f64, out: &mut Vec<GateApplication>) {
    let a = wrap(a);
    if a.abs() > SNAP {
        out.push(gate(StandardGate::Rz, &[q], vec![Angle::Const(a)]));
    }
}

fn sx(q: usize, out: &mut Vec<GateApplication>) {
    out.push(gate(StandardGate::Sx, &[q], Vec::new()));
}

/// Appends `e^{iγ} u3(θ,φ,λ)`'s basis gates on qubit `q` for a 2x2 unitary `m` (γ dropped).
pub(crate) fn matrix_to_basis(m: &M2, q: usize, out: &mut Vec<GateApplication>) {
    let [theta, phi, lambda, _] = su2::zyz(m);
    if theta < SNAP {
        rz_const(q, phi + lambda, out);
    } else if (theta - FRAC_PI_2).abs() < SNAP {
        rz_const(q, lambda - FRAC_PI_2, out);
        sx(q, out);
        rz_const(q, phi + FRAC_PI_2, out);
    } else if (theta - PI).abs() < SNAP {
        out.push(gate(StandardGate::X, &[q], Vec::new()));
        rz_const(q, phi - lambda + PI, out);
    } else {
        rz_const(q, lambda, out);
        sx(q, out);
        rz_const(q, theta + PI, out);
        sx(q, out);
        rz_const(q, phi + PI, out);
    }
}

/// Appends the basis gates of `u3(θ,φ,λ)` on `q`: through the matrix when the angles are constant,
/// else the general five-gate form with the angles shifted (symbolic angles stay symbolic).
pub(crate) fn u3_to_basis(theta: Angle, phi: Angle, lambda: Angle, q: usize, out: &mut Vec<GateApplication>) {
    if let (Angle::Const(t), Angle::Const(p), Angle::Const(l)) = (theta, phi, lambda) {
        let m = su2::from_matrix(&ops::u3_matrix(t, p, l)).unwrap_or(su2::IDENTITY);
        matrix_to_basis(&m, q, out);
        return;
    }
    let rz = |a: Angle, out: &mut Vec<GateApplication>| match a {
        Angle::Const(v) => rz_const(q, v, out),
        a => out.push(gate(StandardGate::Rz, &[q], vec![a])),
    };
    rz(lambda, out);
    sx(q, out);
    rz(theta.shifted(PI), out);
    sx(q, out);
    rz(phi.shifted(PI), out);
}

/// Appends the basis gates of a one-qubit standard gate `g` with `angles` on `q`, or returns
/// `Ok(false)` when `g` is not a one-qubit gate. Symbolic angles are allowed.
pub(crate) fn one_qubit_standard(
    g: StandardGate,
    angles: &[Angle],
    q: usize,
    out: &mut Vec<GateApplication>,
) -> Result<bool, String> {
    use StandardGate as G;
    let c = Angle::Const;
    match g {
        G::Id | G::X | G::Sx => out.push(gate(g, &[q], Vec::new())),
        G::Rz | G::P | G::U1 => match angles[0] {
            Angle::Const(v) => rz_const(q, v, out),
            a => out.push(gate(G::Rz, &[q], vec![a])),
        },
        G::U3 | G::U => u3_to_basis(angles[0], angles[1], angles[2], q, out),
        G::U2 => u3_to_basis(c(FRAC_PI_2), angles[0], angles[1], q, out),
        G::Rx => u3_to_basis(angles[0], c(-FRAC_PI_2), c(FRAC_PI_2), q, out),
        G::Ry => u3_to_basis(angles[0], c(0.0), c(0.0), q, out),
        _ if g.n_qubits() == 1 => {
            // A fixed gate (y, z, h, s, sdg, t, tdg, sxdg): through its matrix.
            let mut lowered = Vec::new();
            ops::lower_gate(&Gate::Standard(g), &[0], &[], &mut lowered).map_err(|e| e.to_string())?;
            let m = lowered
                .first()
                .and_then(|op| su2::from_matrix(&op.matrix.to_dense()))
                .ok_or("a one-qubit gate without a 2x2 matrix")?;
            matrix_to_basis(&m, q, out);
        }
        _ => return Ok(false),
    }
    Ok(true)
}
