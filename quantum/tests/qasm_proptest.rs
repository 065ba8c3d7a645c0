//! OpenQASM 2 reader and writer under random input: the reader never panics (random bytes, token soups,
//! mutated real programs), and random standard-gate circuits survive export and import unchanged.

use proptest::prelude::*;
use tinylab_quantum::Circuit;
use tinylab_quantum::circuit::Register;
use tinylab_quantum::qasm::{self, QasmError};
use tinylab_testkit::dice::distinct;
use tinylab_testkit::{Mix, generate, strategy};

/// Parses and checks that any error is a one-line message with a position.
fn parse_quietly(src: &str) {
    match qasm::parse(src) {
        Ok(c) => {
            // Whatever was read can be written back and read again.
            if let Ok(text) = qasm::to_qasm(&c) {
                assert!(qasm::parse(&text).is_ok(), "re-import failed:\n{text}");
            }
        }
        Err(e) => {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text}");
            if let QasmError::Parse { line, column, .. } = e {
                assert!(line >= 1 && column >= 1, "{text}");
            }
        }
    }
}

const TOKENS: &[&str] = &[
    "OPENQASM 2.0;",
    "include \"qelib1.inc\";",
    "include \"x.inc\";",
    "qreg",
    "creg",
    "q",
    "c",
    "r",
    "[",
    "]",
    "[0]",
    "[1]",
    "[2]",
    "[99999999999999999999]",
    "q[0]",
    "q[1]",
    "c[0]",
    "(",
    ")",
    "{",
    "}",
    ",",
    ";",
    "->",
    "-",
    "+",
    "*",
    "/",
    "^",
    "==",
    "pi",
    "sin",
    "ln",
    "sqrt",
    "0",
    "1",
    "2",
    "0.5",
    ".5",
    "1e-3",
    "1e400",
    "1.2.3",
    "gate",
    "g",
    "a",
    "b",
    "t",
    "h",
    "x",
    "cx",
    "ccx",
    "u3",
    "rx",
    "cu",
    "ryy",
    "iswap",
    "U",
    "CX",
    "u0",
    "measure",
    "barrier",
    "reset",
    "opaque",
    "if",
    "\"",
    "/*",
    "*/",
    "//",
    "\n",
    "é",
    "$",
];

fn token_soup() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(0..TOKENS.len(), 0..60)).prop_map(|(header, picks)| {
        let mut s = if header {
            String::from("OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[3]; creg c[3];\n")
        } else {
            String::new()
        };
        for p in picks {
            s.push_str(TOKENS[p]);
            s.push(' ');
        }
        s
    })
}

/// Statements that are each valid alone, so that soups of them reach deep into the reader.
const STATEMENTS: &[&str] = &[
    "h q;",
    "cx q[0], q[1];",
    "cx q, r;",
    "ccx q[0], q[1], q[2];",
    "rx(pi/3) q[2];",
    "u3(1, 2, 3) q;",
    "g(0.5) q[0], q[1];",
    "g(0) q[1], q[0];",
    "f q[2];",
    "measure q -> c;",
    "measure q[1] -> c[0];",
    "barrier q, r[0];",
    "gate g(t) a, b { cx a, b; rz(1/t) b; }",
    "gate f a { g(1) a, a; }",
    "gate f a { h a; }",
    "gate k(t) a { rx(t^t^t) a; }",
    "k(100) q[0];",
    "qreg r[2];",
    "qreg r[3];",
    "creg d[3];",
    "ryy(1) q[0], q[2];",
    "gate ryy(t) a, b { rzz(t) a, b; }",
    "iswap q[1], q[2];",
    "reset q;",
];

fn statement_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(0..STATEMENTS.len(), 0..25).prop_map(|picks| {
        let mut s = String::from("OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[3];\ncreg c[3];\n");
        for p in picks {
            s.push_str(STATEMENTS[p]);
            s.push('\n');
        }
        s
    })
}

fn fixture_sources() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/circuits");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "qasm"))
                .filter_map(|p| std::fs::read_to_string(p).ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Standard-gate circuits of the one generator (angles up to 1e6) on two quantum registers, with
/// measurements and barriers between the gates (chosen from each gate's draw).
fn random_circuit() -> impl Strategy<Value = Circuit> {
    strategy::draws(0..40).prop_map(|draws| {
        let mut c = Circuit::with_registers(
            vec![Register { name: "q".into(), size: 4 }, Register { name: "w".into(), size: 2 }],
            vec![Register { name: "c".into(), size: 6 }],
        );
        let mix = Mix::standard().scaled(1e6);
        for draw in &draws {
            generate::append(&mut c, std::slice::from_ref(draw), &mix);
            let qubits = distinct(6, 2, draw.matrix);
            if draw.matrix % 7 == 0 {
                c.measure(qubits[0], (draw.matrix % 6) as usize).unwrap();
            }
            if draw.matrix % 11 == 0 {
                c.barrier(&qubits).unwrap();
            }
        }
        c
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn qasm_random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), header in any::<bool>()) {
        let text = String::from_utf8_lossy(&bytes);
        let src = if header { format!("OPENQASM 2.0;\ninclude \"qelib1.inc\";\n{text}") } else { text.into_owned() };
        parse_quietly(&src);
    }

    #[test]
    fn qasm_token_soups_never_panic(src in token_soup()) {
        parse_quietly(&src);
    }

    #[test]
    fn qasm_statement_soups_never_panic(src in statement_soup()) {
        parse_quietly(&src);
    }

    #[test]
    fn qasm_mutated_fixtures_never_panic(which in any::<usize>(), edits in prop::collection::vec((any::<usize>(), 0u8..3, any::<u8>()), 1..6)) {
        let sources = fixture_sources();
        prop_assume!(!sources.is_empty());
        let mut bytes = sources[which % sources.len()].clone().into_bytes();
        for (at, op, b) in edits {
            let at = at % (bytes.len() + 1);
            match op {
                0 if at < bytes.len() => { bytes.remove(at); }
                1 => bytes.insert(at, b"();,[]{}-^/*\"q0.e"[b as usize % 17]),
                _ if at < bytes.len() => bytes[at] = b,
                _ => {}
            }
        }
        parse_quietly(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn qasm_standard_circuits_round_trip(c in random_circuit()) {
        let text = qasm::to_qasm(&c).unwrap();
        let back = qasm::parse(&text).unwrap();
        prop_assert_eq!(back, c);
    }
}
