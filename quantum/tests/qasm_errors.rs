//! OpenQASM 2 reader: every error kind, with the line and column of the offending token.

use tinylab_quantum::qasm::{self, ParseErrorKind as K, QasmError};

const HEAD: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n";

/// Parses `src` and returns its error, checking that it displays as one line starting with its position.
fn error(src: &str) -> (usize, usize, K) {
    let e = match qasm::parse(src) {
        Ok(_) => panic!("no error for:\n{src}"),
        Err(e) => e,
    };
    let text = e.to_string();
    assert!(!text.contains('\n'), "multi-line message: {text}");
    let QasmError::Parse { file: None, line, column, kind } = e else { panic!("not a parse error: {e:?}") };
    assert!(text.starts_with(&format!("line {line}, column {column}: ")), "{text}");
    (line, column, kind)
}

/// The error of `body` after the header and the include (so `body` starts on line 3).
fn body_error(body: &str) -> (usize, usize, K) {
    error(&format!("{HEAD}{body}"))
}

fn s(x: &str) -> String {
    x.to_string()
}

#[test]
fn qasm_messages_read_as_one_line() {
    let e = qasm::parse(&format!("{HEAD}qreg q[1];\n  foo q[0];\n")).unwrap_err();
    assert_eq!(e.to_string(), "line 4, column 3: unknown gate `foo`");
    let e = qasm::parse(&format!("{HEAD}qreg q[1]\nh q[0];")).unwrap_err();
    assert_eq!(e.to_string(), "line 4, column 1: missing `;` before `h`");
    let e = qasm::parse(&format!("{HEAD}gate g(t) a {{ rx(1/t) a; }}\nqreg q[1];\n\ng(0) q[0];")).unwrap_err();
    assert_eq!(e.to_string(), "line 6, column 1: in gate `g`: division by zero");
    let e = qasm::parse(&format!("{HEAD}qreg q[5];\ncx q[0], q[5];")).unwrap_err();
    assert_eq!(e.to_string(), "line 4, column 12: index 5 out of range for register `q` of size 5");
    assert_eq!(e.position(), Some((4, 12)));
}

#[test]
fn qasm_header_errors() {
    assert_eq!(error("qreg q[1];"), (1, 1, K::MissingHeader { found: s("`qreg`") }));
    assert_eq!(error("// nothing\n"), (2, 1, K::MissingHeader { found: s("end of file") }));
    assert_eq!(error("OPENQASM 3.0;"), (1, 10, K::UnsupportedVersion(s("3.0"))));
    assert_eq!(error("OPENQASM 2.0\nqreg q[1];"), (2, 1, K::MissingSemicolon { found: s("`qreg`") }));
    assert_eq!(error("OPENQASM x;"), (1, 10, K::Expected { expected: s("a version number"), found: s("`x`") }));
    assert_eq!(
        body_error("OPENQASM 2.0;"),
        (3, 1, K::Expected { expected: s("a statement (the header comes once, first)"), found: s("`OPENQASM`") })
    );
}

#[test]
fn qasm_lexical_errors() {
    assert_eq!(body_error("qreg q[1];\n  /* oops\n\n"), (4, 3, K::UnterminatedComment));
    assert_eq!(error("OPENQASM 2.0;\ninclude \"qelib1.inc;\n"), (2, 9, K::UnterminatedString));
    assert_eq!(body_error("qreg q[1];\nx q[0]; $"), (4, 9, K::UnexpectedChar('$')));
    let bad = |text: &str, reason: &'static str| K::BadNumber { text: s(text), reason };
    assert_eq!(body_error("qreg q[1];\nrx(1.2.3) q[0];"), (4, 4, bad("1.2.3", "malformed number")));
    assert_eq!(body_error("qreg q[1];\nrx(2pi) q[0];"), (4, 4, bad("2pi", "malformed number")));
    assert_eq!(body_error("qreg q[1];\nrx(1e+) q[0];"), (4, 4, bad("1e+", "the exponent has no digits")));
    assert_eq!(body_error("qreg q[1];\nrx(1e400) q[0];"), (4, 4, bad("1e400", "out of the range of a double")));
    assert_eq!(
        body_error("qreg q[1];\nx q[99999999999999999999999];"),
        (4, 5, bad("99999999999999999999999", "integer too large"))
    );
}

#[test]
fn qasm_unsupported_constructs() {
    assert_eq!(body_error("qreg q[1];\nopaque g a;"), (4, 1, K::Unsupported(s("opaque"))));
    assert_eq!(body_error("qreg q[1]; creg c[1];\n  if (c == 1) x q[0];"), (4, 3, K::Unsupported(s("if"))));
    assert_eq!(body_error("qreg q[1];\nh q[0]; reset q[0];"), (4, 9, K::Unsupported(s("reset"))));
}

#[test]
fn qasm_gate_call_errors() {
    assert_eq!(body_error("qreg q[1];\n  foo q[0];"), (4, 3, K::UnknownGate(s("foo"))));
    // Standard gates need the include; the registers are not gates.
    assert_eq!(error("OPENQASM 2.0;\nqreg q[1];\nh q[0];"), (3, 1, K::UnknownGate(s("h"))));
    assert_eq!(body_error("qreg q[1];\nq q[0];"), (4, 1, K::UnknownGate(s("q"))));
    assert_eq!(body_error("qreg q[2];\ncx q[0];"), (4, 1, K::QubitCount { gate: s("cx"), expected: 2, got: 1 }));
    assert_eq!(body_error("qreg q[3];\nh q[0], q[1];"), (4, 1, K::QubitCount { gate: s("h"), expected: 1, got: 2 }));
    assert_eq!(body_error("qreg q[1];\nrx q[0];"), (4, 1, K::ParamCount { gate: s("rx"), expected: 1, got: 0 }));
    assert_eq!(body_error("qreg q[1];\nh(0.5) q[0];"), (4, 1, K::ParamCount { gate: s("h"), expected: 0, got: 1 }));
    assert_eq!(body_error("qreg q[5];\nx q[5];"), (4, 5, K::IndexOutOfRange { register: s("q"), index: 5, size: 5 }));
    assert_eq!(body_error("qreg q[1];\nx r[0];"), (4, 3, K::UndeclaredRegister(s("r"))));
    assert_eq!(
        body_error("qreg q[1]; creg c[1];\nx c[0];"),
        (4, 3, K::WrongRegisterKind { name: s("c"), expected: "quantum" })
    );
    assert_eq!(body_error("qreg q[2];\ncx q[0],q[0];"), (4, 9, K::RepeatedQubit { gate: s("cx"), qubit: s("q[0]") }));
    // Broadcasting a register against one of its own qubits repeats it.
    assert_eq!(body_error("qreg q[2];\ncx q[1], q;"), (4, 10, K::RepeatedQubit { gate: s("cx"), qubit: s("q[1]") }));
    assert_eq!(
        body_error("qreg a[2]; qreg b[3];\ncx a, b;"),
        (4, 7, K::RegisterSizeMismatch { first: s("a"), first_size: 2, second: s("b"), second_size: 3 })
    );
    assert_eq!(body_error("qreg q[1];\nh q[0]\nx q[0];"), (5, 1, K::MissingSemicolon { found: s("`x`") }));
    assert_eq!(body_error("qreg q[1];\nrx(0.5"), (4, 7, K::UnexpectedEof { expected: s("`,` or `)`") }));
    assert_eq!(body_error("qreg q[1];\nx q[0]"), (4, 7, K::UnexpectedEof { expected: s("`;`") }));
    assert_eq!(body_error("qreg q[1];\n5;"), (4, 1, K::Expected { expected: s("a statement"), found: s("`5`") }));
}

#[test]
fn qasm_declaration_errors() {
    assert_eq!(body_error("qreg q[1];\nqreg q[2];"), (4, 6, K::Duplicate(s("q"))));
    assert_eq!(body_error("qreg q[1];\ncreg q[2];"), (4, 6, K::Duplicate(s("q"))));
    // Redefining a gate of qelib1.inc, or including it after defining one of its names.
    assert_eq!(body_error("gate h a { x a; }"), (3, 6, K::Duplicate(s("h"))));
    assert_eq!(body_error("qreg h[1];"), (3, 6, K::Duplicate(s("h"))));
    assert_eq!(
        error("OPENQASM 2.0;\ngate h a { U(0, 0, 0) a; }\ninclude \"qelib1.inc\";"),
        (3, 9, K::Duplicate(s("h")))
    );
    assert_eq!(body_error("gate g a { x a; }\ngate g a { y a; }"), (4, 6, K::Duplicate(s("g"))));
    assert_eq!(body_error("gate g(t, t) a { }"), (3, 11, K::Duplicate(s("t"))));
    assert_eq!(body_error("gate g(t) a, t { }"), (3, 14, K::Duplicate(s("t"))));
    assert_eq!(body_error("gate g a, a { }"), (3, 11, K::Duplicate(s("a"))));
    assert_eq!(body_error("qreg Q[1];"), (3, 6, K::InvalidIdentifier(s("Q"))));
    assert_eq!(body_error("gate pi a { }"), (3, 6, K::InvalidIdentifier(s("pi"))));
    assert_eq!(body_error("gate U a { }"), (3, 6, K::InvalidIdentifier(s("U"))));
    assert_eq!(body_error("qreg 5;"), (3, 6, K::Expected { expected: s("a register name"), found: s("`5`") }));
    assert_eq!(body_error("qreg q[2.0];"), (3, 8, K::Expected { expected: s("an integer size"), found: s("`2.0`") }));
    assert_eq!(body_error("qreg q[1048577];"), (3, 8, K::LimitExceeded(s("more than 1048576 qubits"))));
}

#[test]
fn qasm_gate_definition_errors() {
    assert_eq!(body_error("gate g a { x b; }"), (3, 14, K::UnknownGateArgument { gate: s("g"), name: s("b") }));
    assert_eq!(body_error("gate g a { g a; }"), (3, 12, K::UnknownGate(s("g"))));
    assert_eq!(body_error("gate g a, b { cx a, a; }"), (3, 21, K::RepeatedQubit { gate: s("cx"), qubit: s("a") }));
    assert_eq!(body_error("gate g a { cx a; }"), (3, 12, K::QubitCount { gate: s("cx"), expected: 2, got: 1 }));
    assert_eq!(
        body_error("gate g(t) a { rx(t, t) a; }"),
        (3, 15, K::ParamCount { gate: s("rx"), expected: 1, got: 2 })
    );
    assert_eq!(body_error("gate g(t) a { rx(s) a; }"), (3, 18, K::UnknownIdentifier(s("s"))));
    assert_eq!(
        body_error("gate g a { x a[0]; }"),
        (
            3,
            15,
            K::Expected {
                expected: s("`,` or `;` (qubits in a gate body are argument names, without index)"),
                found: s("`[`")
            }
        )
    );
    assert_eq!(
        body_error("gate g a { measure a -> a; }"),
        (3, 12, K::Expected { expected: s("a gate call, `barrier` or `}`"), found: s("`measure`") })
    );
    assert_eq!(
        body_error("gate g a { x a;"),
        (3, 16, K::UnexpectedEof { expected: s("a gate call, `barrier` or `}`") })
    );
    assert_eq!(body_error("gate g { }"), (3, 8, K::Expected { expected: s("a qubit argument name"), found: s("`{`") }));
    // A division by zero among constants is found at the definition, with parameters at the call.
    assert_eq!(body_error("gate g a { rx(2 / (1 - 1)) a; }"), (3, 17, K::DivisionByZero));
    assert_eq!(
        body_error("gate g(t) a { rx(ln(t)) a; }\nqreg q[1];\ng(-1) q[0];"),
        (5, 1, K::InGate { gate: s("g"), kind: Box::new(K::NonFinite(s("ln"))) })
    );
    // Through nested calls, the error is reported at the outermost call.
    assert_eq!(
        body_error("gate f(t) a { rx(1 / t) a; }\ngate g(t) a { f(t - 1) a; }\nqreg q[1];\nx q[0]; g(1) q[0];"),
        (6, 9, K::InGate { gate: s("g"), kind: Box::new(K::DivisionByZero) })
    );
}

#[test]
fn qasm_expression_errors() {
    assert_eq!(body_error("qreg q[1];\nrx(1/0) q[0];"), (4, 5, K::DivisionByZero));
    assert_eq!(body_error("qreg q[1];\nrx(ln(0)) q[0];"), (4, 4, K::NonFinite(s("ln"))));
    assert_eq!(body_error("qreg q[1];\nrx(sqrt(-1)) q[0];"), (4, 4, K::NonFinite(s("sqrt"))));
    assert_eq!(body_error("qreg q[1];\nrx(exp(1000)) q[0];"), (4, 4, K::NonFinite(s("exp"))));
    assert_eq!(body_error("qreg q[1];\nrx(1e300 * 1e300) q[0];"), (4, 10, K::NonFinite(s("*"))));
    assert_eq!(body_error("qreg q[1];\nrx(0 ^ -1) q[0];"), (4, 6, K::NonFinite(s("^"))));
    assert_eq!(body_error("qreg q[1];\nrx(theta) q[0];"), (4, 4, K::UnknownIdentifier(s("theta"))));
    assert_eq!(body_error("qreg q[1];\nrx(sin 1) q[0];"), (4, 8, K::Expected { expected: s("`(`"), found: s("`1`") }));
    assert_eq!(
        body_error("qreg q[1];\nrx(1 +) q[0];"),
        (4, 7, K::Expected { expected: s("an expression"), found: s("`)`") })
    );
    let deep = format!("qreg q[1];\nrx({}1{}) q[0];", "(".repeat(300), ")".repeat(300));
    assert_eq!(body_error(&deep), (4, 204, K::LimitExceeded(s("expression nested deeper than 200"))));
    let long_sum = format!("gate g(t) a {{ rx(t{}) a; }}", " + t".repeat(300));
    assert!(matches!(body_error(&long_sum).2, K::LimitExceeded(_)));
    // Long constant sums fold and are fine.
    let c = qasm::parse(&format!("{HEAD}qreg q[1];\nrx(0{}) q[0];", " + 1".repeat(5000))).unwrap();
    assert_eq!(c.instructions().len(), 1);
}

#[test]
fn qasm_measurement_errors() {
    assert_eq!(body_error("qreg q[2]; creg c[2];\nmeasure q -> c[0];"), (4, 14, K::MixedMeasure));
    assert_eq!(body_error("qreg q[2]; creg c[2];\nmeasure q[0] -> c;"), (4, 17, K::MixedMeasure));
    assert_eq!(
        body_error("qreg q[2]; creg c[3];\nmeasure q -> c;"),
        (4, 14, K::RegisterSizeMismatch { first: s("q"), first_size: 2, second: s("c"), second_size: 3 })
    );
    assert_eq!(
        body_error("qreg q[2]; creg c[2];\nmeasure q[0] -> q[1];"),
        (4, 17, K::WrongRegisterKind { name: s("q"), expected: "classical" })
    );
    assert_eq!(
        body_error("qreg q[2]; creg c[2];\nmeasure q[0] c[1];"),
        (4, 14, K::Expected { expected: s("`->`"), found: s("`c`") })
    );
    assert_eq!(
        body_error("qreg q[2]; creg c[2];\nmeasure q[0] -> c[2];"),
        (4, 19, K::IndexOutOfRange { register: s("c"), index: 2, size: 2 })
    );
}

#[test]
fn qasm_include_and_size_limits() {
    assert_eq!(
        body_error("include \"other.inc\";"),
        (
            3,
            9,
            K::Include {
                path: s("other.inc"),
                message: s(
                    "only `qelib1.inc` can be included when reading from a string; read from a file to include others"
                )
            }
        )
    );
    // Each level doubles the gate count: 2^24 instructions exceed the limit.
    let mut src = String::from("gate g0 a { x a; x a; }\n");
    for i in 1..24 {
        src.push_str(&format!("gate g{i} a {{ g{0} a; g{0} a; }}\n", i - 1));
    }
    src.push_str("qreg q[1];\ng23 q[0];");
    let (line, column, kind) = body_error(&src);
    assert_eq!((line, column), (28, 1));
    assert!(matches!(kind, K::LimitExceeded(_)), "{kind:?}");
    // Barriers count their qubits.
    let (line, column, kind) = body_error(&format!("qreg q[1000000];\n{}", "barrier q;\n".repeat(9)));
    assert_eq!((line, column), (12, 9));
    assert!(matches!(kind, K::LimitExceeded(_)), "{kind:?}");
}
