//! Tokens of OpenQASM 2, produced on demand so that the first error in source order is the one
//! reported.

use super::error::ParseErrorKind;

/// A place in a source: line and column (in characters), both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A name or keyword (`[A-Za-z_][A-Za-z0-9_]*`); validity is checked where names are declared.
    Ident(String),
    /// Digits only.
    Int(String),
    /// A literal with a `.` or an exponent.
    Real(String),
    /// A `"..."` string, without the quotes.
    Str(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Semi,
    Arrow,
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    EqEq,
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        let punct = |s: &str| format!("`{s}`");
        match self {
            Tok::Ident(s) | Tok::Int(s) | Tok::Real(s) => format!("`{s}`"),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::LParen => punct("("),
            Tok::RParen => punct(")"),
            Tok::LBracket => punct("["),
            Tok::RBracket => punct("]"),
            Tok::LBrace => punct("{"),
            Tok::RBrace => punct("}"),
            Tok::Comma => punct(","),
            Tok::Semi => punct(";"),
            Tok::Arrow => punct("->"),
            Tok::Plus => punct("+"),
            Tok::Minus => punct("-"),
            Tok::Star => punct("*"),
            Tok::Slash => punct("/"),
            Tok::Caret => punct("^"),
            Tok::EqEq => punct("=="),
            Tok::Eof => "end of file".to_string(),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

/// Splits a source into tokens, skipping whitespace and comments.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    /// Byte offset of the next character.
    at: usize,
    line: usize,
    col: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `src` (after a byte-order mark, if any).
    pub fn new(src: &'a str) -> Self {
        let at = if src.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
        Self { src, at, line: 1, col: 1 }
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.at..].chars().next()
    }

    fn peek_char2(&self) -> Option<char> {
        let mut it = self.src[self.at..].chars();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn bump_while(&mut self, f: impl Fn(char) -> bool) {
        while self.peek_char().is_some_and(&f) {
            self.bump();
        }
    }

    /// Skips whitespace and comments; errors on an unterminated block comment.
    fn skip_trivia(&mut self) -> Result<(), (Pos, ParseErrorKind)> {
        loop {
            match (self.peek_char(), self.peek_char2()) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => self.bump_while(|c| c != '\n'),
                (Some('/'), Some('*')) => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err((start, ParseErrorKind::UnterminatedComment)),
                            Some('*') if self.peek_char() == Some('/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// The next token (`Tok::Eof` at the end, repeatedly).
    pub fn next_token(&mut self) -> Result<Token, (Pos, ParseErrorKind)> {
        self.skip_trivia()?;
        let pos = self.pos();
        let Some(c) = self.peek_char() else {
            return Ok(Token { tok: Tok::Eof, pos });
        };
        let start = self.at;
        let tok = match c {
            'a'..='z' | 'A'..='Z' | '_' => {
                self.bump_while(|c| c.is_ascii_alphanumeric() || c == '_');
                Tok::Ident(self.src[start..self.at].to_string())
            }
            '0'..='9' => self.number(start, pos)?,
            '.' if self.peek_char2().is_some_and(|c| c.is_ascii_digit()) => self.number(start, pos)?,
            '"' => {
                self.bump();
                loop {
                    match self.peek_char() {
                        None | Some('\n') | Some('\r') => return Err((pos, ParseErrorKind::UnterminatedString)),
                        Some('"') => {
                            self.bump();
                            break;
                        }
                        Some(_) => {
                            self.bump();
                        }
                    }
                }
                Tok::Str(self.src[start + 1..self.at - 1].to_string())
            }
            '-' if self.peek_char2() == Some('>') => {
                self.bump();
                self.bump();
                Tok::Arrow
            }
            '=' if self.peek_char2() == Some('=') => {
                self.bump();
                self.bump();
                Tok::EqEq
            }
            _ => {
                let tok = match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '[' => Tok::LBracket,
                    ']' => Tok::RBracket,
                    '{' => Tok::LBrace,
                    '}' => Tok::RBrace,
                    ',' => Tok::Comma,
                    ';' => Tok::Semi,
                    '+' => Tok::Plus,
                    '-' => Tok::Minus,
                    '*' => Tok::Star,
                    '/' => Tok::Slash,
                    '^' => Tok::Caret,
                    other => return Err((pos, ParseErrorKind::UnexpectedChar(other))),
                };
                self.bump();
                tok
            }
        };
        Ok(Token { tok, pos })
    }

    /// A number literal: `digits`, `digits.digits?`, `.digits`, each with an optional exponent.
    fn number(&mut self, start: usize, pos: Pos) -> Result<Tok, (Pos, ParseErrorKind)> {
        let mut real = false;
        self.bump_while(|c| c.is_ascii_digit());
        if self.peek_char() == Some('.') {
            real = true;
            self.bump();
            self.bump_while(|c| c.is_ascii_digit());
        }
        let mut bad = None;
        if matches!(self.peek_char(), Some('e' | 'E')) {
            real = true;
            self.bump();
            if matches!(self.peek_char(), Some('+' | '-')) {
                self.bump();
            }
            if !self.peek_char().is_some_and(|c| c.is_ascii_digit()) {
                bad = Some("the exponent has no digits");
            }
            self.bump_while(|c| c.is_ascii_digit());
        }
        if self.peek_char().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            self.bump_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            bad = Some("malformed number");
        }
        let text = &self.src[start..self.at];
        if let Some(reason) = bad {
            return Err((pos, ParseErrorKind::BadNumber { text: text.to_string(), reason }));
        }
        if real {
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => {}
                _ => {
                    return Err((
                        pos,
                        ParseErrorKind::BadNumber { text: text.to_string(), reason: "out of the range of a double" },
                    ));
                }
            }
            Ok(Tok::Real(text.to_string()))
        } else {
            Ok(Tok::Int(text.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        let mut lx = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = lx.next_token().unwrap();
            if t.tok == Tok::Eof {
                return out;
            }
            out.push(t.tok);
        }
    }

    #[test]
    fn numbers_and_punctuation() {
        assert_eq!(
            toks("1 .5 1. 2e3 1.5E-3 -> - == 07"),
            vec![
                Tok::Int("1".into()),
                Tok::Real(".5".into()),
                Tok::Real("1.".into()),
                Tok::Real("2e3".into()),
                Tok::Real("1.5E-3".into()),
                Tok::Arrow,
                Tok::Minus,
                Tok::EqEq,
                Tok::Int("07".into()),
            ]
        );
        for text in ["1.", ".5", "1.e5", "1.5E-3", "2e3", "1e+2"] {
            assert!(text.parse::<f64>().is_ok(), "{text}");
        }
    }

    #[test]
    fn comments_and_positions() {
        let mut lx = Lexer::new("// c\n  /* a\n b */ x\té y");
        let t = lx.next_token().unwrap();
        assert_eq!(t, Token { tok: Tok::Ident("x".into()), pos: Pos { line: 3, col: 7 } });
        assert_eq!(lx.next_token().unwrap_err(), (Pos { line: 3, col: 9 }, ParseErrorKind::UnexpectedChar('é')));
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        let mut lx = Lexer::new("\u{feff}OPENQASM");
        assert_eq!(
            lx.next_token().unwrap(),
            Token { tok: Tok::Ident("OPENQASM".into()), pos: Pos { line: 1, col: 1 } }
        );
    }

    #[test]
    fn bad_literals() {
        let err = |s: &str| Lexer::new(s).next_token().unwrap_err();
        assert!(matches!(err("1e").1, ParseErrorKind::BadNumber { .. }));
        assert!(matches!(err("2pi").1, ParseErrorKind::BadNumber { .. }));
        assert!(matches!(err("1.2.3").1, ParseErrorKind::BadNumber { .. }));
        assert!(matches!(err("1e999").1, ParseErrorKind::BadNumber { .. }));
        assert_eq!(err("\"abc\n").1, ParseErrorKind::UnterminatedString);
        assert_eq!(err("  /* x").0, Pos { line: 1, col: 3 });
    }
}
