//! The OpenQASM 2 writer.
//!
//! Standard gates of `qelib1.inc` are written by name. `ryy`, `rzx` and `iswap` get a `gate` definition
//! (exact, global phase included). Other gates are reduced to *elements*: a 2x2 unitary on one target
//! qubit, applied when every one of its control qubits is |1>:
//!
//! - a 1-qubit unitary is `u3` (its global phase does not matter at the top level);
//! - a 2-qubit unitary is reduced by Givens rotations `G6…G1 U = D` into six two-level rotations, each
//!   a singly controlled 2x2 gate (conjugated by `x` on the control when it acts where the control is
//!   0), and a diagonal `D` written with `p`, `p`, `cp` and a global phase;
//! - a controlled gate is its base lowered by [`crate::ops::lower_gate`] (so it means exactly what the
//!   simulator does), each piece with the extra controls, two-qubit pieces through the Givens
//!   reduction, and any global phase of a piece becoming a phase gate on its last control.
//!
//! An element with one control is `cu(θ,φ,λ,γ)` (`cx`, `csx`, `cp` when it is one of those), with
//! `k >= 2` controls it is `ccx`/`c3x`/`c4x`/`c3sqrtx` when it is one of those, else a definition built
//! with Barenco et al. 1995, Lemma 7.9: `C^k(W) = C^{k-1}(V) · C^{k-1}X · C(V†) · C^{k-1}X · C(V)` (time
//! order right to left) with `V² = W`; phases are exact because every singly controlled piece is a `cu`
//! with its `γ`. The inner `C^{k-1}X` borrows the target qubit as a dirty ancilla: Lemma 7.3 splits it
//! into halves that borrow each other's qubits, and Lemma 7.2 builds those from `4(m-2)` Toffolis, so a
//! gate with `k` controls expands to `O(k²)` gates. These reductions live in `crate::synthesis`, shared
//! with the transpiler; this file only names and writes their pieces.

use super::error::QasmError;
use super::parser::{RESERVED, is_valid_name};
use crate::circuit::{Angle, Circuit, Instruction};
use crate::gate::{Gate, StandardGate};
use crate::synthesis::barenco::{self, McxRule, Piece};
use crate::synthesis::su2::{IDENTITY, M2, ONE, SX, X, ZERO, zyz};
use crate::synthesis::{Elem, elements};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// Most controls a gate may have for export (its definitions expand to about `8k²` gates).
pub(crate) const MAX_EXPORT_CONTROLS: usize = 64;

/// `(base, controls)` of a standard gate that is a controlled form of another standard gate.
fn split_standard(g: StandardGate) -> (StandardGate, usize) {
    use StandardGate as G;
    match g {
        G::Cx => (G::X, 1),
        G::Ccx => (G::X, 2),
        G::C3x => (G::X, 3),
        G::C4x => (G::X, 4),
        G::Cy => (G::Y, 1),
        G::Cz => (G::Z, 1),
        G::Ch => (G::H, 1),
        G::Crx => (G::Rx, 1),
        G::Cry => (G::Ry, 1),
        G::Crz => (G::Rz, 1),
        G::Cp => (G::P, 1),
        G::Cu1 => (G::U1, 1),
        G::Cu3 => (G::U3, 1),
        G::Csx => (G::Sx, 1),
        G::C3sqrtx => (G::Sx, 3),
        G::Cswap => (G::Swap, 1),
        g => (g, 0),
    }
}

/// The standard gate that is `base` with `k` controls, if `qelib1.inc` has one.
fn join_standard(base: StandardGate, k: usize) -> Option<StandardGate> {
    use StandardGate as G;
    Some(match (base, k) {
        (g, 0) => g,
        (G::X, 1) => G::Cx,
        (G::X, 2) => G::Ccx,
        (G::X, 3) => G::C3x,
        (G::X, 4) => G::C4x,
        (G::Y, 1) => G::Cy,
        (G::Z, 1) => G::Cz,
        (G::H, 1) => G::Ch,
        (G::Rx, 1) => G::Crx,
        (G::Ry, 1) => G::Cry,
        (G::Rz, 1) => G::Crz,
        (G::P, 1) => G::Cp,
        (G::U1, 1) => G::Cu1,
        (G::U3 | G::U, 1) => G::Cu3,
        (G::Sx, 1) => G::Csx,
        (G::Sx, 3) => G::C3sqrtx,
        (G::Swap, 1) => G::Cswap,
        _ => return None,
    })
}

/// Writes a number so that reading it back gives the same `f64` (always with a `.` before any
/// exponent, as OpenQASM 2 reals need).
pub(crate) fn fmt_real(x: f64) -> String {
    let s = format!("{x:?}");
    match s.find('e') {
        Some(i) if !s[..i].contains('.') => format!("{}.0{}", &s[..i], &s[i..]),
        _ => s,
    }
}

fn call(name: &str, params: &[f64], args: &[&str]) -> String {
    let mut s = name.to_string();
    if !params.is_empty() {
        let p: Vec<String> = params.iter().map(|&v| fmt_real(v)).collect();
        let _ = write!(s, "({})", p.join(", "));
    }
    let _ = write!(s, " {};", args.join(", "));
    s
}

/// Export state: the gate definitions written so far and the names in use.
struct Writer {
    taken: HashSet<String>,
    defs: Vec<String>,
    by_key: HashMap<String, String>,
}

impl Writer {
    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while self.taken.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// Registers a definition under `key` (once) and returns its name.
    fn define(
        &mut self,
        key: String,
        base_name: &str,
        build: impl FnOnce(&mut Self) -> Result<String, String>,
    ) -> Result<String, String> {
        if let Some(name) = self.by_key.get(&key) {
            return Ok(name.clone());
        }
        // Dependencies are defined (and pushed) while building, so they come first.
        let rest = build(self)?;
        let name = self.fresh(base_name);
        self.defs.push(format!("gate {name}{rest}"));
        self.by_key.insert(key, name.clone());
        Ok(name)
    }

    /// `ryy`, `rzx`, `iswap`: defined under their own names unless a register uses them.
    fn fixed_definition(&mut self, g: StandardGate) -> Result<String, String> {
        let body = match g {
            StandardGate::Ryy => {
                "(theta) a, b { rx(pi/2) a; rx(pi/2) b; cx a, b; rz(theta) b; cx a, b; rx(-pi/2) a; rx(-pi/2) b; }"
            }
            StandardGate::Rzx => "(theta) a, b { h b; cx a, b; rz(theta) b; cx a, b; h b; }",
            StandardGate::Iswap => " a, b { s a; s b; h a; cx a, b; cx b, a; h b; }",
            other => return Err(format!("no definition for `{}`", other.name())),
        };
        self.define(format!("fixed|{}", g.name()), g.name(), |_| Ok(body.to_string()))
    }

    /// `C^k(W)` for `k >= 2` without spare qubits, as a definition on arguments `c0…c{k-1}, t`
    /// (Barenco et al. Lemma 7.9 with `V² = W`; the inner `C^{k-1}X` borrows `t`).
    fn multi_controlled(&mut self, k: usize, w: &M2, hint: Option<&str>) -> Result<String, String> {
        let base_name = match hint {
            Some(h) => h.to_string(),
            None if *w == X => format!("c{k}x"),
            None => "mcu".to_string(),
        };
        self.define(format!("mc{k}|{w:?}"), &base_name, |me| {
            let names: Vec<String> = (0..k).map(|i| format!("c{i}")).chain(std::iter::once("t".to_string())).collect();
            let controls: Vec<usize> = (0..k).collect();
            let body = me.pieces(&barenco::square_root_steps(&controls, k, w), &names)?;
            Ok(format!(" {} {}", names.join(", "), braces(&body)))
        })
    }

    /// The statements of `pieces` on the named qubits.
    fn pieces(&mut self, pieces: &[Piece], names: &[String]) -> Result<Vec<String>, String> {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Elem(e) => self.element(e, names, None),
                Piece::Mcx { controls, target, dirty } => {
                    let c: Vec<&str> = controls.iter().map(|&i| names[i].as_str()).collect();
                    let d: Vec<&str> = dirty.iter().map(|&i| names[i].as_str()).collect();
                    self.mcx(&c, &names[*target], &d)
                }
            })
            .collect()
    }

    /// `C^m X` from `controls` to `target`, borrowing `dirty` qubits (left as they were, whatever
    /// their state) to stay linear in `m`.
    fn mcx(&mut self, controls: &[&str], target: &str, dirty: &[&str]) -> Result<String, String> {
        let m = controls.len();
        let mut args: Vec<&str> = controls.to_vec();
        args.push(target);
        let name = match m {
            0 => "x".to_string(),
            1 => "cx".to_string(),
            2 => "ccx".to_string(),
            3 => "c3x".to_string(),
            4 => "c4x".to_string(),
            _ => match barenco::mcx_rule(m, dirty.len()) {
                McxRule::Staircase => {
                    args.extend_from_slice(&dirty[..m - 2]);
                    self.staircase(m)?
                }
                McxRule::OneDirty => {
                    args.push(dirty[0]);
                    self.one_dirty(m)?
                }
                McxRule::SquareRoot => self.multi_controlled(m, &X, None)?,
            },
        };
        Ok(call(&name, &[], &args))
    }

    /// `C^m X` with `m - 2` borrowed qubits from `4(m-2)` Toffolis (Barenco et al. Lemma 7.2), on
    /// arguments `x0…x{m-1}, t, b0…b{m-3}`.
    fn staircase(&mut self, m: usize) -> Result<String, String> {
        self.define(format!("staircase{m}"), &format!("c{m}x_{}dirty", m - 2), |me| {
            let names: Vec<String> = (0..m)
                .map(|i| format!("x{i}"))
                .chain(std::iter::once("t".to_string()))
                .chain((0..m - 2).map(|i| format!("b{i}")))
                .collect();
            let controls: Vec<usize> = (0..m).collect();
            let dirty: Vec<usize> = (m + 1..2 * m - 1).collect();
            let body = me.pieces(&barenco::staircase(&controls, m, &dirty), &names)?;
            Ok(format!(" {} {{ {} }}", names.join(", "), body.join(" ")))
        })
    }

    /// `C^m X` with one borrowed qubit, from two halves that each borrow the other half (Barenco et al.
    /// Lemma 7.3), on arguments `c0…c{m-1}, t, a`.
    fn one_dirty(&mut self, m: usize) -> Result<String, String> {
        self.define(format!("onedirty{m}"), &format!("c{m}x_1dirty"), |me| {
            let names: Vec<String> =
                (0..m).map(|i| format!("c{i}")).chain(["t".to_string(), "a".to_string()]).collect();
            let controls: Vec<usize> = (0..m).collect();
            let body = me.pieces(&barenco::one_dirty(&controls, m, m + 1), &names)?;
            Ok(format!(" {} {{ {} }}", names.join(", "), body.join(" ")))
        })
    }

    /// One element as a statement on the named qubits; `hint` names a new multi-controlled definition.
    /// Writes nothing for a matrix within rounding (1e-15) of the identity.
    fn element(&mut self, e: &Elem, names: &[String], hint: Option<&str>) -> Result<String, String> {
        if (0..4).all(|i| (e.m[i / 2][i % 2] - IDENTITY[i / 2][i % 2]).norm() <= 1e-15) {
            return Ok(String::new());
        }
        let mut args: Vec<&str> = e.controls.iter().map(|&c| names[c].as_str()).collect();
        let k = e.controls.len();
        if e.m == X {
            return self.mcx(&args, &names[e.target], &[]);
        }
        args.push(names[e.target].as_str());
        if e.m == SX && matches!(k, 0 | 1 | 3) {
            return Ok(call(["sx", "csx", "", "c3sqrtx"][k], &[], &args));
        }
        let is_phase = e.m[0][0] == ONE && e.m[0][1] == ZERO && e.m[1][0] == ZERO;
        if is_phase && k <= 1 {
            return Ok(call(["p", "cp"][k], &[e.m[1][1].arg()], &args));
        }
        let [theta, phi, lambda, gamma] = zyz(&e.m);
        Ok(match k {
            0 => call("u3", &[theta, phi, lambda], &args),
            1 => call("cu", &[theta, phi, lambda, gamma], &args),
            _ => {
                let name = self.multi_controlled(k, &e.m, hint)?;
                call(&name, &[], &args)
            }
        })
    }

    /// A definition whose body is the given elements on arguments `a0…a{n-1}`.
    fn element_definition(&mut self, key: String, base_name: &str, n: usize, elems: &[Elem]) -> Result<String, String> {
        self.define(key, base_name, |me| {
            let names: Vec<String> = (0..n).map(|i| format!("a{i}")).collect();
            let mut body = Vec::new();
            for e in elems {
                body.push(me.element(e, &names, None)?);
            }
            let body = braces(&body);
            Ok(format!(" {} {body}", names.join(", ")))
        })
    }

    /// The statement for one gate application.
    fn gate(&mut self, gate: &Gate, angles: &[f64], args: &[&str]) -> Result<String, String> {
        // Flatten nested controls.
        let (base, k) = flatten(gate);
        if let Gate::Standard(g) = base {
            let (inner, j) = split_standard(*g);
            if let Some(s) = join_standard(inner, j + k) {
                if s.in_qelib1() {
                    return Ok(call(s.name(), angles, args));
                }
                let name = self.fixed_definition(s)?;
                return Ok(call(&name, angles, args));
            }
        }
        if k > MAX_EXPORT_CONTROLS {
            return Err(format!("more than {MAX_EXPORT_CONTROLS} controls"));
        }
        let n = base.n_qubits();
        if let Gate::Unitary(m) = base
            && (m.dim() != 1 << n || n > 2 || m.check_unitary().is_err())
        {
            return Err(format!("a {0}x{0} matrix that is not a unitary on 1 or 2 qubits", m.dim()));
        }
        if k + n == 0 {
            // A 0-qubit unitary: a global phase.
            return Ok(String::new());
        }
        match base {
            Gate::Unitary(m) if k == 0 && n == 1 => {
                let [theta, phi, lambda, _] = zyz(&[[m.get(0, 0), m.get(0, 1)], [m.get(1, 0), m.get(1, 1)]]);
                Ok(call("u3", &[theta, phi, lambda], args))
            }
            _ => {
                let qubits: Vec<usize> = (k..k + n).collect();
                let controls: Vec<usize> = (0..k).collect();
                let elems = elements(base, &qubits, angles, &controls)?;
                let base_name = match base {
                    Gate::Standard(g) => format!("c{k}_{}", g.name()),
                    _ if k == 0 => "unitary".to_string(),
                    _ => format!("c{k}_unitary"),
                };
                if let [single] = elems.as_slice() {
                    let names: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                    return self.element(single, &names, Some(&base_name));
                }
                let bits: Vec<u64> = angles.iter().map(|a| a.to_bits()).collect();
                let name = self.element_definition(format!("{k}|{base:?}|{bits:?}"), &base_name, k + n, &elems)?;
                Ok(call(&name, &[], args))
            }
        }
    }
}

/// A gate body of statements, skipping empty ones.
fn braces(statements: &[String]) -> String {
    let kept: Vec<&str> = statements.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
    if kept.is_empty() { "{ }".to_string() } else { format!("{{ {} }}", kept.join(" ")) }
}

/// The innermost base of a (nested) controlled gate and the total number of controls.
fn flatten(gate: &Gate) -> (&Gate, usize) {
    let mut g = gate;
    let mut k = 0;
    while let Gate::Controlled { base, n_controls } = g {
        k += n_controls;
        g = base;
    }
    (g, k)
}

/// Names of bits `name[i]` of consecutive registers.
fn bit_names(regs: &[crate::circuit::Register]) -> Vec<String> {
    regs.iter().flat_map(|r| (0..r.size).map(move |i| format!("{}[{i}]", r.name))).collect()
}

/// Writes `circuit` as OpenQASM 2.0 (see [`crate::qasm::to_qasm`]).
pub(crate) fn write(circuit: &Circuit) -> Result<String, QasmError> {
    let mut w = Writer { taken: HashSet::new(), defs: Vec::new(), by_key: HashMap::new() };
    w.taken.extend(RESERVED.iter().map(|s| s.to_string()));
    let qelib1: HashSet<&str> =
        StandardGate::ALL.iter().filter(|g| g.in_qelib1()).map(|g| g.name()).chain(["u0"]).collect();
    for reg in circuit.qregs().iter().chain(circuit.cregs()) {
        let reason = if !is_valid_name(&reg.name) {
            Some("not an OpenQASM 2 name ([a-z][A-Za-z0-9_]*, not a reserved word)")
        } else if qelib1.contains(reg.name.as_str()) {
            Some("the name of a gate of qelib1.inc")
        } else if w.taken.contains(&reg.name) {
            Some("declared twice")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(QasmError::InvalidRegisterName { name: reg.name.clone(), reason });
        }
        w.taken.insert(reg.name.clone());
    }
    w.taken.extend(qelib1.iter().map(|s| s.to_string()));
    let qubits = bit_names(circuit.qregs());
    let clbits = bit_names(circuit.cregs());
    let mut body = String::new();
    for (idx, inst) in circuit.instructions().iter().enumerate() {
        let out_of_range = |gate: String| QasmError::UnsupportedGate {
            instruction: idx,
            gate,
            reason: "a qubit or bit beyond the circuit's registers".into(),
        };
        match inst {
            Instruction::Gate(app) => {
                let name = app.gate.name();
                let angles = const_angles(circuit, idx, &name, &app.angles)?;
                let args = app
                    .qubits
                    .iter()
                    .map(|&q| qubits.get(q).map(String::as_str))
                    .collect::<Option<Vec<&str>>>()
                    .ok_or_else(|| out_of_range(name.clone()))?;
                if args.len() != app.gate.n_qubits() || angles.len() != app.gate.n_params() {
                    return Err(QasmError::UnsupportedGate {
                        instruction: idx,
                        gate: name,
                        reason: "wrong number of qubits or angles".into(),
                    });
                }
                let line = w.gate(&app.gate, &angles, &args).map_err(|reason| QasmError::UnsupportedGate {
                    instruction: idx,
                    gate: name,
                    reason,
                })?;
                if !line.is_empty() {
                    body.push_str(&line);
                    body.push('\n');
                }
            }
            Instruction::Barrier(qs) => {
                if qs.is_empty() {
                    continue;
                }
                let args = qs
                    .iter()
                    .map(|&q| qubits.get(q).map(String::as_str))
                    .collect::<Option<Vec<&str>>>()
                    .ok_or_else(|| out_of_range("barrier".into()))?;
                let _ = writeln!(body, "barrier {};", args.join(", "));
            }
            Instruction::Measure { qubit, clbit } => {
                let (Some(q), Some(c)) = (qubits.get(*qubit), clbits.get(*clbit)) else {
                    return Err(out_of_range("measure".into()));
                };
                let _ = writeln!(body, "measure {q} -> {c};");
            }
        }
    }
    let mut out = String::from("OPENQASM 2.0;\ninclude \"qelib1.inc\";\n");
    for d in &w.defs {
        out.push_str(d);
        out.push('\n');
    }
    for r in circuit.qregs() {
        let _ = writeln!(out, "qreg {}[{}];", r.name, r.size);
    }
    for r in circuit.cregs() {
        let _ = writeln!(out, "creg {}[{}];", r.name, r.size);
    }
    out.push_str(&body);
    Ok(out)
}

/// The angle values of instruction `idx`, or the error naming the first one that is not a constant.
fn const_angles(circuit: &Circuit, idx: usize, gate: &str, angles: &[Angle]) -> Result<Vec<f64>, QasmError> {
    angles
        .iter()
        .enumerate()
        .map(|(i, a)| match *a {
            Angle::Const(v) if v.is_finite() => Ok(v),
            Angle::Const(_) => {
                Err(QasmError::NonFiniteAngle { instruction: idx, gate: gate.to_string(), angle_index: i })
            }
            Angle::Param { index, .. } => Err(QasmError::UnboundAngle {
                instruction: idx,
                gate: gate.to_string(),
                angle_index: i,
                source_name: match circuit.param_names().get(index) {
                    Some(n) => format!("trainable parameter `{n}`"),
                    None => format!("trainable parameter {index}"),
                },
            }),
            Angle::Input { index, .. } => Err(QasmError::UnboundAngle {
                instruction: idx,
                gate: gate.to_string(),
                angle_index: i,
                source_name: format!("input feature {index}"),
            }),
            Angle::InputPair { first, second, .. } => Err(QasmError::UnboundAngle {
                instruction: idx,
                gate: gate.to_string(),
                angle_index: i,
                source_name: format!("input features {first} and {second}"),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_formatting_round_trips() {
        for x in [0.1, -0.0, 1e20, 1e-7, 5e-324, f64::MAX, 3.0, -2.5e-300, std::f64::consts::PI] {
            let s = fmt_real(x);
            assert!(s.contains('.'), "{s}");
            let back: f64 = s.parse().unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{s}");
        }
    }
}
