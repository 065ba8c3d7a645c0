//! `char_gpt`: a character-level GPT trained on the bundled Shakespeare plays.
//!
//! The seven plays (`transformers::data::shakespeare`) are tokenised by character; the last 10% by
//! position is the validation text. A Llama-style decoder (RMS norm, SwiGLU, rotary positions,
//! grouped-query attention, untied head; `GptConfig::llama_like`) is trained with AdamW on windows of
//! the training text, next-token cross-entropy on every position, with a cosine learning rate. Reports
//! validation bits per character per epoch, the training loss of every step, and samples generated
//! with the KV cache (greedy and top-k / top-p) from a fixed prompt. Epochs are checkpointed, so an
//! interrupted full run resumes where it stopped.

use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{LineChart, Series};
use serde_json::json;
use std::time::Instant;
use tinylab_classical::optim::{Adam, LrSchedule};
use tinylab_classical::train::{Batches, TrainConfig, TrainReport, Trainer};
use tinylab_transformers::data::{
    CharTokenizer, LanguageModeling, LmEpoch, SHAKESPEARE_SOURCE, TokenWindows, bits_per_char, evaluate_bpc,
    next_token_loss, shakespeare, split_by_position,
};
use tinylab_transformers::model::{Gpt, GptConfig, Sampler, generate};

/// The study.
pub struct CharGpt;

/// Fraction of the text (its end) held out for validation.
const VAL_FRACTION: f64 = 0.1;

/// The prompt the samples continue.
const PROMPT: &str = "HAMLET.\n";

/// The sizes of one run.
struct Scale {
    d_model: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    context: usize,
    batch: usize,
    /// Training windows per epoch.
    windows: usize,
    epochs: usize,
    /// Validation windows (of `context` tokens, not overlapping).
    val_windows: usize,
    lr: f32,
}

impl Scale {
    fn of(quick: bool) -> Scale {
        if quick {
            Scale {
                d_model: 48,
                layers: 2,
                heads: 4,
                kv_heads: 2,
                context: 48,
                batch: 16,
                windows: 1024,
                epochs: 3,
                val_windows: 64,
                lr: 3e-3,
            }
        } else {
            Scale {
                d_model: 128,
                layers: 4,
                heads: 4,
                kv_heads: 2,
                context: 128,
                batch: 32,
                windows: 4096,
                epochs: 5,
                val_windows: 256,
                lr: 2e-3,
            }
        }
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
        let s = Scale::of(ctx.quick);
        let CharData { text_chars, tokenizer, train_tokens, val_tokens, train, val, stride } =
            char_data(s.context, s.windows, s.val_windows)?;
        let d_ff = (8 * s.d_model / 3).next_multiple_of(8);
        let config =
            GptConfig::llama_like(tokenizer.vocab(), s.context, s.d_model, s.layers, s.heads, s.kv_heads, d_ff);
        let mut model = Gpt::new(config.clone(), ctx.seed)?;
        let params: usize =
            tinylab_classical::nn::named_params(&model).iter().map(|(_, p)| p.value.len()).sum::<usize>();

        ctx.set_config("data", SHAKESPEARE_SOURCE);
        ctx.set_config("characters", text_chars);
        ctx.set_config("vocab", tokenizer.vocab());
        ctx.set_config("split", json!({"validation_fraction": VAL_FRACTION, "by": "position (the text's end)"}));
        ctx.set_config("model", serde_json::to_value(&config).map_err(ExperimentError::other)?);
        ctx.set_config("parameters", params);
        ctx.set_config(
            "training",
            json!({"optimizer": "AdamW (betas 0.9, 0.999, weight decay 0.01)", "epochs": s.epochs,
                   "windows_per_epoch": train.len(), "window_stride": stride, "batch_size": s.batch,
                   "lr": {"kind": "cosine per epoch", "base": s.lr, "min": s.lr / 10.0},
                   "clip_grad_norm": 1.0, "validation_windows": val.len()}),
        );

        let initial_val = evaluate_bpc(&mut model, &val, s.batch)?;
        let checkpoint = (!ctx.quick).then(|| ctx.resume_dir().join("char_gpt.ckpt"));
        let start = Instant::now();
        let (report, metrics_cb) = train_char_gpt(
            &mut model,
            &train,
            &val,
            TrainPlan { epochs: s.epochs, batch: s.batch, lr: s.lr },
            ctx.seed,
            checkpoint,
        )?;
        let train_seconds = start.elapsed().as_secs_f64();
        let final_bpc = report.history.last().map_or(bits_per_char(initial_val), |h| h.val_bpc);
        // A model that predicts the training text's character frequencies, for scale.
        let unigram_bpc = unigram_bits(&train_tokens, &val_tokens, tokenizer.vocab());

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
        let tokens_seen = (s.epochs - report.resumed_from) * train.len() * s.context;
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
        let steps: Vec<f64> = metrics_cb.step_losses.iter().map(|&l| bits_per_char(l as f64)).collect();
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
            train.len(),
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

/// The tokenised plays and their windows, shared by the character-model studies.
pub(super) struct CharData {
    /// Characters of the text.
    pub text_chars: usize,
    /// The character vocabulary.
    pub tokenizer: CharTokenizer,
    /// The training text's tokens.
    pub train_tokens: Vec<u32>,
    /// The validation tokens the windows cover.
    pub val_tokens: Vec<u32>,
    /// Training windows of `context` tokens, starting every `stride` tokens.
    pub train: TokenWindows,
    /// Non-overlapping validation windows.
    pub val: TokenWindows,
    /// The training windows' stride.
    pub stride: usize,
}

/// The plays split by position ([`VAL_FRACTION`] at the end held out), about `windows` training
/// windows of `context` tokens spread over the training text and `val_windows` validation windows.
pub(super) fn char_data(context: usize, windows: usize, val_windows: usize) -> Result<CharData, ExperimentError> {
    let text = shakespeare()?;
    let tokenizer = CharTokenizer::fit(&text)?;
    let tokens = tokenizer.encode(&text)?;
    let (train_tokens, val_tokens) = split_by_position(&tokens, VAL_FRACTION)?;
    // Training windows start every `stride` characters, spread over the whole training text.
    let stride = ((train_tokens.len() - context - 1) / windows).max(1);
    let train = TokenWindows::new(train_tokens.clone(), context, stride)?;
    let val_len = (val_windows * context + 1).min(val_tokens.len());
    let val_tokens = val_tokens[..val_len].to_vec();
    let val = TokenWindows::new(val_tokens.clone(), context, context)?;
    Ok(CharData { text_chars: text.len(), tokenizer, train_tokens, val_tokens, train, val, stride })
}

/// The optimisation of [`train_char_gpt`].
pub(super) struct TrainPlan {
    /// Epochs over the training windows.
    pub epochs: usize,
    /// Windows per step.
    pub batch: usize,
    /// The base learning rate of the per-epoch cosine schedule (down to a tenth of it).
    pub lr: f32,
}

/// Trains `model` with AdamW (weight decay 0.01), next-token cross-entropy, a per-epoch cosine
/// learning rate and gradient clipping at 1, validating each epoch; checkpoints to `checkpoint`.
pub(super) fn train_char_gpt(
    model: &mut Gpt,
    train: &TokenWindows,
    val: &TokenWindows,
    plan: TrainPlan,
    seed: u64,
    checkpoint: Option<std::path::PathBuf>,
) -> Result<(TrainReport<LmEpoch>, LanguageModeling), ExperimentError> {
    let TrainPlan { epochs, batch, lr } = plan;
    if let Some(p) = &checkpoint
        && let Some(dir) = p.parent()
    {
        std::fs::create_dir_all(dir).map_err(|source| ExperimentError::Io { path: dir.to_path_buf(), source })?;
    }
    let cfg = TrainConfig {
        epochs,
        batch_size: batch,
        lr: LrSchedule::Cosine { base: lr, min: lr / 10.0, warmup: 0, total: epochs },
        seed,
        patience: None,
        clip_grad_norm: Some(1.0),
        progress: true,
        checkpoint,
    };
    let mut metrics_cb = LanguageModeling::new(val.clone(), batch);
    let report = Trainer::new(cfg, |logits, targets: &Vec<usize>| next_token_loss(logits, targets)).run(
        model,
        &mut Adam::adamw(0.01),
        train,
        &mut metrics_cb,
    )?;
    Ok((report, metrics_cb))
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
