//! OpenQASM 2 writer: exact round trips of standard-gate circuits, and unitary / controlled gates that
//! read back as the same operator (up to a global phase) and prepare the same states.

use std::f64::consts::PI;
use std::sync::Arc;
use tinylab_quantum::circuit::{Instruction, Register};
use tinylab_quantum::qasm::{self, QasmError};
use tinylab_quantum::statevector;
use tinylab_quantum::{Angle, C64, Circuit, Gate, Matrix, StandardGate, Statevector};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Angles of every magnitude, signed zeros and integers included.
    fn angle(&mut self) -> f64 {
        let u = 2.0 * self.uniform() - 1.0;
        match self.below(8) {
            0 => u * 1e-300,
            1 => u * 1e15,
            2 => -0.0,
            3 => (self.below(7) as f64) - 3.0,
            4 => PI * u,
            5 => u * 1e-7,
            _ => 10.0 * u,
        }
    }
    /// `k` distinct values below `n`, in random order.
    fn distinct(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }
    fn complex(&mut self) -> C64 {
        C64::new(2.0 * self.uniform() - 1.0, 2.0 * self.uniform() - 1.0)
    }
    /// A random unitary on `k` qubits (Gram-Schmidt on random columns).
    fn unitary(&mut self, k: usize) -> Matrix {
        let d = 1 << k;
        let mut cols: Vec<Vec<C64>> = Vec::new();
        while cols.len() < d {
            let mut v: Vec<C64> = (0..d).map(|_| self.complex()).collect();
            for c in &cols {
                let dot: C64 = c.iter().zip(&v).map(|(a, b)| a.conj() * b).sum();
                for (x, y) in v.iter_mut().zip(c) {
                    *x -= dot * y;
                }
            }
            let norm = v.iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
            if norm > 1e-3 {
                cols.push(v.into_iter().map(|z| z / norm).collect());
            }
        }
        Matrix::from_rows((0..d * d).map(|i| cols[i % d][i / d]).collect()).unwrap()
    }
}

fn round_trip(c: &Circuit) -> (String, Circuit) {
    let text = qasm::to_qasm(c).unwrap_or_else(|e| panic!("export failed: {e}"));
    let back = qasm::parse(&text).unwrap_or_else(|e| panic!("re-import failed: {e}\n{text}"));
    dump(&text);
    (text, back)
}

/// With `TINYLAB_QASM_DUMP=dir`, exported programs are written there (for checks with Qiskit).
fn dump(text: &str) {
    if let Ok(dir) = std::env::var("TINYLAB_QASM_DUMP") {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(format!("{dir}/export_{}_{n}.qasm", std::process::id()), text);
    }
}

/// `max |a - e^{iφ} b|` with the best phase `φ`.
fn distance_up_to_phase(a: &Matrix, b: &Matrix) -> f64 {
    let overlap: C64 = a.data().iter().zip(b.data()).map(|(x, y)| x * y.conj()).sum();
    assert!(overlap.norm() > 1e-6, "orthogonal operators");
    let phase = overlap / overlap.norm();
    a.data().iter().zip(b.data()).map(|(x, y)| (x - y * phase).norm()).fold(0.0, f64::max)
}

/// Exports `c`, reads it back, and checks the same unitary (up to global phase) and the same state.
fn assert_same_operator(c: &Circuit, what: &str) {
    let (text, back) = round_trip(c);
    assert_eq!(back.n_qubits(), c.n_qubits());
    let want = statevector::unitary(c, &[], &[]).unwrap();
    let got = statevector::unitary(&back, &[], &[]).unwrap();
    let d = distance_up_to_phase(&got, &want);
    assert!(d < 1e-9, "{what}: operators differ by {d}\n{text}");
    let s1 = Statevector::from_circuit(c, &[], &[]).unwrap();
    let s2 = Statevector::from_circuit(&back, &[], &[]).unwrap();
    assert!(s1.distance_up_to_phase(&s2) < 1e-9, "{what}: states differ");
}

/// The same state from |0…0> (for circuits too wide for a full operator).
fn assert_same_state(c: &Circuit, back: &Circuit, what: &str) {
    let s1 = Statevector::from_circuit(c, &[], &[]).unwrap();
    let s2 = Statevector::from_circuit(back, &[], &[]).unwrap();
    let d = s1.distance_up_to_phase(&s2);
    assert!(d < 1e-9, "{what}: states differ by {d}");
}

/// A random circuit of standard gates, barriers and measurements on several registers.
fn random_standard_circuit(rng: &mut Rng, steps: usize) -> Circuit {
    let qregs = vec![
        Register { name: "a".into(), size: 3 },
        Register { name: "b".into(), size: 1 },
        Register { name: "anc_2".into(), size: 2 },
    ];
    let cregs = vec![Register { name: "m".into(), size: 2 }, Register { name: "flags".into(), size: 3 }];
    let mut c = Circuit::with_registers(qregs, cregs);
    let n = c.n_qubits();
    for _ in 0..steps {
        match rng.below(10) {
            0 => {
                let k = 1 + rng.below(n);
                let qubits = rng.distinct(n, k);
                c.barrier(&qubits).unwrap();
            }
            1 => {
                let (q, b) = (rng.below(n), rng.below(c.n_clbits()));
                c.measure(q, b).unwrap();
            }
            _ => {
                let g = StandardGate::ALL[rng.below(StandardGate::ALL.len())];
                let qubits = rng.distinct(n, g.n_qubits());
                let angles: Vec<Angle> = (0..g.n_params()).map(|_| Angle::Const(rng.angle())).collect();
                c.append(Gate::Standard(g), &qubits, &angles).unwrap();
            }
        }
    }
    c
}

#[test]
fn qasm_standard_circuits_round_trip_exactly() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..20 {
        let c = random_standard_circuit(&mut rng, 150);
        let (text, back) = round_trip(&c);
        assert_eq!(back, c, "round {round}:\n{text}");
    }
    // Every standard gate at least once, with its state.
    let mut c = Circuit::new(5);
    for &g in StandardGate::ALL {
        let qubits = rng.distinct(5, g.n_qubits());
        let angles: Vec<Angle> = (0..g.n_params()).map(|_| Angle::Const(rng.angle())).collect();
        c.append(Gate::Standard(g), &qubits, &angles).unwrap();
        c.h(rng.below(5)).unwrap();
    }
    let (_, back) = round_trip(&c);
    assert_eq!(back, c);
    assert_same_operator(&c, "all standard gates");
}

#[test]
fn qasm_exported_text_layout() {
    let mut c = Circuit::with_registers(
        vec![Register { name: "q".into(), size: 2 }],
        vec![Register { name: "c".into(), size: 2 }],
    );
    c.h(0).unwrap().rx(0.5, 1).unwrap().ryy(1e-20, 0, 1).unwrap().iswap(1, 0).unwrap();
    c.barrier(&[]).unwrap().measure(0, 0).unwrap().measure(1, 1).unwrap();
    let text = qasm::to_qasm(&c).unwrap();
    let want = "OPENQASM 2.0;\n\
                include \"qelib1.inc\";\n\
                gate ryy(theta) a, b { rx(pi/2) a; rx(pi/2) b; cx a, b; rz(theta) b; cx a, b; rx(-pi/2) a; rx(-pi/2) b; }\n\
                gate iswap a, b { s a; s b; h a; cx a, b; cx b, a; h b; }\n\
                qreg q[2];\n\
                creg c[2];\n\
                h q[0];\n\
                rx(0.5) q[1];\n\
                ryy(1.0e-20) q[0], q[1];\n\
                iswap q[1], q[0];\n\
                barrier q[0], q[1];\n\
                measure q[0] -> c[0];\n\
                measure q[1] -> c[1];\n";
    assert_eq!(text, want);
    assert_eq!(qasm::parse(&text).unwrap(), c);
}

#[test]
fn qasm_the_extra_gate_definitions_are_exact() {
    // ryy, rzx, iswap as defined in the output equal the standard matrices including global phase:
    // check through a control, which turns a global phase into a relative one.
    for (g, angle) in [(StandardGate::Ryy, vec![0.83]), (StandardGate::Rzx, vec![-1.9]), (StandardGate::Iswap, vec![])]
    {
        let text = qasm::to_qasm(&{
            let mut c = Circuit::new(2);
            c.append(Gate::Standard(g), &[0, 1], &angle.iter().map(|&a| Angle::Const(a)).collect::<Vec<_>>()).unwrap();
            c
        })
        .unwrap();
        let def = text.lines().find(|l| l.starts_with("gate ")).unwrap();
        // Rename the definition so that it is expanded rather than recognised, then compare exactly.
        let renamed = def.replacen(&format!("gate {} ", g.name()), "gate mine ", 1).replacen(
            &format!("gate {}(", g.name()),
            "gate mine(",
            1,
        );
        let params = if angle.is_empty() { String::new() } else { format!("({})", angle[0]) };
        let src = format!("OPENQASM 2.0;\ninclude \"qelib1.inc\";\n{renamed}\nqreg q[2];\nmine{params} q[0], q[1];\n");
        let expanded = qasm::parse(&src).unwrap();
        assert!(expanded.instructions().len() > 1);
        let want = {
            let mut c = Circuit::new(2);
            c.append(Gate::Standard(g), &[0, 1], &angle.iter().map(|&a| Angle::Const(a)).collect::<Vec<_>>()).unwrap();
            statevector::unitary(&c, &[], &[]).unwrap()
        };
        let got = statevector::unitary(&expanded, &[], &[]).unwrap();
        assert!(got.max_abs_diff(&want) < 1e-12, "{}: {}", g.name(), got.max_abs_diff(&want));
    }
}

#[test]
fn qasm_unitaries_round_trip_up_to_phase() {
    let mut rng = Rng(12345);
    let mut specials = vec![Matrix::identity(4)];
    for m in [
        // swap, cx (control on qubit 0), a permutation with phases, a diagonal.
        vec![(0, 0, 1.0), (1, 2, 1.0), (2, 1, 1.0), (3, 3, 1.0)],
        vec![(0, 0, 1.0), (1, 3, 1.0), (2, 2, 1.0), (3, 1, 1.0)],
        vec![(0, 3, 1.0), (1, 0, -1.0), (2, 1, 1.0), (3, 2, -1.0)],
    ] {
        let mut x = Matrix::identity(4).scale(C64::new(0.0, 0.0));
        for (r, col, v) in m {
            x.set(r, col, C64::new(v, 0.0));
        }
        specials.push(x);
    }
    specials.push(Matrix::diagonal(&[
        C64::from_polar(1.0, 0.3),
        C64::from_polar(1.0, -1.2),
        C64::from_polar(1.0, 2.5),
        C64::from_polar(1.0, 0.1),
    ]));
    let randoms: Vec<Matrix> = (0..30).map(|_| rng.unitary(2)).collect();
    for (i, m) in specials.into_iter().chain(randoms).enumerate() {
        let mut c = Circuit::new(3);
        c.h(0).unwrap().h(1).unwrap().h(2).unwrap().cx(0, 2).unwrap();
        c.unitary(m, &[2, 0]).unwrap();
        let u1 = rng.unitary(1);
        c.unitary(u1, &[1]).unwrap();
        assert_same_operator(&c, &format!("unitary {i}"));
    }
}

fn controlled(base: Gate, k: usize) -> Gate {
    Gate::controlled(base, k).unwrap()
}

/// A circuit applying `gate` on a random permutation of its qubits, between layers of `u3`.
fn around(rng: &mut Rng, gate: Gate, angles: &[f64]) -> Circuit {
    let n = gate.n_qubits();
    let mut c = Circuit::new(n);
    for q in 0..n {
        c.u3(rng.angle(), rng.angle(), rng.angle(), q).unwrap();
    }
    let qubits = rng.distinct(n, n);
    c.append(gate, &qubits, &angles.iter().map(|&a| Angle::Const(a)).collect::<Vec<_>>()).unwrap();
    for q in 0..n {
        c.u3(rng.angle(), rng.angle(), rng.angle(), q).unwrap();
    }
    c
}

#[test]
fn qasm_controlled_standard_gates_keep_relative_phases() {
    let mut rng = Rng(777);
    for &g in StandardGate::ALL {
        let max_k = if g.n_qubits() >= 3 { 1 } else { 2 };
        for k in 1..=max_k {
            let angles: Vec<f64> = (0..g.n_params()).map(|_| PI * (2.0 * rng.uniform() - 1.0)).collect();
            let c = around(&mut rng, controlled(Gate::Standard(g), k), &angles);
            assert_same_operator(&c, &format!("c{k}-{}", g.name()));
        }
    }
    // Named forms are used where qelib1.inc has them.
    for (gate, name) in [
        (controlled(Gate::Standard(StandardGate::X), 4), "c4x"),
        (controlled(Gate::Standard(StandardGate::Cx), 2), "c3x"),
        (controlled(Gate::Standard(StandardGate::Sx), 3), "c3sqrtx"),
        (controlled(Gate::Standard(StandardGate::U), 1), "cu3"),
        (controlled(Gate::Standard(StandardGate::Swap), 1), "cswap"),
    ] {
        let n = gate.n_qubits();
        let mut c = Circuit::new(n);
        let angles = vec![Angle::Const(0.5); gate.n_params()];
        c.append(gate, &(0..n).collect::<Vec<_>>(), &angles).unwrap();
        let text = qasm::to_qasm(&c).unwrap();
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}("))),
            "{text}"
        );
        assert!(!text.contains("\ngate "), "{text}");
    }
}

#[test]
fn qasm_controlled_unitaries_and_many_controls() {
    let mut rng = Rng(4242);
    for k in 1..=5 {
        let m = rng.unitary(1);
        let c = around(&mut rng, controlled(Gate::unitary(m).unwrap(), k), &[]);
        assert_same_operator(&c, &format!("c{k}-unitary1q"));
    }
    for k in 1..=3 {
        let m = rng.unitary(2);
        let c = around(&mut rng, controlled(Gate::unitary(m).unwrap(), k), &[]);
        assert_same_operator(&c, &format!("c{k}-unitary2q"));
    }
    // Many controls: the inner multi-controlled X gates borrow idle qubits, so the expansion stays
    // quadratic in the number of controls.
    for k in 5..=12 {
        let c = around(&mut rng, controlled(Gate::Standard(StandardGate::X), k), &[]);
        let (text, back) = round_trip(&c);
        assert!(text.contains(&format!("gate c{k}x ")), "{text}");
        let size = back.instructions().len() - 2 * (k + 1);
        assert!(size <= 20 * k * k, "c{k}x expands to {size} gates");
        if k <= 7 {
            assert_same_operator(&c, &format!("c{k}x"));
        } else {
            assert_same_state(&c, &back, &format!("c{k}x"));
        }
    }
    for k in [6, 9, 11] {
        let base = Gate::unitary(rng.unitary(1)).unwrap();
        let c = around(&mut rng, controlled(base, k), &[]);
        let (_, back) = round_trip(&c);
        assert_same_state(&c, &back, &format!("c{k}-unitary1q"));
    }
    // A nested controlled gate built by hand, and a controlled global phase (a controlled `cu` with γ).
    let nested = Gate::Controlled {
        base: Box::new(Gate::Controlled { base: Box::new(Gate::Unitary(Arc::new(rng.unitary(1)))), n_controls: 1 }),
        n_controls: 1,
    };
    let c = around(&mut rng, nested, &[]);
    assert_same_operator(&c, "nested controls");
    let c = around(&mut rng, controlled(Gate::Standard(StandardGate::Cu), 2), &[0.4, -1.1, 2.3, 0.9]);
    assert_same_operator(&c, "c2-cu");
    // A 0-qubit unitary is refused when appended, controlled or not (the kernels have no 0-target op).
    let scalar = Gate::Unitary(Arc::new(Matrix::from_rows(vec![C64::from_polar(1.0, 0.7)]).unwrap()));
    let mut c = Circuit::new(3);
    assert!(c.append(scalar.clone(), &[], &[]).is_err());
    assert!(c.append(controlled(scalar, 2), &[0, 1], &[]).is_err());
    let phase_only = Matrix::diagonal(&[C64::from_polar(1.0, 0.7), C64::from_polar(1.0, 0.7)]);
    let c = around(&mut rng, controlled(Gate::unitary(phase_only).unwrap(), 3), &[]);
    assert_same_operator(&c, "c3-global-phase");
}

#[test]
fn qasm_repeated_gates_share_one_definition() {
    let mut rng = Rng(99);
    let m = rng.unitary(2);
    let mut c = Circuit::new(4);
    for (a, b) in [(0, 1), (2, 3), (1, 2)] {
        c.unitary(m.clone(), &[a, b]).unwrap();
        c.append(controlled(Gate::Standard(StandardGate::Ry), 2), &[a, b, (b + 1) % 4], &[Angle::Const(0.3)]).unwrap();
    }
    let text = qasm::to_qasm(&c).unwrap();
    assert_eq!(text.matches("\ngate unitary ").count(), 1, "{text}");
    assert_eq!(text.matches("\ngate c2_ry ").count(), 1, "{text}");
    assert_same_operator(&c, "shared definitions");
}

#[test]
fn qasm_export_errors() {
    let mut c = Circuit::new(2);
    let theta = c.param("theta").unwrap();
    c.h(0).unwrap().rx(theta.scaled(2.0), 1).unwrap();
    let e = qasm::to_qasm(&c).unwrap_err();
    assert_eq!(
        e,
        QasmError::UnboundAngle {
            instruction: 1,
            gate: "rx".into(),
            angle_index: 0,
            source_name: "trainable parameter `theta`".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "cannot export instruction 1 (`rx`): its angle 0 depends on trainable parameter `theta`; bind the \
         circuit's parameters first"
    );
    let mut c = Circuit::new(1);
    c.u3(0.1, Angle::input(2), 0.3, 0).unwrap();
    assert!(matches!(
        qasm::to_qasm(&c).unwrap_err(),
        QasmError::UnboundAngle { angle_index: 1, ref source_name, .. } if source_name == "input feature 2"
    ));

    let reg = |name: &str| Register { name: name.into(), size: 1 };
    for (qregs, cregs, bad) in [
        (vec![reg("Q")], vec![], "Q"),
        (vec![reg("q")], vec![reg("h")], "h"),
        (vec![reg("pi")], vec![], "pi"),
        (vec![reg("q")], vec![reg("q")], "q"),
        (vec![reg("a-b")], vec![], "a-b"),
    ] {
        let e = qasm::to_qasm(&Circuit::with_registers(qregs, cregs)).unwrap_err();
        assert!(matches!(&e, QasmError::InvalidRegisterName { name, .. } if name == bad), "{e}");
    }

    let mut c = Circuit::new(66);
    c.mcx(&(0..65).collect::<Vec<_>>(), 65).unwrap();
    assert!(matches!(qasm::to_qasm(&c).unwrap_err(), QasmError::UnsupportedGate { instruction: 0, .. }));
}

#[test]
fn qasm_generated_names_avoid_registers() {
    // A register named like an extra gate pushes the definition to another name.
    let mut c = Circuit::with_registers(vec![Register { name: "ryy".into(), size: 2 }], vec![]);
    c.ryy(0.5, 0, 1).unwrap();
    let (text, back) = round_trip(&c);
    assert!(text.contains("gate ryy_1(theta)"), "{text}");
    assert!(back.instructions().iter().all(|i| matches!(i, Instruction::Gate(_))));
    assert_same_operator(&c, "renamed ryy");
}
