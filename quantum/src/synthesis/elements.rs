//! Gates as *elements*: 2x2 unitaries on one target, applied where all of their controls are |1>.

use super::su2::{M2, ONE, X, ZERO, dagger2, diag2};
use crate::gate::Gate;
use crate::matrix::{C64, Matrix};
use crate::ops::{self, OpMatrix};

/// One piece of a gate: `m` on `target` where all `controls` are |1>.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Elem {
    /// Qubits that must be |1>.
    pub(crate) controls: Vec<usize>,
    /// The qubit `m` acts on.
    pub(crate) target: usize,
    /// The 2x2 unitary.
    pub(crate) m: M2,
    /// Part of a `x … x` conjugation that cancels by itself, so it needs no extra controls.
    pub(crate) free: bool,
}

/// Elements and global phase of a 4x4 unitary on local qubits 0 (low index bit) and 1, in time order.
pub(crate) fn givens(u: &Matrix) -> (Vec<Elem>, C64) {
    let mut a = [[ZERO; 4]; 4];
    for (r, row) in a.iter_mut().enumerate() {
        for (c, x) in row.iter_mut().enumerate() {
            *x = u.get(r, c);
        }
    }
    // (column, row kept, row zeroed): each pair of rows differs in one index bit.
    const STEPS: [(usize, usize, usize); 6] = [(0, 1, 3), (0, 0, 2), (0, 0, 1), (1, 3, 2), (1, 1, 3), (2, 2, 3)];
    let mut rotations = Vec::new();
    for (col, i, j) in STEPS {
        let (x, y) = (a[i][col], a[j][col]);
        if y == ZERO {
            continue;
        }
        let r = x.norm().hypot(y.norm());
        let g = [[x.conj() / r, y.conj() / r], [-y / r, x / r]];
        let (row_i, row_j) = (a[i], a[j]);
        for (c, (ri, rj)) in row_i.into_iter().zip(row_j).enumerate() {
            a[i][c] = g[0][0] * ri + g[0][1] * rj;
            a[j][c] = g[1][0] * ri + g[1][1] * rj;
        }
        rotations.push((i, j, g));
    }
    let unit = |z: C64| if z.norm() > 0.0 { z / z.norm() } else { ONE };
    let d: Vec<C64> = (0..4).map(|k| unit(a[k][k])).collect();
    let mut elems = Vec::new();
    let diag = [(Vec::new(), 0, d[1] / d[0]), (Vec::new(), 1, d[2] / d[0]), (vec![0], 1, d[3] * d[0] / (d[1] * d[2]))];
    for (controls, target, z) in diag {
        if z != ONE {
            elems.push(Elem { controls, target, m: diag2(z), free: false });
        }
    }
    for (i, j, g) in rotations.into_iter().rev() {
        let t = (i ^ j).trailing_zeros() as usize;
        let o = 1 - t;
        let gd = dagger2(&g);
        // Basis order of the 2x2 block: bit t = 0 first.
        let w = if i >> t & 1 == 0 { gd } else { [[gd[1][1], gd[1][0]], [gd[0][1], gd[0][0]]] };
        let flip = i >> o & 1 == 0;
        let x = Elem { controls: Vec::new(), target: o, m: X, free: true };
        if flip {
            elems.push(x.clone());
        }
        elems.push(Elem { controls: vec![o], target: t, m: w, free: false });
        if flip {
            elems.push(x);
        }
    }
    (elems, d[0])
}

/// The elements of `gate` with angle values `angles` on `qubits`, controlled by `controls` as well, in
/// time order. Exact including the phases that become relative under `controls`; a phase of the whole
/// (uncontrolled) gate is dropped.
pub(crate) fn elements(gate: &Gate, qubits: &[usize], angles: &[f64], controls: &[usize]) -> Result<Vec<Elem>, String> {
    let mut lowered = Vec::new();
    ops::lower_gate(gate, qubits, angles, &mut lowered).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for op in lowered {
        let mut ctrl = controls.to_vec();
        ctrl.extend_from_slice(&op.controls);
        match op.targets.len() {
            1 => {
                let m = match &op.matrix {
                    OpMatrix::Dense(m) if m.dim() == 2 => [[m.get(0, 0), m.get(0, 1)], [m.get(1, 0), m.get(1, 1)]],
                    OpMatrix::Diagonal(d) if d.len() == 2 => [[d[0], ZERO], [ZERO, d[1]]],
                    _ => return Err("a one-qubit op without a 2x2 matrix".into()),
                };
                out.push(Elem { controls: ctrl, target: op.targets[0], m, free: false });
            }
            2 => {
                let dense = op.matrix.to_dense();
                if dense.dim() != 4 {
                    return Err("a two-qubit op without a 4x4 matrix".into());
                }
                let (elems, phase) = givens(&dense);
                for mut e in elems {
                    e.target = op.targets[e.target];
                    let local: Vec<usize> = e.controls.iter().map(|&c| op.targets[c]).collect();
                    e.controls = if e.free { local } else { ctrl.iter().copied().chain(local).collect() };
                    out.push(e);
                }
                if let Some((&last, rest)) = ctrl.split_last()
                    && phase != ONE
                {
                    out.push(Elem { controls: rest.to_vec(), target: last, m: diag2(phase), free: false });
                }
            }
            0 => {
                // A phase, relative once controlled.
                let z = op.matrix.to_dense().get(0, 0);
                if let Some((&last, rest)) = ctrl.split_last() {
                    out.push(Elem { controls: rest.to_vec(), target: last, m: diag2(z), free: false });
                }
            }
            n => return Err(format!("an op on {n} target qubits")),
        }
    }
    Ok(out)
}
