//! Fine-grained and structured pruning and QAT of a GPT: exact sparsity through fine-tuning, baked
//! weights on their grid, and the identity that removing a structure whose output weights are zero
//! leaves the logits unchanged.

use super::*;
use crate::data::next_token_loss;
use crate::model::config::{BlockKind, GptConfig, Positions};
use crate::model::{KvCache, load_gpt, save_safetensors};
use crate::quant::{QuantizedLinear, W8A8Linear};
use proptest::prelude::*;
use std::sync::Arc;
use tinylab_classical::compress::prune::{Target, prune_magnitude, sparsity_report};
use tinylab_classical::compress::qat::{LinearWeights, attach_quantizer, bake_quantizers};
use tinylab_classical::compress::quant::{Granularity, QuantScheme, Symmetry};
use tinylab_classical::nn::{Ctx, Module, accumulate_grads, named_params};
use tinylab_classical::optim::{Adam, Optimizer};
use tinylab_classical::tensor::rng;
use tinylab_classical::{Tensor, Var};

const VOCAB: usize = 17;

/// GPT-2-like multi-head attention with GELU; Llama-like grouped-query attention (4 query heads, 2
/// key/value heads) with SwiGLU; an LSRA block model (2 heads over half the channels).
fn configs() -> [GptConfig; 3] {
    let gpt2 = GptConfig { d_ff: 32, ..GptConfig::gpt2_like(VOCAB, 12, 16, 2, 4) };
    let llama = GptConfig::llama_like(VOCAB, 12, 16, 2, 4, 2, 24);
    let lsra = GptConfig {
        block: BlockKind::Lsra { kernel: 3 },
        n_heads: 2,
        n_kv_heads: 1,
        positions: Positions::Rotary,
        ..gpt2.clone()
    };
    [gpt2, llama, lsra]
}

/// Token ids `[batch, tokens]` drawn from `seed`.
fn ids(batch: usize, tokens: usize, seed: u64) -> Tensor {
    use rand_chacha::rand_core::Rng;
    let r = &mut rng(seed);
    let v = (0..batch * tokens).map(|_| (r.next_u64() % VOCAB as u64) as f32).collect();
    Tensor::from_shape_vec(ndarray::IxDyn(&[batch, tokens]), v).unwrap()
}

/// Tokens `a..b` of every sequence of `x` `[batch, tokens]`.
fn tokens(x: &Tensor, a: usize, b: usize) -> Tensor {
    x.slice_axis(ndarray::Axis(1), ndarray::Slice::from(a..b)).to_owned()
}

fn logits(model: &mut Gpt, x: &Tensor) -> Tensor {
    model.forward(&Var::constant(x.clone()), &mut Ctx::eval()).unwrap().value().clone()
}

/// The logits of `x` through the KV cache: a prefill of 3 tokens, then one token per step.
fn cached_logits(model: &mut Gpt, x: &Tensor) -> Tensor {
    let mut cache = KvCache::new(model.config(), x.shape()[0]);
    let t = x.shape()[1];
    let mut parts = vec![model.forward_cached(&tokens(x, 0, 3), &mut cache).unwrap()];
    for i in 3..t {
        parts.push(model.forward_cached(&tokens(x, i, i + 1), &mut cache).unwrap());
    }
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    ndarray::concatenate(ndarray::Axis(1), &views).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Zeroes the `o_proj` columns of query heads `heads` of block `i`.
fn zero_head_outputs(model: &mut Gpt, i: usize, heads: &[usize]) {
    let attn = &mut model.blocks[i].attn;
    let dh = attn.head_dim;
    for &h in heads {
        for j in h * dh..(h + 1) * dh {
            attn.o_proj.weight.value.index_axis_mut(ndarray::Axis(1), j).fill(0.0);
        }
    }
}

/// Zeroes the `fc2` / `down_proj` columns of MLP channels `channels` of block `i`.
fn zero_channel_outputs(model: &mut Gpt, i: usize, channels: &[usize]) {
    for &c in channels {
        model.blocks[i].mlp.output.weight.value.index_axis_mut(ndarray::Axis(1), c).fill(0.0);
    }
}

fn complement(n: usize, removed: &[usize]) -> Vec<usize> {
    (0..n).filter(|i| !removed.contains(i)).collect()
}

/// A unique scratch path for a safetensors file.
fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tinylab_gpt_prune_{}_{name}.safetensors", std::process::id()))
}

/// Saves and reloads `model` (from its configuration alone): the same logits.
fn assert_round_trip(model: &mut Gpt, x: &Tensor, name: &str) {
    let path = scratch(name);
    save_safetensors(model, &path).unwrap();
    let mut loaded = load_gpt(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(loaded.config(), model.config(), "{name}");
    assert_eq!(max_diff(&logits(&mut loaded, x), &logits(model, x)), 0.0, "{name}");
}

#[test]
fn removing_heads_with_zero_output_columns_keeps_the_logits() {
    let x = ids(2, 7, 3);
    for (k, config) in configs().into_iter().enumerate() {
        let mut model = Gpt::new(config.clone(), 11 + k as u64).unwrap();
        let (hq, hkv, dh) = (config.n_heads, config.n_kv_heads, config.head_dim());
        // Block 0 loses its last key/value group with its query heads; with grouped-query attention
        // block 1 loses the first query head of every group instead.
        let r = hq / hkv;
        let group: Vec<usize> = ((hkv - 1) * r..hkv * r).collect();
        let removed0 = if hkv > 1 { group } else { vec![hq - 1] };
        let removed1: Vec<usize> = if r > 1 { (0..hkv).map(|g| g * r).collect() } else { vec![0] };
        zero_head_outputs(&mut model, 0, &removed0);
        zero_head_outputs(&mut model, 1, &removed1);
        let before = logits(&mut model, &x);
        let keep = Keep {
            heads: BTreeMap::from([(0, complement(hq, &removed0)), (1, complement(hq, &removed1))]),
            ..Keep::default()
        };
        let report = apply(&mut model, &keep).unwrap();
        let after = logits(&mut model, &x);
        assert!(max_diff(&before, &after) < 1e-5, "config {k}: {}", max_diff(&before, &after));
        // Shapes: block 0 has one key/value group fewer (one head fewer when there is one group),
        // block 1 as many groups with one query head fewer each.
        let (a0, a1) = (&model.blocks[0].attn, &model.blocks[1].attn);
        let kv0 = if hkv > 1 { hkv - 1 } else { hkv };
        assert_eq!((a0.n_heads, a0.n_kv_heads), (hq - removed0.len(), kv0), "config {k}");
        assert_eq!(a0.q_proj.weight.value.shape(), [(hq - removed0.len()) * dh, config.attn_width()]);
        assert_eq!(a0.k_proj.weight.value.shape(), [kv0 * dh, config.attn_width()]);
        assert_eq!(a0.o_proj.weight.value.shape(), [config.attn_width(), (hq - removed0.len()) * dh]);
        assert_eq!((a1.n_heads, a1.n_kv_heads), (hq - removed1.len(), if r > 1 { hkv } else { hkv - 1 }), "config {k}");
        assert_eq!(report.shapes[0], model.config().block_shape(0));
        assert!(report.params_after < report.params_before);
        assert!(!model.config().is_uniform());
        // The KV cache follows the new shapes, and decoding agrees with the full pass.
        assert!(max_diff(&cached_logits(&mut model, &x), &after) < 1e-5, "config {k}: cached");
        assert_round_trip(&mut model, &x, &format!("heads{k}"));
    }
}

#[test]
fn removing_mlp_channels_with_zero_down_columns_keeps_the_logits() {
    let x = ids(2, 7, 5);
    for (k, config) in configs().into_iter().enumerate() {
        let mut model = Gpt::new(config.clone(), 21 + k as u64).unwrap();
        let removed = [[0, 5, 7, 8].as_slice(), [3, 11].as_slice()];
        for (i, r) in removed.iter().enumerate() {
            zero_channel_outputs(&mut model, i, r);
        }
        let before = logits(&mut model, &x);
        let keep =
            Keep { channels: (0..2).map(|i| (i, complement(config.d_ff, removed[i]))).collect(), ..Keep::default() };
        apply(&mut model, &keep).unwrap();
        let after = logits(&mut model, &x);
        assert!(max_diff(&before, &after) < 1e-5, "config {k}: {}", max_diff(&before, &after));
        for (i, r) in removed.iter().enumerate() {
            let mlp = &model.blocks[i].mlp;
            let kept = config.d_ff - r.len();
            assert_eq!(mlp.input.weight.value.shape(), [kept, config.d_model]);
            assert_eq!(mlp.output.weight.value.shape(), [config.d_model, kept]);
            assert_eq!(mlp.gate.as_ref().map(|g| g.weight.value.shape()[0]), mlp.gate.as_ref().map(|_| kept));
            assert_eq!(model.config().block_shape(i).d_ff, kept);
        }
        assert!(max_diff(&cached_logits(&mut model, &x), &after) < 1e-5, "config {k}: cached");
        assert_round_trip(&mut model, &x, &format!("mlp{k}"));
    }
}

#[test]
fn selection_removes_the_structures_without_weight_or_output() {
    let llama = configs()[1].clone();
    let mut model = Gpt::new(llama.clone(), 4).unwrap();
    let dh = llama.head_dim();
    // Group 0 of block 0 (query heads 0, 1 and key/value head 0) has no weights at all; channels
    // 2, 9, 13 of every block neither.
    for j in 0..2 * dh {
        model.blocks[0].attn.q_proj.weight.value.index_axis_mut(ndarray::Axis(0), j).fill(0.0);
    }
    zero_head_outputs(&mut model, 0, &[0, 1]);
    let dead = [2, 9, 13];
    for i in 0..2 {
        let mlp = &mut model.blocks[i].mlp;
        for &c in &dead {
            mlp.input.weight.value.index_axis_mut(ndarray::Axis(0), c).fill(0.0);
            mlp.gate.as_mut().unwrap().weight.value.index_axis_mut(ndarray::Axis(0), c).fill(0.0);
        }
        zero_channel_outputs(&mut model, i, &dead);
    }
    let plan = StructuredPlan { heads: 0.5, unit: HeadUnit::KvGroup, channels: 0.875, importance: Importance::L1 };
    let keep = select(&model, &plan, None).unwrap();
    assert_eq!(keep.heads[&0], vec![2, 3]);
    assert_eq!(keep.channels[&0], complement(24, &dead));
    // With calibration the dead channels' outputs are zero on real inputs too; L2 this time.
    let cal = model.calibrate(&[ids(2, 8, 1)]).unwrap();
    let keep = select(&model, &StructuredPlan { importance: Importance::L2, ..plan }, Some(&cal)).unwrap();
    assert_eq!(keep.heads[&0], vec![2, 3]);
    assert_eq!(keep.channels[&1], complement(24, &dead));
    // Query heads evenly per group: one of two in each.
    let keep = select(&model, &StructuredPlan { unit: HeadUnit::QueryHead, ..plan }, None).unwrap();
    assert_eq!(keep.heads[&1].len(), 2);
    assert_eq!(keep.heads[&1].iter().map(|h| h / 2).collect::<Vec<_>>(), vec![0, 1]);
    let x = ids(1, 6, 2);
    let before = logits(&mut model, &x);
    let mut pruned = model.clone();
    // Block 1's heads all have weights: only block 0's dead group goes.
    let mut keep = select(&model, &plan, None).unwrap();
    keep.heads.remove(&1);
    apply(&mut pruned, &keep).unwrap();
    assert!(max_diff(&before, &logits(&mut pruned, &x)) < 1e-5, "the removed structures computed nothing");
}

#[test]
fn bad_plans_and_keeps_are_errors_that_change_nothing() {
    let llama = configs()[1].clone();
    let mut model = Gpt::new(llama, 4).unwrap();
    let err = |model: &mut Gpt, keep: Keep| apply(model, &keep).unwrap_err().to_string();
    let heads = |list: Vec<usize>| Keep { heads: BTreeMap::from([(0, list)]), ..Keep::default() };
    assert!(err(&mut model, heads(vec![0, 1, 2])).contains("every kept group must keep as many"));
    assert!(err(&mut model, heads(vec![1, 0])).contains("strictly increasing"));
    assert!(err(&mut model, heads(vec![])).contains("non-empty"));
    assert!(err(&mut model, heads(vec![4])).contains("below 4"));
    let far = Keep { channels: BTreeMap::from([(5, vec![0])]), ..Keep::default() };
    assert!(err(&mut model, far).contains("block 5 of a model of 2 blocks"));
    assert!(model.config().is_uniform() && model.blocks[0].attn.n_heads == 4);
    let plan = StructuredPlan { heads: 0.0, unit: HeadUnit::KvGroup, channels: 1.0, importance: Importance::L1 };
    assert!(select(&model, &plan, None).unwrap_err().to_string().contains("(0, 1]"));
    let taylor = StructuredPlan { heads: 1.0, importance: Importance::Taylor, ..plan };
    assert!(select(&model, &taylor, None).unwrap_err().to_string().contains("use L1 or L2"));
    let mut quantized = model.clone();
    quantized
        .quantize_linears(&mut |_, w, b| Ok(Some(Box::new(W8A8Linear::quantize(w, b)?) as Box<dyn QuantizedLinear>)))
        .unwrap();
    let keep = Keep { channels: BTreeMap::from([(0, vec![0, 1])]), ..Keep::default() };
    assert!(err(&mut quantized, keep).contains("prune the float model, then quantize"));
    // A cache built for the unpruned shapes is refused by the pruned model, not a panic.
    let mut pruned = model.clone();
    apply(&mut pruned, &heads(vec![2, 3])).unwrap();
    let mut stale = KvCache::new(model.config(), 1);
    let e = pruned.forward_cached(&ids(1, 2, 0), &mut stale).unwrap_err().to_string();
    assert!(e.contains("kv_heads"), "{e}");
    // Per-block shapes are validated with the configuration.
    let bad = GptConfig { block_shapes: vec![model.config().block_shape(0)], ..model.config().clone() };
    assert!(bad.validated().unwrap_err().to_string().contains("1 block shapes for 2 blocks"));
}

#[test]
fn structured_pruning_slices_the_masks_of_a_sparse_model() {
    let llama = configs()[1].clone();
    let mut model = Gpt::new(llama, 8).unwrap();
    prune_magnitude(&mut model, &Target::Uniform(0.5), &linear_weight).unwrap();
    let old = model.blocks[0].mlp.output.weight.clone();
    let keep = Keep { channels: BTreeMap::from([(0, vec![1, 4, 6, 20])]), ..Keep::default() };
    apply(&mut model, &keep).unwrap();
    let new = &model.blocks[0].mlp.output.weight;
    let (old_mask, new_mask) = (old.mask.as_ref().unwrap(), new.mask.as_ref().unwrap());
    assert_eq!(new_mask.shape(), new.value.shape());
    for (k, &c) in [1usize, 4, 6, 20].iter().enumerate() {
        for row in 0..new.value.shape()[0] {
            assert_eq!(new_mask[[row, k]], old_mask[[row, c]]);
            assert_eq!(new.value[[row, k]], old.value[[row, c]]);
        }
    }
    // The pruned sparse model fine-tunes with its masks (sliced) held.
    let before = sparsity_report(&model, &linear_weight);
    fine_tune(&mut model, 2);
    assert_eq!(sparsity_report(&model, &linear_weight), before);
}

/// Next-token fine-tuning steps with AdamW on random windows.
fn fine_tune(model: &mut Gpt, steps: u64) {
    let mut opt = Adam::adamw(0.01);
    for s in 0..steps {
        let x = ids(2, 9, 100 + s);
        let input = tokens(&x, 0, 8);
        let targets: Vec<usize> = tokens(&x, 1, 9).iter().map(|&v| v as usize).collect();
        let mut ctx = Ctx::train(s);
        let out = model.forward(&Var::constant(input), &mut ctx).unwrap();
        next_token_loss(&out, &targets).unwrap().backward().unwrap();
        accumulate_grads(model, &ctx);
        opt.step(model, 1e-2);
    }
}

#[test]
fn magnitude_pruning_of_the_linear_weights_holds_through_fine_tuning() {
    for (k, config) in configs().into_iter().enumerate() {
        let mut model = Gpt::new(config, 7 + k as u64).unwrap();
        let report = prune_magnitude(&mut model, &Target::Global(0.6), &linear_weight).unwrap();
        let total = report.total();
        assert_eq!(total - report.nonzero(), (0.6 * total as f64).round() as usize, "config {k}");
        // Only linear weights: 4 attention projections, 2 or 3 MLP layers and LSRA's output
        // projection per block, the untied head.
        let per_block =
            4 + if model.blocks[0].mlp.gate.is_some() { 3 } else { 2 } + model.blocks[0].conv.iter().count();
        assert_eq!(report.layers.len(), 2 * per_block + usize::from(model.lm_head.is_some()));
        for (name, p) in named_params(&model) {
            assert_eq!(p.mask.is_some(), linear_weight(&name, p), "{name}");
        }
        let before: Vec<Tensor> = named_params(&model).iter().map(|(_, p)| p.value.clone()).collect();
        fine_tune(&mut model, 3);
        let after = sparsity_report(&model, &linear_weight);
        assert_eq!(after, report, "config {k}: the sparsity pattern survives fine-tuning");
        let mut moved = 0;
        for ((_, p), old) in named_params(&model).iter().zip(&before) {
            if let Some(m) = &p.mask {
                assert!(p.value.iter().zip(m).all(|(w, m)| *m == 1.0 || *w == 0.0), "pruned weights stay zero");
                moved += p.value.iter().zip(old).filter(|(a, b)| a != b).count();
            }
        }
        assert!(moved > 0, "fine-tuning changed the kept weights");
        // The decoding path reads the masked weights as the full pass does.
        let x = ids(1, 6, 9);
        assert!(max_diff(&cached_logits(&mut model, &x), &logits(&mut model, &x)) < 1e-5);
    }
}

#[test]
fn qat_weights_bake_onto_their_grid_and_keep_the_fake_quantized_function() {
    let bits = 4u8;
    for (k, config) in configs().into_iter().enumerate() {
        let mut model = Gpt::new(config, 30 + k as u64).unwrap();
        let scheme = QuantScheme::new(bits, Symmetry::Symmetric, Granularity::PerChannel(0));
        let n = attach_quantizer(&mut model, Arc::new(LinearWeights::new(scheme).unwrap()), &linear_weight);
        assert_eq!(n, sparsity_report(&model, &linear_weight).layers.len());
        let float_before: Vec<Tensor> = named_params(&model).iter().map(|(_, p)| p.value.clone()).collect();
        fine_tune(&mut model, 3);
        let changed = named_params(&model).iter().zip(&float_before).any(|((_, p), old)| p.value != *old);
        assert!(changed, "the straight-through gradient reaches the float weights");
        let x = ids(2, 6, 4);
        let fake = logits(&mut model, &x);
        let fake_cached = cached_logits(&mut model, &x);
        bake_quantizers(&mut model);
        let baked = logits(&mut model, &x);
        assert_eq!(max_diff(&fake, &baked), 0.0, "config {k}: baking keeps the fake-quantized forward");
        assert!(max_diff(&fake_cached, &baked) < 1e-5);
        for (name, p) in named_params(&model) {
            if linear_weight(&name, p) {
                assert!(p.quantizer.is_none());
                for row in p.value.axis_iter(ndarray::Axis(0)) {
                    let mut levels: Vec<u32> = row.iter().map(|v| v.to_bits()).collect();
                    levels.sort_unstable();
                    levels.dedup();
                    assert!(levels.len() <= 1 << bits, "{name}: {} levels", levels.len());
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Any structured plan leaves a model whose cached decoding agrees with its full pass and whose
    /// file reloads to the same function, with the sizes the plan asked for.
    #[test]
    fn pruned_models_decode_and_reload(
        which in 0usize..3,
        seed in 0u64..1000,
        heads in prop::sample::select(vec![0.25f32, 0.5, 0.75, 1.0]),
        channels in prop::sample::select(vec![0.1f32, 0.5, 0.9, 1.0]),
        by_group in any::<bool>(),
    ) {
        let config = configs()[which].clone();
        let mut model = Gpt::new(config.clone(), seed).unwrap();
        let unit = if by_group { HeadUnit::KvGroup } else { HeadUnit::QueryHead };
        let plan = StructuredPlan { heads, unit, channels, importance: Importance::L2 };
        let report = prune_structured(&mut model, &plan, None).unwrap();
        let r = config.n_heads / config.n_kv_heads;
        for s in &report.shapes {
            let (kv, q) = match unit {
                HeadUnit::KvGroup => (kept_count(config.n_kv_heads, heads), kept_count(config.n_kv_heads, heads) * r),
                HeadUnit::QueryHead => (config.n_kv_heads, config.n_kv_heads * kept_count(r, heads)),
            };
            prop_assert_eq!((s.n_heads, s.n_kv_heads, s.d_ff), (q, kv, kept_count(config.d_ff, channels)));
        }
        let x = ids(2, 6, seed);
        let full = logits(&mut model, &x);
        prop_assert!(max_diff(&cached_logits(&mut model, &x), &full) < 1e-5);
        assert_round_trip(&mut model, &x, &format!("prop{which}_{seed}"));
    }
}
