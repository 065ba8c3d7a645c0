//! Parameter expressions: parsed into a small tree, folded to a number as soon as no gate parameter is
//! involved, evaluated in `f64`.
//!
//! Precedence, loosest first: `+ -` (left), `* /` (left), unary `-`/`+`, `^` (right; its exponent may
//! start with a unary sign). So `-2^2 = -4`, `2^3^2 = 2^9`, `2^-1 = 0.5`, `1/2/4 = 0.125`.

use super::error::ParseErrorKind;
use super::lexer::{Pos, Tok};
use super::parser::{Cursor, PResult};

/// Deepest nesting of parentheses, functions, signs and powers, and deepest expression tree.
pub(crate) const MAX_EXPR_DEPTH: usize = 200;

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

impl BinOp {
    fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Pow => "^",
        }
    }

    fn apply(self, a: f64, b: f64) -> Result<f64, ParseErrorKind> {
        let v = match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => {
                if b == 0.0 {
                    return Err(ParseErrorKind::DivisionByZero);
                }
                a / b
            }
            BinOp::Pow => a.powf(b),
        };
        finite(v, self.symbol())
    }
}

/// A function of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Sin,
    Cos,
    Tan,
    Exp,
    Ln,
    Sqrt,
}

impl Func {
    /// The function of this name.
    pub fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "sin" => Func::Sin,
            "cos" => Func::Cos,
            "tan" => Func::Tan,
            "exp" => Func::Exp,
            "ln" => Func::Ln,
            "sqrt" => Func::Sqrt,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Tan => "tan",
            Func::Exp => "exp",
            Func::Ln => "ln",
            Func::Sqrt => "sqrt",
        }
    }

    fn apply(self, x: f64) -> Result<f64, ParseErrorKind> {
        let v = match self {
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Tan => x.tan(),
            Func::Exp => x.exp(),
            Func::Ln => x.ln(),
            Func::Sqrt => x.sqrt(),
        };
        finite(v, self.name())
    }
}

fn finite(v: f64, what: &str) -> Result<f64, ParseErrorKind> {
    if v.is_finite() { Ok(v) } else { Err(ParseErrorKind::NonFinite(what.to_string())) }
}

/// An expression; constant subtrees are always folded into `Num`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// A finite number.
    Num(f64),
    /// A parameter of the enclosing gate, by position.
    Param(usize),
    /// `-e`, with the tree depth.
    Neg(Box<Expr>, usize),
    /// `a op b`, with the tree depth.
    Bin(BinOp, Box<Expr>, Box<Expr>, usize),
    /// `f(e)`, with the tree depth.
    Func(Func, Box<Expr>, usize),
}

impl Expr {
    fn depth(&self) -> usize {
        match self {
            Expr::Num(_) | Expr::Param(_) => 1,
            Expr::Neg(_, d) | Expr::Bin(.., d) | Expr::Func(_, _, d) => *d,
        }
    }

    /// The value for the given parameter values (all finite); errors on division by zero or a
    /// result that is not finite.
    pub fn eval(&self, params: &[f64]) -> Result<f64, ParseErrorKind> {
        match self {
            Expr::Num(v) => Ok(*v),
            Expr::Param(i) => Ok(params.get(*i).copied().unwrap_or(f64::NAN)),
            Expr::Neg(e, _) => Ok(-e.eval(params)?),
            Expr::Bin(op, a, b, _) => op.apply(a.eval(params)?, b.eval(params)?),
            Expr::Func(f, e, _) => f.apply(e.eval(params)?),
        }
    }

    /// The number, when the expression is constant.
    pub fn as_const(&self) -> Option<f64> {
        match self {
            Expr::Num(v) => Some(*v),
            _ => None,
        }
    }
}

/// Parses expressions whose identifiers are `pi`, the functions and the names in `params`.
pub(crate) struct ExprParser<'p> {
    /// Parameter names in scope (empty outside gate bodies).
    pub params: &'p [String],
    nesting: usize,
}

fn too_deep() -> ParseErrorKind {
    ParseErrorKind::LimitExceeded(format!("expression nested deeper than {MAX_EXPR_DEPTH}"))
}

impl<'p> ExprParser<'p> {
    /// A parser with the given parameter names in scope.
    pub fn new(params: &'p [String]) -> Self {
        Self { params, nesting: 0 }
    }

    fn neg(e: Expr, at: Pos, cur: &Cursor) -> PResult<Expr> {
        Ok(match e {
            Expr::Num(v) => Expr::Num(-v),
            e => {
                let d = e.depth() + 1;
                if d > MAX_EXPR_DEPTH {
                    return Err(cur.error(at, too_deep()));
                }
                Expr::Neg(Box::new(e), d)
            }
        })
    }

    fn bin(op: BinOp, a: Expr, b: Expr, at: Pos, cur: &Cursor) -> PResult<Expr> {
        if let (Expr::Num(x), Expr::Num(y)) = (&a, &b) {
            return op.apply(*x, *y).map(Expr::Num).map_err(|k| cur.error(at, k));
        }
        let d = a.depth().max(b.depth()) + 1;
        if d > MAX_EXPR_DEPTH {
            return Err(cur.error(at, too_deep()));
        }
        Ok(Expr::Bin(op, Box::new(a), Box::new(b), d))
    }

    fn func(f: Func, e: Expr, at: Pos, cur: &Cursor) -> PResult<Expr> {
        if let Expr::Num(x) = e {
            return f.apply(x).map(Expr::Num).map_err(|k| cur.error(at, k));
        }
        let d = e.depth() + 1;
        if d > MAX_EXPR_DEPTH {
            return Err(cur.error(at, too_deep()));
        }
        Ok(Expr::Func(f, Box::new(e), d))
    }

    fn enter(&mut self, at: Pos, cur: &Cursor) -> PResult<()> {
        self.nesting += 1;
        if self.nesting > MAX_EXPR_DEPTH {
            return Err(cur.error(at, too_deep()));
        }
        Ok(())
    }

    /// `expr := term (('+' | '-') term)*`
    pub fn expr(&mut self, cur: &mut Cursor) -> PResult<Expr> {
        let mut acc = self.term(cur)?;
        loop {
            let op = match cur.peek()?.tok {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(acc),
            };
            let at = cur.next()?.pos;
            let rhs = self.term(cur)?;
            acc = Self::bin(op, acc, rhs, at, cur)?;
        }
    }

    /// `term := unary (('*' | '/') unary)*`
    fn term(&mut self, cur: &mut Cursor) -> PResult<Expr> {
        let mut acc = self.unary(cur)?;
        loop {
            let op = match cur.peek()?.tok {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                _ => return Ok(acc),
            };
            let at = cur.next()?.pos;
            let rhs = self.unary(cur)?;
            acc = Self::bin(op, acc, rhs, at, cur)?;
        }
    }

    /// `unary := ('-' | '+') unary | power`, with `power := atom ('^' unary)?`.
    fn unary(&mut self, cur: &mut Cursor) -> PResult<Expr> {
        let mut signs = Vec::new();
        loop {
            match cur.peek()?.tok {
                Tok::Minus => signs.push((true, cur.next()?.pos)),
                Tok::Plus => signs.push((false, cur.next()?.pos)),
                _ => break,
            }
            if signs.len() > MAX_EXPR_DEPTH {
                return Err(cur.error(signs[signs.len() - 1].1, too_deep()));
            }
        }
        let mut e = self.atom(cur)?;
        if cur.peek()?.tok == Tok::Caret {
            let at = cur.next()?.pos;
            self.enter(at, cur)?;
            let exponent = self.unary(cur)?;
            self.nesting -= 1;
            e = Self::bin(BinOp::Pow, e, exponent, at, cur)?;
        }
        for (minus, at) in signs.into_iter().rev() {
            if minus {
                e = Self::neg(e, at, cur)?;
            }
        }
        Ok(e)
    }

    /// A number, `pi`, a parameter, `f(expr)` or `(expr)`.
    fn atom(&mut self, cur: &mut Cursor) -> PResult<Expr> {
        let t = cur.next()?;
        match t.tok {
            Tok::Int(ref s) | Tok::Real(ref s) => match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Expr::Num(v)),
                _ => Err(cur.error(
                    t.pos,
                    ParseErrorKind::BadNumber { text: s.clone(), reason: "out of the range of a double" },
                )),
            },
            Tok::LParen => {
                self.enter(t.pos, cur)?;
                let e = self.expr(cur)?;
                cur.expect(Tok::RParen, "`)`")?;
                self.nesting -= 1;
                Ok(e)
            }
            Tok::Ident(ref name) => {
                if name == "pi" {
                    return Ok(Expr::Num(std::f64::consts::PI));
                }
                if let Some(f) = Func::from_name(name) {
                    cur.expect(Tok::LParen, "`(`")?;
                    self.enter(t.pos, cur)?;
                    let e = self.expr(cur)?;
                    cur.expect(Tok::RParen, "`)`")?;
                    self.nesting -= 1;
                    return Self::func(f, e, t.pos, cur);
                }
                match self.params.iter().position(|p| p == name) {
                    Some(i) => Ok(Expr::Param(i)),
                    None => Err(cur.error(t.pos, ParseErrorKind::UnknownIdentifier(name.clone()))),
                }
            }
            Tok::Eof => Err(cur.error(t.pos, ParseErrorKind::UnexpectedEof { expected: "an expression".into() })),
            other => Err(cur
                .error(t.pos, ParseErrorKind::Expected { expected: "an expression".into(), found: other.describe() })),
        }
    }
}
