//! tinylab's byte-level BPE against Hugging Face `tokenizers` (fixture from
//! `benches/peers/bpe_peer.py`, which says how to regenerate it).
//!
//! The fixture holds (a) the ids HF's `ByteLevelBPETokenizer` gives fixed strings when it loads the
//! merges tinylab trained on the full bundled corpus with 1024 tokens, and (b) the merges HF's own
//! trainer learns on the same text (one sequence, vocabulary 1024, min frequency 2): all 768 agree
//! with tinylab's, in order (`hf_training.same_prefix` = 768), so that is asserted too. The cases
//! are fixed strings and 40 seeded random ones over letters of several scripts, digits of several
//! kinds, contractions and whitespace runs: every branch of the GPT-2 split.

use serde_json::Value;
use tinylab_transformers::data::{BpeOptions, BpeTokenizer, shakespeare};

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/bpe_hf.json")).unwrap()
}

fn trained(f: &Value) -> BpeTokenizer {
    let text = shakespeare().unwrap();
    let chars = f["corpus_chars"].as_u64().unwrap() as usize;
    assert_eq!(chars, text.len(), "the fixture was made on the whole corpus");
    let size = f["vocab_size"].as_u64().unwrap() as usize;
    let min_frequency = f["min_frequency"].as_u64().unwrap();
    BpeTokenizer::train(&text, size, BpeOptions { min_frequency }).unwrap()
}

#[test]
fn matches_hugging_face_tokenizers() {
    let f = fixture();
    let tok = trained(&f);
    assert_eq!(tok.vocab_size(), f["vocab_size"].as_u64().unwrap() as usize);

    // (a) Encoding: the same ids as HF's ByteLevel BPE given our merges.
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(tok.encode(text), want, "{text:?}");
        assert_eq!(tok.decode(&want).unwrap(), text);
    }

    // (b) Training: HF's trainer learns the same merges in the same order.
    let theirs: Vec<(String, String)> = f["hf_merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let (a, b) = m.as_str().unwrap().split_once(' ').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect();
    assert_eq!(f["hf_training"]["same_prefix"], 768);
    let ours = tok.spelled_merges();
    assert_eq!(ours.len(), theirs.len());
    for (rank, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o, t, "merge {rank}");
    }
}

/// Compression on the bundled corpus (bytes of text per token), trained and measured on the whole
/// text: 1.000 with the 256 bytes alone, 1.922 at 512 tokens, 2.394 at 1024 (release build: each
/// trains in well under a second; see `examples/bpe_export.rs`).
#[test]
fn compression_on_the_corpus() {
    let text = shakespeare().unwrap();
    let mut last = 0.0;
    for (size, want) in [(256, 1.000), (512, 1.922), (1024, 2.394)] {
        let tok = BpeTokenizer::train(&text, size, BpeOptions::default()).unwrap();
        let bpt = tok.bytes_per_token(&text).unwrap();
        assert!((bpt - want).abs() < 5e-4, "vocab {size}: {bpt} bytes per token");
        assert!(bpt > last);
        last = bpt;
    }
}

/// Ties: on six small random texts (fixture `small_trainings`), where many pairs are equally
/// frequent at each step, tinylab's trainer learns HF's merges in HF's order.
#[test]
fn ties_break_as_hugging_face_breaks_them() {
    let f = fixture();
    let runs = f["small_trainings"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    for run in runs {
        let text = run["text"].as_str().unwrap();
        let size = run["vocab_size"].as_u64().unwrap() as usize;
        let min_frequency = run["min_frequency"].as_u64().unwrap();
        let tok = BpeTokenizer::train(text, size, BpeOptions { min_frequency }).unwrap();
        assert_eq!(tok.vocab_size() as u64, run["vocab_size_reached"].as_u64().unwrap(), "{text:?}");
        let theirs: Vec<String> =
            run["merges"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().into()).collect();
        let ours: Vec<String> = tok.spelled_merges().into_iter().map(|(a, b)| format!("{a} {b}")).collect();
        assert_eq!(ours, theirs, "{text:?}");
    }
}
