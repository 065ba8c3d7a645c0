//! `char_gpt`: a character-level GPT trained on the bundled Shakespeare plays.
//!
//! The seven plays (`transformers::data::shakespeare`) are tokenised by character; the last 10% by
//! position is the validation text. A Llama-style decoder (RMS norm, SwiGLU, rotary positions,
//! grouped-query attention, untied head; `GptConfig::llama_like`) is trained with AdamW on windows of
//! the training text, next-token cross-entropy on every position, with a cosine learning rate. Reports
//! validation bits per character per epoch, the training loss of every step, and samples generated
//! with the KV cache (greedy and top-k / top-p) from a fixed prompt. Epochs are checkpointed, so an
//! interrupted full run resumes where it stopped.

use super::char_lm::{self, Corpus, train_char_gpt};
use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{LineChart, Series};
use serde_json::json;
use tinylab_classical::train::Batches;
use tinylab_transformers::data::{TokenWindows, bits_per_char};
use tinylab_transformers::model::{Sampler, generate};

/// The study.
pub struct CharGpt;

/// The prompt the samples continue.
const PROMPT: &str = "HAMLET.\n";

/// The sizes of one run: the model and its training, and the validation windows (of `context`
/// tokens, not overlapping).
fn scale(quick: bool) -> (char_lm::Scale, usize) {
    if quick {
        let s = char_lm::Scale {
            d_ff: None,
            d_model: 48,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            context: 48,
            batch: 16,
            windows: 1024,
            epochs: 3,
            lr: 3e-3,
        };
        (s, 64)
    } else {
        let s = char_lm::Scale {
            d_ff: None,
            d_model: 128,
            layers: 4,
            heads: 4,
            kv_heads: 2,
            context: 128,
            batch: 32,
            windows: 4096,
            epochs: 5,
            lr: 2e-3,
        };
        (s, 256)
    }
}

impl Experiment for CharGpt {
    fn name(&self) -> &'static str {
        "char_gpt"
    }

    fn description(&self) -> &'static str {
        "a character-level Llama-style GPT (RMS norm, SwiGLU, RoPE, grouped-query attention) trained on seven \
         bundled Shakespeare plays: validation bits per character, loss curve, generated samples"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let (s, val_windows) = scale(ctx.quick);
        let corpus = Corpus::load(ctx)?;
        let val_len = (val_windows * s.context + 1).min(corpus.val.len());
        let val = TokenWindows::new(corpus.val[..val_len].to_vec(), s.context, s.context)?;
        let trained = train_char_gpt(ctx, &s, &corpus, &val, "char_gpt.ckpt")?;
        let (tokenizer, params, report) = (&corpus.tokenizer, trained.params, &trained.report);
        let (initial_val, train_seconds) = (trained.initial_val, trained.seconds);
        let final_bpc = trained.final_bpc();
        let mut model = trained.model;
        // A model that predicts the training text's character frequencies, for scale.
        let unigram_bpc = unigram_bits(&corpus.train, &corpus.val[..val_len], tokenizer.vocab());

        let prompt: Vec<usize> = tokenizer.encode(PROMPT)?.iter().map(|&t| t as usize).collect();
        let n_new = s.context - prompt.len() + 1;
        let mut samples = Vec::new();
        for (name, sampler) in [
            ("greedy", Sampler::greedy()),
            ("temperature 0.8, top-k 10", Sampler { temperature: 0.8, top_k: Some(10), top_p: None }),
            ("temperature 1.0, top-p 0.9", Sampler { temperature: 1.0, top_k: None, top_p: Some(0.9) }),
        ] {
            let ids = generate(&mut model, &prompt, n_new, &sampler, ctx.seed)?;
            let ids: Vec<u32> = ids.iter().map(|&t| t as u32).collect();
            samples.push((name, format!("{PROMPT}{}", tokenizer.decode(&ids)?)));
        }

        let mut metrics = Metrics::new();
        metrics.insert("parameters", params);
        metrics.insert("initial_val_bpc", bits_per_char(initial_val));
        metrics.insert("final_val_bpc", final_bpc);
        metrics.insert("unigram_val_bpc", unigram_bpc);
        metrics.insert("uniform_bpc", (tokenizer.vocab() as f64).log2());
        metrics.insert("history", serde_json::to_value(&report.history).map_err(ExperimentError::other)?);
        metrics.insert(
            "samples",
            json!(samples.iter().map(|(n, t)| json!({"sampler": n, "text": t})).collect::<Vec<_>>()),
        );
        metrics.insert_timing("train_seconds", train_seconds);
        let tokens_seen = (s.epochs - report.resumed_from) * trained.train.len() * s.context;
        metrics.insert_timing("train_tokens_per_second", tokens_seen as f64 / train_seconds.max(1e-9));

        let mut val_curve = vec![(0.0, bits_per_char(initial_val))];
        val_curve.extend(report.history.iter().map(|h| ((h.epoch + 1) as f64, h.val_bpc)));
        ctx.plot(
            "val_bpc",
            &LineChart {
                title: "char GPT: validation bits per character".into(),
                x_label: "epoch".into(),
                y_label: "bits per character".into(),
                series: vec![
                    Series::new("validation", val_curve),
                    Series::new("unigram model", vec![(0.0, unigram_bpc), (s.epochs as f64, unigram_bpc)]),
                ],
                log_y: false,
                markers: true,
            },
        )?;
        let steps: Vec<f64> = trained.step_losses.iter().map(|&l| bits_per_char(l as f64)).collect();
        if !steps.is_empty() {
            ctx.plot(
                "train_loss",
                &LineChart {
                    title: "char GPT: training loss per step".into(),
                    x_label: "step".into(),
                    y_label: "bits per character".into(),
                    series: vec![Series::from_ys("training batch", &steps)],
                    log_y: false,
                    markers: false,
                },
            )?;
        }
        ctx.note(format!(
            "{params} parameters; {} epochs of {} windows of {} characters took {train_seconds:.1} s. Validation: \
             {:.3} bits per character before training, {final_bpc:.3} after (a unigram model of the training text: \
             {unigram_bpc:.3}; uniform over {} characters: {:.3}).",
            s.epochs,
            trained.train.len(),
            s.context,
            bits_per_char(initial_val),
            tokenizer.vocab(),
            (tokenizer.vocab() as f64).log2()
        ));
        for (name, text) in &samples {
            ctx.note(format!("Sample ({name}, KV cache):\n\n```text\n{text}\n```"));
        }
        Ok(metrics)
    }
}

/// Bits per character of `val` under the character frequencies of `train` (add-one smoothing).
fn unigram_bits(train: &[u32], val: &[u32], vocab: usize) -> f64 {
    let mut counts = vec![1.0f64; vocab];
    for &t in train {
        counts[t as usize] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    -val.iter().map(|&t| (counts[t as usize] / total).log2()).sum::<f64>() / val.len() as f64
}
