//! `llm_prune`: pruning and quantization-aware training of a character-level GPT through the shared
//! passes of `classical::compress`, and structured pruning of its heads and MLP channels.
//!
//! A Llama-style char GPT (multi-head attention, so that every head is its own key/value group) is
//! trained on the Shakespeare plays as in `char_gpt`. From that one model:
//!
//! - unstructured: global magnitude pruning of every linear weight (Han et al. 2015) to each of
//!   [`SPARSITIES`], validation bits per character one-shot and after a short fine-tune with the
//!   masks held;
//! - structured: keeping each fraction of [`KEPT`] of the heads (whole key/value groups), of the MLP
//!   channels, or of both, scored by weight norm times calibration activation norm (Wanda-style, Sun
//!   et al. 2023) and physically removed: parameters, linear multiply-accumulates and KV-cache floats
//!   per token, one-shot and fine-tuned bits per character, and greedy decoding speed (a timing);
//! - 4-bit weights: per-channel symmetric round-to-nearest after training (PTQ) against the same grid
//!   learned with the straight-through estimator (QAT, the same fine-tune), baked.
//!
//! Every fine-tune (the dense control included) is one pass over the same [`Scale::ft_windows`]
//! training windows with AdamW at a constant rate, so the rows differ only in what was compressed.

use super::char_lm::{self, Corpus, train_char_gpt};
use super::llm_quant::{bpc, tokens_per_second};
use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{BarChart, BarGroup, LineChart, Series};
use serde_json::json;
use std::sync::Arc;
use tinylab_classical::Tensor;
use tinylab_classical::compress::channel::Importance;
use tinylab_classical::compress::prune::{Target, prune_magnitude, sparsity_report};
use tinylab_classical::compress::qat::{LinearWeights, attach_quantizer, bake_quantizers};
use tinylab_classical::compress::quant::{Granularity, QuantScheme, Symmetry};
use tinylab_classical::nn::{named_params, param_count};
use tinylab_classical::optim::{Adam, LrSchedule};
use tinylab_classical::train::{Batches, TrainConfig, Trainer};
use tinylab_transformers::data::{LanguageModeling, TokenWindows, next_token_loss};
use tinylab_transformers::model::prune::{HeadUnit, StructuredPlan, linear_weight, prune_structured};
use tinylab_transformers::model::{Calibration, Gpt};

/// The study.
pub struct LlmPrune;

/// Global sparsities of the linear weights.
const SPARSITIES: [f64; 4] = [0.0, 0.5, 0.7, 0.9];
/// Fractions of heads / MLP channels kept.
const KEPT: [f32; 4] = [1.0, 0.75, 0.5, 0.25];
/// Bits of the weight-quantization comparison.
const BITS: u8 = 4;
/// The prompt of the decoding-speed measurement.
const PROMPT: &str = "HAMLET.\n";

/// A chart line: (x, y) points.
type Curve = Vec<(f64, f64)>;

/// The sizes of one run.
struct Scale {
    lm: char_lm::Scale,
    val_windows: usize,
    /// Training windows of each fine-tune (one pass).
    ft_windows: usize,
    ft_lr: f32,
    /// Training windows whose activations weight the structured scores.
    calib_windows: usize,
}

impl Scale {
    fn of(quick: bool) -> Scale {
        let lm = |d_model, layers, d_ff, context, batch, windows, epochs, lr| char_lm::Scale {
            d_model,
            layers,
            heads: 4,
            kv_heads: 4,
            d_ff: Some(d_ff),
            context,
            batch,
            windows,
            epochs,
            lr,
        };
        if quick {
            Scale {
                lm: lm(64, 2, 192, 48, 16, 2048, 3, 3e-3),
                val_windows: 64,
                ft_windows: 256,
                ft_lr: 1e-3,
                calib_windows: 32,
            }
        } else {
            Scale {
                lm: lm(128, 4, 352, 128, 32, 4096, 5, 2e-3),
                val_windows: 256,
                ft_windows: 1024,
                ft_lr: 5e-4,
                calib_windows: 128,
            }
        }
    }
}

/// What one fine-tune needs: the windows, the validation set and the settings.
struct FineTune<'a> {
    train: TokenWindows,
    val: &'a TokenWindows,
    batch: usize,
    lr: f32,
    seed: u64,
}

impl FineTune<'_> {
    /// One pass of AdamW over the fine-tuning windows (masks and quantizers held); the validation
    /// bits per character afterwards.
    fn run(&self, model: &mut Gpt) -> Result<f64, ExperimentError> {
        let cfg = TrainConfig {
            epochs: 1,
            batch_size: self.batch,
            lr: LrSchedule::Constant { base: self.lr },
            seed: self.seed,
            patience: None,
            clip_grad_norm: Some(1.0),
            progress: false,
            checkpoint: None,
        };
        let mut metrics = LanguageModeling::new(self.val.clone(), self.batch);
        let report = Trainer::new(cfg, |logits, targets: &Vec<usize>| next_token_loss(logits, targets)).run(
            model,
            &mut Adam::adamw(0.01),
            &self.train,
            &mut metrics,
        )?;
        report.history.last().map(|h| h.val_bpc).ok_or_else(|| ExperimentError::other("the fine-tune ran no epoch"))
    }
}

/// One compressed model's row: its one-shot and fine-tuned bits per character.
fn row(
    model: &Gpt,
    ft: &FineTune,
    compress: impl FnOnce(&mut Gpt) -> Result<serde_json::Value, ExperimentError>,
) -> Result<(serde_json::Value, f64, f64, Gpt), ExperimentError> {
    let mut m = model.clone();
    let info = compress(&mut m)?;
    let oneshot = bpc(&mut m, ft.val, ft.batch)?;
    let finetuned = ft.run(&mut m)?;
    Ok((info, oneshot, finetuned, m))
}

/// Multiply-accumulates of the linear layers for one token: one per weight entry (the attention's
/// scores and sums, which grow with the context, are left out).
fn linear_macs_per_token(model: &Gpt) -> usize {
    named_params(model).iter().filter(|(n, p)| linear_weight(n, p)).map(|(_, p)| p.len()).sum()
}

/// Greedy decoding speed (batch 1, KV cache, tokens per second): the best of three runs, the
/// least disturbed by other work on the machine.
fn best_tokens_per_second(model: &mut Gpt, prompt: &[usize]) -> Result<f64, ExperimentError> {
    let mut best = 0f64;
    for _ in 0..3 {
        best = best.max(tokens_per_second(model, prompt, None)?);
    }
    Ok(best)
}

/// The 4-bit per-output-channel symmetric weight quantizer.
fn quantizer() -> Result<Arc<LinearWeights>, ExperimentError> {
    Ok(Arc::new(LinearWeights::new(QuantScheme::new(BITS, Symmetry::Symmetric, Granularity::PerChannel(0)))?))
}

/// Structured pruning of `model` keeping fractions `heads` and `channels`, scored with `cal`.
fn structured(
    model: &mut Gpt,
    heads: f32,
    channels: f32,
    cal: Option<&Calibration>,
) -> Result<serde_json::Value, ExperimentError> {
    let plan = StructuredPlan { heads, unit: HeadUnit::KvGroup, channels, importance: Importance::L2 };
    let report = prune_structured(model, &plan, cal)?;
    let head_dim = model.config().head_dim();
    Ok(json!({"parameters": report.params_after, "linear_macs_per_token": linear_macs_per_token(model),
              "kv_floats_per_token": report.shapes.iter().map(|s| 2 * s.n_kv_heads * head_dim).sum::<usize>(),
              "heads_per_block": report.shapes.iter().map(|s| s.n_heads).collect::<Vec<_>>(),
              "d_ff_per_block": report.shapes.iter().map(|s| s.d_ff).collect::<Vec<_>>()}))
}

impl Experiment for LlmPrune {
    fn name(&self) -> &'static str {
        "llm_prune"
    }

    fn description(&self) -> &'static str {
        "pruning a char GPT through the shared passes: bits per character vs unstructured sparsity and vs the \
         fraction of heads / MLP channels kept (physically removed), and 4-bit QAT vs post-training RTN"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let s = Scale::of(ctx.quick);
        let corpus = Corpus::load(ctx)?;
        let val_len = (s.val_windows * s.lm.context + 1).min(corpus.val.len());
        let val = TokenWindows::new(corpus.val[..val_len].to_vec(), s.lm.context, s.lm.context)?;
        let trained = train_char_gpt(ctx, &s.lm, &corpus, &val, "llm_prune.ckpt")?;
        let (mut model, train) = (trained.model, trained.train);
        let batch = s.lm.batch;
        let stride = ((corpus.train.len() - s.lm.context - 1) / s.ft_windows).max(1);
        let ft = FineTune {
            train: TokenWindows::new(corpus.train.clone(), s.lm.context, stride)?,
            val: &val,
            batch,
            lr: s.ft_lr,
            seed: ctx.seed ^ 0x5eed,
        };
        let idx: Vec<usize> = (0..s.calib_windows.min(train.len())).collect();
        let calib: Vec<Tensor> =
            idx.chunks(batch).map(|c| train.batch(c).map(|b| b.input)).collect::<Result<_, _>>()?;
        let cal = model.calibrate(&calib)?;
        ctx.set_config(
            "compression",
            json!({"fine_tune": {"windows": ft.train.len(), "passes": 1, "optimizer": "AdamW (weight decay 0.01)",
                                  "lr": s.ft_lr, "clip_grad_norm": 1.0},
                   "unstructured": {"sparsities": SPARSITIES, "target": "global magnitude over every linear weight",
                                    "selected": "q/k/v/o, gate/up/down, lm_head weights (not embeddings, norms, biases)"},
                   "structured": {"kept_fractions": KEPT, "head_unit": "key/value group (multi-head: one head)",
                                  "importance": "L2 norm of the output projection's columns times the calibration \
                                                 activation norm, summed per head / channel",
                                  "calibration_windows": idx.len()},
                   "weights": {"bits": BITS, "scheme": "symmetric, per output channel, round to nearest"}}),
        );

        let dense_bpc = bpc(&mut model, &val, batch)?;
        let dense_params = param_count(&model);
        let mut metrics = Metrics::new();
        metrics.insert("dense_bpc", dense_bpc);
        metrics.insert("parameters", dense_params);
        metrics.insert("linear_macs_per_token", linear_macs_per_token(&model));

        // Unstructured sparsity (0 is the dense model through the same fine-tune: the control).
        let (mut sparse_rows, mut dense_tuned) = (Vec::new(), None);
        for &sparsity in &SPARSITIES {
            let (info, oneshot, finetuned, m) = row(&model, &ft, |m| {
                let r = prune_magnitude(m, &Target::Global(sparsity), &linear_weight)?;
                Ok(json!({"nonzero_linear_weights": r.nonzero(), "linear_weights": r.total()}))
            })?;
            let held = sparsity_report(&m, &linear_weight).sparsity();
            let mut entry = json!({"sparsity": sparsity, "oneshot_bpc": oneshot, "finetuned_bpc": finetuned,
                                   "sparsity_after_fine_tune": held});
            entry.as_object_mut().expect("an object").extend(info.as_object().cloned().unwrap_or_default());
            sparse_rows.push(entry);
            if sparsity == 0.0 {
                dense_tuned = Some(m);
            }
        }
        let dense_finetuned = sparse_rows[0]["finetuned_bpc"].as_f64().unwrap_or(f64::NAN);
        metrics.insert("dense_finetuned_bpc", dense_finetuned);
        metrics.insert("unstructured", json!(sparse_rows));

        // Structured: heads, MLP channels, both.
        let prompt: Vec<usize> = corpus.tokenizer.encode(PROMPT)?.iter().map(|&t| t as usize).collect();
        let mut structured_metrics = serde_json::Map::new();
        let mut curves: Vec<(&str, Curve, Curve)> = Vec::new();
        for (key, heads_on, channels_on) in
            [("heads", true, false), ("mlp_channels", false, true), ("both", true, true)]
        {
            let (mut rows, mut oneshot_curve, mut ft_curve) = (Vec::new(), Vec::new(), Vec::new());
            for &f in &KEPT {
                let (h, c) = (if heads_on { f } else { 1.0 }, if channels_on { f } else { 1.0 });
                let (info, oneshot, finetuned, mut m) = row(&model, &ft, |m| structured(m, h, c, Some(&cal)))?;
                let tps = best_tokens_per_second(&mut m, &prompt)?;
                metrics.insert_timing(format!("tokens_per_second.{key}.kept_{f}"), tps);
                let mut entry = json!({"kept_fraction": f, "oneshot_bpc": oneshot, "finetuned_bpc": finetuned});
                entry.as_object_mut().expect("an object").extend(info.as_object().cloned().unwrap_or_default());
                rows.push(entry);
                oneshot_curve.push((f as f64, oneshot));
                ft_curve.push((f as f64, finetuned));
            }
            structured_metrics.insert(key.into(), json!(rows));
            curves.push((key, oneshot_curve, ft_curve));
        }
        metrics.insert("structured", serde_json::Value::Object(structured_metrics));
        // The scores' ingredient: half the heads and channels removed by weight norm alone vs
        // weighted by the calibration activations (one-shot).
        let mut by_weight = model.clone();
        structured(&mut by_weight, 0.5, 0.5, None)?;
        let mut by_activation = model.clone();
        structured(&mut by_activation, 0.5, 0.5, Some(&cal))?;
        metrics.insert(
            "structured_importance_half",
            json!({"weight_norm_oneshot_bpc": bpc(&mut by_weight, &val, batch)?,
                   "activation_weighted_oneshot_bpc": bpc(&mut by_activation, &val, batch)?}),
        );

        // 4-bit weights: RTN after training vs QAT with the same fine-tune.
        let mut ptq = model.clone();
        attach_quantizer(&mut ptq, quantizer()?, &linear_weight);
        bake_quantizers(&mut ptq);
        let ptq_bpc = bpc(&mut ptq, &val, batch)?;
        let mut qat = model.clone();
        attach_quantizer(&mut qat, quantizer()?, &linear_weight);
        let qat_fake = ft.run(&mut qat)?;
        bake_quantizers(&mut qat);
        let qat_bpc = bpc(&mut qat, &val, batch)?;
        // The control of QAT: the same fine-tune without the quantizer in the loop, then RTN.
        let mut ptq_ft = dense_tuned.ok_or_else(|| ExperimentError::other("no dense fine-tune"))?;
        attach_quantizer(&mut ptq_ft, quantizer()?, &linear_weight);
        bake_quantizers(&mut ptq_ft);
        let ptq_ft_bpc = bpc(&mut ptq_ft, &val, batch)?;
        metrics.insert(
            "weights_4bit",
            json!({"ptq_rtn_bpc": ptq_bpc, "qat_bpc": qat_bpc, "qat_fake_quant_bpc": qat_fake,
                   "finetune_then_rtn_bpc": ptq_ft_bpc, "fp32_finetuned_bpc": dense_finetuned}),
        );
        metrics.insert_timing("train_seconds", trained.seconds);

        let sparse_curve = |k: &str| -> Vec<(f64, f64)> {
            sparse_rows
                .iter()
                .map(|r| (r["sparsity"].as_f64().unwrap_or(0.0), r[k].as_f64().unwrap_or(f64::NAN)))
                .collect()
        };
        ctx.plot(
            "bpc_vs_sparsity",
            &LineChart {
                title: "char GPT, global magnitude pruning of the linear weights".into(),
                x_label: "sparsity of the linear weights".into(),
                y_label: "validation bits per character".into(),
                series: vec![
                    Series::new("one-shot", sparse_curve("oneshot_bpc")),
                    Series::new("fine-tuned, masks held", sparse_curve("finetuned_bpc")),
                ],
                log_y: false,
                markers: true,
            },
        )?;
        let mut series = Vec::new();
        for (key, oneshot, finetuned) in &curves {
            series.push(Series::new(format!("{key}, one-shot"), oneshot.clone()));
            series.push(Series::new(format!("{key}, fine-tuned"), finetuned.clone()));
        }
        ctx.plot(
            "bpc_vs_structure_kept",
            &LineChart {
                title: "char GPT, structured pruning (heads / MLP channels removed)".into(),
                x_label: "fraction kept".into(),
                y_label: "validation bits per character".into(),
                series,
                log_y: false,
                markers: true,
            },
        )?;
        let cats = ["fp32 (fine-tuned)", "RTN 4-bit", "fine-tune, then RTN", "QAT 4-bit (baked)"];
        ctx.plot(
            "weights_4bit",
            &BarChart {
                title: "char GPT, 4-bit per-channel weights".into(),
                x_label: "method".into(),
                y_label: "validation bits per character".into(),
                categories: cats.iter().map(|c| c.to_string()).collect(),
                groups: vec![BarGroup::new("bpc", vec![dense_finetuned, ptq_bpc, ptq_ft_bpc, qat_bpc])],
                show_values: true,
            },
        )?;

        let mut md = String::from("| sparsity | one-shot bpc | fine-tuned bpc |\n|---|---|---|\n");
        for r in &sparse_rows {
            md.push_str(&format!("| {} | {:.4} | {:.4} |\n", r["sparsity"], r["oneshot_bpc"], r["finetuned_bpc"]));
        }
        ctx.note(md);
        ctx.note(format!(
            "Dense: {dense_bpc:.4} bits per character, {dense_params} parameters ({dense_finetuned:.4} after the \
             control fine-tune). 4-bit weights: RTN {ptq_bpc:.4}, fine-tune then RTN {ptq_ft_bpc:.4}, QAT {qat_bpc:.4}. \
             Structured rows keep a fraction of every block's heads (whole key/value groups) and / or MLP channels; \
             the pruned models are smaller dense models (the tokens/s timings are wall time at batch 1 on shared \
             cores)."
        ));
        Ok(metrics)
    }
}
