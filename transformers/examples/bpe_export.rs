//! Trains tinylab's byte-level BPE on the bundled Shakespeare corpus and writes, for each vocabulary
//! size, the tokenizer in Hugging Face's byte-level files, for `benches/peers/bpe_peer.py`:
//!
//! ```text
//! cargo run --release -p tinylab-transformers --example bpe_export -- OUT_DIR [CHARS] [SIZES...]
//! ```
//!
//! `OUT_DIR/corpus.txt` is the training text (the first `CHARS` characters of the corpus, all when
//! 0 or absent); `OUT_DIR/vocab_N.json` and `OUT_DIR/merges_N.txt` are the tokenizer of size `N`
//! (default sizes 512 and 1024), and `OUT_DIR/report.json` the training seconds and bytes per token
//! on the training text.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;
use tinylab_transformers::data::{BpeOptions, BpeTokenizer, shakespeare};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: bpe_export OUT_DIR [CHARS] [SIZES...]")?);
    let chars: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    let mut sizes: Vec<usize> = args.map(|s| s.parse()).collect::<Result<_, _>>()?;
    if sizes.is_empty() {
        sizes = vec![512, 1024];
    }
    let corpus = shakespeare()?;
    let text = if chars == 0 { corpus.as_str() } else { &corpus[..chars.min(corpus.len())] };
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("corpus.txt"), text)?;
    let mut report = Vec::new();
    for n in sizes {
        let start = Instant::now();
        let tok = BpeTokenizer::train(text, n, BpeOptions::default())?;
        let seconds = start.elapsed().as_secs_f64();
        let (vocab, merges) = tok.to_hf_files();
        std::fs::write(out.join(format!("vocab_{n}.json")), vocab)?;
        std::fs::write(out.join(format!("merges_{n}.txt")), merges)?;
        let bpt = tok.bytes_per_token(text)?;
        println!("vocab {n}: {} merges in {seconds:.2} s, {bpt:.3} bytes/token", tok.num_merges());
        report.push(serde_json::json!({"vocab_size": n, "merges": tok.num_merges(), "train_seconds": seconds,
            "bytes_per_token": bpt}));
    }
    std::fs::write(out.join("report.json"), serde_json::to_string_pretty(&report)?)?;
    Ok(())
}
