//! Gate identities: textbook equalities and every composite gate of `qelib1.inc` against the
//! decomposition that file gives it (compared as unitaries, up to a global phase).

use std::f64::consts::PI;
use tinylab_quantum::statevector::unitary;
use tinylab_quantum::{C64, Circuit, Matrix};

const TOL: f64 = 1e-12;

fn u(c: &Circuit) -> Matrix {
    unitary(c, &[], &[]).unwrap()
}

fn circuit(n: usize, build: impl FnOnce(&mut Circuit) -> tinylab_quantum::Result<()>) -> Circuit {
    let mut c = Circuit::new(n);
    build(&mut c).unwrap();
    c
}

fn assert_same(name: &str, a: &Circuit, b: &Circuit) {
    let d = u(a).max_abs_diff_up_to_phase(&u(b));
    assert!(d < TOL, "{name}: unitaries differ by {d:e}");
}

#[test]
fn hxh_is_z() {
    let hxh = circuit(1, |c| {
        c.h(0)?.x(0)?.h(0)?;
        Ok(())
    });
    let z = circuit(1, |c| {
        c.z(0)?;
        Ok(())
    });
    let d = u(&hxh).max_abs_diff(&u(&z));
    assert!(d < TOL, "HXH != Z exactly: {d:e}");
}

#[test]
fn cx_is_h_cz_h() {
    let cx = circuit(2, |c| {
        c.cx(0, 1)?;
        Ok(())
    });
    let hczh = circuit(2, |c| {
        c.h(1)?.cz(0, 1)?.h(1)?;
        Ok(())
    });
    assert!(u(&cx).max_abs_diff(&u(&hczh)) < TOL);
}

#[test]
fn swap_is_three_cx() {
    let swap = circuit(2, |c| {
        c.swap(0, 1)?;
        Ok(())
    });
    let cxs = circuit(2, |c| {
        c.cx(0, 1)?.cx(1, 0)?.cx(0, 1)?;
        Ok(())
    });
    assert!(u(&swap).max_abs_diff(&u(&cxs)) < TOL);
}

/// `cx` is the permutation |c,t> -> |c, t xor c> with the control first: check against the
/// matrix written out by hand in little-endian order (control q0, target q1).
#[test]
fn cx_matrix_is_littleendian() {
    let m = u(&circuit(2, |c| {
        c.cx(0, 1)?;
        Ok(())
    }));
    let perm = [0, 3, 2, 1];
    for (col, &row) in perm.iter().enumerate() {
        assert_eq!(m.get(row, col), C64::new(1.0, 0.0));
    }
}

/// Each composite gate of qelib1.inc against its definition there.
#[test]
fn qelib1_composites_match_their_definitions() {
    let (a, b, g) = (0.7317, -1.234, 2.5);
    let cases: Vec<(&str, Circuit, Circuit)> = vec![
        ("cz", circuit(2, |c| c.cz(0, 1).map(|_| ())), circuit(2, |c| c.h(1)?.cx(0, 1)?.h(1).map(|_| ()))),
        ("cy", circuit(2, |c| c.cy(0, 1).map(|_| ())), circuit(2, |c| c.sdg(1)?.cx(0, 1)?.s(1).map(|_| ()))),
        (
            "ch",
            circuit(2, |c| c.ch(0, 1).map(|_| ())),
            circuit(2, |c| {
                c.h(1)?.sdg(1)?.cx(0, 1)?.h(1)?.t(1)?.cx(0, 1)?.t(1)?.h(1)?.s(1)?.x(1)?.s(0)?;
                Ok(())
            }),
        ),
        (
            "ccx",
            circuit(3, |c| c.ccx(0, 1, 2).map(|_| ())),
            circuit(3, |c| {
                c.h(2)?.cx(1, 2)?.tdg(2)?.cx(0, 2)?.t(2)?.cx(1, 2)?.tdg(2)?.cx(0, 2)?.t(1)?.t(2)?.h(2)?;
                c.cx(0, 1)?.t(0)?.tdg(1)?.cx(0, 1)?;
                Ok(())
            }),
        ),
        (
            "cswap",
            circuit(3, |c| c.cswap(0, 1, 2).map(|_| ())),
            circuit(3, |c| c.cx(2, 1)?.ccx(0, 1, 2)?.cx(2, 1).map(|_| ())),
        ),
        (
            "crx",
            circuit(2, |c| c.crx(a, 0, 1).map(|_| ())),
            circuit(2, |c| {
                c.u1(PI / 2.0, 1)?.cx(0, 1)?.u3(-a / 2.0, 0.0, 0.0, 1)?.cx(0, 1)?.u3(a / 2.0, -PI / 2.0, 0.0, 1)?;
                Ok(())
            }),
        ),
        (
            "cry",
            circuit(2, |c| c.cry(a, 0, 1).map(|_| ())),
            circuit(2, |c| c.ry(a / 2.0, 1)?.cx(0, 1)?.ry(-a / 2.0, 1)?.cx(0, 1).map(|_| ())),
        ),
        (
            "crz",
            circuit(2, |c| c.crz(a, 0, 1).map(|_| ())),
            circuit(2, |c| c.rz(a / 2.0, 1)?.cx(0, 1)?.rz(-a / 2.0, 1)?.cx(0, 1).map(|_| ())),
        ),
        (
            "cu1/cp",
            circuit(2, |c| c.cp(a, 0, 1).map(|_| ())),
            circuit(2, |c| c.u1(a / 2.0, 0)?.cx(0, 1)?.u1(-a / 2.0, 1)?.cx(0, 1)?.u1(a / 2.0, 1).map(|_| ())),
        ),
        (
            "cu3",
            circuit(2, |c| c.cu3(a, b, g, 0, 1).map(|_| ())),
            circuit(2, |c| {
                c.u1((g + b) / 2.0, 0)?.u1((g - b) / 2.0, 1)?.cx(0, 1)?;
                c.u3(-a / 2.0, 0.0, -(b + g) / 2.0, 1)?.cx(0, 1)?.u3(a / 2.0, b, 0.0, 1)?;
                Ok(())
            }),
        ),
        ("csx", circuit(2, |c| c.csx(0, 1).map(|_| ())), circuit(2, |c| c.h(1)?.cp(PI / 2.0, 0, 1)?.h(1).map(|_| ()))),
        (
            "rxx",
            circuit(2, |c| c.rxx(a, 0, 1).map(|_| ())),
            circuit(2, |c| {
                c.u3(PI / 2.0, a, 0.0, 0)?.h(1)?.cx(0, 1)?.u1(-a, 1)?.cx(0, 1)?.h(1)?.u2(-PI, PI - a, 0)?;
                Ok(())
            }),
        ),
        ("rzz", circuit(2, |c| c.rzz(a, 0, 1).map(|_| ())), circuit(2, |c| c.cx(0, 1)?.u1(a, 1)?.cx(0, 1).map(|_| ()))),
        ("sx", circuit(1, |c| c.sx(0).map(|_| ())), circuit(1, |c| c.sdg(0)?.h(0)?.sdg(0).map(|_| ()))),
        ("sxdg", circuit(1, |c| c.sxdg(0).map(|_| ())), circuit(1, |c| c.s(0)?.h(0)?.s(0).map(|_| ()))),
        (
            "ryy",
            circuit(2, |c| c.ryy(a, 0, 1).map(|_| ())),
            circuit(2, |c| {
                c.rx(PI / 2.0, 0)?.rx(PI / 2.0, 1)?.cx(0, 1)?.rz(a, 1)?.cx(0, 1)?.rx(-PI / 2.0, 0)?.rx(-PI / 2.0, 1)?;
                Ok(())
            }),
        ),
        (
            "rzx",
            circuit(2, |c| c.rzx(a, 0, 1).map(|_| ())),
            circuit(2, |c| c.h(1)?.cx(0, 1)?.rz(a, 1)?.cx(0, 1)?.h(1).map(|_| ())),
        ),
        (
            "iswap",
            circuit(2, |c| c.iswap(0, 1).map(|_| ())),
            circuit(2, |c| c.s(0)?.s(1)?.h(0)?.cx(0, 1)?.cx(1, 0)?.h(1).map(|_| ())),
        ),
    ];
    for (name, gate, definition) in &cases {
        assert_same(name, gate, definition);
    }
}

/// Multi-controlled X on k controls flips the target exactly when every control is 1.
#[test]
fn multi_controlled_x_is_the_expected_permutation() {
    for k in 1..=5 {
        let n = k + 1;
        let controls: Vec<usize> = (1..n).collect();
        let m = u(&circuit(n, |c| c.mcx(&controls, 0).map(|_| ())));
        let all_controls = ((1usize << k) - 1) << 1;
        for col in 0..1usize << n {
            let row = if col & all_controls == all_controls { col ^ 1 } else { col };
            assert_eq!(m.get(row, col), C64::new(1.0, 0.0), "k = {k}, column {col}");
        }
    }
}
