//! Attention kernels against an independent f64 reference (plain loops over the definition) and its
//! finite-difference gradients, on random shapes, head groupings and masks.

use proptest::prelude::*;
use tinylab_classical::tensor::{randn, rng};
use tinylab_classical::{Tensor, Var};
use tinylab_transformers::attention::{AttentionKernel, AttentionMask, Dims, attention};

/// The definition, in f64: per query, softmax over the visible keys of `scale * q.k`, then the
/// probability-weighted sum of values; zero when no key is visible.
fn reference(q: &[f64], k: &[f64], v: &[f64], d: Dims, mask: &AttentionMask, scale: f64) -> Vec<f64> {
    let mut out = vec![0.0; d.batch * d.q_heads * d.tokens * d.value_dim];
    for b in 0..d.batch {
        for h in 0..d.q_heads {
            let kvh = b * d.kv_heads + h / d.group();
            let bh = b * d.q_heads + h;
            for i in 0..d.tokens {
                let visible: Vec<usize> = (0..d.keys).filter(|&j| mask.allows(b, i, j)).collect();
                if visible.is_empty() {
                    continue;
                }
                let logits: Vec<f64> = visible
                    .iter()
                    .map(|&j| {
                        scale
                            * (0..d.head_dim)
                                .map(|p| {
                                    q[(bh * d.tokens + i) * d.head_dim + p] * k[(kvh * d.keys + j) * d.head_dim + p]
                                })
                                .sum::<f64>()
                    })
                    .collect();
                let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = logits.iter().map(|l| (l - max).exp()).sum();
                for (&j, l) in visible.iter().zip(&logits) {
                    let p = (l - max).exp() / z;
                    for c in 0..d.value_dim {
                        out[(bh * d.tokens + i) * d.value_dim + c] += p * v[(kvh * d.keys + j) * d.value_dim + c];
                    }
                }
            }
        }
    }
    out
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.iter().map(|&x| x as f64).collect()
}

#[derive(Debug, Clone)]
struct Case {
    batch: usize,
    kv_heads: usize,
    group: usize,
    tokens: usize,
    cached: usize,
    head_dim: usize,
    value_dim: usize,
    mask: AttentionMask,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..3, 1usize..3, 1usize..3, 1usize..9, 0usize..5, 1usize..9, 1usize..6, any::<u64>())
        .prop_flat_map(|(batch, kv_heads, group, tokens, cached, head_dim, value_dim, seed)| {
            let keys = tokens + cached;
            (
                Just((batch, kv_heads, group, tokens, cached, head_dim, value_dim, seed)),
                any::<bool>(),
                proptest::option::of(proptest::collection::vec(0..=keys, batch)),
                proptest::option::of(1..keys + 2),
                0usize..3,
            )
        })
        .prop_map(
            |(
                (batch, kv_heads, group, tokens, cached, head_dim, value_dim, seed),
                causal,
                key_lengths,
                window,
                sinks,
            )| {
                let mask = AttentionMask { causal, key_lengths, query_offset: cached, window, sinks };
                Case { batch, kv_heads, group, tokens, cached, head_dim, value_dim, mask, seed }
            },
        )
}

fn operands(c: &Case) -> (Tensor, Tensor, Tensor, Tensor) {
    let r = &mut rng(c.seed);
    let keys = c.tokens + c.cached;
    let q = randn(&[c.batch, c.kv_heads * c.group, c.tokens, c.head_dim], 1.0, r);
    let k = randn(&[c.batch, c.kv_heads, keys, c.head_dim], 1.0, r);
    let v = randn(&[c.batch, c.kv_heads, keys, c.value_dim], 1.0, r);
    let w = randn(&[c.batch, c.kv_heads * c.group, c.tokens, c.value_dim], 1.0, r);
    (q, k, v, w)
}

/// Checks `kernel` against the reference: values to `tol`, and the gradients of `sum(out * w)` against
/// central differences of the f64 reference.
fn check(c: &Case, kernel: AttentionKernel, tol: f64) {
    let (q, k, v, w) = operands(c);
    let (qv, kv, vv) = (Var::leaf(q.clone()), Var::leaf(k.clone()), Var::leaf(v.clone()));
    let out = attention(&qv, &kv, &vv, &c.mask, None, kernel).unwrap();
    let d = Dims::of(q.shape(), k.shape(), v.shape(), &c.mask).unwrap();
    let scale = 1.0 / (c.head_dim as f64).sqrt();
    let want = reference(&f64s(&q), &f64s(&k), &f64s(&v), d, &c.mask, scale);
    for (a, b) in out.value().iter().zip(&want) {
        assert!((*a as f64 - b).abs() < tol, "value {a} vs {b} in {c:?}");
    }
    let loss = tinylab_classical::ops::sum(&tinylab_classical::ops::mul(&out, &Var::constant(w.clone())).unwrap());
    loss.backward().unwrap();
    let wv = f64s(&w);
    let objective = |q: &[f64], k: &[f64], v: &[f64]| -> f64 {
        reference(q, k, v, d, &c.mask, scale).iter().zip(&wv).map(|(a, b)| a * b).sum()
    };
    let (q0, k0, v0) = (f64s(&q), f64s(&k), f64s(&v));
    let eps = 1e-6;
    for (which, var, base) in [(0, &qv, &q0), (1, &kv, &k0), (2, &vv, &v0)] {
        let grad = var.grad().unwrap();
        for (idx, g) in grad.iter().enumerate() {
            let mut plus = [q0.clone(), k0.clone(), v0.clone()];
            let mut minus = plus.clone();
            plus[which][idx] = base[idx] + eps;
            minus[which][idx] = base[idx] - eps;
            let fd =
                (objective(&plus[0], &plus[1], &plus[2]) - objective(&minus[0], &minus[1], &minus[2])) / (2.0 * eps);
            assert!((*g as f64 - fd).abs() < tol * (1.0 + fd.abs()), "d{which}[{idx}] {g} vs {fd} in {c:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn naive_attention_matches_the_definition_and_its_gradients(c in case()) {
        check(&c, AttentionKernel::Naive, 1e-4);
    }
}

#[test]
fn bad_shapes_and_masks_are_named() {
    let q = Var::constant(randn(&[1, 4, 3, 8], 1.0, &mut rng(1)));
    let k = Var::constant(randn(&[1, 3, 5, 8], 1.0, &mut rng(2)));
    let err = attention(&q, &k, &k, &AttentionMask::causal(), None, AttentionKernel::Naive).unwrap_err().to_string();
    assert!(err.contains("[1, 4, 3, 8]") && err.contains("[1, 3, 5, 8]") && err.contains("multiple"), "{err}");
    let k = Var::constant(randn(&[1, 2, 5, 8], 1.0, &mut rng(2)));
    let lengths = AttentionMask { key_lengths: Some(vec![6]), ..AttentionMask::default() };
    let err = attention(&q, &k, &k, &lengths, None, AttentionKernel::Naive).unwrap_err().to_string();
    assert!(err.contains("[6]"), "{err}");
    let flat = Var::constant(randn(&[4, 3, 8], 1.0, &mut rng(3)));
    assert!(attention(&flat, &k, &k, &AttentionMask::full(), None, AttentionKernel::Naive).is_err());
}
