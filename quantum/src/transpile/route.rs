//! Routing: placing virtual qubits on physical ones and inserting SWAPs so that every two-qubit gate
//! acts on coupled qubits.
//!
//! The router is greedy and goes through the circuit once. A two-qubit gate on uncoupled physical
//! qubits `p0`, `p1` takes a shortest path `p0 = x0, x1, ..., xd = p1` of the undirected coupling graph
//! (breadth-first search, ties to the smaller qubit) and swaps the two virtual qubits towards each
//! other along it (the first one `⌊(d-1)/2⌋` steps, the second the rest), `d - 1` SWAPs in all; the
//! layout changes accordingly and is not restored. There is no look-ahead.
//!
//! A SWAP is three `cx` oriented so that the outer two follow an allowed direction; a `cx` (inserted
//! or from the circuit) whose direction is not in the coupling map but whose reverse is becomes
//! `(h ⊗ h) cx (h ⊗ h)` with the control and target exchanged, each `h` written `rz(π/2) sx rz(π/2)`.
//! Other gates are moved to their physical qubits unchanged.

use super::error::TranspileError;
use super::euler::gate;
use super::target::{Target, shortest_path};
use crate::circuit::{Angle, Circuit, GateApplication, Instruction, Register};
use crate::gate::{Gate, StandardGate};
use std::f64::consts::FRAC_PI_2;

/// The trivial layout: virtual qubit `i` on physical qubit `i`.
pub fn trivial_layout(n_qubits: usize) -> Vec<usize> {
    (0..n_qubits).collect()
}

/// Checks an initial layout: one entry per circuit qubit, distinct, within the target.
pub(crate) fn check_layout(circuit: &Circuit, target: &Target, layout: &[usize]) -> Result<(), TranspileError> {
    if circuit.n_qubits() > target.n_qubits {
        return Err(TranspileError::TooManyQubits {
            circuit_qubits: circuit.n_qubits(),
            target_qubits: target.n_qubits,
        });
    }
    if layout.len() != circuit.n_qubits() {
        return Err(TranspileError::LayoutLength { expected: circuit.n_qubits(), got: layout.len() });
    }
    let mut placed = vec![usize::MAX; target.n_qubits];
    for (v, &p) in layout.iter().enumerate() {
        if p >= target.n_qubits {
            return Err(TranspileError::LayoutOutOfRange { virtual_qubit: v, physical: p, n_qubits: target.n_qubits });
        }
        if placed[p] != usize::MAX {
            return Err(TranspileError::LayoutDuplicate { physical: p, first: placed[p], second: v });
        }
        placed[p] = v;
    }
    Ok(())
}

/// The routing state: where each virtual qubit is, and the gates written so far.
struct Router<'a> {
    target: &'a Target,
    layout: Vec<usize>,
    out: Vec<Instruction>,
}

impl Router<'_> {
    fn push(&mut self, app: GateApplication) {
        self.out.push(Instruction::Gate(app));
    }

    fn h(&mut self, q: usize) {
        for g in [StandardGate::Rz, StandardGate::Sx, StandardGate::Rz] {
            let angles = if g == StandardGate::Rz { vec![Angle::Const(FRAC_PI_2)] } else { Vec::new() };
            self.push(gate(g, &[q], angles));
        }
    }

    /// `cx a, b` on coupled physical qubits, reversed with `h` gates if only `(b, a)` is allowed.
    fn cx(&mut self, a: usize, b: usize) {
        if self.target.has_edge(a, b) {
            self.push(gate(StandardGate::Cx, &[a, b], Vec::new()));
        } else {
            self.h(a);
            self.h(b);
            self.push(gate(StandardGate::Cx, &[b, a], Vec::new()));
            self.h(a);
            self.h(b);
        }
    }

    /// Swaps the contents of coupled physical qubits `a` and `b`.
    fn swap(&mut self, a: usize, b: usize) {
        let (a, b) = if self.target.has_edge(a, b) { (a, b) } else { (b, a) };
        self.cx(a, b);
        self.cx(b, a);
        self.cx(a, b);
        for p in self.layout.iter_mut() {
            if *p == a {
                *p = b;
            } else if *p == b {
                *p = a;
            }
        }
    }
}

/// Maps `circuit` onto `target` with virtual qubit `v` starting on physical qubit
/// `initial_layout[v]`, inserting SWAPs so that every two-qubit gate acts on a coupled pair (see the
/// module documentation for the strategy). Returns the routed circuit, on `target.n_qubits` qubits
/// (one register `q`; classical registers and parameters kept), and the final layout: where each
/// virtual qubit ends. Unused physical qubits start in |0> and stay there (SWAPs move them around).
///
/// The output state equals the input circuit's with qubit `v` moved to `final_layout[v]`. Gates on
/// three or more qubits are refused ([`TranspileError::WideGate`]): translate first.
pub fn route(
    circuit: &Circuit,
    target: &Target,
    initial_layout: &[usize],
) -> Result<(Circuit, Vec<usize>), TranspileError> {
    target.validate()?;
    check_layout(circuit, target, initial_layout)?;
    let adj = target.neighbours();
    let mut r =
        Router { target, layout: initial_layout.to_vec(), out: Vec::with_capacity(circuit.instructions().len()) };
    for (index, inst) in circuit.instructions().iter().enumerate() {
        match inst {
            Instruction::Gate(app) => match *app.qubits.as_slice() {
                [v] => r.push(GateApplication { qubits: vec![r.layout[v]], ..app.clone() }),
                [v0, v1] => {
                    let (p0, p1) = (r.layout[v0], r.layout[v1]);
                    if !target.allows_pair(p0, p1) {
                        let path = shortest_path(&adj, p0, p1).ok_or(TranspileError::Disconnected {
                            index,
                            from: p0,
                            to: p1,
                        })?;
                        let d = path.len() - 1;
                        let m = (d - 1) / 2;
                        for i in 0..m {
                            r.swap(path[i], path[i + 1]);
                        }
                        for i in (m + 2..=d).rev() {
                            r.swap(path[i], path[i - 1]);
                        }
                    }
                    let (p0, p1) = (r.layout[v0], r.layout[v1]);
                    if app.gate == Gate::Standard(StandardGate::Cx) {
                        r.cx(p0, p1);
                    } else {
                        r.push(GateApplication { qubits: vec![p0, p1], ..app.clone() });
                    }
                }
                _ => {
                    return Err(TranspileError::WideGate { index, gate: app.gate.name(), n_qubits: app.qubits.len() });
                }
            },
            Instruction::Barrier(qs) => r.out.push(Instruction::Barrier(qs.iter().map(|&v| r.layout[v]).collect())),
            Instruction::Measure { qubit, clbit } => {
                r.out.push(Instruction::Measure { qubit: r.layout[*qubit], clbit: *clbit })
            }
        }
    }
    let name = if circuit.cregs().iter().any(|c| c.name == "q") { "phys" } else { "q" };
    let routed = super::rebuild(circuit, vec![Register { name: name.into(), size: target.n_qubits }], r.out)?;
    Ok((routed, r.layout))
}
