//! A byte-level byte-pair-encoding tokenizer (Sennrich et al. 2016, "Neural Machine Translation of
//! Rare Words with Subword Units"; the byte-level variant of GPT-2, Radford et al. 2019, "Language
//! Models are Unsupervised Multitask Learners").
//!
//! The base vocabulary is the 256 bytes (ids `0..256` are the bytes themselves), so every string
//! encodes and nothing is unknown. Text is first cut by GPT-2's pre-tokenizer ([`pre_tokenize`]);
//! merges never cross a pre-token. Merge `i` makes the token of the concatenation of its pair; it
//! gets the next id unless those bytes are already a token (then the existing id, as in Hugging
//! Face `tokenizers`). Encoding applies the merges by rank inside each pre-token.
//!
//! The trainer matches `tokenizers`' `ByteLevelBPETokenizer` (same split, same tie-break): see
//! [`train`](BpeTokenizer::train) and `benches/peers/bpe_peer.py`.

mod byte_map;
mod pretok;
mod train;

pub use pretok::pre_tokenize;

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use tinylab_classical::Result;
use tinylab_classical::error::arg_err;

/// Options of [`BpeTokenizer::train`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpeOptions {
    /// A pair must occur at least this often (counted over the whole text) to be merged; training
    /// stops at the first best pair below it. 2 is the default of `tokenizers`' byte-level trainer.
    pub min_frequency: u64,
}

impl Default for BpeOptions {
    fn default() -> Self {
        Self { min_frequency: 2 }
    }
}

/// A trained byte-level BPE tokenizer: the tokens' bytes and the ordered merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpeTokenizer {
    /// Bytes of each token, by id; the first 256 are the single bytes.
    tokens: Vec<Vec<u8>>,
    /// The merges in rank order: (left, right) -> the id they make.
    merges: Vec<((u32, u32), u32)>,
    /// Rank and result of each merge, by pair.
    ranks: HashMap<(u32, u32), (usize, u32)>,
}

/// The JSON form of a tokenizer: the vocabulary spelled in GPT-2's byte characters and the merges
/// as id pairs, in rank order.
#[derive(Serialize, Deserialize)]
struct BpeFile {
    format: String,
    vocab: Vec<String>,
    merges: Vec<(u32, u32)>,
}

const FORMAT: &str = "tinylab-byte-bpe-v1";

impl BpeTokenizer {
    /// The tokenizer with no merges: one id per byte.
    pub fn bytes() -> Self {
        Self { tokens: (0..=255u8).map(|b| vec![b]).collect(), merges: Vec::new(), ranks: HashMap::new() }
    }

    /// Learns merges on `text` until the vocabulary has `vocab_size` tokens or no pair occurs
    /// `options.min_frequency` times. Ties between equally frequent pairs go to the pair smaller
    /// in Hugging Face's ids (bytes ordered by their GPT-2 character, then merged tokens in order
    /// of creation; left token first), which is `tokenizers`' `BpeTrainer` rule. Errors when
    /// `vocab_size < 256`.
    pub fn train(text: &str, vocab_size: usize, options: BpeOptions) -> Result<Self> {
        if vocab_size < 256 {
            return Err(arg_err("BpeTokenizer::train", format!("vocab size {vocab_size} is below the 256 bytes")));
        }
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for w in pre_tokenize(text) {
            *counts.entry(w).or_default() += 1;
        }
        let mut words: Vec<(&str, u64)> = counts.into_iter().collect();
        words.sort_unstable();
        let mut words: Vec<(Vec<u32>, u64)> =
            words.into_iter().map(|(w, n)| (w.bytes().map(u32::from).collect(), n)).collect();
        let mut tok = Self::bytes();
        let mut index: HashMap<Vec<u8>, u32> =
            tok.tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let mut merges = Vec::new();
        if vocab_size > 256 {
            train::learn(&mut words, options.min_frequency, |pair| {
                let bytes = [tok.tokens[pair.0 as usize].as_slice(), &tok.tokens[pair.1 as usize]].concat();
                let id = *index.entry(bytes.clone()).or_insert_with(|| {
                    tok.tokens.push(bytes);
                    (tok.tokens.len() - 1) as u32
                });
                merges.push((pair, id));
                (id, tok.tokens.len() >= vocab_size)
            });
        }
        tok.merges = merges;
        tok.ranks = rank_index(&tok.merges);
        Ok(tok)
    }

    /// Number of token ids (256 plus the distinct merged tokens).
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// Number of merges (each made one token, or repeated an existing one).
    pub fn num_merges(&self) -> usize {
        self.merges.len()
    }

    /// The bytes of token `id`, if it exists.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.tokens.get(id as usize).map(Vec::as_slice)
    }

    /// The ids of one pre-token: its bytes, then the lowest-ranked adjacent pair merged (every
    /// occurrence, left to right) until no adjacent pair is a merge.
    fn encode_word(&self, word: &str, out: &mut Vec<u32>) {
        let mut syms: Vec<u32> = word.bytes().map(u32::from).collect();
        while syms.len() > 1 {
            let best = syms.windows(2).filter_map(|p| self.ranks.get(&(p[0], p[1])).map(|&r| (r, (p[0], p[1])))).min();
            let Some(((_, new), pair)) = best else { break };
            train::merge_word(&mut syms, pair, new);
        }
        out.extend_from_slice(&syms);
    }

    /// The ids of `text`: each pre-token encoded once per call (repeats come from a cache).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 2);
        let mut cache: HashMap<&str, (usize, usize)> = HashMap::new();
        let mut scratch = Vec::new();
        for w in pre_tokenize(text) {
            if self.merges.is_empty() {
                out.extend(w.bytes().map(u32::from));
                continue;
            }
            if let Some(&(start, len)) = cache.get(w) {
                out.extend_from_within(start..start + len);
                continue;
            }
            scratch.clear();
            self.encode_word(w, &mut scratch);
            cache.insert(w, (out.len(), scratch.len()));
            out.extend_from_slice(&scratch);
        }
        out
    }

    /// The bytes of `ids`; errors on an id outside the vocabulary, naming it and its position.
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 3);
        for (pos, &id) in ids.iter().enumerate() {
            let t = self.token_bytes(id).ok_or_else(|| {
                arg_err(
                    "BpeTokenizer::decode",
                    format!("id {id} at position {pos} is out of range for {} tokens", self.vocab_size()),
                )
            })?;
            out.extend_from_slice(t);
        }
        Ok(out)
    }

    /// The text of `ids`; errors on an id outside the vocabulary, or when the bytes are not UTF-8
    /// (a sequence cut inside a character).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        String::from_utf8(self.decode_bytes(ids)?)
            .map_err(|e| arg_err("BpeTokenizer::decode", format!("the ids' bytes are not UTF-8: {e}")))
    }

    /// Mean bytes of UTF-8 text per token when `text` is encoded (the compression ratio); errors
    /// on an empty text.
    pub fn bytes_per_token(&self, text: &str) -> Result<f64> {
        let n = self.encode(text).len();
        if n == 0 {
            return Err(arg_err("BpeTokenizer::bytes_per_token", "empty text"));
        }
        Ok(text.len() as f64 / n as f64)
    }

    /// The tokenizer as JSON: the vocabulary in GPT-2's byte spelling and the merges as id pairs.
    pub fn to_json(&self) -> String {
        let file = BpeFile {
            format: FORMAT.into(),
            vocab: self.tokens.iter().map(|t| byte_map::spell(t)).collect(),
            merges: self.merges.iter().map(|&(p, _)| p).collect(),
        };
        serde_json::to_string(&file).expect("strings and integers serialise")
    }

    /// A tokenizer from [`to_json`](Self::to_json)'s form; errors on malformed JSON, another
    /// format, a merge naming an unknown id, or a vocabulary that disagrees with the merges.
    pub fn from_json(json: &str) -> Result<Self> {
        let op = "BpeTokenizer::from_json";
        let file: BpeFile = serde_json::from_str(json).map_err(|e| arg_err(op, format!("not a BPE file: {e}")))?;
        if file.format != FORMAT {
            return Err(arg_err(op, format!("format {:?} is not {FORMAT:?}", file.format)));
        }
        let mut tok = Self::bytes();
        let mut index: HashMap<Vec<u8>, u32> =
            tok.tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        for (rank, &(a, b)) in file.merges.iter().enumerate() {
            let (Some(x), Some(y)) = (tok.token_bytes(a), tok.token_bytes(b)) else {
                return Err(arg_err(op, format!("merge {rank} ({a}, {b}) names an id not yet defined")));
            };
            let bytes = [x, y].concat();
            let id = match index.get(&bytes) {
                Some(&id) => id,
                None => {
                    index.insert(bytes.clone(), tok.tokens.len() as u32);
                    tok.tokens.push(bytes);
                    (tok.tokens.len() - 1) as u32
                }
            };
            tok.merges.push(((a, b), id));
        }
        if file.vocab.len() != tok.tokens.len() {
            return Err(arg_err(
                op,
                format!("the vocabulary has {} tokens but the merges make {}", file.vocab.len(), tok.tokens.len()),
            ));
        }
        for (id, (spelled, bytes)) in file.vocab.iter().zip(&tok.tokens).enumerate() {
            match byte_map::unspell(spelled) {
                None => return Err(arg_err(op, format!("token {id} {spelled:?} is not in GPT-2's byte spelling"))),
                Some(b) if &b != bytes => {
                    return Err(arg_err(
                        op,
                        format!(
                            "token {id} {spelled:?} disagrees with the merges, which make {:?}",
                            byte_map::spell(bytes)
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        tok.ranks = rank_index(&tok.merges);
        Ok(tok)
    }

    /// Writes [`to_json`](Self::to_json) to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json())
            .map_err(|e| arg_err("BpeTokenizer::save", format!("{}: {e}", path.display())))
    }

    /// Reads a tokenizer [`save`](Self::save)d at `path`; errors name the file.
    pub fn load(path: &Path) -> Result<Self> {
        let json = std::fs::read_to_string(path)
            .map_err(|e| arg_err("BpeTokenizer::load", format!("{}: {e}", path.display())))?;
        Self::from_json(&json).map_err(|e| arg_err("BpeTokenizer::load", format!("{}: {e}", path.display())))
    }

    /// Hugging Face `tokenizers`' byte-level files for this tokenizer, with its ids: `vocab.json`
    /// (GPT-2 spelling to id) and `merges.txt` (`#version: 0.2`, then one `left right` per line
    /// in rank order), as `tokenizers.ByteLevelBPETokenizer(vocab, merges)` reads them.
    pub fn to_hf_files(&self) -> (String, String) {
        let vocab: serde_json::Map<String, serde_json::Value> =
            self.tokens.iter().enumerate().map(|(i, t)| (byte_map::spell(t), serde_json::Value::from(i))).collect();
        let mut merges = String::from("#version: 0.2\n");
        for &((a, b), _) in &self.merges {
            merges.push_str(&byte_map::spell(&self.tokens[a as usize]));
            merges.push(' ');
            merges.push_str(&byte_map::spell(&self.tokens[b as usize]));
            merges.push('\n');
        }
        (serde_json::Value::Object(vocab).to_string(), merges)
    }

    /// The merges as pairs of GPT-2-spelled tokens, in rank order (to compare with another
    /// trainer's `merges.txt`).
    pub fn spelled_merges(&self) -> Vec<(String, String)> {
        self.merges
            .iter()
            .map(|&((a, b), _)| (byte_map::spell(&self.tokens[a as usize]), byte_map::spell(&self.tokens[b as usize])))
            .collect()
    }
}

fn rank_index(merges: &[((u32, u32), u32)]) -> HashMap<(u32, u32), (usize, u32)> {
    let mut ranks = HashMap::new();
    for (rank, &(pair, id)) in merges.iter().enumerate() {
        ranks.entry(pair).or_insert((rank, id));
    }
    ranks
}

#[cfg(test)]
mod tests;
