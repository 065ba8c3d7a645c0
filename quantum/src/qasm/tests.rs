//! Unit tests of the OpenQASM reader's internals.

use super::parser::{distance_up_to_phase, unitary_of};
use super::{ParseErrorKind, parse};
use crate::circuit::{Angle, GateApplication, Instruction};
use crate::gate::{Gate, StandardGate};
use crate::matrix::C64;

fn inst(g: StandardGate, qubits: &[usize], angles: &[f64]) -> Instruction {
    Instruction::Gate(GateApplication {
        gate: Gate::Standard(g),
        qubits: qubits.to_vec(),
        angles: angles.iter().map(|&a| Angle::Const(a)).collect(),
    })
}

fn names(src: &str) -> Vec<String> {
    let c = parse(src).unwrap_or_else(|e| panic!("{e}"));
    c.instructions()
        .iter()
        .filter_map(|i| match i {
            Instruction::Gate(a) => Some(a.gate.name()),
            _ => None,
        })
        .collect()
}

#[test]
fn unitary_of_small_programs() {
    let cx = unitary_of(2, &[inst(StandardGate::Cx, &[0, 1], &[])]).unwrap();
    let iswap = unitary_of(2, &[inst(StandardGate::Iswap, &[0, 1], &[])]).unwrap();
    assert!(distance_up_to_phase(&cx, &iswap) > 0.5);
    assert!(distance_up_to_phase(&cx, &cx.scale(C64::from_polar(1.0, 0.7))) < 1e-15);
    // Two cx in a row are the identity; qubit order matters.
    let two = unitary_of(2, &[inst(StandardGate::Cx, &[0, 1], &[]), inst(StandardGate::Cx, &[0, 1], &[])]).unwrap();
    assert!(two.max_abs_diff(&crate::matrix::Matrix::identity(4)) < 1e-15);
    let rev = unitary_of(2, &[inst(StandardGate::Cx, &[1, 0], &[])]).unwrap();
    assert!(distance_up_to_phase(&cx, &rev) > 0.5);
}

#[test]
fn definitions_recognised_up_to_global_phase() {
    // Without the include, standard names can be defined; the same unitary up to a global phase (here
    // `u1` versus `rz`) reads as the standard gate.
    let src = "OPENQASM 2.0;\ngate rz(t) a { U(0, 0, t) a; }\ngate cx a, b { CX a, b; }\n\
               gate swap a, b { CX a, b; CX b, a; CX a, b; }\ngate h a { U(pi/2, 0, 0) a; }\nqreg q[2];\n\
               rz(0.5) q[0]; cx q[0], q[1]; swap q[1], q[0]; h q[1];";
    // `h` is defined wrongly (u2(0, 0) is not h), so it is expanded.
    assert_eq!(names(src), ["rz", "cx", "swap", "u3"]);
    // The shapes must agree: a one-parameter `ry` that ignores its parameter is not `ry`.
    let src = "OPENQASM 2.0;\ngate ry(t) a { U(0.3, 0, 0) a; }\nqreg q[1];\nry(0.3) q[0];";
    assert_eq!(names(src), ["u3"]);
}

#[test]
fn qiskit_style_extra_gates_are_recognised() {
    let head = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n";
    let defs = [
        "gate ryy(param0) q0,q1 { rx(pi/2) q0; rx(pi/2) q1; cx q0,q1; rz(param0) q1; cx q0,q1; rx(-pi/2) q0; rx(-pi/2) q1; }",
        "gate rzx(param0) q0,q1 { h q1; cx q0,q1; rz(param0) q1; cx q0,q1; h q1; }",
        "gate iswap q0,q1 { s q0; s q1; h q0; cx q0,q1; cx q1,q0; h q1; }",
    ];
    let src =
        format!("{head}{}\nqreg q[2];\nryy(0.1) q[0], q[1]; rzx(0.2) q[1], q[0]; iswap q[0], q[1];", defs.join("\n"));
    assert_eq!(names(&src), ["ryy", "rzx", "iswap"]);
}

#[test]
fn errors_expose_kind_and_position() {
    let e = parse("OPENQASM 2.0;\nqreg q[1];\nfoo q[0];").unwrap_err();
    assert_eq!(e.position(), Some((3, 1)));
    assert_eq!(e.kind(), Some(&ParseErrorKind::UnknownGate("foo".into())));
    let e: crate::QuantumError = e.into();
    assert_eq!(e.to_string(), "line 3, column 1: unknown gate `foo`");
}
