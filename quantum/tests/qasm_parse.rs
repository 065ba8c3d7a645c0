//! OpenQASM 2 reader: each feature, and every fixture circuit against the Qiskit probabilities.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use tinylab_quantum::circuit::{GateApplication, Instruction, Register};
use tinylab_quantum::qasm::{self, QasmError};
use tinylab_quantum::{Angle, Circuit, Gate, StandardGate, Statevector};

const HEAD: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n";

fn parse(body: &str) -> Circuit {
    let src = format!("{HEAD}{body}");
    match qasm::parse(&src) {
        Ok(c) => c,
        Err(e) => panic!("{e}\n{src}"),
    }
}

fn gates(c: &Circuit) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    c.instructions()
        .iter()
        .filter_map(|i| match i {
            Instruction::Gate(GateApplication { gate, qubits, angles }) => {
                Some((gate.name(), qubits.clone(), angles.iter().map(|a| a.resolve(&[], &[])).collect()))
            }
            _ => None,
        })
        .collect()
}

fn g(name: &str, qubits: &[usize], angles: &[f64]) -> (String, Vec<usize>, Vec<f64>) {
    (name.to_string(), qubits.to_vec(), angles.to_vec())
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + b.abs())
}

#[test]
fn qasm_header_comments_and_registers() {
    let c = qasm::parse(
        "// leading comment\nOPENQASM 2.0; /* block\n comment */ include \"qelib1.inc\";\n\
         qreg a[2]; creg m[1]; qreg b[3]; creg n[2];\nx b[0]; // trailing\n",
    )
    .unwrap();
    assert_eq!(c.n_qubits(), 5);
    assert_eq!(c.n_clbits(), 3);
    assert_eq!(c.qregs(), &[Register { name: "a".into(), size: 2 }, Register { name: "b".into(), size: 3 }]);
    assert_eq!(c.cregs(), &[Register { name: "m".into(), size: 1 }, Register { name: "n".into(), size: 2 }]);
    assert_eq!(gates(&c), vec![g("x", &[2], &[])]);
    // Version "2" is accepted like Qiskit does; no include needed for U and CX.
    let c = qasm::parse("OPENQASM 2; qreg q[2]; U(1, 2, 3) q[0]; CX q[0], q[1];").unwrap();
    assert_eq!(gates(&c), vec![g("u3", &[0], &[1.0, 2.0, 3.0]), g("cx", &[0, 1], &[])]);
}

#[test]
fn qasm_every_standard_gate_by_name() {
    for &sg in StandardGate::ALL {
        let qubits: Vec<String> = (0..sg.n_qubits()).map(|i| format!("q[{i}]")).collect();
        let params: Vec<String> = (0..sg.n_params()).map(|i| format!("{}", 0.25 * (i + 1) as f64)).collect();
        let params = if params.is_empty() { String::new() } else { format!("({})", params.join(", ")) };
        let c = parse(&format!("qreg q[5];\n{}{} {};\n", sg.name(), params, qubits.join(", ")));
        let want: Vec<f64> = (0..sg.n_params()).map(|i| 0.25 * (i + 1) as f64).collect();
        assert_eq!(gates(&c), vec![g(sg.name(), &(0..sg.n_qubits()).collect::<Vec<_>>(), &want)], "{}", sg.name());
        assert!(matches!(&c.instructions()[0], Instruction::Gate(a) if a.gate == Gate::Standard(sg)));
    }
    // u0 of qelib1.inc is an idle.
    assert_eq!(gates(&parse("qreg q[1]; u0(3) q[0];")), vec![g("id", &[0], &[])]);
}

#[test]
fn qasm_expressions() {
    let c = parse(
        "qreg q[1];\n\
         rx(-0.5^2) q[0]; rx(2^3^0.5) q[0]; rx(1/2/4) q[0]; rx(1-2-3) q[0]; rx(-pi^2/4) q[0];\n\
         rx(2*-0.5) q[0]; rx((1+2)^-1) q[0]; rx(-(0.3)^3) q[0]; rx(1e-3) q[0]; rx(.5) q[0]; rx(3.) q[0];\n\
         rx(sin(1) + cos(2) * tan(0.5)) q[0]; rx(exp(1) - ln(2) / sqrt(3)) q[0]; rx(+1) q[0]; rx(-(-(2))) q[0];\n\
         rx(2.5E+1) q[0];\n",
    );
    let want = [
        -0.25,
        2f64.powf(3f64.powf(0.5)),
        0.125,
        -4.0,
        -(PI * PI) / 4.0,
        -1.0,
        1.0 / 3.0,
        -0.027,
        1e-3,
        0.5,
        3.0,
        1f64.sin() + 2f64.cos() * 0.5f64.tan(),
        1f64.exp() - 2f64.ln() / 3f64.sqrt(),
        1.0,
        2.0,
        25.0,
    ];
    let got: Vec<f64> = gates(&c).iter().map(|x| x.2[0]).collect();
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert!(close(*a, *b), "expression {i}: {a} vs {b}");
    }
}

#[test]
fn qasm_user_gates_expand_with_parameters() {
    let c = parse(
        "gate rot(a, b) t { rz(a) t; ry(b * 2) t; }\n\
         gate ent(th) x, y { cx x, y; rot(th, -th / 2) y; barrier x, y; }\n\
         gate nothing a { }\n\
         qreg q[3];\nent(0.5) q[2], q[0]; nothing q[1]; rot(pi, 1) q[1];\n",
    );
    assert_eq!(
        gates(&c),
        vec![
            g("cx", &[2, 0], &[]),
            g("rz", &[0], &[0.5]),
            g("ry", &[0], &[-0.5]),
            g("rz", &[1], &[PI]),
            g("ry", &[1], &[2.0])
        ]
    );
    assert!(c.instructions().contains(&Instruction::Barrier(vec![2, 0])));
}

#[test]
fn qasm_user_definition_wins_over_extra_builtins() {
    // Without a definition, ryy/rzx/iswap are built in after the include.
    let c = parse("qreg q[2]; ryy(0.5) q[0], q[1]; rzx(0.25) q[1], q[0]; iswap q[0], q[1];");
    assert_eq!(gates(&c), vec![g("ryy", &[0, 1], &[0.5]), g("rzx", &[1, 0], &[0.25]), g("iswap", &[0, 1], &[])]);
    // A definition with the standard unitary is read as the standard gate ...
    let c = parse(
        "gate ryy(theta) a, b { rx(pi/2) a; rx(pi/2) b; cx a, b; rz(theta) b; cx a, b; rx(-pi/2) a; rx(-pi/2) b; }\n\
         qreg q[2]; ryy(0.5) q[1], q[0];",
    );
    assert_eq!(gates(&c), vec![g("ryy", &[1, 0], &[0.5])]);
    // ... a different one is expanded.
    let c = parse("gate iswap a, b { cx a, b; }\nqreg q[2]; iswap q[1], q[0];");
    assert_eq!(gates(&c), vec![g("cx", &[1, 0], &[])]);
    // Without qelib1, a program may define standard names itself.
    let c = qasm::parse(
        "OPENQASM 2.0; gate h a { U(pi/2, 0, pi) a; } gate g a { U(1, 0, 0) a; } qreg q[1]; h q[0]; g q[0];",
    )
    .unwrap();
    assert_eq!(gates(&c), vec![g("h", &[0], &[]), g("u3", &[0], &[1.0, 0.0, 0.0])]);
}

#[test]
fn qasm_broadcasting() {
    let c = parse("qreg a[2]; qreg b[2]; qreg r[1];\nh a; cx a, b; cx r[0], b; ccx a, r[0], b;\n");
    assert_eq!(
        gates(&c),
        vec![
            g("h", &[0], &[]),
            g("h", &[1], &[]),
            g("cx", &[0, 2], &[]),
            g("cx", &[1, 3], &[]),
            g("cx", &[4, 2], &[]),
            g("cx", &[4, 3], &[]),
            g("ccx", &[0, 4, 2], &[]),
            g("ccx", &[1, 4, 3], &[]),
        ]
    );
    // A user gate broadcasts too.
    let c = parse("gate pair x, y { cx x, y; }\nqreg a[2]; qreg b[2];\npair a, b;\n");
    assert_eq!(gates(&c), vec![g("cx", &[0, 2], &[]), g("cx", &[1, 3], &[])]);
}

#[test]
fn qasm_barriers_and_measurements() {
    let c = parse(
        "qreg a[2]; qreg b[1]; creg c[2]; creg d[1];\nbarrier a, b[0]; barrier b, a[1], b;\nmeasure a -> c; measure b[0] -> d[0];\n",
    );
    assert_eq!(
        c.instructions(),
        &[
            Instruction::Barrier(vec![0, 1, 2]),
            Instruction::Barrier(vec![2, 1]),
            Instruction::Measure { qubit: 0, clbit: 0 },
            Instruction::Measure { qubit: 1, clbit: 1 },
            Instruction::Measure { qubit: 2, clbit: 2 },
        ]
    );
}

#[test]
fn qasm_includes_resolve_relative_to_the_file() {
    let dir = std::env::temp_dir().join(format!("tinylab_qasm_inc_{}", std::process::id()));
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("lib/defs.inc"), "include \"more.inc\";\ngate twice a { x a; x a; }\n").unwrap();
    std::fs::write(dir.join("lib/more.inc"), "gate flip a { x a; }\n").unwrap();
    std::fs::write(dir.join("bad.inc"), "gate broken a { y a }\n").unwrap();
    let main = dir.join("main.qasm");
    std::fs::write(&main, format!("{HEAD}include \"lib/defs.inc\";\nqreg q[1];\ntwice q[0]; flip q[0];\n")).unwrap();
    let c = qasm::parse_file(&main).unwrap();
    assert_eq!(gates(&c), vec![g("x", &[0], &[]), g("x", &[0], &[]), g("x", &[0], &[])]);

    // Errors inside an included file name it, with its own line and column.
    std::fs::write(&main, format!("{HEAD}include \"bad.inc\";\n")).unwrap();
    let e = qasm::parse_file(&main).unwrap_err();
    let label = dir.join("bad.inc").display().to_string();
    assert_eq!(e.to_string(), format!("{label}: line 1, column 21: missing `;` before `}}`"));

    // A missing include names the path; a missing main file too.
    std::fs::write(&main, format!("{HEAD}\ninclude \"nope.inc\";\n")).unwrap();
    let e = qasm::parse_file(&main).unwrap_err();
    assert_eq!(e.position(), Some((4, 9)));
    assert!(e.to_string().contains("nope.inc"), "{e}");
    let missing = dir.join("missing.qasm");
    let e = qasm::parse_file(&missing).unwrap_err();
    assert!(matches!(&e, QasmError::Io { path, .. } if path == &missing.display().to_string()), "{e}");

    // Strings cannot include other files.
    let e = qasm::parse(&format!("{HEAD}include \"lib/defs.inc\";")).unwrap_err();
    assert_eq!(e.position(), Some((3, 9)));

    // Includes that include themselves stop at the depth limit.
    std::fs::write(dir.join("self.inc"), "include \"self.inc\";\n").unwrap();
    std::fs::write(&main, format!("{HEAD}include \"self.inc\";\n")).unwrap();
    let e = qasm::parse_file(&main).unwrap_err();
    assert!(e.to_string().contains("deeper than"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/circuits")
}

/// The `"probabilities": [...]` array of a fixture's JSON.
fn fixture_probabilities(json: &str) -> Vec<f64> {
    let start = json.find("\"probabilities\"").expect("probabilities key");
    let open = start + json[start..].find('[').expect("[");
    let close = open + json[open..].find(']').expect("]");
    json[open + 1..close].split(',').map(|s| s.trim().parse::<f64>().expect("number")).collect()
}

#[test]
fn qasm_fixtures_match_qiskit_probabilities() {
    let mut n = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "qasm") {
            continue;
        }
        let circuit = qasm::parse_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json = std::fs::read_to_string(path.with_extension("json")).unwrap();
        let want = fixture_probabilities(&json);
        let state = Statevector::from_circuit(&circuit, &[], &[]).unwrap();
        let got = state.probabilities();
        assert_eq!(got.len(), want.len(), "{}", path.display());
        let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-10, "{}: probabilities differ by {worst}", path.display());
        n += 1;
    }
    assert!(n >= 50, "only {n} fixtures found");
}

#[test]
fn qasm_recognised_fixture_gates_stay_standard() {
    let c = qasm::parse_file(&fixtures().join("random_deep_n8.qasm")).unwrap();
    let names: std::collections::HashSet<String> = gates(&c).into_iter().map(|x| x.0).collect();
    for n in ["ryy", "rzx", "iswap"] {
        assert!(names.contains(n), "{n} missing from {names:?}");
    }
    assert!(c.instructions().iter().all(|i| match i {
        Instruction::Gate(a) => a.angles.iter().all(Angle::is_const),
        _ => true,
    }));
}
