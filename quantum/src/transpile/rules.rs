//! Multi-qubit standard gates as sequences of simpler standard gates: Qiskit's definitions, exact up
//! to a global phase of the whole gate (every phase inside a definition is kept). Angles are affine
//! in the gate's angles, so symbolic angles pass through (see [`super::angles::affine`]).

use super::angles::affine;
use super::euler::gate;
use crate::circuit::{Angle, GateApplication};
use crate::gate::StandardGate as G;
use crate::ops::{RC3X_DEFINITION, RCCX_DEFINITION};
use std::f64::consts::FRAC_PI_2;

/// A definition being written, in time order.
#[derive(Default)]
struct Seq(Vec<GateApplication>);

impl Seq {
    /// A gate without angles.
    fn g(&mut self, g: G, qubits: &[usize]) {
        self.0.push(gate(g, qubits, Vec::new()));
    }

    /// A gate with angles.
    fn ga(&mut self, g: G, qubits: &[usize], angles: Vec<Angle>) {
        self.0.push(gate(g, qubits, angles));
    }

    /// `cu3(θ, φ, λ)` on (`c`, `t`): `p((λ+φ)/2) c; p((λ-φ)/2) t; cx; u3(-θ/2, 0, -(φ+λ)/2) t; cx;
    /// u3(θ/2, φ, 0) t`.
    fn cu3(&mut self, c: usize, t: usize, theta: Angle, phi: Angle, lambda: Angle) -> Result<(), String> {
        self.ga(G::P, &[c], vec![affine(&[(0.5, lambda), (0.5, phi)], 0.0)?]);
        self.ga(G::P, &[t], vec![affine(&[(0.5, lambda), (-0.5, phi)], 0.0)?]);
        self.g(G::Cx, &[c, t]);
        self.ga(G::U3, &[t], vec![theta.scaled(-0.5), Angle::Const(0.0), affine(&[(-0.5, phi), (-0.5, lambda)], 0.0)?]);
        self.g(G::Cx, &[c, t]);
        self.ga(G::U3, &[t], vec![theta.scaled(0.5), phi, Angle::Const(0.0)]);
        Ok(())
    }

    /// `exp(-iθ Z⊗Z/2)` on (`a`, `b`): `cx; rz(θ) b; cx`.
    fn rzz(&mut self, a: usize, b: usize, theta: Angle) {
        self.g(G::Cx, &[a, b]);
        self.ga(G::Rz, &[b], vec![theta]);
        self.g(G::Cx, &[a, b]);
    }

    /// `rx(angle)` on each of `qubits`.
    fn rx_each(&mut self, qubits: &[usize], angle: f64) {
        for &q in qubits {
            self.ga(G::Rx, &[q], vec![Angle::Const(angle)]);
        }
    }

    /// `h` on each of `qubits`.
    fn h_each(&mut self, qubits: &[usize]) {
        for &q in qubits {
            self.g(G::H, &[q]);
        }
    }
}

/// The definition of the standard gate `g` on qubits `q` with angles `a`, in time order, for the
/// gates on two or more qubits that have one here; `None` for the others (`cx` is a basis gate;
/// `c3x`, `c3sqrtx`, `c4x` go through the multi-controlled constructions). `Err` when symbolic
/// angles of different sources would have to be added.
pub(crate) fn expand(g: G, q: &[usize], a: &[Angle]) -> Result<Option<Vec<GateApplication>>, String> {
    let c = Angle::Const;
    let mut s = Seq::default();
    match g {
        G::Cz => {
            s.g(G::H, &[q[1]]);
            s.g(G::Cx, &[q[0], q[1]]);
            s.g(G::H, &[q[1]]);
        }
        G::Cy => {
            s.g(G::Sdg, &[q[1]]);
            s.g(G::Cx, &[q[0], q[1]]);
            s.g(G::S, &[q[1]]);
        }
        G::Ch => {
            for g in [G::S, G::H, G::T] {
                s.g(g, &[q[1]]);
            }
            s.g(G::Cx, &[q[0], q[1]]);
            for g in [G::Tdg, G::H, G::Sdg] {
                s.g(g, &[q[1]]);
            }
        }
        G::Swap => {
            s.g(G::Cx, &[q[0], q[1]]);
            s.g(G::Cx, &[q[1], q[0]]);
            s.g(G::Cx, &[q[0], q[1]]);
        }
        G::Crx => {
            s.ga(G::U1, &[q[1]], vec![c(FRAC_PI_2)]);
            s.g(G::Cx, &[q[0], q[1]]);
            s.ga(G::U3, &[q[1]], vec![a[0].scaled(-0.5), c(0.0), c(0.0)]);
            s.g(G::Cx, &[q[0], q[1]]);
            s.ga(G::U3, &[q[1]], vec![a[0].scaled(0.5), c(-FRAC_PI_2), c(0.0)]);
        }
        G::Cry | G::Crz => {
            let r = if g == G::Cry { G::Ry } else { G::Rz };
            s.ga(r, &[q[1]], vec![a[0].scaled(0.5)]);
            s.g(G::Cx, &[q[0], q[1]]);
            s.ga(r, &[q[1]], vec![a[0].scaled(-0.5)]);
            s.g(G::Cx, &[q[0], q[1]]);
        }
        G::Cp | G::Cu1 => {
            s.ga(G::P, &[q[0]], vec![a[0].scaled(0.5)]);
            s.g(G::Cx, &[q[0], q[1]]);
            s.ga(G::P, &[q[1]], vec![a[0].scaled(-0.5)]);
            s.g(G::Cx, &[q[0], q[1]]);
            s.ga(G::P, &[q[1]], vec![a[0].scaled(0.5)]);
        }
        G::Cu3 => s.cu3(q[0], q[1], a[0], a[1], a[2])?,
        G::Cu => {
            s.ga(G::P, &[q[0]], vec![a[3]]);
            s.cu3(q[0], q[1], a[0], a[1], a[2])?;
        }
        G::Csx => {
            s.g(G::H, &[q[1]]);
            s.ga(G::Cp, &[q[0], q[1]], vec![c(FRAC_PI_2)]);
            s.g(G::H, &[q[1]]);
        }
        // rxx, ryy, rzx: a change of basis of the X (Y) factors around rzz.
        G::Rxx => {
            s.h_each(&q[..2]);
            s.rzz(q[0], q[1], a[0]);
            s.h_each(&q[..2]);
        }
        G::Ryy => {
            s.rx_each(&q[..2], FRAC_PI_2);
            s.rzz(q[0], q[1], a[0]);
            s.rx_each(&q[..2], -FRAC_PI_2);
        }
        G::Rzx => {
            s.g(G::H, &[q[1]]);
            s.rzz(q[0], q[1], a[0]);
            s.g(G::H, &[q[1]]);
        }
        G::Rzz => s.rzz(q[0], q[1], a[0]),
        G::Iswap => {
            s.g(G::S, &[q[0]]);
            s.g(G::S, &[q[1]]);
            s.g(G::H, &[q[0]]);
            s.g(G::Cx, &[q[0], q[1]]);
            s.g(G::Cx, &[q[1], q[0]]);
            s.g(G::H, &[q[1]]);
        }
        G::Ccx => {
            let (x, y, z) = (q[0], q[1], q[2]);
            let steps: [(G, &[usize]); 15] = [
                (G::H, &[z]),
                (G::Cx, &[y, z]),
                (G::Tdg, &[z]),
                (G::Cx, &[x, z]),
                (G::T, &[z]),
                (G::Cx, &[y, z]),
                (G::Tdg, &[z]),
                (G::Cx, &[x, z]),
                (G::T, &[y]),
                (G::T, &[z]),
                (G::H, &[z]),
                (G::Cx, &[x, y]),
                (G::T, &[x]),
                (G::Tdg, &[y]),
                (G::Cx, &[x, y]),
            ];
            for (g, qubits) in steps {
                s.g(g, qubits);
            }
        }
        G::Cswap => {
            s.g(G::Cx, &[q[2], q[1]]);
            s.g(G::Ccx, &[q[0], q[1], q[2]]);
            s.g(G::Cx, &[q[2], q[1]]);
        }
        G::Rccx | G::Rc3x => {
            let steps = if g == G::Rccx { RCCX_DEFINITION } else { RC3X_DEFINITION };
            for (step, positions, angles) in steps {
                let qubits: Vec<usize> = positions.iter().map(|&p| q[p]).collect();
                s.ga(*step, &qubits, angles.iter().map(|&v| c(v)).collect());
            }
        }
        _ => return Ok(None),
    }
    Ok(Some(s.0))
}
