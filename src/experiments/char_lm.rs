//! The character-level language model that `char_gpt` and `long_context` share: the bundled
//! Shakespeare plays tokenised by character and split by position (the last 10% is the validation
//! text), a Llama-style decoder (`GptConfig::llama_like`: RMS norm, SwiGLU, rotary positions,
//! grouped-query attention, untied head) and its training with AdamW and a cosine learning rate on
//! windows of the training text, next-token cross-entropy on every position.

use super::{ExperimentError, RunContext};
use serde_json::json;
use std::time::Instant;
use tinylab_classical::optim::{Adam, LrSchedule};
use tinylab_classical::train::{Batches, TrainConfig, TrainReport, Trainer};
use tinylab_transformers::data::{
    CharTokenizer, LanguageModeling, LmEpoch, SHAKESPEARE_SOURCE, TokenWindows, bits_per_char, evaluate_bpc,
    next_token_loss, shakespeare, split_by_position,
};
use tinylab_transformers::model::{Gpt, GptConfig};

/// Fraction of the text (its end) held out for validation.
pub(super) const VAL_FRACTION: f64 = 0.1;

/// The tokenised corpus.
pub(super) struct Corpus {
    /// The character vocabulary of the whole text.
    pub tokenizer: CharTokenizer,
    /// The first 90% of the tokens.
    pub train: Vec<u32>,
    /// The last 10%.
    pub val: Vec<u32>,
}

impl Corpus {
    /// The bundled plays, tokenised and split; records the data's provenance in the configuration.
    pub fn load(ctx: &mut RunContext) -> Result<Self, ExperimentError> {
        let text = shakespeare()?;
        let tokenizer = CharTokenizer::fit(&text)?;
        let tokens = tokenizer.encode(&text)?;
        let (train, val) = split_by_position(&tokens, VAL_FRACTION)?;
        ctx.set_config("data", SHAKESPEARE_SOURCE);
        ctx.set_config("characters", text.len());
        ctx.set_config("vocab", tokenizer.vocab());
        ctx.set_config("split", json!({"validation_fraction": VAL_FRACTION, "by": "position (the text's end)"}));
        Ok(Self { tokenizer, train, val })
    }
}

/// The sizes of a model and its training.
pub(super) struct Scale {
    pub d_model: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    /// The MLP width; `None`: `8 d_model / 3` rounded up to a multiple of 8 (Llama's rule).
    pub d_ff: Option<usize>,
    /// The training context (window length).
    pub context: usize,
    pub batch: usize,
    /// Training windows per epoch.
    pub windows: usize,
    pub epochs: usize,
    pub lr: f32,
}

/// A trained model and how its training went.
pub(super) struct Trained {
    pub model: Gpt,
    pub params: usize,
    /// Validation nats per character before training.
    pub initial_val: f64,
    pub report: TrainReport<LmEpoch>,
    /// The training loss of every step (nats).
    pub step_losses: Vec<f32>,
    /// The training windows (calibration data for post-training quantization).
    pub train: TokenWindows,
    pub seconds: f64,
}

impl Trained {
    /// Validation bits per character after training (before, when no epoch ran).
    pub fn final_bpc(&self) -> f64 {
        self.report.history.last().map_or(bits_per_char(self.initial_val), |h| h.val_bpc)
    }
}

/// Builds the model of `s` from `ctx.seed` and trains it on windows of `corpus.train` validated on
/// `val`, recording the model and training setup in the configuration; a full run checkpoints each
/// epoch to `checkpoint` in the resume directory.
pub(super) fn train_char_gpt(
    ctx: &mut RunContext,
    s: &Scale,
    corpus: &Corpus,
    val: &TokenWindows,
    checkpoint: &str,
) -> Result<Trained, ExperimentError> {
    // Training windows start every `stride` characters, spread over the whole training text.
    let stride = ((corpus.train.len() - s.context - 1) / s.windows).max(1);
    let train = TokenWindows::new(corpus.train.clone(), s.context, stride)?;
    let d_ff = s.d_ff.unwrap_or_else(|| (8 * s.d_model / 3).next_multiple_of(8));
    let vocab = corpus.tokenizer.vocab();
    let config = GptConfig::llama_like(vocab, s.context, s.d_model, s.layers, s.heads, s.kv_heads, d_ff);
    let mut model = Gpt::new(config, ctx.seed)?;
    let params: usize = tinylab_classical::nn::named_params(&model).iter().map(|(_, p)| p.value.len()).sum::<usize>();
    ctx.set_config("model", serde_json::to_value(model.config()).map_err(ExperimentError::other)?);
    ctx.set_config("parameters", params);
    ctx.set_config(
        "training",
        json!({"optimizer": "AdamW (betas 0.9, 0.999, weight decay 0.01)", "epochs": s.epochs,
               "windows_per_epoch": train.len(), "window_stride": stride, "batch_size": s.batch,
               "lr": {"kind": "cosine per epoch", "base": s.lr, "min": s.lr / 10.0},
               "clip_grad_norm": 1.0, "validation_windows": val.len()}),
    );

    let initial_val = evaluate_bpc(&mut model, val, s.batch)?;
    let cfg = TrainConfig {
        epochs: s.epochs,
        batch_size: s.batch,
        lr: LrSchedule::Cosine { base: s.lr, min: s.lr / 10.0, warmup: 0, total: s.epochs },
        seed: ctx.seed,
        patience: None,
        clip_grad_norm: Some(1.0),
        progress: true,
        checkpoint: ctx.checkpoint(checkpoint)?,
    };
    let mut metrics_cb = LanguageModeling::new(val.clone(), s.batch);
    let start = Instant::now();
    let report = Trainer::new(cfg, |logits, targets: &Vec<usize>| next_token_loss(logits, targets)).run(
        &mut model,
        &mut Adam::adamw(0.01),
        &train,
        &mut metrics_cb,
    )?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(Trained { model, params, initial_val, report, step_losses: metrics_cb.step_losses, train, seconds })
}
