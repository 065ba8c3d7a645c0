//! Quantized inference of the GPT decoder: linear layers swapped for `quant`'s layers (dense, W8A8,
//! int4), calibration taps, the quantized KV store and SmoothQuant folded into the norms, each
//! against the float model or an f64 recomputation.

use tinylab_classical::nn::{Ctx, Module};
use tinylab_classical::tensor::from_vec;
use tinylab_classical::{Tensor, Var};
use tinylab_transformers::model::smoothing::smooth_gpt;
use tinylab_transformers::model::{Gpt, GptConfig, KvCache, QuantKv};
use tinylab_transformers::quant::dense::DenseLinear;
use tinylab_transformers::quant::kv::KvBits;
use tinylab_transformers::quant::{Int4Linear, QuantizedLinear, W8A8Linear};

const VOCAB: usize = 17;

/// A GPT-2-style (LayerNorm with biases, GELU, learned positions, tied) and a Llama-style (RMSNorm,
/// SwiGLU, RoPE, GQA, untied) model; widths are multiples of 32 so that int4 groups of 32 fit.
fn configs() -> Vec<GptConfig> {
    vec![
        GptConfig { d_ff: 64, ..GptConfig::gpt2_like(VOCAB, 12, 32, 2, 2) },
        GptConfig::llama_like(VOCAB, 12, 32, 2, 2, 1, 64),
    ]
}

fn tokens(batch: usize, len: usize, seed: u64) -> Tensor {
    let mut state = seed;
    let ids = (0..batch * len)
        .map(|_| {
            state = tinylab_classical::seed::derive(state, &[7]);
            (state % VOCAB as u64) as f32
        })
        .collect();
    from_vec(&[batch, len], ids).unwrap()
}

/// A trained-looking model: the init, with norm gains and embeddings varied so the norms matter.
fn model(cfg: &GptConfig, seed: u64) -> Gpt {
    let mut m = Gpt::new(cfg.clone(), seed).unwrap();
    for (b, block) in m.blocks.iter_mut().enumerate() {
        for (j, g) in block.norm1.weight.value.iter_mut().enumerate() {
            *g = 0.5 + ((j * 7 + b) % 5) as f32 * 0.3;
        }
    }
    m
}

fn logits(m: &mut Gpt, ids: &Tensor) -> Tensor {
    m.forward(&Var::constant(ids.clone()), &mut Ctx::eval()).unwrap().value().clone()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn max_abs(a: &Tensor) -> f32 {
    a.iter().map(|x| x.abs()).fold(0.0, f32::max)
}

/// Logits of a prefill of 5 tokens and then one token at a time through `cache`.
fn cached_logits(m: &mut Gpt, ids: &Tensor, cache: &mut KvCache) -> Tensor {
    let len = ids.shape()[1];
    let mut pieces = vec![m.forward_cached(&ids.slice(ndarray::s![.., 0..5]).to_owned().into_dyn(), cache).unwrap()];
    for t in 5..len {
        pieces.push(m.forward_cached(&ids.slice(ndarray::s![.., t..t + 1]).to_owned().into_dyn(), cache).unwrap());
    }
    let views: Vec<_> = pieces.iter().map(|p| p.view()).collect();
    ndarray::concatenate(ndarray::Axis(1), &views).unwrap()
}

fn quantize_all(m: &mut Gpt, make: impl Fn(&Tensor, Option<&Tensor>) -> Box<dyn QuantizedLinear>) -> Vec<String> {
    let mut paths = Vec::new();
    m.quantize_linears(&mut |path, w, b| {
        paths.push(path.to_string());
        Ok(Some(make(w, b)))
    })
    .unwrap();
    paths
}

#[test]
fn dense_replacements_keep_the_logits_and_the_paths() {
    for cfg in configs() {
        let mut m = model(&cfg, 1);
        let ids = tokens(2, 12, 5);
        let float = logits(&mut m, &ids);
        let float_bytes = m.linear_bytes();
        let paths = quantize_all(&mut m, |w, b| Box::new(DenseLinear::new(w, b).unwrap()));
        let mlp: &[&str] = if cfg.tied { &["fc1", "fc2"] } else { &["gate_proj", "up_proj", "down_proj"] };
        let mut want = Vec::new();
        for i in 0..cfg.n_layers {
            want.extend(["q_proj", "k_proj", "v_proj", "o_proj"].map(|n| format!("blocks.{i}.attn.{n}")));
            want.extend(mlp.iter().map(|n| format!("blocks.{i}.mlp.{n}")));
        }
        if !cfg.tied {
            want.push("lm_head".into());
        }
        assert_eq!(paths, want);
        assert!(m.is_quantized());
        assert_eq!(m.linear_bytes(), float_bytes, "DenseLinear stores the f32 weights and biases");
        let d = max_abs_diff(&logits(&mut m, &ids), &float);
        assert!(d < 1e-5, "dense replacements move the logits by {d}");
        let mut cache = KvCache::new(&cfg, 2);
        let d = max_abs_diff(&cached_logits(&mut m, &ids, &mut cache), &float);
        assert!(d < 1e-5, "cached dense replacements move the logits by {d}");
        m.dequantize_linears();
        assert!(!m.is_quantized());
        assert_eq!(logits(&mut m, &ids), float, "dropping the replacements restores every bit");
    }
}

#[test]
fn w8a8_and_int4_models_stay_close_and_cached_equals_full() {
    for cfg in configs() {
        let mut m = model(&cfg, 2);
        let ids = tokens(2, 12, 6);
        let float = logits(&mut m, &ids);
        let scale = max_abs(&float);
        let float_bytes = m.linear_bytes();
        quantize_all(&mut m, |w, b| Box::new(W8A8Linear::quantize(w, b).unwrap()));
        let q = logits(&mut m, &ids);
        let d = max_abs_diff(&q, &float);
        // 8-bit codes of weights and activations: each layer's output is off by a fraction of a
        // percent; through two blocks the logits move by well under 3% of their range, and do move.
        assert!(d > 0.0 && d < 0.03 * scale, "W8A8 logits moved by {d} (logit range {scale})");
        assert!(m.linear_bytes() * 3 < float_bytes, "int8 codes are a quarter of the f32 bytes plus scales");
        let mut cache = KvCache::new(&cfg, 2);
        let c = max_abs_diff(&cached_logits(&mut m, &ids, &mut cache), &q);
        // Per-token activation scales: a row's codes do not depend on the other rows, so the cached
        // pass differs only by the attention's float rounding, which can move a code by one step.
        assert!(c < 0.01 * scale, "cached vs full W8A8 logits differ by {c}");

        m.dequantize_linears();
        quantize_all(&mut m, |w, b| Box::new(Int4Linear::quantize_rtn(w, b, 32).unwrap()));
        let d4 = max_abs_diff(&logits(&mut m, &ids), &float);
        assert!(d4 > d && d4 < 0.3 * scale, "int4 RTN logits moved by {d4}, W8A8 by {d}");
    }
}

#[test]
fn quantized_models_refuse_training_and_wrong_sizes() {
    let cfg = &configs()[1];
    let mut m = model(cfg, 3);
    let e =
        m.quantize_linears(&mut |_, w, _| Ok(Some(Box::new(DenseLinear::new(&w.t().to_owned(), None)?)))).unwrap_err();
    assert!(e.to_string().contains("sizes"), "{e}");
    quantize_all(&mut m, |w, b| Box::new(W8A8Linear::quantize(w, b).unwrap()));
    let e = m.forward(&Var::constant(tokens(1, 4, 1)), &mut Ctx::train(0)).unwrap_err();
    assert!(e.to_string().contains("no gradient"), "{e}");
}

#[test]
fn calibration_records_each_layers_inputs() {
    let cfg = &configs()[1];
    let mut m = model(cfg, 4);
    let batches = [tokens(2, 12, 1), tokens(3, 12, 2)];
    let cal = m.calibrate(&batches).unwrap();
    let paths = cal.inputs.keys().cloned().collect::<Vec<_>>();
    assert_eq!(paths.len(), 2 * 7 + 1);
    for (path, x) in &cal.inputs {
        let width = if path.ends_with("down_proj") { cfg.d_ff } else { cfg.d_model };
        assert_eq!(x.shape(), [5 * 12, width], "{path}");
    }
    // Block 0's q_proj reads norm1(tok_emb[ids]) = g * e / rms(e), recomputed in f64.
    let x = cal.get("blocks.0.attn.q_proj").unwrap();
    let ids: Vec<usize> = batches.iter().flat_map(|b| b.iter().map(|&v| v as usize).collect::<Vec<_>>()).collect();
    let g = &m.blocks[0].norm1.weight.value;
    for (r, &id) in ids.iter().enumerate() {
        let e: Vec<f64> = (0..cfg.d_model).map(|j| m.tok_emb.value[[id, j]] as f64).collect();
        let rms = (e.iter().map(|v| v * v).sum::<f64>() / cfg.d_model as f64 + cfg.norm_eps as f64).sqrt();
        for j in 0..cfg.d_model {
            let want = g[j] as f64 * e[j] / rms;
            assert!((x[[r, j]] as f64 - want).abs() < 1e-5 * (1.0 + want.abs()), "row {r} channel {j}");
        }
    }
    // q, k and v read the same rows; the taps are gone afterwards.
    assert_eq!(cal.get("blocks.1.attn.q_proj").unwrap(), cal.get("blocks.1.attn.v_proj").unwrap());
    assert!(cal.get("blocks.9.attn.q_proj").is_err());
    assert!(!format!("{:?}", m.blocks[0].attn.slots[0]).contains("blocks.0"), "the tap was removed");
    assert!(m.calibrate(&[]).is_err());
}

#[test]
fn smoothing_keeps_the_float_function() {
    for cfg in configs() {
        let mut m = model(&cfg, 5);
        let ids = tokens(2, 12, 9);
        let float = logits(&mut m, &ids);
        let cal = m.calibrate(&[tokens(4, 12, 3)]).unwrap();
        for alpha in [0.0, 0.5, 1.0] {
            let mut s = m.clone();
            let scales = smooth_gpt(&mut s, &cal, alpha).unwrap();
            assert_eq!(scales.len(), cfg.n_layers);
            let d = max_abs_diff(&logits(&mut s, &ids), &float);
            assert!(d < 1e-5 * (1.0 + max_abs(&float)), "alpha {alpha}: smoothing moved the logits by {d}");
            assert!(scales[0][0].iter().any(|&v| (v - 1.0).abs() > 1e-3), "alpha {alpha}: the scales do something");
            assert_ne!(s.blocks[0].attn.q_proj.weight.value, m.blocks[0].attn.q_proj.weight.value);
        }
        let mut q = m.clone();
        quantize_all(&mut q, |w, b| Box::new(W8A8Linear::quantize(w, b).unwrap()));
        assert!(smooth_gpt(&mut q, &cal, 0.5).is_err(), "a quantized model is refused");
    }
}

#[test]
fn quantized_kv_stores_stay_close_to_the_dense_cache() {
    let cfg = GptConfig::llama_like(VOCAB, 24, 32, 2, 2, 1, 64);
    let mut m = model(&cfg, 6);
    let ids = tokens(2, 24, 4);
    let float = logits(&mut m, &ids);
    let scale = max_abs(&float);
    let mut dense = KvCache::new(&cfg, 2);
    let d0 = max_abs_diff(&cached_logits(&mut m, &ids, &mut dense), &float);
    assert!(d0 < 1e-5);
    let mut errs = Vec::new();
    let mut bytes = Vec::new();
    for bits in [KvBits::Int8, KvBits::Int4] {
        let mut cache = KvCache::with_stores(QuantKv::for_model(&cfg, 2, bits, 8).unwrap(), 2).unwrap();
        errs.push(max_abs_diff(&cached_logits(&mut m, &ids, &mut cache), &float));
        bytes.push(cache.bytes());
    }
    assert!(errs[0] > 0.0 && errs[0] < 0.01 * scale, "int8 KV: {errs:?} (logit range {scale})");
    assert!(errs[1] > errs[0] && errs[1] < 0.2 * scale, "int4 KV: {errs:?}");
    // 24 tokens = 3 full key blocks of 8, head_dim 16, one KV head, 2 sequences, 2 layers: int8 keys
    // are 1 byte per element plus 8 bytes per (block, channel); values 1 byte plus 8 per token.
    let per_layer_int8 = 2 * (24 * 16 + 3 * 16 * 8 + 24 * 16 + 24 * 8);
    assert_eq!(bytes[0], 2 * per_layer_int8);
    assert!(bytes[1] < bytes[0] && bytes[0] < dense.bytes(), "{bytes:?} vs dense {}", dense.bytes());
}

#[test]
fn quantized_inference_does_not_depend_on_the_thread_count() {
    use tinylab_transformers::quant::gptq::{GptqConfig, Hessian, gptq_quantize};
    let cfg = &configs()[1];
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut m = model(cfg, 7);
            let cal = m.calibrate(&[tokens(4, 12, 8)]).unwrap();
            smooth_gpt(&mut m, &cal, 0.5).unwrap();
            let cal = m.calibrate(&[tokens(4, 12, 8)]).unwrap();
            m.quantize_linears(&mut |path, w, b| {
                let layer: Box<dyn QuantizedLinear> = if path.contains("mlp") {
                    let x = cal.get(path)?;
                    let mut h = Hessian::new(x.shape()[1]);
                    h.observe(x)?;
                    let q = gptq_quantize(w, &h, GptqConfig { group: 32, damp: 0.01, block: 32 })?;
                    Box::new(Int4Linear::new(q, b)?)
                } else {
                    Box::new(W8A8Linear::quantize(w, b)?)
                };
                Ok(Some(layer))
            })
            .unwrap();
            let ids = tokens(2, 12, 3);
            let mut cache = KvCache::with_stores(QuantKv::for_model(cfg, 2, KvBits::Int4, 4).unwrap(), 2).unwrap();
            (logits(&mut m, &ids), cached_logits(&mut m, &ids, &mut cache))
        })
    };
    let (one, three) = (run(1), run(3));
    assert!(one.0.iter().zip(three.0.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "full pass");
    assert!(one.1.iter().zip(three.1.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "cached pass");
}
