//! Bits per byte (and per character) of a token model, so that models over different tokenizers
//! compare on the text itself: a BPE-token GPT's loss is per token, a character GPT's per character;
//! both become total nats / ln 2 / the length of the text they predicted.

use super::bpe::BpeTokenizer;
use super::windows::{TokenWindows, evaluate_bpc};
use tinylab_classical::Result;
use tinylab_classical::error::arg_err;
use tinylab_classical::nn::Module;

/// Bits per unit of text (byte or character) of a mean next-token loss: `mean_nats` per token over
/// `tokens` predicted tokens that spell `units` bytes or characters, i.e. total nats / ln 2 / units.
/// For a character model (one token per character) it is [`bits_per_char`](super::bits_per_char)
/// of the loss. Errors when `units` is 0 and there are tokens.
pub fn bits_per_byte(mean_nats: f64, tokens: usize, units: usize) -> Result<f64> {
    if units == 0 {
        return Err(arg_err("bits_per_byte", format!("{tokens} tokens spell no text")));
    }
    Ok(mean_nats * tokens as f64 / std::f64::consts::LN_2 / units as f64)
}

/// Validation bits per byte of a BPE-token model on `data`: [`evaluate_bpc`]'s mean loss over every
/// window's targets, times the number of targets, over the bytes those targets spell under `tok`.
/// On ASCII text (the bundled corpus) a byte is a character, so this is bits per character, as the
/// character model reports. Errors on a target id outside `tok`'s vocabulary.
pub fn evaluate_bits_per_byte(
    model: &mut dyn Module,
    data: &TokenWindows,
    batch_size: usize,
    tok: &BpeTokenizer,
) -> Result<f64> {
    let mean = evaluate_bpc(model, data, batch_size)?;
    let targets = data.target_ids();
    let bytes = tok.decode_bytes(&targets)?.len();
    bits_per_byte(mean, targets.len(), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::windows::tests::Uniform;
    use crate::data::{BpeOptions, bits_per_char};

    #[test]
    fn bits_per_byte_scales_by_bytes_per_token() {
        assert!((bits_per_byte(2.0, 10, 10).unwrap() - bits_per_char(2.0)).abs() < 1e-12);
        assert!((bits_per_byte(2.0, 10, 20).unwrap() - bits_per_char(1.0)).abs() < 1e-12);
        assert!(bits_per_byte(1.0, 3, 0).is_err());
    }

    #[test]
    fn a_uniform_bpe_model_costs_log2_vocab_per_token() {
        let text = "to be or not to be, that is the question; to sleep, perchance to dream. ".repeat(8);
        let tok = BpeTokenizer::train(&text, 300, BpeOptions::default()).unwrap();
        let w = TokenWindows::new(tok.encode(&text), 8, 8).unwrap();
        let targets = w.target_ids();
        let bytes = tok.decode_bytes(&targets).unwrap().len();
        let bpb = evaluate_bits_per_byte(&mut Uniform(tok.vocab_size()), &w, 4, &tok).unwrap();
        let want = (tok.vocab_size() as f64).log2() * targets.len() as f64 / bytes as f64;
        assert!((bpb - want).abs() < 1e-4, "{bpb} vs {want}");
        assert!(bytes > 2 * targets.len(), "BPE tokens are longer than a byte");
    }
}
