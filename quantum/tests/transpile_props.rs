//! The transpiler on random circuits of the one generator (`tinylab_testkit`): translation to the
//! IBM basis and one-qubit merging keep the unitary (every standard gate, user unitaries,
//! multi-controlled gates), and routing onto manila, a directed line and guadalupe keeps the state up
//! to the final layout.

use proptest::prelude::*;
use tinylab_quantum::transpile::{Target, check, merge_single_qubit_runs, translate_to_basis, transpile};
use tinylab_quantum::{C64, Circuit, StandardGate, Statevector, statevector::unitary};
use tinylab_testkit::dice::distinct;
use tinylab_testkit::{GateDraw, Mix, generate, strategy};

/// Largest phase-insensitive entry-wise distance accepted between unitaries or states.
const TOL: f64 = 1e-9;

/// IBM manila: the line 0-1-2-3-4, both directions.
const MANILA: [(usize, usize); 8] = [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 3)];

/// IBM guadalupe (16-qubit heavy hex), the coupling map of `noise/profiles/guadalupe.json`.
const GUADALUPE: [(usize, usize); 32] = [
    (0, 1),
    (1, 0),
    (1, 2),
    (1, 4),
    (2, 1),
    (2, 3),
    (3, 2),
    (3, 5),
    (4, 1),
    (4, 7),
    (5, 3),
    (5, 8),
    (6, 7),
    (7, 4),
    (7, 6),
    (7, 10),
    (8, 5),
    (8, 9),
    (8, 11),
    (9, 8),
    (10, 7),
    (10, 12),
    (11, 8),
    (11, 14),
    (12, 10),
    (12, 13),
    (12, 15),
    (13, 12),
    (13, 14),
    (14, 11),
    (14, 13),
    (15, 12),
];

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

fn assert_same_unitary(a: &Circuit, b: &Circuit, what: &str) {
    let d = unitary(a, &[], &[]).unwrap().max_abs_diff_up_to_phase(&unitary(b, &[], &[]).unwrap());
    assert!(d < TOL, "{what}: unitaries differ by {d:.3e}");
}

fn assert_basis_only(c: &Circuit, what: &str) {
    if let Err(e) = check(c, &all_to_all(c.n_qubits().max(1))) {
        panic!("{what}: {e}");
    }
}

/// The state of `routed` must be the state of `original` with virtual qubit `v` on physical qubit
/// `layout[v]` and every other physical qubit |0>.
fn assert_routed_state(original: &Circuit, routed: &Circuit, layout: &[usize], what: &str) {
    let psi = Statevector::from_circuit(original, &[], &[]).unwrap();
    let got = Statevector::from_circuit(routed, &[], &[]).unwrap();
    let mut expected = vec![C64::new(0.0, 0.0); 1 << routed.n_qubits()];
    for (i, &a) in psi.amplitudes().iter().enumerate() {
        let j: usize = layout.iter().enumerate().map(|(v, &p)| (i >> v & 1) << p).sum();
        expected[j] = a;
    }
    let d = got.distance_up_to_phase(&Statevector::from_amplitudes(expected).unwrap());
    assert!(d < TOL, "{what}: routed state differs by {d:.3e}");
}

/// A layer of `ry` (so that no gate acts on |0...0> only), then the draws.
fn build(n: usize, draws: &[GateDraw], mix: &Mix) -> Circuit {
    let mut c = Circuit::new(n);
    for q in 0..n {
        c.ry(0.3 + 0.5 * q as f64, q).unwrap();
    }
    generate::append(&mut c, draws, mix);
    c
}

/// Everything the generator makes, up to two controls, angles in `[-7, 7)`.
fn translation_mix() -> Mix {
    Mix { max_controls: 2, ..Mix::all() }.scaled(7.0)
}

/// Gates for routing tests: one- and two-qubit gates plus `ccx`, `cx` twice as likely.
fn routing_mix() -> Mix {
    use StandardGate as G;
    Mix::only(&[G::H, G::Rx, G::Ry, G::T, G::Cx, G::Cx, G::Cz, G::Swap, G::Rzz, G::Cry, G::Ccx, G::Iswap]).scaled(7.0)
}

fn routed_matches(target: &Target, n: usize, layout_seed: u64, draws: &[GateDraw]) {
    let c = build(n, draws, &routing_mix());
    let layout = distinct(target.n_qubits, n, layout_seed);
    let (routed, final_layout) = transpile(&c, target, &layout).unwrap();
    check(&routed, target).unwrap();
    assert_eq!(routed.n_qubits(), target.n_qubits);
    assert_routed_state(&c, &routed, &final_layout, &format!("layout {layout:?}"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_circuits_translate_exactly(n in 1usize..=4, draws in strategy::draws(1..14)) {
        let c = build(n, &draws, &translation_mix());
        let out = translate_to_basis(&c).unwrap();
        assert_basis_only(&out, "random circuit");
        assert_same_unitary(&c, &out, "random circuit");
        let merged = merge_single_qubit_runs(&out).unwrap();
        assert_basis_only(&merged, "merged");
        prop_assert!(merged.instructions().len() <= out.instructions().len());
        assert_same_unitary(&c, &merged, "merged");
    }

    #[test]
    fn random_circuits_route_on_manila(n in 3usize..=5, layout_seed in any::<u64>(), draws in strategy::draws(1..12)) {
        routed_matches(&Target::ibm(5, &MANILA).unwrap(), n, layout_seed, &draws);
    }

    #[test]
    fn random_circuits_route_on_a_directed_line(n in 3usize..=5, layout_seed in any::<u64>(), draws in strategy::draws(1..12)) {
        routed_matches(&directed_line(5), n, layout_seed, &draws);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn random_circuits_route_on_guadalupe(n in 3usize..=5, layout_seed in any::<u64>(), draws in strategy::draws(1..10)) {
        routed_matches(&Target::ibm(16, &GUADALUPE).unwrap(), n, layout_seed, &draws);
    }
}
