//! Lowering: a gate with values for its angles becomes [`Op`]s, the only thing the kernels know.
//!
//! An [`Op`] is a matrix on `targets` (dense, or diagonal when the gate is diagonal in the
//! computational basis: `rz`, `p`, `cz`, `rzz`, ...) applied where every qubit of `controls` is |1>.
//! Controlled gates are not matrices of their own: `cx`, `ccx`, `c4x`, `cu3`, `cswap`, multi-controlled
//! gates all become their base matrix plus controls. The relative-phase Toffolis `rccx` and `rc3x` are
//! lowered through their `qelib1.inc` definitions.

use crate::circuit::{Angle, GateApplication};
use crate::error::{QuantumError, Result};
use crate::gate::{Gate, StandardGate};
use crate::matrix::{C64, Matrix};
use std::f64::consts::{FRAC_1_SQRT_2, FRAC_PI_2, FRAC_PI_4, PI};

/// The matrix of an [`Op`] on its target qubits.
#[derive(Debug, Clone, PartialEq)]
pub enum OpMatrix {
    /// A dense `2^k x 2^k` unitary.
    Dense(Matrix),
    /// The diagonal of a diagonal unitary (`2^k` entries).
    Diagonal(Vec<C64>),
}

impl OpMatrix {
    /// The dense form.
    pub fn to_dense(&self) -> Matrix {
        match self {
            OpMatrix::Dense(m) => m.clone(),
            OpMatrix::Diagonal(d) => Matrix::diagonal(d),
        }
    }

    /// The conjugate transpose.
    pub fn dagger(&self) -> OpMatrix {
        match self {
            OpMatrix::Dense(m) => OpMatrix::Dense(m.dagger()),
            OpMatrix::Diagonal(d) => OpMatrix::Diagonal(d.iter().map(|z| z.conj()).collect()),
        }
    }

    /// True for the diagonal form.
    pub fn is_diagonal(&self) -> bool {
        matches!(self, OpMatrix::Diagonal(_))
    }
}

/// A unitary on `targets` (bit `j` of the matrix index is `targets[j]`), applied where all `controls`
/// are |1>.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// Qubits the matrix acts on, in matrix bit order.
    pub targets: Vec<usize>,
    /// Qubits that must be |1> for the matrix to apply.
    pub controls: Vec<usize>,
    /// The matrix.
    pub matrix: OpMatrix,
}

impl Op {
    /// Every qubit the op touches: targets, then controls.
    pub fn qubits(&self) -> impl Iterator<Item = usize> + '_ {
        self.targets.iter().chain(&self.controls).copied()
    }

    /// The op's inverse.
    pub fn dagger(&self) -> Op {
        Op { targets: self.targets.clone(), controls: self.controls.clone(), matrix: self.matrix.dagger() }
    }
}

fn c(re: f64, im: f64) -> C64 {
    C64::new(re, im)
}

fn phase(theta: f64) -> C64 {
    C64::from_polar(1.0, theta)
}

/// Qiskit's `U3(θ,φ,λ) = [[cos θ/2, -e^{iλ} sin θ/2], [e^{iφ} sin θ/2, e^{i(φ+λ)} cos θ/2]]`.
pub fn u3_matrix(theta: f64, phi: f64, lambda: f64) -> Matrix {
    let (s, co) = (theta / 2.0).sin_cos();
    Matrix::from_2x2([[c(co, 0.0), -phase(lambda) * s], [phase(phi) * s, phase(phi + lambda) * co]])
}

/// A two-qubit matrix `cos(θ/2) I - i sin(θ/2) P` for a Pauli product `P` given as a real
/// permutation-with-signs (`p[row][col]`), possibly times `i` for `Y⊗Y`.
fn pauli_rotation_2q(theta: f64, p: [[f64; 4]; 4]) -> Matrix {
    let (s, co) = (theta / 2.0).sin_cos();
    let mut m = Matrix::identity(4).scale(c(co, 0.0));
    for (r, row) in p.iter().enumerate() {
        for (col, &v) in row.iter().enumerate() {
            if v != 0.0 {
                m.set(r, col, m.get(r, col) + c(0.0, -s * v));
            }
        }
    }
    m
}

/// What a standard gate is, before it is placed on qubits.
enum Shape {
    /// `base` on the last qubits, controlled by the first `n_controls` qubits.
    Controlled { n_controls: usize, base: OpMatrix },
    /// A fixed sequence of standard gates on positions of the gate's qubit list.
    Decomposed(&'static [(StandardGate, &'static [usize], &'static [f64])]),
}

/// `qelib1.inc`'s `rccx`: (gate, positions in the gate's qubit list, angles), in time order.
pub(crate) const RCCX_DEFINITION: &[(StandardGate, &[usize], &[f64])] = &[
    (StandardGate::U2, &[2], &[0.0, PI]),
    (StandardGate::U1, &[2], &[FRAC_PI_4]),
    (StandardGate::Cx, &[1, 2], &[]),
    (StandardGate::U1, &[2], &[-FRAC_PI_4]),
    (StandardGate::Cx, &[0, 2], &[]),
    (StandardGate::U1, &[2], &[FRAC_PI_4]),
    (StandardGate::Cx, &[1, 2], &[]),
    (StandardGate::U1, &[2], &[-FRAC_PI_4]),
    (StandardGate::U2, &[2], &[0.0, PI]),
];

/// `qelib1.inc`'s `rc3x`, in the same form.
pub(crate) const RC3X_DEFINITION: &[(StandardGate, &[usize], &[f64])] = &[
    (StandardGate::U2, &[3], &[0.0, PI]),
    (StandardGate::U1, &[3], &[FRAC_PI_4]),
    (StandardGate::Cx, &[2, 3], &[]),
    (StandardGate::U1, &[3], &[-FRAC_PI_4]),
    (StandardGate::U2, &[3], &[0.0, PI]),
    (StandardGate::Cx, &[0, 3], &[]),
    (StandardGate::U1, &[3], &[FRAC_PI_4]),
    (StandardGate::Cx, &[1, 3], &[]),
    (StandardGate::U1, &[3], &[-FRAC_PI_4]),
    (StandardGate::Cx, &[0, 3], &[]),
    (StandardGate::U1, &[3], &[FRAC_PI_4]),
    (StandardGate::Cx, &[1, 3], &[]),
    (StandardGate::U1, &[3], &[-FRAC_PI_4]),
    (StandardGate::U2, &[3], &[0.0, PI]),
    (StandardGate::U1, &[3], &[FRAC_PI_4]),
    (StandardGate::Cx, &[2, 3], &[]),
    (StandardGate::U1, &[3], &[-FRAC_PI_4]),
    (StandardGate::U2, &[3], &[0.0, PI]),
];

fn dense2(m: [[C64; 2]; 2]) -> OpMatrix {
    OpMatrix::Dense(Matrix::from_2x2(m))
}

fn diag(d: &[C64]) -> OpMatrix {
    OpMatrix::Diagonal(d.to_vec())
}

fn standard_shape(g: StandardGate, a: &[f64]) -> Shape {
    use StandardGate as G;
    let one = c(1.0, 0.0);
    let zero = c(0.0, 0.0);
    let h = c(FRAC_1_SQRT_2, 0.0);
    let x = || dense2([[zero, one], [one, zero]]);
    let y = || dense2([[zero, c(0.0, -1.0)], [c(0.0, 1.0), zero]]);
    let z = || diag(&[one, -one]);
    let hadamard = || dense2([[h, h], [h, -h]]);
    let sx = || dense2([[c(0.5, 0.5), c(0.5, -0.5)], [c(0.5, -0.5), c(0.5, 0.5)]]);
    let sxdg = || dense2([[c(0.5, -0.5), c(0.5, 0.5)], [c(0.5, 0.5), c(0.5, -0.5)]]);
    let rx = |t: f64| {
        let (s, co) = (t / 2.0).sin_cos();
        dense2([[c(co, 0.0), c(0.0, -s)], [c(0.0, -s), c(co, 0.0)]])
    };
    let ry = |t: f64| {
        let (s, co) = (t / 2.0).sin_cos();
        dense2([[c(co, 0.0), c(-s, 0.0)], [c(s, 0.0), c(co, 0.0)]])
    };
    let rz = |t: f64| diag(&[phase(-t / 2.0), phase(t / 2.0)]);
    let p = |l: f64| diag(&[one, phase(l)]);
    let u3 = |t: f64, ph: f64, l: f64| OpMatrix::Dense(u3_matrix(t, ph, l));
    let swap = || {
        let mut m = Matrix::identity(4);
        m.set(1, 1, zero);
        m.set(2, 2, zero);
        m.set(1, 2, one);
        m.set(2, 1, one);
        OpMatrix::Dense(m)
    };
    let plain = |base| Shape::Controlled { n_controls: 0, base };
    let ctrl = |n_controls, base| Shape::Controlled { n_controls, base };
    match g {
        G::U3 | G::U => plain(u3(a[0], a[1], a[2])),
        G::U2 => plain(u3(FRAC_PI_2, a[0], a[1])),
        G::U1 | G::P => plain(p(a[0])),
        G::Id => plain(diag(&[one, one])),
        G::X => plain(x()),
        G::Y => plain(y()),
        G::Z => plain(z()),
        G::H => plain(hadamard()),
        G::S => plain(diag(&[one, c(0.0, 1.0)])),
        G::Sdg => plain(diag(&[one, c(0.0, -1.0)])),
        G::T => plain(p(FRAC_PI_4)),
        G::Tdg => plain(p(-FRAC_PI_4)),
        G::Sx => plain(sx()),
        G::Sxdg => plain(sxdg()),
        G::Rx => plain(rx(a[0])),
        G::Ry => plain(ry(a[0])),
        G::Rz => plain(rz(a[0])),
        G::Cx => ctrl(1, x()),
        G::Cy => ctrl(1, y()),
        G::Cz => ctrl(1, z()),
        G::Ch => ctrl(1, hadamard()),
        G::Swap => plain(swap()),
        G::Crx => ctrl(1, rx(a[0])),
        G::Cry => ctrl(1, ry(a[0])),
        G::Crz => ctrl(1, rz(a[0])),
        G::Cu1 | G::Cp => ctrl(1, p(a[0])),
        G::Cu3 => ctrl(1, u3(a[0], a[1], a[2])),
        G::Cu => ctrl(1, OpMatrix::Dense(u3_matrix(a[0], a[1], a[2]).scale(phase(a[3])))),
        G::Csx => ctrl(1, sx()),
        G::Rxx => plain(OpMatrix::Dense(pauli_rotation_2q(
            a[0],
            [[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]],
        ))),
        G::Ryy => plain(OpMatrix::Dense(pauli_rotation_2q(
            a[0],
            [[0.0, 0.0, 0.0, -1.0], [0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0]],
        ))),
        // X on the second qubit (index bit 1), Z on the first (index bit 0).
        G::Rzx => plain(OpMatrix::Dense(pauli_rotation_2q(
            a[0],
            [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, -1.0], [1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0]],
        ))),
        G::Rzz => {
            let (m, p_) = (phase(-a[0] / 2.0), phase(a[0] / 2.0));
            plain(diag(&[m, p_, p_, m]))
        }
        G::Iswap => {
            let mut m = Matrix::identity(4);
            m.set(1, 1, zero);
            m.set(2, 2, zero);
            m.set(1, 2, c(0.0, 1.0));
            m.set(2, 1, c(0.0, 1.0));
            plain(OpMatrix::Dense(m))
        }
        G::Ccx => ctrl(2, x()),
        G::Cswap => ctrl(1, swap()),
        G::C3x => ctrl(3, x()),
        G::C3sqrtx => ctrl(3, sx()),
        G::C4x => ctrl(4, x()),
        G::Rccx => Shape::Decomposed(RCCX_DEFINITION),
        G::Rc3x => Shape::Decomposed(RC3X_DEFINITION),
    }
}

/// Appends the ops of `gate` on `qubits` with angle values `angles` to `out`.
///
/// The caller guarantees the qubit and angle counts (the [`crate::circuit::Circuit`] builder checks
/// them); a mismatch here is a [`QuantumError`], not a panic.
pub fn lower_gate(gate: &Gate, qubits: &[usize], angles: &[f64], out: &mut Vec<Op>) -> Result<()> {
    if qubits.len() != gate.n_qubits() {
        return Err(QuantumError::QubitCount { gate: gate.name(), expected: gate.n_qubits(), got: qubits.len() });
    }
    if angles.len() != gate.n_params() {
        return Err(QuantumError::ParamCount { gate: gate.name(), expected: gate.n_params(), got: angles.len() });
    }
    match gate {
        Gate::Standard(g) => match standard_shape(*g, angles) {
            Shape::Controlled { n_controls, base } => {
                if *g == StandardGate::Id {
                    return Ok(());
                }
                out.push(Op {
                    controls: qubits[..n_controls].to_vec(),
                    targets: qubits[n_controls..].to_vec(),
                    matrix: base,
                });
            }
            Shape::Decomposed(steps) => {
                for (step, positions, step_angles) in steps {
                    let step_qubits: Vec<usize> = positions.iter().map(|&p| qubits[p]).collect();
                    lower_gate(&Gate::Standard(*step), &step_qubits, step_angles, out)?;
                }
            }
        },
        Gate::Unitary(m) => {
            out.push(Op { targets: qubits.to_vec(), controls: Vec::new(), matrix: OpMatrix::Dense((**m).clone()) })
        }
        Gate::Controlled { base, n_controls } => {
            let start = out.len();
            lower_gate(base, &qubits[*n_controls..], angles, out)?;
            // A controlled sequence is the sequence of controlled steps.
            for op in &mut out[start..] {
                op.controls.extend_from_slice(&qubits[..*n_controls]);
            }
        }
    }
    Ok(())
}

/// For a gate that lowers to a single op (every gate with angles does): how many of its leading
/// qubits are controls, and the matrix on the rest. The relative-phase Toffolis (lowered through
/// their definitions) give an error.
pub fn single_op_matrix(gate: &Gate, angles: &[f64]) -> Result<(usize, OpMatrix)> {
    if angles.len() != gate.n_params() {
        return Err(QuantumError::ParamCount { gate: gate.name(), expected: gate.n_params(), got: angles.len() });
    }
    match gate {
        Gate::Standard(g) => match standard_shape(*g, angles) {
            Shape::Controlled { n_controls, base } => Ok((n_controls, base)),
            Shape::Decomposed(_) => {
                Err(QuantumError::Unsupported(format!("gate `{}` lowers to a sequence of ops", gate.name())))
            }
        },
        Gate::Unitary(m) => Ok((0, OpMatrix::Dense((**m).clone()))),
        Gate::Controlled { base, n_controls } => {
            let (inner, m) = single_op_matrix(base, angles)?;
            Ok((inner + n_controls, m))
        }
    }
}

/// Appends the ops of one gate application, its angles resolved against `params` and `inputs`.
pub fn lower(app: &GateApplication, params: &[f64], inputs: &[f64], out: &mut Vec<Op>) -> Result<()> {
    let angles: Vec<f64> = app.angles.iter().map(|a| a.resolve(params, inputs)).collect();
    lower_gate(&app.gate, &app.qubits, &angles, out)
}

/// True when every op of the gate is diagonal, whatever its angles (a property of the gate kind).
pub fn is_diagonal_gate(gate: &Gate) -> bool {
    match gate {
        Gate::Standard(g) => {
            let zeros = [0.0; 4];
            match standard_shape(*g, &zeros[..g.n_params()]) {
                Shape::Controlled { base, .. } => base.is_diagonal(),
                Shape::Decomposed(_) => false,
            }
        }
        Gate::Unitary(_) => false,
        Gate::Controlled { base, .. } => is_diagonal_gate(base),
    }
}

fn app(gate: Gate, qubits: &[usize], angles: Vec<Angle>) -> GateApplication {
    GateApplication { gate, qubits: qubits.to_vec(), angles }
}

/// The inverse of one gate application, as one or more applications (the relative-phase Toffolis
/// invert step by step).
pub fn inverse_application(a: &GateApplication) -> Result<Vec<GateApplication>> {
    use StandardGate as G;
    let neg = |x: Angle| x.scaled(-1.0);
    let q = &a.qubits;
    let ang = &a.angles;
    Ok(match &a.gate {
        Gate::Standard(g) => {
            let std = |g: G, angles: Vec<Angle>| vec![app(Gate::Standard(g), q, angles)];
            match g {
                G::U3 | G::U | G::Cu3 => std(*g, vec![neg(ang[0]), neg(ang[2]), neg(ang[1])]),
                G::Cu => std(*g, vec![neg(ang[0]), neg(ang[2]), neg(ang[1]), neg(ang[3])]),
                // u2(φ,λ)^† = u3(-π/2, -λ, -φ).
                G::U2 => std(G::U3, vec![Angle::Const(-FRAC_PI_2), neg(ang[1]), neg(ang[0])]),
                G::U1
                | G::P
                | G::Rx
                | G::Ry
                | G::Rz
                | G::Crx
                | G::Cry
                | G::Crz
                | G::Cu1
                | G::Cp
                | G::Rxx
                | G::Ryy
                | G::Rzz
                | G::Rzx => std(*g, vec![neg(ang[0])]),
                G::S => std(G::Sdg, vec![]),
                G::Sdg => std(G::S, vec![]),
                G::T => std(G::Tdg, vec![]),
                G::Tdg => std(G::T, vec![]),
                G::Sx => std(G::Sxdg, vec![]),
                G::Sxdg => std(G::Sx, vec![]),
                G::Csx => vec![app(Gate::controlled(Gate::Standard(G::Sxdg), 1)?, q, vec![])],
                G::C3sqrtx => vec![app(Gate::controlled(Gate::Standard(G::Sxdg), 3)?, q, vec![])],
                G::Iswap => {
                    let mut ops = Vec::new();
                    lower_gate(&a.gate, &[0, 1], &[], &mut ops)?;
                    vec![app(Gate::unitary(ops[0].matrix.to_dense().dagger())?, q, vec![])]
                }
                G::Rccx | G::Rc3x => {
                    let steps = if *g == G::Rccx { RCCX_DEFINITION } else { RC3X_DEFINITION };
                    let mut out = Vec::new();
                    for (step, positions, step_angles) in steps.iter().rev() {
                        let step_qubits: Vec<usize> = positions.iter().map(|&p| q[p]).collect();
                        let forward = app(
                            Gate::Standard(*step),
                            &step_qubits,
                            step_angles.iter().map(|&v| Angle::Const(v)).collect(),
                        );
                        out.extend(inverse_application(&forward)?);
                    }
                    out
                }
                G::Id
                | G::X
                | G::Y
                | G::Z
                | G::H
                | G::Cx
                | G::Cy
                | G::Cz
                | G::Ch
                | G::Swap
                | G::Ccx
                | G::Cswap
                | G::C3x
                | G::C4x => std(*g, vec![]),
            }
        }
        Gate::Unitary(m) => vec![app(Gate::Unitary(std::sync::Arc::new(m.dagger())), q, vec![])],
        Gate::Controlled { base, n_controls } => {
            let inner = inverse_application(&app((**base).clone(), &q[*n_controls..], ang.clone()))?;
            inner
                .into_iter()
                .map(|i| {
                    let mut qubits = q[..*n_controls].to_vec();
                    qubits.extend_from_slice(&i.qubits);
                    Ok(app(Gate::controlled(i.gate, *n_controls)?, &qubits, i.angles))
                })
                .collect::<Result<_>>()?
        }
    })
}
