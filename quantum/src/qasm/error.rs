//! Errors of the OpenQASM 2 reader and writer.

use thiserror::Error;

/// What went wrong at one place of an OpenQASM source (the position is in [`QasmError::Parse`]).
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A character that starts no token.
    #[error("unexpected character `{}`", .0.escape_debug())]
    UnexpectedChar(char),
    /// A `/*` comment without its `*/`.
    #[error("unterminated block comment")]
    UnterminatedComment,
    /// A `"` string without its closing `"` on the same line.
    #[error("unterminated string")]
    UnterminatedString,
    /// A malformed or out-of-range number literal.
    #[error("bad number `{text}`: {reason}")]
    BadNumber {
        /// The literal as written.
        text: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The source does not start with `OPENQASM 2.0;`.
    #[error("expected the header `OPENQASM 2.0;`, found {found}")]
    MissingHeader {
        /// The token found instead.
        found: String,
    },
    /// An `OPENQASM` version other than 2.0.
    #[error("unsupported OpenQASM version `{0}` (only 2.0 is supported)")]
    UnsupportedVersion(String),
    /// A construct of OpenQASM 2 that this reader does not support (`opaque`, `if`, `reset`).
    #[error("unsupported construct `{0}`")]
    Unsupported(String),
    /// A statement that is not finished by `;`.
    #[error("missing `;` before {found}")]
    MissingSemicolon {
        /// The token found where `;` should be.
        found: String,
    },
    /// Some other token than the grammar allows here.
    #[error("expected {expected}, found {found}")]
    Expected {
        /// What would have been accepted.
        expected: String,
        /// The token found.
        found: String,
    },
    /// The source ends in the middle of a statement or block.
    #[error("unexpected end of file, expected {expected}")]
    UnexpectedEof {
        /// What would have been accepted.
        expected: String,
    },
    /// A name that may not be declared: not starting with a lowercase letter, or a reserved word.
    #[error("invalid name `{0}` (names start with a lowercase letter and may not be reserved words)")]
    InvalidIdentifier(String),
    /// A register, gate, gate parameter or gate argument declared twice.
    #[error("`{0}` is already defined")]
    Duplicate(String),
    /// A call of a gate that is not defined (standard gates need `include "qelib1.inc";`).
    #[error("unknown gate `{0}`")]
    UnknownGate(String),
    /// A gate called with the wrong number of qubit arguments.
    #[error("gate `{gate}` takes {expected} qubit argument{}, got {got}", plural(*.expected))]
    QubitCount {
        /// The gate.
        gate: String,
        /// How many it takes.
        expected: usize,
        /// How many it was given.
        got: usize,
    },
    /// A gate called with the wrong number of parameters.
    #[error("gate `{gate}` takes {expected} parameter{}, got {got}", plural(*.expected))]
    ParamCount {
        /// The gate.
        gate: String,
        /// How many it takes.
        expected: usize,
        /// How many it was given.
        got: usize,
    },
    /// A use of a register that was not declared.
    #[error("undeclared register `{0}`")]
    UndeclaredRegister(String),
    /// A classical register where a quantum one is needed, or the other way round.
    #[error("`{name}` is not a {expected} register")]
    WrongRegisterKind {
        /// The register.
        name: String,
        /// "quantum" or "classical".
        expected: &'static str,
    },
    /// `reg[i]` with `i` not below the register's size.
    #[error("index {index} out of range for register `{register}` of size {size}")]
    IndexOutOfRange {
        /// The register.
        register: String,
        /// The index used.
        index: usize,
        /// The register's size.
        size: usize,
    },
    /// A name in a gate body that is not one of the gate's qubit arguments.
    #[error("`{name}` is not a qubit argument of gate `{gate}`")]
    UnknownGateArgument {
        /// The gate being defined.
        gate: String,
        /// The unknown name.
        name: String,
    },
    /// One qubit given twice to one gate application.
    #[error("gate `{gate}` is given qubit `{qubit}` more than once")]
    RepeatedQubit {
        /// The gate.
        gate: String,
        /// The repeated qubit, as written (`q[0]`, or an argument name in a gate body).
        qubit: String,
    },
    /// Two registers of different sizes in one broadcast gate application or measurement.
    #[error("registers `{first}` (size {first_size}) and `{second}` (size {second_size}) differ in size")]
    RegisterSizeMismatch {
        /// The first register.
        first: String,
        /// Its size.
        first_size: usize,
        /// The register that differs.
        second: String,
        /// Its size.
        second_size: usize,
    },
    /// `measure` of a register into a single bit or of a single qubit into a register.
    #[error("measure needs a qubit and a bit, or a quantum and a classical register of one size")]
    MixedMeasure,
    /// A name in an expression that is neither `pi`, a function nor a parameter of the enclosing gate.
    #[error("unknown identifier `{0}` in expression")]
    UnknownIdentifier(String),
    /// `x / 0`.
    #[error("division by zero")]
    DivisionByZero,
    /// An operation whose result is infinite or not a number (`ln(0)`, `sqrt(-1)`, overflow).
    #[error("`{0}` gives a value that is not finite")]
    NonFinite(String),
    /// An `include` that cannot be resolved or read.
    #[error("cannot include `{path}`: {message}")]
    Include {
        /// The file, as resolved.
        path: String,
        /// Why.
        message: String,
    },
    /// Input beyond the reader's size limits (expression nesting, register sizes, expanded gates).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The circuit builder refused an instruction (not expected once the checks above passed).
    #[error("invalid instruction: {0}")]
    Invalid(String),
    /// An error while expanding a call of a user gate, reported at the call.
    #[error("in gate `{gate}`: {kind}")]
    InGate {
        /// The user gate whose body failed.
        gate: String,
        /// What failed.
        kind: Box<ParseErrorKind>,
    },
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// An error of [`crate::qasm::parse`], [`crate::qasm::parse_file`] or [`crate::qasm::to_qasm`].
///
/// Each displays as one line; errors in the source start with the position of the offending token,
/// e.g. ``line 3, column 7: unknown gate `foo` ``.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum QasmError {
    /// A problem at a place of the source (lines and columns count from 1; columns count characters).
    #[error("{}line {line}, column {column}: {kind}", file_prefix(file))]
    Parse {
        /// The included file the problem is in; `None` for the main source.
        file: Option<String>,
        /// Line, from 1.
        line: usize,
        /// Column in characters, from 1.
        column: usize,
        /// What is wrong.
        kind: ParseErrorKind,
    },
    /// The main file could not be read.
    #[error("cannot read `{path}`: {message}")]
    Io {
        /// The file.
        path: String,
        /// The system's reason.
        message: String,
    },
    /// Export of a gate whose angle depends on a trainable parameter or an input feature.
    #[error(
        "cannot export instruction {instruction} (`{gate}`): its angle {angle_index} depends on {source_name}; \
         bind the circuit's parameters first"
    )]
    UnboundAngle {
        /// Index of the instruction in the circuit.
        instruction: usize,
        /// The gate's name.
        gate: String,
        /// Which of its angles (from 0).
        angle_index: usize,
        /// What it depends on: ``parameter `theta` `` or `input feature 2`.
        source_name: String,
    },
    /// Export of a gate with an infinite or NaN angle.
    #[error("cannot export instruction {instruction} (`{gate}`): its angle {angle_index} is not finite")]
    NonFiniteAngle {
        /// Index of the instruction in the circuit.
        instruction: usize,
        /// The gate's name.
        gate: String,
        /// Which of its angles (from 0).
        angle_index: usize,
    },
    /// Export of a register whose name OpenQASM 2 cannot use or that clashes with another name.
    #[error("cannot export register `{name}`: {reason}")]
    InvalidRegisterName {
        /// The register's name.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Export of a gate this writer cannot express (e.g. a controlled gate without qubits).
    #[error("cannot export instruction {instruction} (`{gate}`): {reason}")]
    UnsupportedGate {
        /// Index of the instruction in the circuit.
        instruction: usize,
        /// The gate's name.
        gate: String,
        /// Why.
        reason: String,
    },
}

fn file_prefix(file: &Option<String>) -> String {
    match file {
        Some(f) => format!("{f}: "),
        None => String::new(),
    }
}

impl QasmError {
    /// The (line, column) of a source error, both from 1.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            QasmError::Parse { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }

    /// What is wrong, for a source error.
    pub fn kind(&self) -> Option<&ParseErrorKind> {
        match self {
            QasmError::Parse { kind, .. } => Some(kind),
            _ => None,
        }
    }
}
