//! GPT-2's pre-tokenization (Radford et al. 2019), written by hand: the split of the regular
//! expression
//!
//! ```text
//! 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//! ```
//!
//! as Hugging Face `tokenizers`' `ByteLevel` pre-tokenizer applies it (`use_regex = true`,
//! `add_prefix_space = false`): at each position the first alternative that matches wins, so a
//! word keeps one leading ASCII space, and a run of whitespace before a word leaves its last space
//! to that word.
//!
//! Character classes: whitespace is Rust's [`char::is_whitespace`] (Unicode `White_Space`, as the
//! regex's `\s`); a number is [`char::is_numeric`] (`Nd | Nl | No`, exactly `\p{N}`); a letter is
//! [`char::is_alphabetic`] and not numeric. The last differs from `\p{L}` only on the
//! `Other_Alphabetic` combining marks (Devanagari vowel signs, for example), which the regex calls
//! "other" and this split calls letters; the Rust standard library has no general-category table.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Space,
    Letter,
    Number,
    Other,
}

fn class(c: char) -> Class {
    if c.is_whitespace() {
        Class::Space
    } else if c.is_numeric() {
        Class::Number
    } else if c.is_alphabetic() {
        Class::Letter
    } else {
        Class::Other
    }
}

/// Length in bytes of one of the contractions `'s 't 're 've 'm 'll 'd` at the start of `rest`.
fn contraction(rest: &str) -> Option<usize> {
    let b = rest.as_bytes();
    if b.first() != Some(&b'\'') {
        return None;
    }
    match b.get(1) {
        Some(b's' | b't' | b'm' | b'd') => Some(2),
        Some(b'r') if b.get(2) == Some(&b'e') => Some(3),
        Some(b'v') if b.get(2) == Some(&b'e') => Some(3),
        Some(b'l') if b.get(2) == Some(&b'l') => Some(3),
        _ => None,
    }
}

/// Byte length of the longest prefix of `s` whose characters are all of class `k`.
fn run(s: &str, k: Class) -> usize {
    s.char_indices().find(|&(_, c)| class(c) != k).map_or(s.len(), |(i, _)| i)
}

/// Byte length of the match at the start of `rest` (non-empty).
fn match_len(rest: &str) -> usize {
    if let Some(n) = contraction(rest) {
        return n;
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional ASCII space, then a run of one class.
    let (lead, body) = match rest.strip_prefix(' ') {
        Some(after) if after.chars().next().is_some_and(|c| class(c) != Class::Space) => (1, after),
        _ => (0, rest),
    };
    let first = body.chars().next().map(class);
    if let Some(k @ (Class::Letter | Class::Number | Class::Other)) = first {
        return lead + run(body, k);
    }
    // `\s+(?!\S)`: the whitespace run, less its last character when a non-space follows it;
    // `\s+` otherwise (a single whitespace character before a non-space).
    let n = run(rest, Class::Space);
    if n == rest.len() {
        return n;
    }
    let last = rest[..n].chars().next_back().map_or(0, char::len_utf8);
    if n > last { n - last } else { n }
}

/// The pre-tokens of `text` in order; their concatenation is `text`.
pub fn pre_tokenize(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = match_len(rest);
        let (word, tail) = rest.split_at(n);
        rest = tail;
        Some(word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<&str> {
        pre_tokenize(s).collect()
    }

    #[test]
    fn gpt2_split_examples() {
        assert_eq!(split("Hello world"), ["Hello", " world"]);
        assert_eq!(split("I'm can't we'll they're"), ["I", "'m", " can", "'t", " we", "'ll", " they", "'re"]);
        assert_eq!(split("a  b"), ["a", " ", " b"]);
        assert_eq!(split("a \n b"), ["a", " \n", " b"]);
        assert_eq!(split("x\n\ny"), ["x", "\n", "\n", "y"]);
        assert_eq!(split("end   "), ["end", "   "]);
        assert_eq!(split("abc123 456!? ,."), ["abc", "123", " 456", "!?", " ,."]);
        assert_eq!(split("'S 'x"), ["'", "S", " '", "x"]);
        assert_eq!(split(" "), [" "]);
        assert_eq!(split(""), Vec::<&str>::new());
        assert_eq!(split("naïve café 日本語"), ["naïve", " café", " 日本語"]);
    }

    #[test]
    fn pieces_concatenate_to_the_text() {
        for s in ["  \t x", "a''b", "\u{a0}\u{3000}z", "1.5e3", "😀😀 x"] {
            assert_eq!(split(s).concat(), s);
            assert!(split(s).iter().all(|w| !w.is_empty()));
        }
    }
}
