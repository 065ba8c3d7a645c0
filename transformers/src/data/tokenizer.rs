//! A character-level tokenizer: one id per distinct character of the training text.

use serde::{Deserialize, Serialize};
use tinylab_classical::Result;
use tinylab_classical::error::arg_err;

/// Maps characters to ids `0..vocab` in the order of the sorted distinct characters of the text it
/// was built from (so the same text always gives the same ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharTokenizer {
    chars: Vec<char>,
}

impl CharTokenizer {
    /// The tokenizer of `text`'s characters; errors on an empty text.
    pub fn fit(text: &str) -> Result<Self> {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        if chars.is_empty() {
            return Err(arg_err("CharTokenizer::fit", "empty text"));
        }
        Ok(Self { chars })
    }

    /// Number of ids.
    pub fn vocab(&self) -> usize {
        self.chars.len()
    }

    /// The ids of `text`; errors name the first character outside the vocabulary and its position.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        text.chars()
            .enumerate()
            .map(|(pos, c)| {
                self.chars.binary_search(&c).map(|i| i as u32).map_err(|_| {
                    arg_err(
                        "CharTokenizer::encode",
                        format!("character {c:?} at position {pos} is not in the vocabulary"),
                    )
                })
            })
            .collect()
    }

    /// The text of `ids`; errors on an id outside the vocabulary.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        ids.iter()
            .map(|&id| {
                self.chars.get(id as usize).copied().ok_or_else(|| {
                    arg_err("CharTokenizer::decode", format!("id {id} is out of range for {} characters", self.vocab()))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let t = CharTokenizer::fit("hello world").unwrap();
        assert_eq!(t.vocab(), 8);
        let ids = t.encode("low hello").unwrap();
        assert_eq!(ids[0], 4, "sorted: space d e h l o r w");
        assert_eq!(t.decode(&ids).unwrap(), "low hello");
        let err = t.encode("hex").unwrap_err().to_string();
        assert!(err.contains("'x'") && err.contains("position 2"), "{err}");
        assert!(t.decode(&[8]).unwrap_err().to_string().contains("id 8"));
        assert!(CharTokenizer::fit("").is_err());
    }
}
