//! Text for the language models: the bundled Shakespeare corpus, a character tokenizer, a byte-level
//! BPE tokenizer, and the next-token windows the classical
//! [`Trainer`](tinylab_classical::train::Trainer) draws batches from.

mod bpe;
mod corpus;
mod text_bits;
mod tokenizer;
mod windows;

pub use bpe::{BpeOptions, BpeTokenizer, pre_tokenize};
pub use corpus::{SHAKESPEARE_PLAYS, SHAKESPEARE_SOURCE, shakespeare, split_by_position};
pub use text_bits::{bits_per_byte, evaluate_bits_per_byte};
pub use tokenizer::CharTokenizer;
pub use windows::{LanguageModeling, LmEpoch, TokenWindows, bits_per_char, evaluate_bpc, next_token_loss};
