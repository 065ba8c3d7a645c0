//! SpAtten's cascade pruning on the bidirectional classifier: the unpruned path against the plain
//! forward pass, the kept tokens and heads against an independent f64 recomputation of the importance
//! scores, the multiply-accumulate counts against their closed form, the cascade, the errors, the
//! thread count, and training with the classical trainer.

use tinylab_classical::nn::{Ctx, Module};
use tinylab_classical::optim::{Adam, LrSchedule};
use tinylab_classical::tensor::{from_vec, randn, rng};
use tinylab_classical::train::{Classification, LabelledArray, TrainConfig, Trainer, evaluate_labelled};
use tinylab_classical::{Tensor, Var, ops};
use tinylab_transformers::model::{GptConfig, MlpKind, NormKind};
use tinylab_transformers::spatten::{PruneSchedule, SequenceClassifier, TokenSelection, prune_forward};

/// A classifier whose weights are all drawn `N(0, 0.3^2)`, so that attention is far from uniform.
fn model(config: GptConfig, seed: u64) -> SequenceClassifier {
    let mut m = SequenceClassifier::new(config, 3, seed).unwrap();
    let r = &mut rng(seed + 100);
    m.visit_params_mut("", &mut |_, p| p.value = randn(p.value.shape(), 0.3, r));
    m
}

fn small() -> GptConfig {
    GptConfig { d_ff: 32, ..GptConfig::gpt2_like(11, 16, 16, 3, 4) }
}

/// A grouped-query, RMS-norm, SwiGLU variant (learned positions, which pruning needs).
fn grouped() -> GptConfig {
    GptConfig { n_kv_heads: 2, norm: NormKind::RmsNorm, mlp: MlpKind::SwiGlu, bias: false, ..small() }
}

fn ids(n: usize, t: usize, vocab: usize, seed: u64) -> Tensor {
    let r = &mut rng(seed);
    let v: Vec<f32> = (0..n * t).map(|_| (rand_index(r, vocab)) as f32).collect();
    from_vec(&[n, t], v).unwrap()
}

fn rand_index(r: &mut rand_chacha::ChaCha8Rng, n: usize) -> usize {
    use rand_chacha::rand_core::Rng;
    (r.next_u64() % n as u64) as usize
}

#[test]
fn keeping_everything_is_the_plain_forward_pass() {
    for config in [small(), grouped()] {
        let mut m = model(config, 1);
        let x = ids(5, 12, 11, 2);
        let want = m.forward(&Var::constant(x.clone()), &mut Ctx::eval()).unwrap();
        let got = prune_forward(&mut m, &x, &PruneSchedule::none(3)).unwrap();
        assert_eq!(got.logits.shape(), want.shape());
        for (a, b) in got.logits.iter().zip(want.value().iter()) {
            assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
        }
        for trace in &got.traces {
            assert!(trace.tokens.iter().all(|t| t.len() == 12));
            assert!(trace.heads.iter().all(|h| h.len() == 4));
        }
    }
}

/// Token and head importance of layer 0 in f64 from the parameters: the attention each token
/// receives (summed over heads and queries) and each head's `sum |P V|`.
fn layer0_scores(m: &SequenceClassifier, seq: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let c = m.config().clone();
    let (t, d, hq, dh) = (seq.len(), c.d_model, c.n_heads, c.head_dim());
    let group = c.n_heads / c.n_kv_heads;
    let tok = &m.encoder.tok_emb.value;
    let pos = &m.encoder.pos_emb.as_ref().unwrap().value;
    let x: Vec<f32> = (0..t).flat_map(|i| (0..d).map(move |j| tok[[seq[i], j]] + pos[[i, j]])).collect();
    let block = &m.encoder.blocks[0];
    let h = block.norm1.forward(&Var::constant(from_vec(&[t, d], x).unwrap()), &mut Ctx::eval()).unwrap();
    let h = h.value();
    let proj = |layer: &tinylab_classical::nn::Linear| -> Vec<Vec<f64>> {
        let w = &layer.weight.value;
        (0..t)
            .map(|i| {
                (0..w.shape()[0])
                    .map(|o| {
                        let b = layer.bias.as_ref().map_or(0.0, |b| b.value[o] as f64);
                        b + (0..d).map(|j| h[[i, j]] as f64 * w[[o, j]] as f64).sum::<f64>()
                    })
                    .collect()
            })
            .collect()
    };
    let (q, k, v) = (proj(&block.attn.q_proj), proj(&block.attn.k_proj), proj(&block.attn.v_proj));
    let (mut tokens, mut heads) = (vec![0f64; t], vec![0f64; hq]);
    for head in 0..hq {
        let kv = head / group;
        for qi in &q {
            let s: Vec<f64> = (0..t)
                .map(|j| (0..dh).map(|e| qi[head * dh + e] * k[j][kv * dh + e]).sum::<f64>() / (dh as f64).sqrt())
                .collect();
            let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = s.iter().map(|x| (x - max).exp()).sum();
            let p: Vec<f64> = s.iter().map(|x| (x - max).exp() / z).collect();
            for (score, pj) in tokens.iter_mut().zip(&p) {
                *score += pj;
            }
            for e in 0..dh {
                heads[head] += (0..t).map(|j| p[j] * v[j][kv * dh + e]).sum::<f64>().abs();
            }
        }
    }
    (tokens, heads)
}

/// The `k` highest of `scores` among `among`, ascending (a sort of its own, not the library's).
fn highest(scores: &[f64], among: &[usize], k: usize) -> Vec<usize> {
    let mut v: Vec<(f64, usize)> = among.iter().map(|&i| (scores[i], i)).collect();
    v.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    let mut kept: Vec<usize> = v[..k].iter().map(|p| p.1).collect();
    kept.sort();
    kept
}

#[test]
fn kept_tokens_and_heads_are_the_top_of_the_cumulative_importance() {
    for config in [small(), grouped()] {
        let mut m = model(config, 3);
        let x = ids(4, 12, 11, 4);
        let schedule = PruneSchedule {
            tokens: vec![1.0, 0.5, 0.25],
            heads: vec![1.0, 0.5, 0.5],
            selection: TokenSelection::Attention,
        };
        let out = prune_forward(&mut m, &x, &schedule).unwrap();
        for (s, trace) in out.traces.iter().enumerate() {
            let seq: Vec<usize> = (0..12).map(|j| x[[s, j]] as usize).collect();
            let (tokens, heads) = layer0_scores(&m, &seq);
            for (a, b) in trace.token_scores[0].iter().zip(&tokens) {
                assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "token score {a} vs {b}");
            }
            for (a, b) in trace.head_scores[0].iter().zip(&heads) {
                assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "head score {a} vs {b}");
            }
            // Attention received sums to the number of queries per head.
            let total: f64 = trace.token_scores[0].iter().sum();
            assert!((total - 12.0 * 4.0).abs() < 1e-3, "{total}");
            assert_eq!(trace.tokens[0], (0..12).collect::<Vec<_>>());
            assert_eq!(trace.tokens[1], highest(&tokens, &trace.tokens[0], 6));
            assert_eq!(trace.heads[1], highest(&heads, &[0, 1, 2, 3], 2));
            // Layer 2 chooses among what layer 1 kept, by the scores accumulated over layers 0 and 1.
            assert_eq!(trace.tokens[2], highest(&trace.token_scores[1], &trace.tokens[1], 3));
            assert_eq!(trace.heads[2], highest(&trace.head_scores[1], &trace.heads[1], 2));
            // Cumulative: the scores only grow, and only for tokens still present.
            for j in 0..12 {
                assert!(trace.token_scores[1][j] > trace.token_scores[0][j] || !trace.tokens[1].contains(&j));
                if !trace.tokens[1].contains(&j) {
                    assert_eq!(trace.token_scores[1][j], trace.token_scores[0][j]);
                }
            }
        }
    }
}

#[test]
fn macs_match_the_closed_form() {
    // 3 sequences of 12 tokens, d = 16, 4 heads of 4, d_ff = 32, GELU; layers keep 12, 6, 3 tokens
    // and 4, 2, 2 heads.
    let (n, d, dh, ff) = (3u64, 16u64, 4u64, 32u64);
    let layer = |t: u64, h: u64| -> (u64, u64) {
        let q = t * d * h * dh;
        let kv = 2 * t * d * h * dh;
        let o = t * h * dh * d;
        let scores = h * t * t * dh;
        let weighted = h * t * t * dh;
        (q + kv + o + scores + weighted, 2 * t * d * ff)
    };
    let mut m = model(small(), 5);
    let x = ids(3, 12, 11, 6);
    let schedule = PruneSchedule {
        tokens: vec![1.0, 0.5, 0.25],
        heads: vec![1.0, 0.5, 0.5],
        selection: TokenSelection::Attention,
    };
    let out = prune_forward(&mut m, &x, &schedule).unwrap();
    let parts = [layer(12, 4), layer(6, 2), layer(3, 2)];
    assert_eq!(out.macs.attention, n * parts.iter().map(|p| p.0).sum::<u64>());
    assert_eq!(out.macs.mlp, n * parts.iter().map(|p| p.1).sum::<u64>());
    let dense = prune_forward(&mut m, &x, &PruneSchedule::none(3)).unwrap();
    assert_eq!(dense.macs.attention, n * 3 * layer(12, 4).0);
    // Grouped query heads: 4 query heads share 2 key/value heads; layer 1 keeps query heads whose
    // key/value heads are counted once each.
    let mut g = model(grouped(), 5);
    let out = prune_forward(&mut g, &x, &PruneSchedule::none(3)).unwrap();
    let t = 12u64;
    let per_layer = t * d * 4 * dh * 2 + t * d * 2 * dh * 2 + 2 * 4 * t * t * dh;
    assert_eq!(out.macs.attention, n * 3 * per_layer);
    assert_eq!(out.macs.mlp, n * 3 * 3 * t * d * ff);
}

#[test]
fn the_cascade_schedule_and_random_selection() {
    let s = PruneSchedule::cascade(3, 0.25, 0.5, TokenSelection::Attention);
    assert_eq!(s.tokens, vec![1.0, 0.5, 0.25]);
    assert_eq!(s.heads, vec![1.0, 0.5, 0.5]);
    assert_eq!(s.counts(3, 32, 4).unwrap().tokens, vec![32, 16, 8]);
    let mut m = model(small(), 7);
    let x = ids(6, 12, 11, 8);
    let random = PruneSchedule { selection: TokenSelection::Random { seed: 9 }, ..s.clone() };
    let (a, b) = (prune_forward(&mut m, &x, &random).unwrap(), prune_forward(&mut m, &x, &random).unwrap());
    assert_eq!(a.traces, b.traces, "seeded");
    let spatten = prune_forward(&mut m, &x, &s).unwrap();
    assert_ne!(
        a.traces.iter().map(|t| &t.tokens).collect::<Vec<_>>(),
        spatten.traces.iter().map(|t| &t.tokens).collect::<Vec<_>>()
    );
    for trace in &a.traces {
        assert_eq!(trace.tokens.iter().map(Vec::len).collect::<Vec<_>>(), vec![12, 6, 3]);
        assert!(trace.tokens[2].iter().all(|j| trace.tokens[1].contains(j)), "a pruned token never returns");
    }
    assert_eq!(a.macs, spatten.macs, "the same work whichever tokens are kept");
}

#[test]
fn bad_schedules_and_models_are_errors() {
    let mut m = model(small(), 1);
    let x = ids(2, 8, 11, 1);
    let err = |tokens: Vec<f64>, heads: Vec<f64>, m: &mut SequenceClassifier| {
        prune_forward(m, &x, &PruneSchedule { tokens, heads, selection: TokenSelection::Attention })
            .unwrap_err()
            .to_string()
    };
    assert!(err(vec![1.0, 0.0, 0.0], vec![1.0; 3], &mut m).contains("not in (0, 1]"));
    assert!(err(vec![1.0, 1.5, 1.0], vec![1.0; 3], &mut m).contains("not in (0, 1]"));
    assert!(err(vec![1.0, f64::NAN, 0.5], vec![1.0; 3], &mut m).contains("not in (0, 1]"));
    assert!(err(vec![1.0, -0.5, 0.5], vec![1.0; 3], &mut m).contains("not in (0, 1]"));
    assert!(err(vec![0.5, 0.5, 0.5], vec![1.0; 3], &mut m).contains("layer 0"));
    assert!(err(vec![1.0, 0.5, 0.75], vec![1.0; 3], &mut m).contains("grows"));
    assert!(err(vec![1.0, 0.5], vec![1.0; 3], &mut m).contains("3 layers"));
    assert!(err(vec![1.0; 3], vec![1.0, 0.5, 1.0], &mut m).contains("head keep ratio grows"));
    let bad_ids = from_vec(&[1, 2], vec![0.0, 11.0]).unwrap();
    assert!(prune_forward(&mut m, &bad_ids, &PruneSchedule::none(3)).is_err());
    let empty = from_vec(&[0, 8], vec![]).unwrap();
    assert!(prune_forward(&mut m, &empty, &PruneSchedule::none(3)).unwrap_err().to_string().contains("at least one"));
    let rotary = GptConfig { tied: true, ..GptConfig::llama_like(11, 16, 16, 2, 4, 2, 32) };
    let mut r = SequenceClassifier::new(rotary, 3, 0).unwrap();
    assert!(prune_forward(&mut r, &x, &PruneSchedule::none(2)).unwrap_err().to_string().contains("learned positions"));
    assert!(SequenceClassifier::new(small(), 1, 0).unwrap_err().to_string().contains("two classes"));
    let untied = GptConfig { tied: false, ..small() };
    assert!(SequenceClassifier::new(untied, 3, 0).unwrap_err().to_string().contains("tied"));
}

#[test]
fn the_encoder_is_bidirectional() {
    let mut m = model(small(), 2);
    assert!(!m.config().causal);
    let a = ids(1, 10, 11, 3);
    let mut b = a.clone();
    b[[0, 9]] = (a[[0, 9]] as usize + 1).rem_euclid(11) as f32;
    // The first token's hidden state sees the last token: the pooled logits change, and so does the
    // prediction at position 0 of the encoder read as a decoder.
    let la = m.encoder.forward(&Var::constant(a.clone()), &mut Ctx::eval()).unwrap();
    let lb = m.encoder.forward(&Var::constant(b), &mut Ctx::eval()).unwrap();
    let first = |l: &Var| -> Vec<f32> { l.value().index_axis(ndarray::Axis(1), 0).iter().copied().collect() };
    assert_ne!(first(&la), first(&lb));
    let mut cache = tinylab_transformers::model::KvCache::new(m.encoder.config(), 1);
    assert!(m.encoder.forward_cached(&a, &mut cache).unwrap_err().to_string().contains("bidirectional"));
}

#[test]
fn pruned_results_do_not_depend_on_the_thread_count() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut m = model(grouped(), 4);
            let x = ids(4, 12, 11, 5);
            let s = PruneSchedule::cascade(3, 0.3, 0.5, TokenSelection::Attention);
            let out = prune_forward(&mut m, &x, &s).unwrap();
            (out.logits.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), out.traces)
        })
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn the_classical_trainer_fits_a_two_token_rule() {
    // Label: whether token 1 occurs before token 2 in a sequence of 8 (needs position and both tokens).
    let r = &mut rng(11);
    let (n, t) = (256, 8);
    let mut data = Vec::with_capacity(n * t);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let mut seq: Vec<usize> = (0..t).map(|_| 3 + rand_index(r, 5)).collect();
        let (i, j) = (rand_index(r, t), rand_index(r, t));
        let j = if i == j { (j + 1) % t } else { j };
        seq[i] = 1;
        seq[j] = 2;
        labels.push((i < j) as usize);
        data.extend(seq.iter().map(|&v| v as f32));
    }
    let x = from_vec(&[n, t], data).unwrap();
    let set = LabelledArray::new(x.view(), &labels).unwrap();
    let config = GptConfig { d_ff: 64, ..GptConfig::gpt2_like(8, 8, 32, 2, 4) };
    let mut m = SequenceClassifier::new(config, 2, 3).unwrap();
    let (before, _, _) = evaluate_labelled(&mut m, &set, 64).unwrap();
    let cfg = TrainConfig {
        epochs: 24,
        batch_size: 32,
        lr: LrSchedule::Constant { base: 3e-3 },
        seed: 1,
        patience: None,
        clip_grad_norm: Some(1.0),
        progress: false,
        checkpoint: None,
    };
    Trainer::new(cfg, |logits: &Var, targets: &Vec<usize>| ops::cross_entropy(logits, targets))
        .run(&mut m, &mut Adam::adamw(0.0), &set, &mut Classification::new(set.clone()))
        .unwrap();
    let (after, accuracy, _) = evaluate_labelled(&mut m, &set, 64).unwrap();
    assert!(after < 0.5 * before && accuracy > 0.9, "loss {before} -> {after}, accuracy {accuracy}");
}
