//! The GPT decoder: its new ops against f64 definitions and their finite differences, the model's
//! parameter names, the KV cache against the full forward pass, sampling against hand-computed
//! distributions, and safetensors files (round trip, errors, and the PyTorch peer's logits).

use proptest::prelude::*;
use tinylab_classical::nn::{Ctx, Module, named_params};
use tinylab_classical::optim::{Adam, Optimizer};
use tinylab_classical::tensor::{from_vec, randn, rng};
use tinylab_classical::{Tensor, Var, ops};
use tinylab_transformers::model::lsra::causal_depthwise_conv;
use tinylab_transformers::model::mlp::swiglu;
use tinylab_transformers::model::norm::rms_norm;
use tinylab_transformers::model::rope::rope;
use tinylab_transformers::model::{
    BlockKind, Gpt, GptConfig, KvCache, Sampler, generate, load_gpt, load_safetensors, read_config, save_safetensors,
};

fn f64s(t: &Tensor) -> Vec<f64> {
    t.iter().map(|&x| x as f64).collect()
}

/// Checks an op: its value against `reference` (f64, on the flattened inputs) to `tol`, and the
/// gradients of `sum(out * w)` against central differences of the reference.
fn check_op(
    inputs: &[Tensor],
    op: impl Fn(&[Var]) -> Var,
    reference: impl Fn(&[Vec<f64>]) -> Vec<f64>,
    tol: f64,
    seed: u64,
) {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::leaf(t.clone())).collect();
    let out = op(&vars);
    let base: Vec<Vec<f64>> = inputs.iter().map(f64s).collect();
    let want = reference(&base);
    assert_eq!(out.value().len(), want.len());
    for (a, b) in out.value().iter().zip(&want) {
        assert!((*a as f64 - b).abs() < tol * (1.0 + b.abs()), "value {a} vs {b}");
    }
    let w = randn(out.shape(), 1.0, &mut rng(seed));
    ops::sum(&ops::mul(&out, &Var::constant(w.clone())).unwrap()).backward().unwrap();
    let wv = f64s(&w);
    let objective = |x: &[Vec<f64>]| reference(x).iter().zip(&wv).map(|(a, b)| a * b).sum::<f64>();
    let eps = 1e-6;
    for (which, var) in vars.iter().enumerate() {
        let grad = var.grad().expect("a gradient");
        for (idx, g) in grad.iter().enumerate() {
            let (mut plus, mut minus) = (base.clone(), base.clone());
            plus[which][idx] += eps;
            minus[which][idx] -= eps;
            let fd = (objective(&plus) - objective(&minus)) / (2.0 * eps);
            assert!((*g as f64 - fd).abs() < tol * (1.0 + fd.abs()), "d{which}[{idx}] {g} vs {fd}");
        }
    }
}

fn rms_reference(x: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    let d = w.len();
    x.chunks(d)
        .flat_map(|r| {
            let inv = 1.0 / (r.iter().map(|v| v * v).sum::<f64>() / d as f64 + eps).sqrt();
            r.iter().zip(w).map(move |(v, g)| v * inv * g)
        })
        .collect()
}

/// Rotate-half RoPE straight from its definition, for `[slabs, tokens, d]`.
fn rope_reference(x: &[f64], tokens: usize, d: usize, offset: usize, base: f64) -> Vec<f64> {
    let half = d / 2;
    let mut out = vec![0.0; x.len()];
    for (slab, chunk) in x.chunks(tokens * d).enumerate() {
        for t in 0..tokens {
            for i in 0..half {
                let angle = (offset + t) as f64 / base.powf(2.0 * i as f64 / d as f64);
                let (a, b) = (chunk[t * d + i], chunk[t * d + i + half]);
                let o = slab * tokens * d + t * d;
                out[o + i] = a * angle.cos() - b * angle.sin();
                out[o + i + half] = b * angle.cos() + a * angle.sin();
            }
        }
    }
    out
}

/// The causal depthwise convolution from its definition: `x` `[batch, tokens, c]`, `w` `[c, k]`,
/// `history` `[batch, k - 1, c]`.
fn conv_reference(x: &[f64], w: &[f64], b: &[f64], history: &[f64], batch: usize, c: usize, k: usize) -> Vec<f64> {
    let tokens = x.len() / (batch * c);
    let mut out = vec![0.0; x.len()];
    for bb in 0..batch {
        let seq: Vec<&[f64]> = history[bb * (k - 1) * c..][..(k - 1) * c]
            .chunks(c)
            .chain(x[bb * tokens * c..][..tokens * c].chunks(c))
            .collect();
        for t in 0..tokens {
            for ch in 0..c {
                let mut acc = b.get(ch).copied().unwrap_or(0.0);
                for j in 0..k {
                    acc += w[ch * k + j] * seq[t + j][ch];
                }
                out[(bb * tokens + t) * c + ch] = acc;
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn rms_norm_matches_its_definition_and_gradients(rows in 1usize..5, d in 1usize..9, seed in any::<u64>()) {
        let r = &mut rng(seed);
        let x = randn(&[rows, d], 1.0, r);
        let w = randn(&[d], 1.0, r);
        check_op(
            &[x, w],
            |v| rms_norm(&v[0], &v[1], 1e-5).unwrap(),
            |v| rms_reference(&v[0], &v[1], 1e-5),
            2e-4,
            seed ^ 1,
        );
    }

    #[test]
    fn rope_matches_its_definition_and_gradients(
        heads in 1usize..3, tokens in 1usize..6, half in 1usize..5, offset in 0usize..20, seed in any::<u64>()
    ) {
        let d = 2 * half;
        let x = randn(&[2, heads, tokens, d], 1.0, &mut rng(seed));
        check_op(
            &[x],
            |v| rope(&v[0], offset, 10000.0).unwrap(),
            |v| rope_reference(&v[0], tokens, d, offset, 10000.0),
            1e-4,
            seed ^ 2,
        );
    }

    #[test]
    fn swiglu_matches_its_definition_and_gradients(n in 1usize..20, seed in any::<u64>()) {
        let r = &mut rng(seed);
        let (g, u) = (randn(&[n], 2.0, r), randn(&[n], 1.0, r));
        check_op(
            &[g, u],
            |v| swiglu(&v[0], &v[1]).unwrap(),
            |v| v[0].iter().zip(&v[1]).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect(),
            1e-4,
            seed ^ 3,
        );
    }

    #[test]
    fn causal_conv_matches_its_definition_and_gradients(
        batch in 1usize..3, tokens in 1usize..6, c in 1usize..4, k in 1usize..5, bias in any::<bool>(), seed in any::<u64>()
    ) {
        let r = &mut rng(seed);
        let x = randn(&[batch * tokens, c], 1.0, r);
        let w = randn(&[c, 1, k], 1.0, r);
        let b = randn(&[c], 1.0, r);
        let history: Vec<f32> = randn(&[batch * (k - 1) * c], 1.0, r).iter().copied().collect();
        let h64: Vec<f64> = history.iter().map(|&v| v as f64).collect();
        let inputs = if bias { vec![x, w, b] } else { vec![x, w] };
        check_op(
            &inputs,
            |v| causal_depthwise_conv(&v[0], &v[1], v.get(2), batch, &history).unwrap(),
            |v| conv_reference(&v[0], &v[1], v.get(2).map_or(&[][..], |b| &b[..]), &h64, batch, c, k),
            1e-4,
            seed ^ 4,
        );
    }
}

/// A rotation's offset is a position: rotating tokens `3..5` at offset 3 equals tokens 3..5 of the
/// rotation of the whole sequence at offset 0.
#[test]
fn rope_offsets_are_positions() {
    let x = randn(&[1, 2, 5, 6], 1.0, &mut rng(5));
    let whole = rope(&Var::constant(x.clone()), 0, 10000.0).unwrap();
    let tail = ops::slice(&Var::constant(x), 2, 3, 5).unwrap();
    let part = rope(&tail, 3, 10000.0).unwrap();
    let want = ops::slice(&whole, 2, 3, 5).unwrap();
    assert_eq!(part.value(), want.value());
}

/// The fixture's two architectures (see `benches/peers/gpt_peer.py`), and an LSRA variant.
fn configs() -> Vec<GptConfig> {
    let gpt2 = GptConfig { d_ff: 32, ..GptConfig::gpt2_like(17, 12, 16, 2, 4) };
    let llama = GptConfig::llama_like(17, 12, 16, 2, 4, 2, 24);
    let lsra = GptConfig { block: BlockKind::Lsra { kernel: 3 }, n_heads: 2, n_kv_heads: 1, ..llama.clone() };
    vec![gpt2, llama, lsra]
}

fn tokens(batch: usize, len: usize, seed: u64) -> Tensor {
    let mut state = seed;
    let ids = (0..batch * len)
        .map(|_| {
            state = tinylab_classical::seed::derive(state, &[7]);
            (state % 17) as f32
        })
        .collect();
    from_vec(&[batch, len], ids).unwrap()
}

#[test]
fn parameter_paths_are_the_pytorch_names() {
    let cfgs = configs();
    let names = |c: &GptConfig| -> Vec<String> {
        named_params(&Gpt::new(c.clone(), 0).unwrap()).into_iter().map(|(n, _)| n).collect()
    };
    let gpt2 = names(&cfgs[0]);
    for want in [
        "tok_emb.weight",
        "pos_emb.weight",
        "blocks.0.norm1.weight",
        "blocks.0.norm1.bias",
        "blocks.0.attn.q_proj.weight",
        "blocks.0.attn.q_proj.bias",
        "blocks.0.attn.k_proj.weight",
        "blocks.1.attn.v_proj.weight",
        "blocks.1.attn.o_proj.weight",
        "blocks.1.norm2.weight",
        "blocks.1.mlp.fc1.weight",
        "blocks.1.mlp.fc2.bias",
        "norm_f.weight",
        "norm_f.bias",
    ] {
        assert!(gpt2.iter().any(|n| n == want), "{want} missing from {gpt2:?}");
    }
    assert!(!gpt2.iter().any(|n| n.starts_with("lm_head")), "a tied model has no lm_head");
    let llama = names(&cfgs[1]);
    for want in [
        "blocks.0.mlp.gate_proj.weight",
        "blocks.0.mlp.up_proj.weight",
        "blocks.0.mlp.down_proj.weight",
        "lm_head.weight",
    ] {
        assert!(llama.iter().any(|n| n == want), "{want} missing from {llama:?}");
    }
    assert!(!llama.iter().any(|n| n.ends_with("bias") || n.starts_with("pos_emb")), "{llama:?}");
    let model = Gpt::new(cfgs[1].clone(), 0).unwrap();
    let shapes: Vec<(String, Vec<usize>)> =
        named_params(&model).into_iter().map(|(n, p)| (n, p.value.shape().to_vec())).collect();
    let shape = |name: &str| shapes.iter().find(|(n, _)| n == name).unwrap().1.clone();
    // GQA: 4 query heads of width 4, 2 key/value heads; PyTorch's [out, in] layout.
    assert_eq!(shape("blocks.0.attn.q_proj.weight"), vec![16, 16]);
    assert_eq!(shape("blocks.0.attn.k_proj.weight"), vec![8, 16]);
    assert_eq!(shape("blocks.0.mlp.gate_proj.weight"), vec![24, 16]);
    assert_eq!(shape("lm_head.weight"), vec![17, 16]);
    let lsra = names(&cfgs[2]);
    assert!(
        lsra.iter().any(|n| n == "blocks.0.conv.weight") && lsra.iter().any(|n| n == "blocks.0.conv.out_proj.weight")
    );
}

#[test]
fn bad_configs_and_inputs_are_named() {
    let base = GptConfig::gpt2_like(17, 12, 16, 2, 4);
    let err = |c: GptConfig| c.validated().unwrap_err().to_string();
    assert!(err(GptConfig { n_heads: 3, ..base.clone() }).contains("d_model 16 is not a multiple of n_heads 3"));
    assert!(err(GptConfig { n_kv_heads: 3, ..base.clone() }).contains("n_heads 4 is not a multiple of n_kv_heads 3"));
    assert!(err(GptConfig { vocab: 0, ..base.clone() }).contains("vocab"));
    assert!(err(GptConfig { block: BlockKind::Lsra { kernel: 0 }, ..base.clone() }).contains("kernel of 0 taps"));
    assert!(err(GptConfig { block: BlockKind::Lsra { kernel: 13 }, ..base.clone() }).contains("context (12)"));
    let rope_odd = GptConfig {
        d_model: 12,
        n_heads: 4,
        positions: tinylab_transformers::model::Positions::Rotary,
        ..base.clone()
    };
    assert!(err(rope_odd).contains("even head width"));
    let mut model = Gpt::new(base, 0).unwrap();
    let too_long = tokens(1, 13, 0);
    let e = model.forward(&Var::constant(too_long), &mut Ctx::eval()).unwrap_err().to_string();
    assert!(e.contains("context of 12"), "{e}");
    let bad_id = from_vec(&[1, 2], vec![3.0, 17.0]).unwrap();
    let e = model.forward(&Var::constant(bad_id), &mut Ctx::eval()).unwrap_err().to_string();
    assert!(e.contains("token id 17"), "{e}");
    let e = model.forward(&Var::constant(from_vec(&[3], vec![1.0; 3]).unwrap()), &mut Ctx::eval()).unwrap_err();
    assert!(e.to_string().contains("[3]"), "{e}");
    let mut cache = KvCache::new(model.config(), 2);
    let e = model.forward_cached(&tokens(1, 3, 0), &mut cache).unwrap_err().to_string();
    assert!(e.contains("the cache is for 2 sequences") && e.contains("the call has 1"), "{e}");
    assert_eq!(cache.position(), 0, "nothing was appended");
}

/// A prefill of 5 tokens and then one token at a time give the logits of the uncached forward pass.
#[test]
fn cached_decoding_equals_the_full_forward() {
    for cfg in configs() {
        let mut model = Gpt::new(cfg.clone(), 3).unwrap();
        let ids = tokens(2, 12, 11);
        let full = model.forward(&Var::constant(ids.clone()), &mut Ctx::eval()).unwrap().value().clone();
        let mut cache = KvCache::new(&cfg, 2);
        let mut pieces =
            vec![model.forward_cached(&ids.slice(ndarray::s![.., 0..5]).to_owned().into_dyn(), &mut cache).unwrap()];
        for t in 5..12 {
            pieces.push(
                model.forward_cached(&ids.slice(ndarray::s![.., t..t + 1]).to_owned().into_dyn(), &mut cache).unwrap(),
            );
        }
        assert_eq!(cache.position(), 12);
        // Two f32 tensors [2, kv_heads, 12, head_dim] per layer.
        assert_eq!(cache.bytes(), cfg.n_layers * 2 * 2 * cfg.n_kv_heads * 12 * cfg.head_dim() * 4);
        let views: Vec<_> = pieces.iter().map(|p| p.view()).collect();
        let cached = ndarray::concatenate(ndarray::Axis(1), &views).unwrap();
        assert_eq!(cached.shape(), full.shape());
        for (a, b) in cached.iter().zip(full.iter()) {
            assert!((a - b).abs() < 1e-5, "{:?}: cached {a} vs full {b}", cfg.block);
        }
        let e = model.forward_cached(&ids.slice(ndarray::s![.., 0..1]).to_owned().into_dyn(), &mut cache).unwrap_err();
        assert!(e.to_string().contains("context of 12"), "{e}");
    }
}

/// The model's parameter gradients against central differences of its own loss. In f32, with a step
/// small next to the 0.02-scale weights (the norms amplify them 50-fold) and a loose tolerance: the
/// ops themselves are checked tightly above; this checks the wiring.
#[test]
fn model_gradients_match_finite_differences() {
    for cfg in configs() {
        let mut model = Gpt::new(cfg.clone(), 9).unwrap();
        let ids = tokens(2, 6, 5);
        let targets: Vec<usize> = tokens(2, 6, 6).iter().map(|&v| v as usize).collect();
        let loss_of = |m: &mut Gpt, ctx: &mut Ctx| {
            let logits = m.forward(&Var::constant(ids.clone()), ctx).unwrap();
            ops::cross_entropy(&ops::reshape(&logits, &[12, 17]).unwrap(), &targets).unwrap()
        };
        let mut ctx = Ctx::train(0);
        loss_of(&mut model, &mut ctx).backward().unwrap();
        tinylab_classical::nn::accumulate_grads(&mut model, &ctx);
        let names: Vec<String> = named_params(&model).into_iter().map(|(n, _)| n).collect();
        for name in &names {
            let grad = {
                let mut g = None;
                model.visit_params("", &mut |n, p| {
                    if &n == name {
                        g = p.grad.clone();
                    }
                });
                g.unwrap_or_else(|| panic!("{name} got no gradient"))
            };
            // The entry with the largest gradient, perturbed by +-h.
            let (idx, &g) = grad.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).unwrap();
            let h = 2e-3f32;
            let mut eval = |delta: f32| {
                model.visit_params_mut("", &mut |n, p| {
                    if &n == name {
                        let v = p.value.as_slice_mut().unwrap();
                        v[idx] += delta;
                    }
                });
                loss_of(&mut model, &mut Ctx::eval()).item().unwrap() as f64
            };
            let plus = eval(h);
            let minus = eval(-2.0 * h);
            eval(h);
            let fd = (plus - minus) / (2.0 * h as f64);
            assert!((g as f64 - fd).abs() < 2e-3 + 2e-2 * fd.abs(), "{:?} {name}[{idx}]: {g} vs {fd}", cfg.block);
        }
    }
}

/// The model trains: fifty Adam steps on one batch take the next-token loss well below its start.
#[test]
fn adam_lowers_the_loss() {
    let cfg = configs()[1].clone();
    let mut model = Gpt::new(cfg, 1).unwrap();
    let ids = tokens(2, 8, 3);
    let targets: Vec<usize> = tokens(2, 8, 4).iter().map(|&v| v as usize).collect();
    let mut adam = Adam::new(0.0);
    let mut losses = Vec::new();
    for _ in 0..50 {
        let mut ctx = Ctx::train(0);
        let logits = model.forward(&Var::constant(ids.clone()), &mut ctx).unwrap();
        let loss = ops::cross_entropy(&ops::reshape(&logits, &[16, 17]).unwrap(), &targets).unwrap();
        losses.push(loss.item().unwrap());
        loss.backward().unwrap();
        adam.step_from(&mut model, &ctx, 1e-2);
    }
    assert!((losses[0] - (17f32).ln()).abs() < 0.1, "a fresh model is near uniform: {}", losses[0]);
    assert!(losses[49] < 0.5 * losses[0], "{losses:?}");
}

#[test]
fn greedy_and_filters_keep_the_hand_computed_sets() {
    let logits = [1.0f32, 3.0, 2.0, 3.0, 0.0];
    assert_eq!(Sampler::greedy().distribution(&logits).unwrap(), vec![(1, 1.0)], "ties go to the lower id");
    // softmax of [1, 3, 2, 3, 0].
    let e: Vec<f64> = logits.iter().map(|&l| (l as f64).exp()).collect();
    let z: f64 = e.iter().sum();
    let p: Vec<f64> = e.iter().map(|v| v / z).collect();
    let plain = Sampler::temperature(1.0).distribution(&logits).unwrap();
    let order: Vec<usize> = plain.iter().map(|&(t, _)| t).collect();
    assert_eq!(order, vec![1, 3, 2, 0, 4]);
    for &(t, q) in &plain {
        assert!((q - p[t]).abs() < 1e-12);
    }
    // top-k 3 renormalises the three largest.
    let k3 = Sampler { top_k: Some(3), ..Sampler::temperature(1.0) }.distribution(&logits).unwrap();
    let mass = p[1] + p[3] + p[2];
    assert_eq!(k3.iter().map(|&(t, _)| t).collect::<Vec<_>>(), vec![1, 3, 2]);
    for &(t, q) in &k3 {
        assert!((q - p[t] / mass).abs() < 1e-12);
    }
    // top-p: p1 + p3 = 0.7451 < 0.8 <= p1 + p3 + p2 = 0.9192: three tokens; 0.7 needs two.
    assert!(p[1] + p[3] < 0.8 && p[1] + p[3] + p[2] >= 0.8 && p[1] + p[3] >= 0.7);
    let nucleus = |top_p| Sampler { top_p: Some(top_p), ..Sampler::temperature(1.0) }.distribution(&logits).unwrap();
    assert_eq!(nucleus(0.8).len(), 3);
    assert_eq!(nucleus(0.7).len(), 2);
    assert_eq!(nucleus(p[1] as f32 * 0.5).len(), 1);
    assert_eq!(nucleus(1.0).len(), 5);
    // Temperature 0.5 squares the odds.
    let cold = Sampler::temperature(0.5).distribution(&logits).unwrap();
    let e2: Vec<f64> = logits.iter().map(|&l| (2.0 * l as f64).exp()).collect();
    let z2: f64 = e2.iter().sum();
    for &(t, q) in &cold {
        assert!((q - e2[t] / z2).abs() < 1e-12);
    }
    assert!(Sampler::temperature(-1.0).distribution(&logits).is_err());
    assert!(Sampler { top_p: Some(0.0), ..Sampler::temperature(1.0) }.distribution(&logits).is_err());
    assert!(Sampler { top_k: Some(0), ..Sampler::temperature(1.0) }.distribution(&logits).is_err());
    assert!(Sampler::temperature(1.0).distribution(&[1.0, f32::NAN]).is_err());
    assert!(Sampler::greedy().distribution(&[]).is_err());
}

/// Over 40000 seeded draws, each token's frequency is its renormalised probability to within four
/// binomial standard deviations, and filtered-out tokens never appear.
#[test]
fn draw_frequencies_match_the_distribution() {
    let logits = [0.5f32, 2.0, -1.0, 1.5, 1.0, -3.0];
    let sampler = Sampler { temperature: 0.8, top_k: Some(5), top_p: Some(0.9) };
    let dist = sampler.distribution(&logits).unwrap();
    let n = 40_000;
    let mut counts = [0usize; 6];
    let mut r = rng(42);
    for _ in 0..n {
        counts[sampler.sample(&logits, &mut r).unwrap()] += 1;
    }
    for (t, &count) in counts.iter().enumerate() {
        let q = dist.iter().find(|&&(tok, _)| tok == t).map_or(0.0, |&(_, q)| q);
        let freq = count as f64 / n as f64;
        let sd = (q * (1.0 - q) / n as f64).sqrt();
        assert!((freq - q).abs() <= 4.0 * sd + 1e-12, "token {t}: {freq} vs {q}");
    }
    assert_eq!(counts[5], 0);
}

#[test]
fn generation_is_seeded_and_uses_the_cache() {
    let cfg = configs()[1].clone();
    let mut model = Gpt::new(cfg, 2).unwrap();
    let sampler = Sampler { temperature: 1.0, top_k: Some(8), top_p: Some(0.95) };
    let a = generate(&mut model, &[1, 2, 3], 9, &sampler, 7).unwrap();
    let b = generate(&mut model, &[1, 2, 3], 9, &sampler, 7).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 9);
    // Greedy generation equals the argmax of the uncached forward pass, token by token.
    let greedy = generate(&mut model, &[4, 5], 6, &Sampler::greedy(), 0).unwrap();
    let mut seq = vec![4usize, 5];
    for _ in 0..6 {
        let ids = from_vec(&[1, seq.len()], seq.iter().map(|&t| t as f32).collect()).unwrap();
        let logits = model.forward(&Var::constant(ids), &mut Ctx::eval()).unwrap();
        let last: Vec<f32> = logits.value().iter().skip((seq.len() - 1) * 17).copied().collect();
        seq.push(Sampler::greedy().pick(&last, 0.0).unwrap());
    }
    assert_eq!(greedy, seq[2..].to_vec());
    assert!(generate(&mut model, &[1; 10], 4, &sampler, 0).is_err(), "10 + 3 positions exceed 12");
}

#[test]
fn initialisation_is_seeded() {
    let cfg = configs()[0].clone();
    let (a, b, c) = (Gpt::new(cfg.clone(), 5).unwrap(), Gpt::new(cfg.clone(), 5).unwrap(), Gpt::new(cfg, 6).unwrap());
    let values = |m: &Gpt| named_params(m).into_iter().map(|(_, p)| p.value.clone()).collect::<Vec<_>>();
    assert_eq!(values(&a), values(&b));
    assert_ne!(values(&a), values(&c));
}

/// A fresh path in the temporary directory for this test.
fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tinylab-gpt-{}-{name}.safetensors", std::process::id()))
}

fn param_values(m: &Gpt) -> Vec<(String, Tensor)> {
    named_params(m).into_iter().map(|(n, p)| (n, p.value.clone())).collect()
}

#[test]
fn safetensors_round_trip_keeps_every_bit() {
    for (i, cfg) in configs().into_iter().enumerate() {
        let model = Gpt::new(cfg.clone(), 3).unwrap();
        let path = temp_path(&format!("round-{i}"));
        save_safetensors(&model, &path).unwrap();
        assert_eq!(read_config(&path).unwrap(), cfg);
        assert_eq!(param_values(&load_gpt(&path).unwrap()), param_values(&model));
        let mut other = Gpt::new(cfg, 4).unwrap();
        assert_ne!(param_values(&other), param_values(&model));
        load_safetensors(&mut other, &path).unwrap();
        assert_eq!(param_values(&other), param_values(&model));
        std::fs::remove_file(&path).unwrap();
    }
}

/// Writes `tensors` (name, shape) filled with zeros, without metadata.
fn write_raw(path: &std::path::Path, tensors: &[(String, Vec<usize>)]) {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, s)| vec![0u8; 4 * s.iter().product::<usize>()]).collect();
    let views: Vec<(&str, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s), b)| {
            (n.as_str(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap())
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

#[test]
fn safetensors_errors_name_the_tensor_and_shapes() {
    let cfg = configs()[1].clone();
    let mut model = Gpt::new(cfg.clone(), 3).unwrap();
    let before = param_values(&model);
    let spec: Vec<(String, Vec<usize>)> =
        named_params(&model).into_iter().map(|(n, p)| (n, p.value.shape().to_vec())).collect();
    let path = temp_path("errors");
    let load = |model: &mut Gpt| load_safetensors(model, &path).unwrap_err().to_string();

    write_raw(&path, &spec.iter().filter(|(n, _)| n != "norm_f.weight").cloned().collect::<Vec<_>>());
    assert!(load(&mut model).contains("`norm_f.weight` is missing"));
    let mut extra = spec.clone();
    extra.push(("blocks.0.attn.q_proj.bias".into(), vec![16]));
    write_raw(&path, &extra);
    assert!(load(&mut model).contains("`blocks.0.attn.q_proj.bias` in"));
    let mut wrong = spec.clone();
    wrong[0].1 = vec![18, 16];
    write_raw(&path, &wrong);
    let e = load(&mut model);
    assert!(e.contains("[18, 16]") && e.contains("[17, 16]") && e.contains("tok_emb.weight"), "{e}");
    assert_eq!(param_values(&model), before, "a failed load changes nothing");

    std::fs::write(&path, b"definitely not a safetensors file").unwrap();
    assert!(load(&mut model).contains("not a valid safetensors file"));
    save_safetensors(&model, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    assert!(load(&mut model).contains("not a valid safetensors file"), "a truncated file");

    save_safetensors(&Gpt::new(configs()[0].clone(), 0).unwrap(), &path).unwrap();
    assert!(load(&mut model).contains("configuration"), "another architecture's file");
    std::fs::remove_file(&path).unwrap();
    assert!(load(&mut model).contains(path.to_str().unwrap()), "a missing file names its path");
}

/// The committed PyTorch fixture (benches/peers/gpt_peer.py; "pruned" has per-block head and MLP
/// widths, as structured pruning leaves them): tinylab's logits, loss and gradient
/// norm on PyTorch's weights equal PyTorch's.
#[test]
fn logits_match_the_pytorch_peer() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for name in ["gpt2", "llama", "lsra", "pruned"] {
        let mut model = load_gpt(&dir.join(format!("gpt_{name}.safetensors"))).unwrap();
        let text = std::fs::read_to_string(dir.join(format!("gpt_{name}.json"))).unwrap();
        let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
        let rows = |key: &str| -> Vec<Vec<f32>> {
            fixture[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect())
                .collect()
        };
        let ids = rows("tokens");
        let (b, t) = (ids.len(), ids[0].len());
        let ids = from_vec(&[b, t], ids.concat()).unwrap();
        let targets: Vec<usize> = rows("targets").concat().iter().map(|&v| v as usize).collect();
        let want: Vec<f64> = fixture["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let mut ctx = Ctx::train(0);
        let logits = model.forward(&Var::constant(ids.clone()), &mut ctx).unwrap();
        assert_eq!(logits.value().len(), want.len());
        let worst = logits.value().iter().zip(&want).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-4, "{name}: logits differ by {worst}");
        let loss = ops::cross_entropy(&ops::reshape(&logits, &[b * t, 17]).unwrap(), &targets).unwrap();
        let want_loss = fixture["loss"].as_f64().unwrap();
        assert!(
            (loss.item().unwrap() as f64 - want_loss).abs() < 1e-4,
            "{name}: loss {:?} vs {want_loss}",
            loss.item()
        );
        loss.backward().unwrap();
        tinylab_classical::nn::accumulate_grads(&mut model, &ctx);
        let norm: f64 = named_params(&model)
            .iter()
            .map(|(_, p)| p.grad.as_ref().unwrap().iter().map(|&g| (g as f64).powi(2)).sum::<f64>())
            .sum::<f64>()
            .sqrt();
        let want_norm = fixture["grad_norm"].as_f64().unwrap();
        assert!((norm - want_norm).abs() < 1e-4 * want_norm.max(1.0), "{name}: gradient norm {norm} vs {want_norm}");
        // The cached path on the same weights.
        let mut cache = KvCache::new(model.config(), b);
        let mut cached = Vec::new();
        for i in 0..t {
            let step = ids.slice(ndarray::s![.., i..i + 1]).to_owned().into_dyn();
            cached.push(model.forward_cached(&step, &mut cache).unwrap());
        }
        let views: Vec<_> = cached.iter().map(|p| p.view()).collect();
        let cached = ndarray::concatenate(ndarray::Axis(1), &views).unwrap();
        let worst = cached.iter().zip(&want).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-4, "{name}: cached logits differ by {worst}");
    }
}

/// Forward and backward passes give the same bits on one thread and on three.
#[test]
fn results_do_not_depend_on_the_thread_count() {
    let run = |threads: usize, cfg: GptConfig| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut model = Gpt::new(cfg, 8).unwrap();
            let mut ctx = Ctx::train(0);
            let logits = model.forward(&Var::constant(tokens(3, 12, 1)), &mut ctx).unwrap();
            let targets: Vec<usize> = tokens(3, 12, 2).iter().map(|&v| v as usize).collect();
            ops::cross_entropy(&ops::reshape(&logits, &[36, 17]).unwrap(), &targets).unwrap().backward().unwrap();
            tinylab_classical::nn::accumulate_grads(&mut model, &ctx);
            let grads: Vec<Tensor> = named_params(&model).into_iter().map(|(_, p)| p.grad.clone().unwrap()).collect();
            (logits.value().clone(), grads)
        })
    };
    for cfg in configs() {
        assert_eq!(run(1, cfg.clone()), run(3, cfg));
    }
}

/// Next-token sequences for the classical [`Trainer`]: sample `i` is tokens `0..T` of a sequence as
/// the input and tokens `1..=T` as the targets.
struct Sequences {
    seqs: Vec<Vec<usize>>,
}

impl tinylab_classical::train::Batches for Sequences {
    type Targets = Vec<usize>;

    fn len(&self) -> usize {
        self.seqs.len()
    }

    fn batch(&self, indices: &[usize]) -> tinylab_classical::Result<tinylab_classical::train::Batch<Vec<usize>>> {
        let t = self.seqs[0].len() - 1;
        let mut input = Vec::new();
        let mut targets = Vec::new();
        for &i in indices {
            let s = self.seqs.get(i).ok_or_else(|| tinylab_classical::error::arg_err("Sequences", "out of range"))?;
            input.extend(s[..t].iter().map(|&v| v as f32));
            targets.extend_from_slice(&s[1..]);
        }
        Ok(tinylab_classical::train::Batch { input: from_vec(&[indices.len(), t], input)?, targets })
    }
}

/// The mean training loss of an epoch.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct EpochLoss(f32);

impl tinylab_classical::train::EpochRecord for EpochLoss {
    fn val_loss(&self) -> Option<f32> {
        None
    }
}

#[derive(Default)]
struct LossTally(Vec<f32>);

impl tinylab_classical::train::Metrics<Vec<usize>> for LossTally {
    type Epoch = EpochLoss;

    fn batch(&mut self, loss: f32, _: &Tensor, _: &Vec<usize>) -> tinylab_classical::Result<()> {
        self.0.push(loss);
        Ok(())
    }

    fn epoch(&mut self, _: usize, _: f32, _: &mut dyn Module) -> tinylab_classical::Result<EpochLoss> {
        let mean = self.0.iter().sum::<f32>() / self.0.len() as f32;
        self.0.clear();
        Ok(EpochLoss(mean))
    }
}

/// The classical Trainer fits the model to sequences whose next token is a fixed function of the
/// current one (`t -> 5t + 3 mod 17`), taking the loss from near `ln 17` (2.77 in the first epoch)
/// below 0.1 (0.016 after 25 epochs when written).
#[test]
fn the_classical_trainer_fits_a_deterministic_successor() {
    use tinylab_classical::optim::LrSchedule;
    use tinylab_classical::train::{TrainConfig, Trainer};
    let seqs: Vec<Vec<usize>> =
        (0..16).map(|s| std::iter::successors(Some(s % 17), |&t| Some((5 * t + 3) % 17)).take(9).collect()).collect();
    let data = Sequences { seqs };
    let mut model = Gpt::new(configs()[0].clone(), 4).unwrap();
    let cfg = TrainConfig {
        epochs: 25,
        batch_size: 4,
        lr: LrSchedule::Constant { base: 0.01 },
        seed: 3,
        patience: None,
        clip_grad_norm: Some(1.0),
        progress: false,
        checkpoint: None,
    };
    let mut trainer = Trainer::new(cfg, |logits: &Var, targets: &Vec<usize>| {
        let rows = logits.shape()[0] * logits.shape()[1];
        ops::cross_entropy(&ops::reshape(logits, &[rows, 17])?, targets)
    });
    let report = trainer.run(&mut model, &mut Adam::new(0.0), &data, &mut LossTally::default()).unwrap();
    let (first, last) = (report.history[0].0, report.history.last().unwrap().0);
    assert!(first > 2.0 && last < 0.1, "epoch losses {:?}", report.history);
}

/// The model traces into classical's graph (what the compression passes read): every distinct
/// parameter once, and at least the MACs of its linear layers and output head.
#[test]
fn the_model_traces_into_a_graph() {
    for cfg in configs() {
        let mut model = Gpt::new(cfg.clone(), 0).unwrap();
        let g = tinylab_classical::graph::trace(&mut model, &[12]).unwrap();
        let cost = tinylab_classical::graph::cost(&g);
        assert_eq!(cost.params, tinylab_classical::nn::param_count(&model), "{:?}", cfg.block);
        let linear: usize = named_params(&model)
            .iter()
            .filter(|(n, p)| {
                n.ends_with("proj.weight")
                    || n.contains("fc") && n.ends_with("weight")
                    || p.value.ndim() == 2 && n.starts_with("lm_head")
            })
            .map(|(_, p)| p.len())
            .sum();
        let head = if cfg.tied { cfg.vocab * cfg.d_model } else { 0 };
        assert!(cost.macs >= 12 * (linear + head) as u64, "{} MACs for {linear} linear weights", cost.macs);
    }
}

/// The decoding path sees a weight as the forward pass does: with a pruning mask on every linear
/// weight, token-by-token logits still equal the full pass.
#[test]
fn cached_decoding_honours_pruning_masks() {
    let cfg = configs()[0].clone();
    let mut model = Gpt::new(cfg.clone(), 3).unwrap();
    model.visit_params_mut("", &mut |name, p| {
        if p.value.ndim() == 2 && name.starts_with("blocks") {
            let mask = p.value.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 });
            p.mask = Some(mask);
        }
    });
    let ids = tokens(1, 8, 2);
    let full = model.forward(&Var::constant(ids.clone()), &mut Ctx::eval()).unwrap().value().clone();
    let mut cache = KvCache::new(&cfg, 1);
    for t in 0..8 {
        let step =
            model.forward_cached(&ids.slice(ndarray::s![.., t..t + 1]).to_owned().into_dyn(), &mut cache).unwrap();
        for (a, b) in step.iter().zip(full.slice(ndarray::s![.., t..t + 1, ..]).iter()) {
            assert!((a - b).abs() < 1e-5, "token {t}: {a} vs {b}");
        }
    }
    let mut unmasked = model.clone();
    unmasked.visit_params_mut("", &mut |_, p| p.mask = None);
    let plain = unmasked.forward(&Var::constant(ids), &mut Ctx::eval()).unwrap().value().clone();
    assert!(plain.iter().zip(full.iter()).any(|(a, b)| (a - b).abs() > 1e-3), "the masks matter");
}

/// Any architecture the configuration allows at the fixture's sizes.
fn any_config() -> impl Strategy<Value = GptConfig> {
    use tinylab_transformers::model::{MlpKind, NormKind, Positions};
    (
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        prop_oneof![Just((4usize, 2usize)), Just((4, 4)), Just((2, 1)), Just((4, 1))],
        proptest::option::of(1usize..5),
        1usize..3,
    )
        .prop_map(|((rms, swiglu, rotary, tied, bias), (n_heads, n_kv_heads), lsra, n_layers)| GptConfig {
            norm: if rms { NormKind::RmsNorm } else { NormKind::LayerNorm },
            mlp: if swiglu { MlpKind::SwiGlu } else { MlpKind::Gelu },
            positions: if rotary { Positions::Rotary } else { Positions::Learned },
            tied,
            bias,
            n_heads,
            n_kv_heads,
            block: lsra.map_or(BlockKind::Standard, |kernel| BlockKind::Lsra { kernel }),
            ..GptConfig { d_ff: 20, ..GptConfig::gpt2_like(17, 12, 16, n_layers, 4) }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// For any architecture and any split of 12 tokens into chunks, decoding the chunks through the
    /// cache gives the logits of one full pass.
    #[test]
    fn any_chunking_of_cached_decoding_equals_the_full_pass(
        cfg in any_config(), cuts in proptest::collection::btree_set(1usize..12, 0..6), seed in any::<u64>()
    ) {
        let mut model = Gpt::new(cfg.clone(), seed).unwrap();
        let ids = tokens(2, 12, seed ^ 5);
        let full = model.forward(&Var::constant(ids.clone()), &mut Ctx::eval()).unwrap().value().clone();
        let mut cache = KvCache::new(&cfg, 2);
        let bounds: Vec<usize> = std::iter::once(0).chain(cuts).chain(std::iter::once(12)).collect();
        for w in bounds.windows(2) {
            let chunk = ids.slice(ndarray::s![.., w[0]..w[1]]).to_owned().into_dyn();
            let got = model.forward_cached(&chunk, &mut cache).unwrap();
            let want = full.slice(ndarray::s![.., w[0]..w[1], ..]);
            for (a, b) in got.iter().zip(want.iter()) {
                prop_assert!((a - b).abs() < 1e-5, "{cfg:?} chunk {w:?}: {a} vs {b}");
            }
        }
    }
}
