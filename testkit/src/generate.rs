//! The one random-circuit generator: plain data ([`GateDraw`]) in, [`Circuit`] out.
//!
//! A circuit is a list of draws, one per gate. [`append`] turns each draw into a gate of the [`Mix`]
//! on distinct qubits with its angles, so that the seeded front end ([`random_circuit`], from a
//! [`Dice`]) and the proptest front end ([`crate::strategy`]) make the same kinds of circuits, and a
//! test can keep the draws (plain `Copy` data) to rebuild, print or shrink a failing case.

use crate::dice::{Dice, distinct};
use std::f64::consts::PI;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::{Angle, Circuit, Gate, Matrix, StandardGate};

/// The random choices behind one gate, independent of the circuit they end up in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateDraw {
    /// Picks the kind of gate (low 32 bits) and the number of controls (high 32 bits).
    pub kind: u64,
    /// Seeds the choice of distinct qubits.
    pub qubits: u64,
    /// Angle values in `[-1, 1)`, multiplied by [`Mix::angle_scale`].
    pub angles: [f64; 4],
    /// Per angle: where a symbolic angle comes from (low 2 bits) and which parameter or input (the
    /// rest); ignored under [`Angles::Const`].
    pub sources: [u8; 4],
    /// Seeds a user unitary, and picks the base of a multi-controlled gate.
    pub matrix: u64,
}

impl Dice {
    /// One gate's random choices.
    pub fn gate_draw(&mut self) -> GateDraw {
        GateDraw {
            kind: self.word(),
            qubits: self.word(),
            angles: [self.signed(), self.signed(), self.signed(), self.signed()],
            sources: (self.word() as u32).to_le_bytes(),
            matrix: self.word(),
        }
    }
}

/// Where the angles of generated gates come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Angles {
    /// Every angle is a constant.
    Const,
    /// Each angle is, by its draw, a constant, `params[i]`, `-0.7 params[i] + 0.3` or
    /// `1.3 inputs[j] - 0.2` (parameters `t0, t1, ...` are declared as needed; a kind with none
    /// available falls back to the previous one).
    Symbolic {
        /// Number of trainable parameters to draw from.
        params: usize,
        /// Number of input features to draw from.
        inputs: usize,
    },
}

/// Which gates the generator may use and how it sets their angles.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    /// Standard gates to draw from (those wider than the circuit are left out for it).
    pub gates: Vec<StandardGate>,
    /// Whether random one- and two-qubit user unitaries ([`Gate::unitary`]) may appear.
    pub unitaries: bool,
    /// Most controls of a multi-controlled gate ([`Gate::controlled`] of `u3`, `ry`, or a random
    /// unitary when `unitaries` is on); 0 for none.
    pub max_controls: usize,
    /// The angle values of the draws (in `[-1, 1)`) are multiplied by this.
    pub angle_scale: f64,
    /// Constant or symbolic angles.
    pub angles: Angles,
}

impl Mix {
    /// Every standard gate, user unitaries and up to six controls, constant angles in `[-π, π)`.
    pub fn all() -> Self {
        Mix {
            gates: StandardGate::ALL.to_vec(),
            unitaries: true,
            max_controls: 6,
            angle_scale: PI,
            angles: Angles::Const,
        }
    }

    /// Standard gates only (what OpenQASM 2 writes by name), constant angles in `[-π, π)`.
    pub fn standard() -> Self {
        Mix { unitaries: false, max_controls: 0, ..Mix::all() }
    }

    /// Only `gates`, constant angles in `[-π, π)`.
    pub fn only(gates: &[StandardGate]) -> Self {
        Mix { gates: gates.to_vec(), ..Mix::standard() }
    }

    /// The same mix with angles drawn from `params` parameters and `inputs` inputs.
    pub fn symbolic(self, params: usize, inputs: usize) -> Self {
        Mix { angles: Angles::Symbolic { params, inputs }, ..self }
    }

    /// The same mix with angle values in `[-scale, scale)`.
    pub fn scaled(self, scale: f64) -> Self {
        Mix { angle_scale: scale, ..self }
    }
}

/// What a draw becomes on a circuit of a given width.
#[derive(Debug, Clone, Copy)]
enum Choice {
    Standard(StandardGate),
    Unitary(usize),
    Controlled,
}

fn choices(mix: &Mix, n: usize) -> Vec<Choice> {
    let mut out: Vec<Choice> = mix.gates.iter().filter(|g| g.n_qubits() <= n).map(|&g| Choice::Standard(g)).collect();
    if mix.unitaries {
        out.extend((1..=n.min(2)).map(Choice::Unitary));
    }
    if mix.max_controls > 0 && n >= 2 {
        out.push(Choice::Controlled);
    }
    out
}

/// A random unitary on `k` qubits (1 or 2): six layers of random `u3` (with a `cx` after each on two
/// qubits).
pub fn random_unitary(dice: &mut Dice, k: usize) -> Matrix {
    assert!(k == 1 || k == 2, "random_unitary on {k} qubits");
    let mut c = Circuit::new(k);
    for _ in 0..6 {
        let q = dice.below(k);
        c.u3(dice.angle(), dice.angle(), dice.angle(), q).unwrap();
        if k == 2 {
            c.cx(q, 1 - q).unwrap();
        }
    }
    tinylab_quantum::statevector::unitary(&c, &[], &[]).unwrap()
}

fn angle(mix: &Mix, draw: &GateDraw, i: usize) -> Angle {
    let value = draw.angles[i % 4] * mix.angle_scale;
    let Angles::Symbolic { params, inputs } = mix.angles else {
        return Angle::Const(value);
    };
    let (kind, index) = (draw.sources[i % 4] % 4, (draw.sources[i % 4] / 4) as usize);
    // Fall back to an available kind: input -> parameter -> constant.
    let kind = if kind == 3 && inputs == 0 { 2 } else { kind };
    let kind = if (kind == 1 || kind == 2) && params == 0 { 0 } else { kind };
    match kind {
        0 => Angle::Const(value),
        1 => Angle::Param { index: index % params, scale: 1.0, offset: 0.0 },
        2 => Angle::Param { index: index % params, scale: -0.7, offset: 0.3 },
        _ => Angle::Input { index: index % inputs, scale: 1.3, offset: -0.2 },
    }
}

/// The gate a draw makes on an `n`-qubit circuit under `mix`, or `None` when nothing in the mix fits.
pub fn gate(mix: &Mix, n: usize, draw: &GateDraw) -> Option<Gate> {
    let options = choices(mix, n);
    if options.is_empty() {
        return None;
    }
    let gate = match options[(draw.kind as u32 as usize) % options.len()] {
        Choice::Standard(g) => Gate::Standard(g),
        Choice::Unitary(k) => Gate::unitary(random_unitary(&mut Dice::new(draw.matrix), k)).unwrap(),
        Choice::Controlled => {
            let controls = 1 + ((draw.kind >> 32) as usize) % mix.max_controls.min(n - 1);
            let bases = if mix.unitaries { 3 } else { 2 };
            let base = match draw.matrix % bases {
                0 => Gate::Standard(StandardGate::U3),
                1 => Gate::Standard(StandardGate::Ry),
                _ => Gate::unitary(random_unitary(&mut Dice::new(draw.matrix), 1)).unwrap(),
            };
            Gate::controlled(base, controls).unwrap()
        }
    };
    Some(gate)
}

/// Appends one gate per draw to `circuit` (draws that fit nothing are skipped), declaring the
/// parameters `t0, t1, ...` that a symbolic mix needs and the circuit lacks.
pub fn append(circuit: &mut Circuit, draws: &[GateDraw], mix: &Mix) {
    if let Angles::Symbolic { params, .. } = mix.angles {
        for k in circuit.param_names().len()..params {
            circuit.param(&format!("t{k}")).unwrap();
        }
    }
    let n = circuit.n_qubits();
    for draw in draws {
        let Some(gate) = gate(mix, n, draw) else { continue };
        let qubits = distinct(n, gate.n_qubits(), draw.qubits);
        let angles: Vec<Angle> = (0..gate.n_params()).map(|i| angle(mix, draw, i)).collect();
        circuit
            .append(gate.clone(), &qubits, &angles)
            .unwrap_or_else(|e| panic!("generator made {} on {qubits:?}: {e}", gate.name()));
    }
}

/// A circuit on `n` qubits from `draws` under `mix`.
pub fn circuit(n: usize, draws: &[GateDraw], mix: &Mix) -> Circuit {
    let mut c = Circuit::new(n);
    append(&mut c, draws, mix);
    c
}

/// A random circuit on `n` qubits with `depth` gates of `mix`, drawn from `dice`.
pub fn random_circuit(dice: &mut Dice, n: usize, depth: usize, mix: &Mix) -> Circuit {
    let draws: Vec<GateDraw> = (0..depth).map(|_| dice.gate_draw()).collect();
    circuit(n, &draws, mix)
}

/// A Pauli sum on `n` qubits from `(weight, letters)` terms: qubit `q` gets `I`, `X`, `Y` or `Z` by
/// bits `2q, 2q+1` of `letters` (`n <= 32`).
pub fn observable(n: usize, terms: &[(f64, u64)]) -> PauliSum {
    assert!(n <= 32, "observable on {n} qubits");
    let labels: Vec<(f64, String)> = terms
        .iter()
        .map(|&(w, letters)| (w, (0..n).map(|q| ['I', 'X', 'Y', 'Z'][(letters >> (2 * q) & 3) as usize]).collect()))
        .collect();
    let refs: Vec<(f64, &str)> = labels.iter().map(|(w, l)| (*w, l.as_str())).collect();
    PauliSum::from_labels(&refs).unwrap()
}

/// A random Pauli sum on `n` qubits with `terms` terms of weights in `[-1.5, 1.5)`.
pub fn random_observable(dice: &mut Dice, n: usize, terms: usize) -> PauliSum {
    let terms: Vec<(f64, u64)> = (0..terms).map(|_| (1.5 * dice.signed(), dice.word())).collect();
    observable(n, &terms)
}
