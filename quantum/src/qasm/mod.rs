//! OpenQASM 2.0: reading programs into [`Circuit`]s and writing circuits back.
//!
//! # Reading
//!
//! [`parse`] and [`parse_file`] accept the language of the OpenQASM 2.0 paper (Cross et al. 2017) as
//! Qiskit reads it, except `opaque`, `if` and `reset`, which are refused as unsupported:
//!
//! - the header `OPENQASM 2.0;` first; comments `//` and `/* */`;
//! - `include "qelib1.inc";` is built in (never read from disk) and declares Qiskit's `qelib1.inc`
//!   gates (every [`StandardGate`] with [`StandardGate::in_qelib1`], and `u0`, read as `id`); other
//!   includes are read relative to the including file by [`parse_file`] and are an error for [`parse`];
//! - after the include, `ryy`, `rzx` and `iswap` are built in too, until the program defines a gate of
//!   that name (a definition always wins; one with the standard unitary keeps the standard gate, see
//!   below); redefining a `qelib1.inc` gate is an error (as in Qiskit), and so is any other second
//!   declaration of a name (registers and gates share one namespace; gate parameters and arguments are
//!   local);
//! - the built-ins `U(θ,φ,λ)` and `CX` (read as `u3` and `cx`);
//! - `qreg`/`creg` declarations, any number: the circuit's qubits (bits) are the registers concatenated
//!   in declaration order, and the registers are kept ([`Circuit::qregs`]);
//! - user gates `gate name(params) args { body }`, expanded at each call into standard gates with the
//!   parameter values substituted; a definition whose name and shape are those of a standard gate and
//!   whose unitary equals it up to a global phase (as the ones [`to_qasm`] and Qiskit write for `ryy`,
//!   `rzx`, `iswap`) imports as that standard gate;
//! - expressions with reals (`1e-3`, `.5`), integers, `pi`, `+ - * /`, right-associative `^` (binding
//!   tighter than unary minus), parentheses and `sin cos tan exp ln sqrt`, evaluated in `f64`;
//! - broadcasting: `h q;` applies `h` to each qubit of `q`, `cx a, b;` pairs equal-size registers, a
//!   single qubit beside registers is used in every application; `barrier` on registers and qubits;
//!   `measure q[i] -> c[j];` and `measure q -> c;`.
//!
//! It is more lenient than Qiskit in a few places: `ryy`, `rzx`, `iswap` are built in, including
//! `qelib1.inc` twice is harmless, integers may have leading zeros, and repeated qubits of a `barrier`
//! are merged.
//!
//! Every problem is a [`QasmError::Parse`] with the line and column (from 1) of the offending token and
//! a [`ParseErrorKind`]; nothing panics, whatever the input. Inputs are bounded by [`MAX_INSTRUCTIONS`],
//! [`MAX_BITS`], [`MAX_INCLUDE_DEPTH`] and an expression nesting limit of 200.
//!
//! # Writing
//!
//! [`to_qasm`] writes OpenQASM 2.0 that this reader and Qiskit accept; see its documentation.
//!
//! ```
//! use tinylab_quantum::qasm;
//! let c = qasm::parse("OPENQASM 2.0; include \"qelib1.inc\"; qreg q[2]; h q[0]; cx q[0], q[1];")?;
//! assert_eq!(c.n_qubits(), 2);
//! let text = qasm::to_qasm(&c)?;
//! assert_eq!(qasm::parse(&text)?, c);
//! # Ok::<(), qasm::QasmError>(())
//! ```
//!
//! [`StandardGate`]: crate::gate::StandardGate
//! [`StandardGate::in_qelib1`]: crate::gate::StandardGate::in_qelib1
//! [`Circuit::qregs`]: crate::circuit::Circuit::qregs

mod error;
mod export;
mod expr;
mod lexer;
mod parser;

pub use error::{ParseErrorKind, QasmError};

use crate::circuit::Circuit;
use std::path::Path;

/// Most instructions a program may expand to (user gates and broadcasts included; a barrier counts
/// as many instructions as it has qubits).
pub const MAX_INSTRUCTIONS: usize = 1 << 23;

/// Most qubits, and separately most classical bits, a program may declare.
pub const MAX_BITS: usize = 1 << 20;

/// Deepest nesting of `include`s of files other than `qelib1.inc`.
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// Reads an OpenQASM 2.0 program from a string. Only `qelib1.inc` can be included (it is built in).
pub fn parse(source: &str) -> Result<Circuit, QasmError> {
    parser::Parser::parse_program(source, None)
}

/// Reads an OpenQASM 2.0 program from a file; includes are resolved relative to the including file.
/// An unreadable file is a [`QasmError::Io`] naming the path.
pub fn parse_file(path: &Path) -> Result<Circuit, QasmError> {
    let io_error = |message: String| QasmError::Io { path: path.display().to_string(), message };
    let bytes = std::fs::read(path).map_err(|e| io_error(e.to_string()))?;
    let source = String::from_utf8(bytes)
        .map_err(|e| io_error(format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    parser::Parser::parse_program(&source, Some(dir))
}

/// Writes `circuit` as an OpenQASM 2.0 program: the header, `include "qelib1.inc";`, the gate
/// definitions it needs, the circuit's registers, then every instruction.
///
/// - Angles must be constants ([`crate::circuit::Angle::Const`]); an angle that depends on a trainable
///   parameter or an input feature is a [`QasmError::UnboundAngle`] naming it (bind values first).
///   Angles are written with the shortest digits that read back to the same `f64`, so re-reading the
///   text gives the same instructions bit for bit (`pi` is not recovered).
/// - Standard gates of `qelib1.inc` are written by name; `ryy`, `rzx` and `iswap` with a definition
///   of the same name (exact, global phase included), which [`parse`] reads back as the standard gate.
/// - A one-qubit [`Gate::Unitary`](crate::gate::Gate::Unitary) becomes `u3` (its global phase is
///   irrelevant at the top level); a two-qubit one a definition from six Givens rotations (singly
///   controlled `cu` gates, `x`, `p`, `cp`), equal to the matrix up to global phase.
/// - A [`Gate::Controlled`](crate::gate::Gate::Controlled) is the matching `qelib1.inc` gate when there
///   is one (`cx`, `ccx`, `c3x`, `c4x`, `cy`, `cz`, `ch`, `crx`, `cry`, `crz`, `cp`, `cu1`, `cu3`, `csx`,
///   `c3sqrtx`, `cswap`); otherwise a definition that is exact including the base gate's global phase
///   (which becomes a relative phase), built with `cu(θ,φ,λ,γ)` and, for several controls, Barenco et
///   al.'s Lemma 7.9 recursion, whose inner multi-controlled X gates borrow an idle qubit (Lemmas 7.2
///   and 7.3), so `k` controls expand to `O(k²)` gates; more than 64 controls are refused.
/// - Register names must be OpenQASM names that are not `qelib1.inc` gate names
///   ([`QasmError::InvalidRegisterName`]); empty barriers are skipped.
pub fn to_qasm(circuit: &Circuit) -> Result<String, QasmError> {
    export::write(circuit)
}

#[cfg(test)]
mod tests;
