//! `llm_quant`: post-training quantization of a character-level GPT (the `char_gpt` model), the
//! methods of SmoothQuant (Xiao et al. 2023), AWQ (Lin et al. 2023), GPTQ (Frantar et al. 2023) and
//! KIVI's KV cache (Liu et al. 2024) side by side.
//!
//! A Llama-style char GPT is trained on the Shakespeare plays (as in `char_gpt`), then each of fp32,
//! naive W8A8, SmoothQuant W8A8 (α = 0.5), int4 round-to-nearest, AWQ int4 and GPTQ int4 (groups of
//! [`GROUP`] inputs, every linear layer including the head) and the int8 / int4 KV caches on the fp32
//! model is measured: validation bits per character, bytes of the linear layers and embeddings, and
//! greedy generation tokens per second (batch 1, KV cache). The outlier study then makes a few
//! channels of every norm output [`OUTLIER_FACTOR`] times larger without changing the float function
//! (the gain of the norm multiplied, the columns of the layers reading it divided: SmoothQuant's fold
//! run backwards), the activation outliers that LLM.int8 and SmoothQuant observe in large models, and
//! compares naive W8A8 with SmoothQuant over α.

use super::char_lm::{self, Corpus, train_char_gpt};
use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{BarChart, BarGroup, LineChart, Series};
use serde_json::json;
use std::time::Instant;
use tinylab_classical::train::Batches;
use tinylab_classical::{Tensor, Var};
use tinylab_transformers::data::{TokenWindows, bits_per_char, evaluate_bpc, next_token_loss};
use tinylab_transformers::model::smoothing::smooth_gpt;
use tinylab_transformers::model::{Calibration, Gpt, GptConfig, InputScaled, KvCache, KvStore, QuantKv};
use tinylab_transformers::quant::awq::{AwqConfig, awq_quantize};
use tinylab_transformers::quant::gptq::{GptqConfig, Hessian, gptq_quantize};
use tinylab_transformers::quant::kv::KvBits;
use tinylab_transformers::quant::smooth::fold_into_norm;
use tinylab_transformers::quant::{ActStats, Int4Linear, QuantizedLinear, W8A8Linear};

/// The study.
pub struct LlmQuant;

/// Inputs per int4 group (divides every layer width of both scales).
const GROUP: usize = 32;
/// Tokens per key block of the quantized KV caches (the unfinished block stays f32, as in KIVI).
const KV_BLOCK: usize = 16;
/// SmoothQuant's migration strength for the method table.
const ALPHA: f32 = 0.5;
/// The channels of every norm output made outliers.
const OUTLIER_CHANNELS: [usize; 3] = [5, 21, 42];
/// How much larger they are made.
const OUTLIER_FACTOR: f32 = 50.0;
/// The α sweep of the outlier study.
const ALPHAS: [f32; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];
/// The prompt of the generation-speed measurement.
const PROMPT: &str = "HAMLET.\n";

/// The sizes of one run.
struct Scale {
    d_model: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    d_ff: usize,
    context: usize,
    batch: usize,
    windows: usize,
    epochs: usize,
    val_windows: usize,
    lr: f32,
    /// Training windows whose activations calibrate SmoothQuant, AWQ and GPTQ.
    calib_windows: usize,
}

impl Scale {
    fn of(quick: bool) -> Scale {
        if quick {
            Scale {
                d_model: 64,
                layers: 2,
                heads: 4,
                kv_heads: 2,
                d_ff: 192,
                context: 48,
                batch: 16,
                windows: 4096,
                epochs: 3,
                val_windows: 64,
                lr: 3e-3,
                calib_windows: 32,
            }
        } else {
            Scale {
                d_model: 128,
                layers: 4,
                heads: 4,
                kv_heads: 2,
                d_ff: 352,
                context: 128,
                batch: 32,
                windows: 4096,
                epochs: 5,
                val_windows: 256,
                lr: 2e-3,
                calib_windows: 128,
            }
        }
    }
}

/// A weight quantization scheme of the method table.
#[derive(Debug, Clone, Copy)]
enum Method {
    Fp32,
    W8A8,
    SmoothW8A8(f32),
    Rtn,
    Awq,
    Gptq,
}

impl Method {
    fn name(self) -> String {
        match self {
            Method::Fp32 => "fp32".into(),
            Method::W8A8 => "W8A8 naive".into(),
            Method::SmoothW8A8(a) => format!("SmoothQuant W8A8 (alpha {a})"),
            Method::Rtn => format!("int4 RTN g{GROUP}"),
            Method::Awq => format!("int4 AWQ g{GROUP}"),
            Method::Gptq => format!("int4 GPTQ g{GROUP}"),
        }
    }

    fn key(self) -> &'static str {
        match self {
            Method::Fp32 => "fp32",
            Method::W8A8 => "w8a8",
            Method::SmoothW8A8(_) => "smoothquant_w8a8",
            Method::Rtn => "int4_rtn",
            Method::Awq => "int4_awq",
            Method::Gptq => "int4_gptq",
        }
    }
}

/// `model` with its linear layers replaced by `method`'s, calibrated by `cal` (of `model`).
fn quantize(model: &Gpt, method: Method, cal: &Calibration) -> Result<Gpt, ExperimentError> {
    let mut m = model.clone();
    if let Method::SmoothW8A8(alpha) = method {
        smooth_gpt(&mut m, cal, alpha)?;
    }
    m.quantize_linears(&mut |path, w, b| {
        let layer: Box<dyn QuantizedLinear> = match method {
            Method::Fp32 => return Ok(None),
            Method::W8A8 | Method::SmoothW8A8(_) => Box::new(W8A8Linear::quantize(w, b)?),
            Method::Rtn => Box::new(Int4Linear::quantize_rtn(w, b, GROUP)?),
            Method::Awq => {
                let found = awq_quantize(w, cal.get(path)?, AwqConfig { group: GROUP, ..AwqConfig::default() })?;
                Box::new(InputScaled::new(found.scales, Int4Linear::new(found.weight, b)?)?)
            }
            Method::Gptq => {
                let x = cal.get(path)?;
                let mut h = Hessian::new(x.shape()[1]);
                h.observe(x)?;
                let cfg = GptqConfig { group: GROUP, damp: 0.01, block: GROUP };
                Box::new(Int4Linear::new(gptq_quantize(w, &h, cfg)?, b)?)
            }
        };
        Ok(Some(layer))
    })?;
    Ok(m)
}

/// Validation bits per character of `model` (full forward passes).
pub(super) fn bpc(model: &mut Gpt, val: &TokenWindows, batch: usize) -> Result<f64, ExperimentError> {
    Ok(bits_per_char(evaluate_bpc(model, val, batch)?))
}

/// Validation bits per character with each window prefilled through a KV cache: dense f32 (`None`,
/// the full forward pass up to rounding) or quantized to `bits` (the attention then reads the
/// quantized keys of every finished block and every quantized value).
fn cached_bpc(model: &mut Gpt, val: &TokenWindows, batch: usize, bits: Option<KvBits>) -> Result<f64, ExperimentError> {
    let order: Vec<usize> = (0..val.len()).collect();
    let (mut total, mut count) = (0f64, 0usize);
    for chunk in order.chunks(batch) {
        let b = val.batch(chunk)?;
        let mut cache = KvCache::with_stores(stores(model.config(), chunk.len(), bits)?, chunk.len())?;
        let logits = model.forward_cached(&b.input, &mut cache)?;
        let loss = next_token_loss(&Var::constant(logits), &b.targets)?;
        total += loss.item()? as f64 * b.targets.len() as f64;
        count += b.targets.len();
    }
    Ok(bits_per_char(total / count as f64))
}

/// One KV store per layer for `batch` sequences: dense f32, or quantized to `bits`.
fn stores(config: &GptConfig, batch: usize, bits: Option<KvBits>) -> Result<Vec<Box<dyn KvStore>>, ExperimentError> {
    Ok(match bits {
        Some(bits) => QuantKv::for_model(config, batch, bits, KV_BLOCK)?,
        None => KvCache::new(config, batch).layers,
    })
}

/// Greedy generation from `prompt` to the end of the context, batch 1, through a KV cache: tokens
/// generated per second of wall time (prefill included).
pub(super) fn tokens_per_second(
    model: &mut Gpt,
    prompt: &[usize],
    bits: Option<KvBits>,
) -> Result<f64, ExperimentError> {
    let config = model.config().clone();
    let n_new = config.context - prompt.len();
    let mut cache = KvCache::with_stores(stores(&config, 1, bits)?, 1)?;
    let start = Instant::now();
    let mut input: Vec<usize> = prompt.to_vec();
    for _ in 0..n_new {
        let ids = Tensor::from_shape_vec(ndarray::IxDyn(&[1, input.len()]), input.iter().map(|&t| t as f32).collect())
            .map_err(ExperimentError::other)?;
        let logits = model.forward_cached(&ids, &mut cache)?;
        let last = logits.index_axis(ndarray::Axis(1), input.len() - 1);
        let next =
            last.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0;
        input = vec![next];
    }
    Ok(n_new as f64 / start.elapsed().as_secs_f64().max(1e-9))
}

/// Bytes of the model as evaluated: its linear layers and the embedding tables (the norms' few
/// gains are left out).
fn model_bytes(model: &mut Gpt) -> usize {
    4 * (model.tok_emb.value.len() + model.pos_emb.as_ref().map_or(0, |p| p.value.len())) + model.linear_bytes()
}

/// Makes channels [`OUTLIER_CHANNELS`] of every norm output [`OUTLIER_FACTOR`] times larger and
/// divides the matching input columns of the layers reading them by as much: the float function is
/// unchanged (SmoothQuant's fold with scales `1 / factor`). The residual stream itself is left alone:
/// scaling a residual channel cannot be undone in the gains of an RMS norm, whose denominator sums
/// over every channel.
fn inject_outliers(model: &mut Gpt) -> Result<(), ExperimentError> {
    let d = model.config().d_model;
    let mut s = vec![1.0f32; d];
    for &c in &OUTLIER_CHANNELS {
        s[c] = 1.0 / OUTLIER_FACTOR;
    }
    for block in &mut model.blocks {
        let a = &mut block.attn;
        let gain = block.norm1.weight.value.as_slice_mut().ok_or_else(|| ExperimentError::other("norm1 gain"))?;
        let bias = block.norm1.bias.as_mut().and_then(|b| b.value.as_slice_mut());
        fold_into_norm(
            gain,
            bias,
            &mut [&mut a.q_proj.weight.value, &mut a.k_proj.weight.value, &mut a.v_proj.weight.value],
            &s,
        )?;
        let mlp = &mut block.mlp;
        let mut readers = vec![&mut mlp.input.weight.value];
        if let Some(g) = &mut mlp.gate {
            readers.push(&mut g.weight.value);
        }
        let gain = block.norm2.weight.value.as_slice_mut().ok_or_else(|| ExperimentError::other("norm2 gain"))?;
        let bias = block.norm2.bias.as_mut().and_then(|b| b.value.as_slice_mut());
        fold_into_norm(gain, bias, &mut readers, &s)?;
    }
    Ok(())
}

/// The largest `max|X_j|` over channels divided by the median channel's, at block 0's `q_proj` input.
fn outlier_ratio(cal: &Calibration) -> Result<f64, ExperimentError> {
    let x = cal.get("blocks.0.attn.q_proj")?;
    let mut stats = ActStats::new(x.shape()[1]);
    stats.observe(x)?;
    let mut m = stats.max_abs().to_vec();
    m.sort_by(f32::total_cmp);
    Ok(m[m.len() - 1] as f64 / m[m.len() / 2].max(1e-12) as f64)
}

impl Experiment for LlmQuant {
    fn name(&self) -> &'static str {
        "llm_quant"
    }

    fn description(&self) -> &'static str {
        "post-training quantization of a char GPT: fp32, naive and SmoothQuant W8A8, int4 RTN / AWQ / GPTQ, \
         int8 / int4 KV caches (bits per character, bytes, tokens/s), and an outlier study of SmoothQuant's alpha"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let s = Scale::of(ctx.quick);
        let corpus = Corpus::load(ctx)?;
        let tokenizer = corpus.tokenizer.clone();
        let val_len = (s.val_windows * s.context + 1).min(corpus.val.len());
        let val = TokenWindows::new(corpus.val[..val_len].to_vec(), s.context, s.context)?;
        let lm = char_lm::Scale {
            d_model: s.d_model,
            layers: s.layers,
            heads: s.heads,
            kv_heads: s.kv_heads,
            d_ff: Some(s.d_ff),
            context: s.context,
            batch: s.batch,
            windows: s.windows,
            epochs: s.epochs,
            lr: s.lr,
        };
        let trained = train_char_gpt(ctx, &lm, &corpus, &val, "llm_quant.ckpt")?;
        let (mut model, train, train_seconds) = (trained.model, trained.train, trained.seconds);
        let config = model.config().clone();

        // Calibration: the first training windows, in batches.
        let idx: Vec<usize> = (0..s.calib_windows.min(train.len())).collect();
        let calib: Vec<Tensor> =
            idx.chunks(s.batch).map(|c| train.batch(c).map(|b| b.input)).collect::<Result<_, _>>()?;
        let cal = model.calibrate(&calib)?;
        let prompt: Vec<usize> = tokenizer.encode(PROMPT)?.iter().map(|&t| t as usize).collect();

        ctx.set_config("model", serde_json::to_value(&config).map_err(ExperimentError::other)?);
        ctx.set_config(
            "quantization",
            json!({"int4_group": GROUP, "kv_block": KV_BLOCK, "smoothquant_alpha": ALPHA,
                   "calibration_windows": idx.len(), "calibration_tokens": idx.len() * s.context,
                   "quantized_layers": "every linear layer (q/k/v/o, gate/up/down, lm_head); embeddings stay f32",
                   "w8a8": "int8 weights per output channel, int8 activations per token (dynamic)",
                   "awq_gptq_calibration": "inputs of the float model at every layer (not sequential)",
                   "outliers": {"channels": OUTLIER_CHANNELS, "factor": OUTLIER_FACTOR,
                                "how": "norm1/norm2 gains times factor, input columns of q/k/v and gate/up divided by it"}}),
        );
        ctx.set_config(
            "training",
            json!({"epochs": s.epochs, "windows_per_epoch": train.len(), "batch_size": s.batch, "lr": s.lr}),
        );

        let mut metrics = Metrics::new();
        let mut rows = Vec::new();
        let mut table = serde_json::Map::new();
        let methods = [Method::Fp32, Method::W8A8, Method::SmoothW8A8(ALPHA), Method::Rtn, Method::Awq, Method::Gptq];
        for method in methods {
            let mut m = quantize(&model, method, &cal)?;
            let (b, bytes) = (bpc(&mut m, &val, s.batch)?, model_bytes(&mut m));
            let tps = tokens_per_second(&mut m, &prompt, None)?;
            table.insert(method.key().into(), json!({"bpc": b, "bytes": bytes}));
            metrics.insert_timing(format!("tokens_per_second.{}", method.key()), tps);
            rows.push((method.name(), b, bytes, tps));
        }
        for (key, bits) in [("kv_int8", KvBits::Int8), ("kv_int4", KvBits::Int4)] {
            let b = cached_bpc(&mut model, &val, s.batch, Some(bits))?;
            let mut cache = KvCache::with_stores(QuantKv::for_model(&config, 1, bits, KV_BLOCK)?, 1)?;
            let ids = val.batch(&[0])?.input;
            model.forward_cached(&ids, &mut cache)?;
            let dense_kv = 2 * config.n_layers * config.n_kv_heads * config.head_dim() * s.context * 4;
            let tps = tokens_per_second(&mut model, &prompt, Some(bits))?;
            table.insert(
                key.into(),
                json!({"bpc": b, "bytes": model_bytes(&mut model),
                "kv_bytes_per_sequence": cache.bytes(), "dense_kv_bytes_per_sequence": dense_kv}),
            );
            metrics.insert_timing(format!("tokens_per_second.{key}"), tps);
            rows.push((
                format!("fp32, KV {}", if bits == KvBits::Int8 { "int8" } else { "int4" }),
                b,
                model_bytes(&mut model),
                tps,
            ));
        }
        let fp32_kv_prefill = cached_bpc(&mut model, &val, s.batch, None)?;
        table["fp32"]["bpc_through_dense_kv_cache"] = json!(fp32_kv_prefill);
        metrics.insert("methods", serde_json::Value::Object(table));

        // The outlier study.
        let fp32_bpc = rows[0].1;
        let mut outlier = model.clone();
        inject_outliers(&mut outlier)?;
        let outlier_bpc = bpc(&mut outlier, &val, s.batch)?;
        let cal_out = outlier.calibrate(&calib)?;
        let (ratio, ratio_out) = (outlier_ratio(&cal)?, outlier_ratio(&cal_out)?);
        let naive = bpc(&mut quantize(&outlier, Method::W8A8, &cal_out)?, &val, s.batch)?;
        let mut sweep = Vec::new();
        for alpha in ALPHAS {
            sweep.push((
                alpha as f64,
                bpc(&mut quantize(&outlier, Method::SmoothW8A8(alpha), &cal_out)?, &val, s.batch)?,
            ));
        }
        let smooth = sweep.iter().find(|p| p.0 == ALPHA as f64).map_or(f64::NAN, |p| p.1);
        metrics.insert(
            "outlier",
            json!({"fp32_bpc": outlier_bpc, "fp32_bpc_change": outlier_bpc - fp32_bpc, "max_over_median_channel": ratio_out,
                   "max_over_median_channel_before": ratio, "w8a8_bpc": naive, "smoothquant_w8a8_bpc": smooth,
                   "alpha_sweep": sweep.iter().map(|p| json!({"alpha": p.0, "bpc": p.1})).collect::<Vec<_>>()}),
        );
        metrics.insert_timing("train_seconds", train_seconds);

        ctx.plot(
            "bpc_per_method",
            &BarChart {
                title: "char GPT quantization: validation bits per character".into(),
                x_label: "method".into(),
                y_label: "bits per character".into(),
                categories: rows.iter().map(|r| r.0.clone()).collect(),
                groups: vec![BarGroup::new("validation bpc", rows.iter().map(|r| r.1).collect())],
                show_values: true,
            },
        )?;
        ctx.plot(
            "bytes_per_method",
            &BarChart {
                title: "char GPT quantization: model bytes (linears + embeddings)".into(),
                x_label: "method".into(),
                y_label: "KiB".into(),
                categories: rows.iter().map(|r| r.0.clone()).collect(),
                groups: vec![BarGroup::new("KiB", rows.iter().map(|r| r.2 as f64 / 1024.0).collect())],
                show_values: true,
            },
        )?;
        ctx.plot(
            "outlier_alpha_sweep",
            &LineChart {
                title: format!("outlier model (channels x{OUTLIER_FACTOR}): SmoothQuant W8A8 over alpha"),
                x_label: "alpha (migration strength)".into(),
                y_label: "bits per character".into(),
                series: vec![
                    Series::new("SmoothQuant W8A8", sweep.clone()),
                    Series::new("naive W8A8", vec![(0.0, naive), (1.0, naive)]),
                    Series::new("fp32", vec![(0.0, outlier_bpc), (1.0, outlier_bpc)]),
                ],
                log_y: false,
                markers: true,
            },
        )?;
        let mut md = String::from("| method | val bpc | bytes | tokens/s (batch 1) |\n|---|---|---|---|\n");
        for (name, b, bytes, tps) in &rows {
            md.push_str(&format!("| {name} | {b:.4} | {bytes} | {tps:.0} |\n"));
        }
        ctx.note(md);
        ctx.note(format!(
            "Outlier study: channels {OUTLIER_CHANNELS:?} of every norm output made {OUTLIER_FACTOR}x larger (gains \
             multiplied, reading columns divided): fp32 bpc {outlier_bpc:.5} vs {fp32_bpc:.5} before (change \
             {:.1e}); the largest channel max over the median one at block 0's q_proj input went from {ratio:.1} to \
             {ratio_out:.1}. Naive W8A8: {naive:.4} bpc; SmoothQuant (alpha {ALPHA}): {smooth:.4}. Sweep: {}.",
            outlier_bpc - fp32_bpc,
            sweep.iter().map(|p| format!("alpha {}: {:.4}", p.0, p.1)).collect::<Vec<_>>().join(", ")
        ));
        ctx.note(
            "Caveat of the outlier study: the injected channels come with weight columns divided by the same factor, \
             so every alpha, even 0 (s = 1 / max|W_j|), largely undoes the injection and the sweep is flat. In large \
             models the outlier channels are not paired with small weights; there SmoothQuant's paper finds alpha \
             near 0.5 best and alpha 0 no help. The tokens/s column is wall time on this machine at batch 1 (noisy \
             on shared cores); the fp32 rows run the float decoding path of `model::decode`, the others the \
             integer kernels of `quant`.",
        );
        Ok(metrics)
    }
}
