//! Tests of the transpiler: translation preserves unitaries (every gate kind, symbolic angles),
//! routing preserves states up to the final permutation, and bad input gives typed errors. The
//! property tests on random circuits of the one generator are `tests/transpile_props.rs` (an
//! integration test, so that the generator's `tinylab-quantum` is this one).

use super::*;
use crate::circuit::{Angle, Instruction};
use crate::gate::{Gate, StandardGate};
use crate::matrix::{C64, Matrix};
use crate::ops::u3_matrix;
use crate::statevector::{Statevector, unitary};
use std::f64::consts::{FRAC_PI_2, PI};

/// Largest phase-insensitive entry-wise distance accepted between unitaries or states.
const TOL: f64 = 1e-9;

/// IBM manila: the line 0-1-2-3-4, both directions.
const MANILA: [(usize, usize); 8] = [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 3)];

/// A line 0 -> 1 -> ... -> n-1 with one direction only, so that routing must reverse `cx` gates.
fn directed_line(n: usize) -> Target {
    let edges: Vec<(usize, usize)> = (1..n).map(|i| (i - 1, i)).collect();
    Target::ibm(n, &edges).unwrap()
}

/// Every ordered pair coupled: checks the basis only.
fn all_to_all(n: usize) -> Target {
    let edges: Vec<(usize, usize)> =
        (0..n).flat_map(|a| (0..n).filter(move |&b| b != a).map(move |b| (a, b))).collect();
    Target::ibm(n, &edges).unwrap()
}

/// splitmix64: deterministic picks for the tests.
fn mix(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `k` distinct qubits of `0..n`, in an order drawn from `seed`.
fn pick_qubits(n: usize, k: usize, mut seed: u64) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (mix(&mut seed) % (i as u64 + 1)) as usize;
        all.swap(i, j);
    }
    all.truncate(k);
    all
}

fn assert_same_unitary(a: &Circuit, b: &Circuit, params: &[f64], inputs: &[f64], what: &str) {
    let ua = unitary(a, params, inputs).unwrap();
    let ub = unitary(b, params, inputs).unwrap();
    let d = ua.max_abs_diff_up_to_phase(&ub);
    assert!(d < TOL, "{what}: unitaries differ by {d:.3e}");
}

/// Errors unless every gate is `rz`, `sx`, `x`, `cx` or `id`.
fn assert_basis_only(c: &Circuit, what: &str) {
    if let Err(e) = check(c, &all_to_all(c.n_qubits().max(1))) {
        panic!("{what}: {e}");
    }
}

fn count(c: &Circuit, name: &str) -> usize {
    c.instructions().iter().filter(|i| matches!(i, Instruction::Gate(a) if a.gate.name() == name)).count()
}

/// A random 1- or 2-qubit unitary (products of `u3` layers and `cx`).
fn random_unitary(k: usize, seed: &mut u64) -> Matrix {
    let mut angle = || (mix(seed) % 10_000) as f64 / 10_000.0 * 2.0 * PI - PI;
    let layer = |angle: &mut dyn FnMut() -> f64| u3_matrix(angle(), angle(), angle());
    if k == 1 {
        return layer(&mut angle).matmul(&layer(&mut angle));
    }
    let mut cx = Matrix::identity(4);
    for (r, c) in [(1, 1), (3, 3)] {
        cx.set(r, c, C64::new(0.0, 0.0));
    }
    cx.set(1, 3, C64::new(1.0, 0.0));
    cx.set(3, 1, C64::new(1.0, 0.0));
    let mut u = Matrix::identity(4);
    for _ in 0..3 {
        let l = layer(&mut angle).kron(&layer(&mut angle));
        u = cx.matmul(&l).matmul(&u);
    }
    u
}

#[test]
fn euler_forms_are_exact_and_short() {
    // The general form u3(θ,φ,λ) = rz(λ) sx rz(θ+π) sx rz(φ+π) and the special cases, against the
    // gate's own matrix; and how many gates each takes.
    let cases: [(f64, f64, f64, usize); 6] = [
        (0.7, 1.9, -2.3, 5),
        (0.0, 0.4, 0.3, 1),
        (FRAC_PI_2, 0.4, 0.3, 3),
        (PI, 0.4, 0.3, 2),
        (PI, 0.3, 0.3 - PI, 1),
        (0.0, 0.0, 0.0, 0),
    ];
    for (t, p, l, expected) in cases {
        let mut c = Circuit::new(1);
        c.u3(t, p, l, 0).unwrap();
        let out = translate_to_basis(&c).unwrap();
        assert_basis_only(&out, "u3");
        assert_same_unitary(&c, &out, &[], &[], &format!("u3({t}, {p}, {l})"));
        assert_eq!(out.instructions().len(), expected, "u3({t}, {p}, {l}): {:?}", out.instructions());
    }
    let gates = |build: &dyn Fn(&mut Circuit)| {
        let mut c = Circuit::new(1);
        build(&mut c);
        translate_to_basis(&c).unwrap().instructions().len()
    };
    assert_eq!(gates(&|c| drop(c.h(0))), 3);
    assert_eq!(gates(&|c| drop(c.x(0))), 1);
    assert_eq!(gates(&|c| drop(c.sx(0))), 1);
    assert_eq!(gates(&|c| drop(c.s(0))), 1);
    assert_eq!(gates(&|c| drop(c.id(0))), 1);
}

#[test]
fn every_standard_gate_translates_exactly() {
    let mut seed = 7u64;
    for &g in StandardGate::ALL {
        let k = g.n_qubits();
        let n = k + 1;
        let random: Vec<f64> = (0..g.n_params()).map(|_| (mix(&mut seed) % 100_000) as f64 / 7_000.0 - 7.0).collect();
        let angle_sets = [random, vec![0.0; g.n_params()], vec![FRAC_PI_2; g.n_params()], vec![PI; g.n_params()]];
        for (s, angles) in angle_sets.iter().enumerate() {
            for order in 0..3u64 {
                let qubits = pick_qubits(n, k, order * 31 + s as u64);
                let mut c = Circuit::new(n);
                // A layer of h first, so that no gate acts only on |0...0>-like states.
                for q in 0..n {
                    c.h(q).unwrap();
                }
                c.append(Gate::Standard(g), &qubits, &angles.iter().map(|&a| Angle::Const(a)).collect::<Vec<_>>())
                    .unwrap();
                let out = translate_to_basis(&c).unwrap();
                assert_basis_only(&out, g.name());
                assert_same_unitary(&c, &out, &[], &[], &format!("{} {angles:?} on {qubits:?}", g.name()));
            }
        }
    }
}

#[test]
fn gate_counts_of_standard_decompositions() {
    let cx_count = |build: &dyn Fn(&mut Circuit)| {
        let mut c = Circuit::new(3);
        build(&mut c);
        count(&translate_to_basis(&c).unwrap(), "cx")
    };
    assert_eq!(cx_count(&|c| drop(c.ccx(0, 1, 2))), 6);
    assert_eq!(cx_count(&|c| drop(c.swap(0, 2))), 3);
    assert_eq!(cx_count(&|c| drop(c.cz(2, 0))), 1);
    assert_eq!(cx_count(&|c| drop(c.rzz(0.3, 0, 1))), 2);
    assert_eq!(cx_count(&|c| drop(c.cu3(0.3, 0.2, 0.1, 0, 1))), 2);
    assert_eq!(cx_count(&|c| drop(c.cswap(0, 1, 2))), 8);
}

#[test]
fn symbolic_angles_stay_symbolic() {
    for &g in StandardGate::ALL.iter().filter(|g| g.n_params() > 0) {
        let k = g.n_qubits();
        let mut c = Circuit::new(k);
        let t = c.param("t").unwrap();
        let angles: Vec<Angle> =
            (0..g.n_params()).map(|i| t.scaled(0.5 + i as f64).shifted(0.3 * i as f64 - 0.2)).collect();
        let qubits: Vec<usize> = (0..k).rev().collect();
        for q in 0..k {
            c.ry(0.3 + q as f64, q).unwrap();
        }
        c.append(Gate::Standard(g), &qubits, &angles).unwrap();
        let out = translate_to_basis(&c).unwrap_or_else(|e| panic!("{}: {e}", g.name()));
        assert_basis_only(&out, g.name());
        assert_eq!(out.param_names(), ["t"]);
        for value in [0.37, -1.2, 2.9] {
            assert_same_unitary(&c, &out, &[value], &[], &format!("{} at t = {value}", g.name()));
        }
    }
    // Input features too.
    let mut c = Circuit::new(2);
    c.h(0).unwrap().rx(Angle::input(1), 0).unwrap().crz(Angle::input(0).scaled(2.0), 0, 1).unwrap();
    let out = translate_to_basis(&c).unwrap();
    assert_eq!(out.n_inputs(), 2);
    assert_same_unitary(&c, &out, &[], &[0.4, -0.9], "inputs");
}

#[test]
fn unitaries_and_controlled_gates_translate_exactly() {
    let mut seed = 11u64;
    let u1 = random_unitary(1, &mut seed);
    let u2 = random_unitary(2, &mut seed);
    let bases: Vec<(Gate, Vec<Angle>)> = vec![
        (Gate::unitary(u1.clone()).unwrap(), vec![]),
        (Gate::unitary(u2.clone()).unwrap(), vec![]),
        (Gate::Standard(StandardGate::X), vec![]),
        (Gate::Standard(StandardGate::H), vec![]),
        (Gate::Standard(StandardGate::Ry), vec![Angle::Const(0.83)]),
        (Gate::Standard(StandardGate::U), vec![Angle::Const(0.3), Angle::Const(-1.1), Angle::Const(2.0)]),
        (Gate::Standard(StandardGate::Swap), vec![]),
        (Gate::Standard(StandardGate::Rzz), vec![Angle::Const(1.3)]),
        (Gate::Standard(StandardGate::Rccx), vec![]),
    ];
    for (base, angles) in &bases {
        for k in 0..=4usize {
            let n = base.n_qubits() + k;
            if n > 6 {
                continue;
            }
            let gate = if k == 0 { base.clone() } else { Gate::controlled(base.clone(), k).unwrap() };
            let qubits = pick_qubits(n + 1, n, k as u64 + 3);
            let mut c = Circuit::new(n + 1);
            for q in 0..=n {
                c.h(q).unwrap();
            }
            c.append(gate.clone(), &qubits, angles).unwrap();
            let out = translate_to_basis(&c).unwrap_or_else(|e| panic!("{}: {e}", gate.name()));
            assert_basis_only(&out, &gate.name());
            assert_same_unitary(&c, &out, &[], &[], &format!("{} on {qubits:?}", gate.name()));
        }
    }
}

#[test]
fn multi_controlled_gates_with_many_controls() {
    // c4x (Barenco without spare qubits) and an 8-qubit mcx.
    for controls in [3usize, 4, 6, 7] {
        let n = controls + 1;
        let mut c = Circuit::new(n);
        for q in 0..n {
            c.h(q).unwrap().t(q).unwrap();
        }
        let qubits = pick_qubits(n, n, controls as u64);
        c.mcx(&qubits[..controls], qubits[controls]).unwrap();
        let out = translate_to_basis(&c).unwrap();
        assert_basis_only(&out, "mcx");
        assert_same_unitary(&c, &out, &[], &[], &format!("mcx with {controls} controls"));
    }
}

#[test]
fn measurements_barriers_and_registers_survive() {
    let mut c = Circuit::new(3);
    c.add_clbits("c", 3);
    c.h(0).unwrap().barrier(&[]).unwrap().cx(0, 2).unwrap().measure(2, 0).unwrap().measure(0, 2).unwrap();
    let out = translate_to_basis(&c).unwrap();
    assert_eq!(out.measurements(), vec![(2, 0), (0, 2)]);
    assert_eq!(out.cregs(), c.cregs());
    assert!(out.instructions().iter().any(|i| matches!(i, Instruction::Barrier(q) if q == &[0, 1, 2])));
    let manila = Target::ibm(5, &MANILA).unwrap();
    let (routed, layout) = transpile(&c, &manila, &[4, 1, 2]).unwrap();
    // Qubits 0 and 2 sit on 4 and 2, one SWAP apart; measurements follow the qubits.
    assert_eq!(routed.measurements(), vec![(layout[2], 0), (layout[0], 2)]);
    check(&routed, &manila).unwrap();
}

#[test]
fn check_names_the_first_offending_gate() {
    let manila = Target::ibm(5, &MANILA).unwrap();
    let mut c = Circuit::new(5);
    c.rz(0.1, 0).unwrap().sx(1).unwrap().h(2).unwrap().cx(0, 2).unwrap();
    match check(&c, &manila) {
        Err(TranspileError::NotInBasis { index: 2, gate, qubits, basis }) => {
            assert_eq!((gate.as_str(), qubits.as_slice(), basis.as_str()), ("h", &[2][..], "cx, id, rz, sx, x"));
        }
        other => panic!("{other:?}"),
    }
    let mut c = Circuit::new(5);
    c.cx(1, 2).unwrap().cx(0, 2).unwrap();
    assert_eq!(check(&c, &manila), Err(TranspileError::NotCoupled { index: 1, gate: "cx".into(), qubits: vec![0, 2] }));
    // Direction matters.
    let mut c = Circuit::new(3);
    c.cx(0, 1).unwrap().cx(2, 1).unwrap();
    assert_eq!(
        check(&c, &directed_line(3)),
        Err(TranspileError::NotCoupled { index: 1, gate: "cx".into(), qubits: vec![2, 1] })
    );
    // Non-standard gates are never in the basis, even when their name would be.
    let mut c = Circuit::new(1);
    c.unitary(u3_matrix(0.1, 0.2, 0.3), &[0]).unwrap();
    assert!(matches!(check(&c, &manila), Err(TranspileError::NotInBasis { index: 0, .. })));
    // Too wide a circuit.
    assert_eq!(
        check(&Circuit::new(6), &manila),
        Err(TranspileError::TooManyQubits { circuit_qubits: 6, target_qubits: 5 })
    );
    // A qubit beyond a target built by hand.
    let mut c = Circuit::new(3);
    c.x(2).unwrap();
    let small = Target { n_qubits: 2, basis: manila.basis.clone(), coupling: vec![] };
    assert!(matches!(check(&c, &small), Err(TranspileError::TooManyQubits { .. })));
    let bad = Target { n_qubits: 2, basis: manila.basis.clone(), coupling: vec![(0, 2)] };
    assert!(matches!(check(&Circuit::new(1), &bad), Err(TranspileError::InvalidCoupling { position: 0, .. })));
    // Messages name what is wrong.
    let e = check(&Circuit::new(6), &manila).unwrap_err();
    assert_eq!(e.to_string(), "the circuit has 6 qubits, more than the 5 of the target");
}

#[test]
fn bad_targets_and_layouts_give_typed_errors() {
    assert!(matches!(
        Target::ibm(3, &[(0, 1), (1, 3)]),
        Err(TranspileError::InvalidCoupling { position: 1, a: 1, b: 3, n_qubits: 3, .. })
    ));
    assert!(matches!(Target::ibm(3, &[(1, 1)]), Err(TranspileError::InvalidCoupling { .. })));
    let manila = Target::ibm(5, &MANILA).unwrap();
    let mut c = Circuit::new(3);
    c.cx(0, 2).unwrap();
    assert_eq!(route(&c, &manila, &[0, 1]).unwrap_err(), TranspileError::LayoutLength { expected: 3, got: 2 });
    assert_eq!(
        transpile(&c, &manila, &[0, 1, 0]).unwrap_err(),
        TranspileError::LayoutDuplicate { physical: 0, first: 0, second: 2 }
    );
    assert_eq!(
        transpile(&c, &manila, &[0, 1, 5]).unwrap_err(),
        TranspileError::LayoutOutOfRange { virtual_qubit: 2, physical: 5, n_qubits: 5 }
    );
    assert!(matches!(route(&Circuit::new(6), &manila, &trivial_layout(6)), Err(TranspileError::TooManyQubits { .. })));
    // Disconnected coupling map.
    let split = Target::ibm(4, &[(0, 1), (2, 3)]).unwrap();
    assert_eq!(
        transpile(&c, &split, &[0, 1, 2]).unwrap_err(),
        TranspileError::Disconnected { index: 0, from: 0, to: 2 }
    );
    // Routing refuses wide gates; transpile translates them first.
    let mut wide = Circuit::new(3);
    wide.ccx(0, 1, 2).unwrap();
    assert!(matches!(route(&wide, &manila, &[0, 1, 2]), Err(TranspileError::WideGate { index: 0, n_qubits: 3, .. })));
    let (routed, _) = transpile(&wide, &manila, &[0, 2, 4]).unwrap();
    check(&routed, &manila).unwrap();
}

#[test]
fn symbolic_angles_that_cannot_be_translated_are_errors() {
    let mut c = Circuit::new(4);
    let a = c.param("a").unwrap();
    let b = c.param("b").unwrap();
    c.h(0).unwrap().cu3(0.3, a, b, 0, 1).unwrap();
    match translate_to_basis(&c) {
        Err(TranspileError::SymbolicAngle { index: 1, gate, .. }) => assert_eq!(gate, "cu3"),
        other => panic!("{other:?}"),
    }
    let mut c = Circuit::new(4);
    let a = c.param("a").unwrap();
    c.append(Gate::controlled(Gate::Standard(StandardGate::Ry), 2).unwrap(), &[0, 1, 2], &[a]).unwrap();
    let e = translate_to_basis(&c).unwrap_err();
    assert!(matches!(e, TranspileError::SymbolicAngle { index: 0, .. }), "{e:?}");
    assert!(e.to_string().contains("constant angles"), "{e}");
    // The same parameter in φ and λ is fine.
    let mut c = Circuit::new(2);
    let a = c.param("a").unwrap();
    c.h(0).unwrap().h(1).unwrap().cu3(0.3, a, a.scaled(-2.0), 0, 1).unwrap();
    let out = translate_to_basis(&c).unwrap();
    assert_same_unitary(&c, &out, &[0.77], &[], "cu3(0.3, a, -2a)");
}

/// The state of `routed` must be the state of `original` with virtual qubit `v` on physical qubit
/// `layout[v]` and every other physical qubit |0>.
fn assert_routed_state(original: &Circuit, routed: &Circuit, layout: &[usize], params: &[f64], what: &str) {
    let psi = Statevector::from_circuit(original, params, &[]).unwrap();
    let got = Statevector::from_circuit(routed, params, &[]).unwrap();
    let mut expected = vec![C64::new(0.0, 0.0); 1 << routed.n_qubits()];
    for (i, &a) in psi.amplitudes().iter().enumerate() {
        let j: usize = layout.iter().enumerate().map(|(v, &p)| (i >> v & 1) << p).sum();
        expected[j] = a;
    }
    let expected = Statevector::from_amplitudes(expected).unwrap();
    let d = got.distance_up_to_phase(&expected);
    assert!(d < TOL, "{what}: routed state differs by {d:.3e}");
}

#[test]
fn routing_a_ghz_chain_on_manila() {
    let manila = Target::ibm(5, &MANILA).unwrap();
    let mut ghz = Circuit::new(4);
    ghz.h(0).unwrap().cx(0, 1).unwrap().cx(0, 2).unwrap().cx(0, 3).unwrap();
    let (routed, layout) = transpile(&ghz, &manila, &[0, 4, 2, 1]).unwrap();
    check(&routed, &manila).unwrap();
    assert_routed_state(&ghz, &routed, &layout, &[], "ghz");
    // Virtual 0 and 1 sit on 0 and 4: 3 SWAPs meet in the middle (0 -> 1, 4 -> 3 -> 2, moving 2 to 3);
    // one more SWAP brings 2 next to 0; 3 is then adjacent: 4 SWAPs (12 cx) and the 3 gates.
    assert_eq!(count(&routed, "cx"), 15);
    assert_eq!(layout, [1, 3, 2, 0]);
}

#[test]
fn routing_reverses_cx_on_a_directed_line() {
    let line = directed_line(4);
    let mut c = Circuit::new(4);
    c.h(3).unwrap().cx(3, 0).unwrap().cx(2, 1).unwrap().ry(0.4, 1).unwrap().cx(1, 3).unwrap();
    let (routed, layout) = transpile(&c, &line, &trivial_layout(4)).unwrap();
    check(&routed, &line).unwrap();
    assert_routed_state(&c, &routed, &layout, &[], "directed line");
}

#[test]
fn parameterised_circuits_route_with_symbolic_angles() {
    let manila = Target::ibm(5, &MANILA).unwrap();
    let mut c = Circuit::new(3);
    let t = c.param("theta").unwrap();
    c.h(0).unwrap().ry(t, 1).unwrap().crz(t.scaled(0.5), 0, 2).unwrap().rzz(t, 2, 1).unwrap();
    let (routed, layout) = transpile(&c, &manila, &[0, 2, 4]).unwrap();
    check(&routed, &manila).unwrap();
    assert_eq!(routed.param_names(), ["theta"]);
    for value in [0.3, -2.1] {
        assert_routed_state(&c, &routed, &layout, &[value], "symbolic");
    }
}

#[test]
fn merging_never_lengthens_a_run() {
    // Every standard one-qubit gate alone and in pairs, at angles whose rewrite is longest: the merged
    // circuit is exact and never has more instructions than the translated one (a lone `x` or `sx`
    // must not become `rz sx rz`).
    let one_qubit: Vec<StandardGate> = StandardGate::ALL.iter().copied().filter(|g| g.n_qubits() == 1).collect();
    for &a in &one_qubit {
        for b in one_qubit.iter().copied().map(Some).chain([None]) {
            for angle in [0.0, FRAC_PI_2, PI, 0.7] {
                let mut c = Circuit::new(1);
                for g in [Some(a), b].into_iter().flatten() {
                    c.append(Gate::Standard(g), &[0], &vec![Angle::Const(angle); g.n_params()]).unwrap();
                }
                let out = translate_to_basis(&c).unwrap();
                let merged = merge_single_qubit_runs(&out).unwrap();
                let what = format!("{} then {b:?} at {angle}", a.name());
                assert!(merged.instructions().len() <= out.instructions().len(), "{what}");
                assert_same_unitary(&c, &merged, &[], &[], &what);
            }
        }
    }
}
