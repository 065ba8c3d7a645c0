//! The OpenQASM 2 reader: statements, declarations, user gates and their expansion into standard gates.

use super::error::{ParseErrorKind, QasmError};
use super::expr::{Expr, ExprParser};
use super::lexer::{Lexer, Pos, Tok, Token};
use super::{MAX_BITS, MAX_INCLUDE_DEPTH, MAX_INSTRUCTIONS};
use crate::circuit::{Angle, Circuit, GateApplication, Instruction, Register};
use crate::gate::{Gate, StandardGate};
use crate::matrix::{C64, Matrix};
use crate::ops::{self, Op, OpMatrix};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Result of the reader's internal steps.
pub(crate) type PResult<T> = Result<T, QasmError>;

/// Words that cannot name a register, gate, parameter or argument.
pub(crate) const RESERVED: &[&str] = &[
    "OPENQASM", "include", "qreg", "creg", "gate", "opaque", "if", "reset", "measure", "barrier", "pi", "sin", "cos",
    "tan", "exp", "ln", "sqrt", "U", "CX",
];

/// True for a name OpenQASM 2 lets a program declare: `[a-z][A-Za-z0-9_]*`, not reserved.
pub(crate) fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&name)
}

/// The token stream of one source file, with the file's label for error messages.
pub(crate) struct Cursor<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token>,
    /// `None` for the main source, else the included file's path.
    file: Option<String>,
    /// Directory that relative includes are resolved against, when reading from a file.
    dir: Option<PathBuf>,
    /// Index of this file in the parser's file table.
    file_index: usize,
}

impl<'a> Cursor<'a> {
    fn new(src: &'a str, file: Option<String>, dir: Option<PathBuf>, file_index: usize) -> Self {
        Self { lexer: Lexer::new(src), peeked: None, file, dir, file_index }
    }

    /// An error at `pos` of this file.
    pub fn error(&self, pos: Pos, kind: ParseErrorKind) -> QasmError {
        QasmError::Parse { file: self.file.clone(), line: pos.line, column: pos.col, kind }
    }

    fn lex(&mut self) -> PResult<Token> {
        match self.lexer.next_token() {
            Ok(t) => Ok(t),
            Err((pos, kind)) => Err(self.error(pos, kind)),
        }
    }

    /// The next token, not consumed.
    pub fn peek(&mut self) -> PResult<&Token> {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.lex()?,
        };
        Ok(self.peeked.insert(t))
    }

    /// The next token, consumed.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> PResult<Token> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex(),
        }
    }

    /// Consumes the next token if it is `tok`.
    fn eat(&mut self, tok: &Tok) -> PResult<bool> {
        if &self.peek()?.tok == tok {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// The error for finding `t` where `expected` should be.
    fn unexpected(&self, t: &Token, expected: &str) -> QasmError {
        let kind = match t.tok {
            Tok::Eof => ParseErrorKind::UnexpectedEof { expected: expected.to_string() },
            ref other => ParseErrorKind::Expected { expected: expected.to_string(), found: other.describe() },
        };
        self.error(t.pos, kind)
    }

    /// Consumes `tok` or errors, naming it `expected`.
    pub fn expect(&mut self, tok: Tok, expected: &str) -> PResult<Token> {
        let t = self.next()?;
        if t.tok == tok { Ok(t) } else { Err(self.unexpected(&t, expected)) }
    }

    /// Consumes the `;` that ends a statement.
    fn expect_semi(&mut self) -> PResult<()> {
        let t = self.next()?;
        match t.tok {
            Tok::Semi => Ok(()),
            Tok::Eof => Err(self.error(t.pos, ParseErrorKind::UnexpectedEof { expected: "`;`".into() })),
            ref other => Err(self.error(t.pos, ParseErrorKind::MissingSemicolon { found: other.describe() })),
        }
    }

    /// A name being declared.
    fn decl_name(&mut self, what: &str) -> PResult<(String, Pos)> {
        let t = self.next()?;
        match t.tok {
            Tok::Ident(ref s) if is_valid_name(s) => Ok((s.clone(), t.pos)),
            Tok::Ident(ref s) => Err(self.error(t.pos, ParseErrorKind::InvalidIdentifier(s.clone()))),
            _ => Err(self.unexpected(&t, what)),
        }
    }

    /// A non-negative integer literal (a size or an index).
    fn integer(&mut self, what: &str) -> PResult<(usize, Pos)> {
        let t = self.next()?;
        match t.tok {
            Tok::Int(ref s) => match s.parse::<usize>() {
                Ok(v) => Ok((v, t.pos)),
                Err(_) => {
                    Err(self.error(t.pos, ParseErrorKind::BadNumber { text: s.clone(), reason: "integer too large" }))
                }
            },
            _ => Err(self.unexpected(&t, what)),
        }
    }
}

/// What a gate name refers to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Callee {
    /// A standard gate (also `U` = `u3` and `CX` = `cx`, and user definitions recognised as standard).
    Std(StandardGate),
    /// `u0(γ)` of `qelib1.inc`: an idle, imported as `id`.
    U0,
    /// A user gate, by index into the parser's definitions.
    User(usize),
}

/// A statement of a gate body.
#[derive(Debug, Clone)]
enum BodyOp {
    /// A gate call on argument positions.
    Call { callee: Callee, params: Vec<Expr>, args: Vec<usize> },
    /// A barrier on argument positions.
    Barrier(Vec<usize>),
}

/// A user gate definition.
#[derive(Debug, Clone)]
struct GateDef {
    name: String,
    n_params: usize,
    n_qubits: usize,
    body: Vec<BodyOp>,
    /// Instructions one call expands to (saturating).
    size: u64,
}

/// What a global name refers to.
#[derive(Debug, Clone, Copy)]
enum Symbol {
    QReg { offset: usize, size: usize },
    CReg { offset: usize, size: usize },
    Gate(Callee),
}

/// A resolved top-level argument of a gate, barrier or measurement.
#[derive(Debug, Clone)]
enum Arg {
    /// One bit: register name, index in it, flat index.
    Bit { name: String, index: usize, flat: usize, pos: Pos },
    /// A whole register.
    Reg { name: String, offset: usize, size: usize, pos: Pos },
}

impl Arg {
    fn pos(&self) -> Pos {
        match self {
            Arg::Bit { pos, .. } | Arg::Reg { pos, .. } => *pos,
        }
    }

    /// The flat index of the `i`-th application of a broadcast.
    fn at(&self, i: usize) -> usize {
        match self {
            Arg::Bit { flat, .. } => *flat,
            Arg::Reg { offset, .. } => offset + i,
        }
    }

    /// How the `i`-th application's bit is written.
    fn show(&self, i: usize) -> String {
        match self {
            Arg::Bit { name, index, .. } => format!("{name}[{index}]"),
            Arg::Reg { name, .. } => format!("{name}[{i}]"),
        }
    }
}

/// Gates `qelib1.inc` declares, with what they import as.
fn qelib1_gates() -> impl Iterator<Item = (&'static str, Callee)> {
    StandardGate::ALL
        .iter()
        .filter(|g| g.in_qelib1())
        .map(|&g| (g.name(), Callee::Std(g)))
        .chain(std::iter::once(("u0", Callee::U0)))
}

/// The reader's state across the main file and its includes.
pub(crate) struct Parser {
    symbols: HashMap<String, Symbol>,
    gates: Vec<GateDef>,
    qelib1: bool,
    qregs: Vec<Register>,
    cregs: Vec<Register>,
    n_qubits: usize,
    n_clbits: usize,
    out: Vec<Instruction>,
    /// Per statement that emitted instructions: first instruction index, file index, position.
    origins: Vec<(usize, usize, Pos)>,
    /// Labels of the files read, by index (`None` for the main source).
    files: Vec<Option<String>>,
    include_depth: usize,
    /// Instructions so far, barriers counting their qubits.
    weight: u64,
}

impl Parser {
    fn new() -> Self {
        let mut symbols = HashMap::new();
        symbols.insert("U".to_string(), Symbol::Gate(Callee::Std(StandardGate::U3)));
        symbols.insert("CX".to_string(), Symbol::Gate(Callee::Std(StandardGate::Cx)));
        Self {
            symbols,
            gates: Vec::new(),
            qelib1: false,
            qregs: Vec::new(),
            cregs: Vec::new(),
            n_qubits: 0,
            n_clbits: 0,
            out: Vec::new(),
            origins: Vec::new(),
            files: vec![None],
            include_depth: 0,
            weight: 0,
        }
    }

    /// Reads a whole program; `dir` resolves includes other than `qelib1.inc`.
    pub(crate) fn parse_program(source: &str, dir: Option<PathBuf>) -> PResult<Circuit> {
        let mut parser = Parser::new();
        let mut cur = Cursor::new(source, None, dir, 0);
        parser.header(&mut cur)?;
        parser.statements(&mut cur)?;
        let end = cur.peek()?.pos;
        parser.finish(end)
    }

    fn finish(self, end: Pos) -> PResult<Circuit> {
        let Parser { qregs, cregs, out, origins, files, .. } = self;
        let mut circuit = Circuit::with_registers(qregs, cregs);
        for (i, inst) in out.into_iter().enumerate() {
            let result = match inst {
                Instruction::Gate(app) => circuit.append(app.gate, &app.qubits, &app.angles).map(|_| ()),
                Instruction::Barrier(q) => circuit.barrier(&q).map(|_| ()),
                Instruction::Measure { qubit, clbit } => circuit.measure(qubit, clbit).map(|_| ()),
            };
            if let Err(e) = result {
                let k = origins.partition_point(|o| o.0 <= i);
                let (file, pos) = match k.checked_sub(1).map(|k| origins[k]) {
                    Some((_, f, p)) => (files.get(f).cloned().flatten(), p),
                    None => (None, end),
                };
                return Err(QasmError::Parse {
                    file,
                    line: pos.line,
                    column: pos.col,
                    kind: ParseErrorKind::Invalid(e.to_string()),
                });
            }
        }
        Ok(circuit)
    }

    /// `OPENQASM 2.0;`
    fn header(&mut self, cur: &mut Cursor) -> PResult<()> {
        let t = cur.next()?;
        if t.tok != Tok::Ident("OPENQASM".into()) {
            return Err(cur.error(t.pos, ParseErrorKind::MissingHeader { found: t.tok.describe() }));
        }
        let v = cur.next()?;
        match v.tok {
            Tok::Int(ref s) | Tok::Real(ref s) => {
                if s.parse::<f64>() != Ok(2.0) {
                    return Err(cur.error(v.pos, ParseErrorKind::UnsupportedVersion(s.clone())));
                }
            }
            _ => return Err(cur.unexpected(&v, "a version number")),
        }
        cur.expect_semi()
    }

    /// Statements up to the end of the file.
    fn statements(&mut self, cur: &mut Cursor) -> PResult<()> {
        loop {
            let t = cur.next()?;
            let Tok::Ident(ref word) = t.tok else {
                if t.tok == Tok::Eof {
                    return Ok(());
                }
                return Err(cur.unexpected(&t, "a statement"));
            };
            let start = self.out.len();
            match word.as_str() {
                "include" => self.include(cur)?,
                "qreg" => self.register(cur, true)?,
                "creg" => self.register(cur, false)?,
                "gate" => self.gate_definition(cur)?,
                "opaque" | "if" | "reset" => return Err(cur.error(t.pos, ParseErrorKind::Unsupported(word.clone()))),
                "measure" => self.measure(cur)?,
                "barrier" => self.barrier(cur)?,
                "OPENQASM" => return Err(cur.unexpected(&t, "a statement (the header comes once, first)")),
                _ => {
                    self.origins.push((start, cur.file_index, t.pos));
                    self.gate_call(cur, word.clone(), t.pos)?;
                }
            }
        }
    }

    /// `include "file";`
    fn include(&mut self, cur: &mut Cursor) -> PResult<()> {
        let t = cur.next()?;
        let Tok::Str(ref name) = t.tok else {
            return Err(cur.unexpected(&t, "a file name in quotes"));
        };
        cur.expect_semi()?;
        if name == "qelib1.inc" {
            if !self.qelib1 {
                for (g, callee) in qelib1_gates() {
                    if self.symbols.contains_key(g) {
                        return Err(cur.error(t.pos, ParseErrorKind::Duplicate(g.to_string())));
                    }
                    self.symbols.insert(g.to_string(), Symbol::Gate(callee));
                }
                self.qelib1 = true;
            }
            return Ok(());
        }
        let include_error = |path: String, message: String| cur.error(t.pos, ParseErrorKind::Include { path, message });
        let Some(dir) = &cur.dir else {
            return Err(include_error(
                name.clone(),
                "only `qelib1.inc` can be included when reading from a string; read from a file to include others"
                    .into(),
            ));
        };
        let path = dir.join(name);
        let label = path.display().to_string();
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            return Err(include_error(label, format!("includes nest deeper than {MAX_INCLUDE_DEPTH}")));
        }
        let bytes = std::fs::read(&path).map_err(|e| include_error(label.clone(), e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            include_error(label.clone(), format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()))
        })?;
        let sub_dir = path.parent().map(Path::to_path_buf);
        self.files.push(Some(label.clone()));
        let mut sub = Cursor::new(&text, Some(label), sub_dir, self.files.len() - 1);
        self.include_depth += 1;
        self.statements(&mut sub)?;
        self.include_depth -= 1;
        Ok(())
    }

    /// `qreg name[size];` or `creg name[size];`
    fn register(&mut self, cur: &mut Cursor, quantum: bool) -> PResult<()> {
        let (name, name_pos) = cur.decl_name("a register name")?;
        if self.symbols.contains_key(&name) {
            return Err(cur.error(name_pos, ParseErrorKind::Duplicate(name)));
        }
        cur.expect(Tok::LBracket, "`[`")?;
        let (size, size_pos) = cur.integer("an integer size")?;
        cur.expect(Tok::RBracket, "`]`")?;
        cur.expect_semi()?;
        let total = if quantum { &mut self.n_qubits } else { &mut self.n_clbits };
        let offset = *total;
        if size > MAX_BITS - offset {
            let what = if quantum { "qubits" } else { "classical bits" };
            return Err(cur.error(size_pos, ParseErrorKind::LimitExceeded(format!("more than {MAX_BITS} {what}"))));
        }
        *total += size;
        let symbol = if quantum { Symbol::QReg { offset, size } } else { Symbol::CReg { offset, size } };
        self.symbols.insert(name.clone(), symbol);
        let reg = Register { name, size };
        if quantum {
            self.qregs.push(reg)
        } else {
            self.cregs.push(reg)
        }
        Ok(())
    }

    /// The gate a name refers to at this point of the program.
    fn lookup_gate(&self, name: &str) -> Option<Callee> {
        match self.symbols.get(name) {
            Some(Symbol::Gate(c)) => Some(*c),
            Some(_) => None,
            // `ryy`, `rzx`, `iswap`: built in beside `qelib1.inc` unless the program defines them.
            None if self.qelib1 => StandardGate::from_name(name).filter(|g| !g.in_qelib1()).map(Callee::Std),
            None => None,
        }
    }

    fn callee_shape(&self, callee: Callee) -> (usize, usize, u64) {
        match callee {
            Callee::Std(g) => (g.n_params(), g.n_qubits(), 1),
            Callee::U0 => (1, 1, 1),
            Callee::User(i) => (self.gates[i].n_params, self.gates[i].n_qubits, self.gates[i].size),
        }
    }

    /// `( expr, ... )`, after the `(`.
    fn param_list(cur: &mut Cursor, names: &[String]) -> PResult<Vec<Expr>> {
        let mut exprs = Vec::new();
        if cur.eat(&Tok::RParen)? {
            return Ok(exprs);
        }
        loop {
            exprs.push(ExprParser::new(names).expr(cur)?);
            let t = cur.next()?;
            match t.tok {
                Tok::Comma => {}
                Tok::RParen => return Ok(exprs),
                _ => return Err(cur.unexpected(&t, "`,` or `)`")),
            }
        }
    }

    /// One top-level argument: `name` or `name[index]`, of a quantum or classical register.
    fn argument(&self, cur: &mut Cursor, quantum: bool) -> PResult<Arg> {
        let t = cur.next()?;
        let Tok::Ident(ref name) = t.tok else {
            let what = if quantum { "a qubit or quantum register" } else { "a bit or classical register" };
            return Err(cur.unexpected(&t, what));
        };
        let (offset, size) = match (self.symbols.get(name), quantum) {
            (Some(Symbol::QReg { offset, size }), true) | (Some(Symbol::CReg { offset, size }), false) => {
                (*offset, *size)
            }
            (Some(Symbol::QReg { .. }), false) => {
                return Err(
                    cur.error(t.pos, ParseErrorKind::WrongRegisterKind { name: name.clone(), expected: "classical" })
                );
            }
            (Some(Symbol::CReg { .. }), true) => {
                return Err(
                    cur.error(t.pos, ParseErrorKind::WrongRegisterKind { name: name.clone(), expected: "quantum" })
                );
            }
            _ => return Err(cur.error(t.pos, ParseErrorKind::UndeclaredRegister(name.clone()))),
        };
        if !cur.eat(&Tok::LBracket)? {
            return Ok(Arg::Reg { name: name.clone(), offset, size, pos: t.pos });
        }
        let (index, index_pos) = cur.integer("an integer index")?;
        cur.expect(Tok::RBracket, "`]`")?;
        if index >= size {
            return Err(cur.error(index_pos, ParseErrorKind::IndexOutOfRange { register: name.clone(), index, size }));
        }
        Ok(Arg::Bit { name: name.clone(), index, flat: offset + index, pos: t.pos })
    }

    /// `arg, arg, ...` of quantum arguments.
    fn argument_list(&self, cur: &mut Cursor) -> PResult<Vec<Arg>> {
        let mut args = vec![self.argument(cur, true)?];
        while cur.eat(&Tok::Comma)? {
            args.push(self.argument(cur, true)?);
        }
        Ok(args)
    }

    /// Counts `more` instructions (a barrier counts its qubits) against [`MAX_INSTRUCTIONS`].
    fn reserve(&mut self, cur: &Cursor, pos: Pos, more: u64) -> PResult<()> {
        let total = self.weight.saturating_add(more);
        if total > MAX_INSTRUCTIONS as u64 {
            return Err(cur.error(
                pos,
                ParseErrorKind::LimitExceeded(format!(
                    "the circuit would have more than {MAX_INSTRUCTIONS} instructions"
                )),
            ));
        }
        self.weight = total;
        Ok(())
    }

    /// `name(params) args;` at the top level, broadcast over registers.
    fn gate_call(&mut self, cur: &mut Cursor, name: String, name_pos: Pos) -> PResult<()> {
        let Some(callee) = self.lookup_gate(&name) else {
            return Err(cur.error(name_pos, ParseErrorKind::UnknownGate(name)));
        };
        let exprs = if cur.eat(&Tok::LParen)? { Self::param_list(cur, &[])? } else { Vec::new() };
        let args = self.argument_list(cur)?;
        cur.expect_semi()?;
        let (n_params, n_qubits, size) = self.callee_shape(callee);
        if exprs.len() != n_params {
            return Err(
                cur.error(name_pos, ParseErrorKind::ParamCount { gate: name, expected: n_params, got: exprs.len() })
            );
        }
        if args.len() != n_qubits {
            return Err(
                cur.error(name_pos, ParseErrorKind::QubitCount { gate: name, expected: n_qubits, got: args.len() })
            );
        }
        // Constant by construction: no parameter names are in scope at the top level.
        let params: Vec<f64> = exprs.iter().map(|e| e.as_const().unwrap_or(f64::NAN)).collect();
        let count = broadcast_count(cur, &args)?;
        self.reserve(cur, name_pos, size.saturating_mul(count as u64))?;
        let mut qubits = Vec::with_capacity(args.len());
        for i in 0..count {
            qubits.clear();
            for a in &args {
                let q = a.at(i);
                if qubits.contains(&q) {
                    return Err(cur.error(a.pos(), ParseErrorKind::RepeatedQubit { gate: name, qubit: a.show(i) }));
                }
                qubits.push(q);
            }
            expand(&self.gates, callee, &params, &qubits, &mut self.out).map_err(|kind| {
                let kind = match callee {
                    Callee::User(_) => ParseErrorKind::InGate { gate: name.clone(), kind: Box::new(kind) },
                    _ => kind,
                };
                cur.error(name_pos, kind)
            })?;
        }
        Ok(())
    }

    /// `measure a -> b;`
    fn measure(&mut self, cur: &mut Cursor) -> PResult<()> {
        let q = self.argument(cur, true)?;
        cur.expect(Tok::Arrow, "`->`")?;
        let c = self.argument(cur, false)?;
        cur.expect_semi()?;
        self.origins.push((self.out.len(), cur.file_index, q.pos()));
        match (&q, &c) {
            (Arg::Bit { flat: qubit, .. }, Arg::Bit { flat: clbit, .. }) => {
                self.reserve(cur, q.pos(), 1)?;
                self.out.push(Instruction::Measure { qubit: *qubit, clbit: *clbit });
            }
            (Arg::Reg { name: qn, offset: qo, size: qs, .. }, Arg::Reg { name: cn, offset: co, size: cs, .. }) => {
                if qs != cs {
                    return Err(cur.error(
                        c.pos(),
                        ParseErrorKind::RegisterSizeMismatch {
                            first: qn.clone(),
                            first_size: *qs,
                            second: cn.clone(),
                            second_size: *cs,
                        },
                    ));
                }
                self.reserve(cur, q.pos(), *qs as u64)?;
                self.out.extend((0..*qs).map(|i| Instruction::Measure { qubit: qo + i, clbit: co + i }));
            }
            _ => return Err(cur.error(c.pos(), ParseErrorKind::MixedMeasure)),
        }
        Ok(())
    }

    /// `barrier args;`
    fn barrier(&mut self, cur: &mut Cursor) -> PResult<()> {
        let args = self.argument_list(cur)?;
        cur.expect_semi()?;
        let mut seen = HashSet::new();
        let mut qubits = Vec::new();
        for a in &args {
            let n = match a {
                Arg::Bit { .. } => 1,
                Arg::Reg { size, .. } => *size,
            };
            for i in 0..n {
                if seen.insert(a.at(i)) {
                    qubits.push(a.at(i));
                }
            }
        }
        if !qubits.is_empty() {
            self.reserve(cur, args[0].pos(), qubits.len() as u64)?;
            self.origins.push((self.out.len(), cur.file_index, args[0].pos()));
            self.out.push(Instruction::Barrier(qubits));
        }
        Ok(())
    }

    /// `gate name(params) args { body }`
    fn gate_definition(&mut self, cur: &mut Cursor) -> PResult<()> {
        let (name, name_pos) = cur.decl_name("a gate name")?;
        if self.symbols.contains_key(&name) {
            return Err(cur.error(name_pos, ParseErrorKind::Duplicate(name)));
        }
        let mut params: Vec<String> = Vec::new();
        if cur.eat(&Tok::LParen)? && !cur.eat(&Tok::RParen)? {
            loop {
                let (p, pos) = cur.decl_name("a parameter name")?;
                if params.contains(&p) {
                    return Err(cur.error(pos, ParseErrorKind::Duplicate(p)));
                }
                params.push(p);
                let t = cur.next()?;
                match t.tok {
                    Tok::Comma => {}
                    Tok::RParen => break,
                    _ => return Err(cur.unexpected(&t, "`,` or `)`")),
                }
            }
        }
        let mut args: Vec<String> = Vec::new();
        loop {
            let (a, pos) = cur.decl_name("a qubit argument name")?;
            if args.contains(&a) || params.contains(&a) {
                return Err(cur.error(pos, ParseErrorKind::Duplicate(a)));
            }
            args.push(a);
            if !cur.eat(&Tok::Comma)? {
                break;
            }
        }
        cur.expect(Tok::LBrace, "`{`")?;
        let mut body = Vec::new();
        loop {
            let t = cur.next()?;
            let word = match t.tok {
                Tok::RBrace => break,
                Tok::Ident(ref w)
                    if !matches!(
                        w.as_str(),
                        "OPENQASM" | "include" | "qreg" | "creg" | "gate" | "opaque" | "if" | "reset" | "measure"
                    ) =>
                {
                    w.clone()
                }
                _ => return Err(cur.unexpected(&t, "a gate call, `barrier` or `}`")),
            };
            if word == "barrier" {
                let mut qubits = Vec::new();
                for (a, _) in Self::body_arguments(cur, &name, &args)? {
                    if !qubits.contains(&a) {
                        qubits.push(a);
                    }
                }
                cur.expect_semi()?;
                body.push(BodyOp::Barrier(qubits));
                continue;
            }
            let Some(callee) = self.lookup_gate(&word) else {
                return Err(cur.error(t.pos, ParseErrorKind::UnknownGate(word)));
            };
            let exprs = if cur.eat(&Tok::LParen)? { Self::param_list(cur, &params)? } else { Vec::new() };
            let call_args = Self::body_arguments(cur, &name, &args)?;
            cur.expect_semi()?;
            let (n_params, n_qubits, _) = self.callee_shape(callee);
            if exprs.len() != n_params {
                return Err(
                    cur.error(t.pos, ParseErrorKind::ParamCount { gate: word, expected: n_params, got: exprs.len() })
                );
            }
            if call_args.len() != n_qubits {
                return Err(cur.error(
                    t.pos,
                    ParseErrorKind::QubitCount { gate: word, expected: n_qubits, got: call_args.len() },
                ));
            }
            for (j, (a, pos)) in call_args.iter().enumerate() {
                if call_args[..j].iter().any(|(b, _)| b == a) {
                    return Err(cur.error(*pos, ParseErrorKind::RepeatedQubit { gate: word, qubit: args[*a].clone() }));
                }
            }
            body.push(BodyOp::Call { callee, params: exprs, args: call_args.into_iter().map(|(a, _)| a).collect() });
        }
        let size = body.iter().fold(0u64, |acc, op| {
            acc.saturating_add(match op {
                BodyOp::Call { callee, .. } => self.callee_shape(*callee).2,
                BodyOp::Barrier(_) => 1,
            })
        });
        let def = GateDef { name: name.clone(), n_params: params.len(), n_qubits: args.len(), body, size };
        let callee = match recognize(&self.gates, &def) {
            Some(g) => Callee::Std(g),
            None => Callee::User(self.gates.len()),
        };
        self.gates.push(def);
        self.symbols.insert(name, Symbol::Gate(callee));
        Ok(())
    }

    /// `a, b, ...` in a gate body: positions among the gate's arguments.
    fn body_arguments(cur: &mut Cursor, gate: &str, args: &[String]) -> PResult<Vec<(usize, Pos)>> {
        let mut out = Vec::new();
        loop {
            let t = cur.next()?;
            let Tok::Ident(ref a) = t.tok else {
                return Err(cur.unexpected(&t, "a qubit argument"));
            };
            let Some(i) = args.iter().position(|x| x == a) else {
                return Err(
                    cur.error(t.pos, ParseErrorKind::UnknownGateArgument { gate: gate.to_string(), name: a.clone() })
                );
            };
            out.push((i, t.pos));
            let t = cur.peek()?;
            if t.tok == Tok::LBracket {
                let t = t.clone();
                return Err(cur.unexpected(&t, "`,` or `;` (qubits in a gate body are argument names, without index)"));
            }
            if !cur.eat(&Tok::Comma)? {
                return Ok(out);
            }
        }
    }
}

/// How many applications a broadcast makes: the common size of the register arguments, or 1.
fn broadcast_count(cur: &Cursor, args: &[Arg]) -> PResult<usize> {
    let mut first: Option<(&str, usize)> = None;
    for a in args {
        if let Arg::Reg { name, size, pos, .. } = a {
            match first {
                None => first = Some((name, *size)),
                Some((first_name, first_size)) if first_size != *size => {
                    return Err(cur.error(
                        *pos,
                        ParseErrorKind::RegisterSizeMismatch {
                            first: first_name.to_string(),
                            first_size,
                            second: name.clone(),
                            second_size: *size,
                        },
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(first.map_or(1, |f| f.1))
}

fn std_instruction(g: StandardGate, params: &[f64], qubits: Vec<usize>) -> Instruction {
    Instruction::Gate(GateApplication {
        gate: Gate::Standard(g),
        qubits,
        angles: params.iter().map(|&v| Angle::Const(v)).collect(),
    })
}

/// Appends the standard gates that `callee(params) qubits` stands for to `out`, expanding user gates
/// (without recursion: definitions can nest as deep as there are definitions).
fn expand(
    gates: &[GateDef],
    callee: Callee,
    params: &[f64],
    qubits: &[usize],
    out: &mut Vec<Instruction>,
) -> Result<(), ParseErrorKind> {
    let root = match callee {
        Callee::Std(g) => {
            out.push(std_instruction(g, params, qubits.to_vec()));
            return Ok(());
        }
        Callee::U0 => {
            out.push(std_instruction(StandardGate::Id, &[], qubits.to_vec()));
            return Ok(());
        }
        Callee::User(i) => i,
    };
    struct Frame {
        def: usize,
        next: usize,
        qubits: Vec<usize>,
        params: Vec<f64>,
    }
    let mut stack = vec![Frame { def: root, next: 0, qubits: qubits.to_vec(), params: params.to_vec() }];
    while let Some(frame) = stack.last_mut() {
        let Some(op) = gates.get(frame.def).and_then(|d| d.body.get(frame.next)) else {
            stack.pop();
            continue;
        };
        frame.next += 1;
        match op {
            BodyOp::Barrier(args) => out.push(Instruction::Barrier(args.iter().map(|&a| frame.qubits[a]).collect())),
            BodyOp::Call { callee, params, args } => {
                let values = params.iter().map(|e| e.eval(&frame.params)).collect::<Result<Vec<f64>, _>>()?;
                let mapped: Vec<usize> = args.iter().map(|&a| frame.qubits[a]).collect();
                match *callee {
                    Callee::Std(g) => out.push(std_instruction(g, &values, mapped)),
                    Callee::U0 => out.push(std_instruction(StandardGate::Id, &[], mapped)),
                    Callee::User(j) => stack.push(Frame { def: j, next: 0, qubits: mapped, params: values }),
                }
            }
        }
    }
    Ok(())
}

/// Applies `op` to a state vector (small, for recognising definitions).
fn apply_op(state: &mut [C64], op: &Op) {
    let tmask: usize = op.targets.iter().map(|&t| 1usize << t).sum();
    let cmask: usize = op.controls.iter().map(|&c| 1usize << c).sum();
    let k = op.targets.len();
    let spread = |j: usize| -> usize { (0..k).filter(|b| j >> b & 1 == 1).map(|b| 1usize << op.targets[b]).sum() };
    let idx: Vec<usize> = (0..1usize << k).map(spread).collect();
    let mut buf = vec![C64::new(0.0, 0.0); idx.len()];
    for base in 0..state.len() {
        if base & tmask != 0 || base & cmask != cmask {
            continue;
        }
        match &op.matrix {
            OpMatrix::Diagonal(d) => {
                for (j, &o) in idx.iter().enumerate() {
                    state[base | o] *= d[j];
                }
            }
            OpMatrix::Dense(m) => {
                for (r, b) in buf.iter_mut().enumerate() {
                    *b = idx.iter().enumerate().map(|(c, &o)| m.get(r, c) * state[base | o]).sum();
                }
                for (&o, &b) in idx.iter().zip(&buf) {
                    state[base | o] = b;
                }
            }
        }
    }
}

/// The unitary of a list of gate instructions on `n` qubits (barriers ignored).
pub(crate) fn unitary_of(n: usize, insts: &[Instruction]) -> Option<Matrix> {
    let mut ops_list = Vec::new();
    for inst in insts {
        if let Instruction::Gate(app) = inst {
            let angles: Vec<f64> = app.angles.iter().map(|a| a.resolve(&[], &[])).collect();
            ops::lower_gate(&app.gate, &app.qubits, &angles, &mut ops_list).ok()?;
        }
    }
    let dim = 1usize << n;
    let mut data = vec![C64::new(0.0, 0.0); dim * dim];
    let mut col = vec![C64::new(0.0, 0.0); dim];
    for b in 0..dim {
        col.iter_mut().for_each(|z| *z = C64::new(0.0, 0.0));
        col[b] = C64::new(1.0, 0.0);
        for op in &ops_list {
            if op.qubits().any(|q| q >= n) {
                return None;
            }
            apply_op(&mut col, op);
        }
        for r in 0..dim {
            data[r * dim + b] = col[r];
        }
    }
    Matrix::from_rows(data).ok()
}

/// `max |a - e^{iφ} b|` for the phase `φ` that aligns `b` with `a` (infinite when they are orthogonal).
pub(crate) fn distance_up_to_phase(a: &Matrix, b: &Matrix) -> f64 {
    let overlap: C64 = a.data().iter().zip(b.data()).map(|(x, y)| x * y.conj()).sum();
    if overlap.norm().is_nan() || overlap.norm() <= 0.0 || a.dim() != b.dim() {
        return f64::INFINITY;
    }
    let phase = overlap / overlap.norm();
    a.data()
        .iter()
        .zip(b.data())
        .map(|(x, y)| (x - y * phase).norm())
        .fold(0.0, |m, d| if d > m || d.is_nan() { d } else { m })
}

/// A user definition named like a standard gate with the same shape and the same unitary (up to a
/// global phase, checked at sample angles) imports as that standard gate.
fn recognize(gates: &[GateDef], def: &GateDef) -> Option<StandardGate> {
    const SAMPLES: [[f64; 4]; 3] =
        [[0.713_7, -1.292_1, 2.087_3, 0.451_9], [-2.31, 0.377, -0.913, 1.618], [1.1, 2.9, -0.27, -1.7]];
    let g = StandardGate::from_name(&def.name)?;
    if g.n_qubits() != def.n_qubits || g.n_params() != def.n_params || def.size > 10_000 {
        return None;
    }
    let qubits: Vec<usize> = (0..def.n_qubits).collect();
    for sample in &SAMPLES {
        let params = &sample[..def.n_params];
        let mut body = Vec::new();
        for op in &def.body {
            if let BodyOp::Call { callee, params: exprs, args } = op {
                let values = exprs.iter().map(|e| e.eval(params)).collect::<Result<Vec<f64>, _>>().ok()?;
                let mapped: Vec<usize> = args.iter().map(|&a| qubits[a]).collect();
                expand(gates, *callee, &values, &mapped, &mut body).ok()?;
            }
        }
        let got = unitary_of(def.n_qubits, &body)?;
        let want = unitary_of(def.n_qubits, &[std_instruction(g, params, qubits.clone())])?;
        let distance = distance_up_to_phase(&got, &want);
        if distance.is_nan() || distance > 1e-9 {
            return None;
        }
    }
    Some(g)
}
