//! Unit tests of the OpenQASM reader's internals.

use super::parser::{distance_up_to_phase, unitary_of};
use crate::circuit::{Angle, GateApplication, Instruction};
use crate::gate::{Gate, StandardGate};

fn inst(g: StandardGate, qubits: &[usize], angles: &[f64]) -> Instruction {
    Instruction::Gate(GateApplication {
        gate: Gate::Standard(g),
        qubits: qubits.to_vec(),
        angles: angles.iter().map(|&a| Angle::Const(a)).collect(),
    })
}

#[test]
fn unitary_of_small_programs() {
    let cx = unitary_of(2, &[inst(StandardGate::Cx, &[0, 1], &[])]).unwrap();
    let iswap = unitary_of(2, &[inst(StandardGate::Iswap, &[0, 1], &[])]).unwrap();
    assert!(distance_up_to_phase(&cx, &iswap) > 0.5);
    assert_eq!(distance_up_to_phase(&cx, &cx.scale(crate::matrix::C64::from_polar(1.0, 0.7))) < 1e-15, true);
}
