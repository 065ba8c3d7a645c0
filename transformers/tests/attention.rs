//! Attention kernels against an independent f64 reference (plain loops over the definition) and its
//! finite-difference gradients, on random shapes, head groupings and masks: the naive and the flash
//! kernel (several tilings, and equal to each other), and linear attention against its own definition.

use proptest::prelude::*;
use tinylab_classical::tensor::{randn, rng};
use tinylab_classical::{Tensor, Var};
use tinylab_transformers::attention::{AttentionKernel, AttentionMask, Dims, attention, linear_attention, memory_use};

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
    let (q, k, v, _) = operands(c);
    let d = Dims::of(q.shape(), k.shape(), v.shape(), &c.mask).unwrap();
    let scale = 1.0 / (c.head_dim.max(1) as f64).sqrt();
    check_op(
        c,
        |q, k, v| attention(q, k, v, &c.mask, None, kernel).unwrap(),
        |q, k, v| reference(q, k, v, d, &c.mask, scale),
        tol,
        1,
    );
}

/// Checks `op` on the operands of `c` against `reference`: values to `tol`, and the gradients of
/// `sum(out * w)` against central differences of the f64 reference at every `stride`-th element.
fn check_op(
    c: &Case,
    op: impl Fn(&Var, &Var, &Var) -> Var,
    reference: impl Fn(&[f64], &[f64], &[f64]) -> Vec<f64>,
    tol: f64,
    stride: usize,
) {
    let (q, k, v, w) = operands(c);
    let (qv, kv, vv) = (Var::leaf(q.clone()), Var::leaf(k.clone()), Var::leaf(v.clone()));
    let out = op(&qv, &kv, &vv);
    let want = reference(&f64s(&q), &f64s(&k), &f64s(&v));
    assert_eq!(out.value().len(), want.len());
    for (a, b) in out.value().iter().zip(&want) {
        assert!((*a as f64 - b).abs() < tol, "value {a} vs {b} in {c:?}");
    }
    let loss = tinylab_classical::ops::sum(&tinylab_classical::ops::mul(&out, &Var::constant(w.clone())).unwrap());
    loss.backward().unwrap();
    let wv = f64s(&w);
    let objective =
        |q: &[f64], k: &[f64], v: &[f64]| -> f64 { reference(q, k, v).iter().zip(&wv).map(|(a, b)| a * b).sum() };
    let (q0, k0, v0) = (f64s(&q), f64s(&k), f64s(&v));
    let eps = 1e-6;
    for (which, var, base) in [(0, &qv, &q0), (1, &kv, &k0), (2, &vv, &v0)] {
        let grad = var.grad().unwrap();
        for (idx, g) in grad.iter().enumerate().step_by(stride) {
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

/// The output and the gradients of `sum(out * w)` under `kernel`.
fn run(c: &Case, kernel: AttentionKernel) -> [Tensor; 4] {
    let (q, k, v, w) = operands(c);
    let (qv, kv, vv) = (Var::leaf(q), Var::leaf(k), Var::leaf(v));
    let out = attention(&qv, &kv, &vv, &c.mask, None, kernel).unwrap();
    let loss = tinylab_classical::ops::sum(&tinylab_classical::ops::mul(&out, &Var::constant(w)).unwrap());
    loss.backward().unwrap();
    [out.value().clone(), qv.grad().unwrap(), kv.grad().unwrap(), vv.grad().unwrap()]
}

/// Flash tilings: single elements, tiles that divide neither side, and one tile over everything.
const TILINGS: [(usize, usize); 4] = [(1, 1), (3, 2), (4, 8), (64, 64)];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn naive_attention_matches_the_definition_and_its_gradients(c in case()) {
        check(&c, AttentionKernel::Naive, 1e-4);
    }

    #[test]
    fn flash_attention_matches_the_definition_and_its_gradients(c in case()) {
        for (block_q, block_k) in TILINGS {
            check(&c, AttentionKernel::Flash { block_q, block_k }, 1e-4);
        }
    }

    #[test]
    fn flash_attention_equals_the_naive_kernel(c in case()) {
        let naive = run(&c, AttentionKernel::Naive);
        for (block_q, block_k) in TILINGS {
            let flash = run(&c, AttentionKernel::Flash { block_q, block_k });
            for (what, (a, b)) in ["out", "dq", "dk", "dv"].iter().zip(flash.iter().zip(&naive)) {
                prop_assert_eq!(a.shape(), b.shape());
                for (x, y) in a.iter().zip(b.iter()) {
                    prop_assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{} {}x{}: {} vs {} in {:?}", what, block_q, block_k, x, y, c);
                }
            }
        }
    }

    #[test]
    fn flash_attention_equals_the_naive_kernel_for_any_tiling(c in case(), block_q in 1usize..12, block_k in 1usize..12) {
        let naive = run(&c, AttentionKernel::Naive);
        let flash = run(&c, AttentionKernel::Flash { block_q, block_k });
        for (a, b) in flash.iter().zip(&naive) {
            for (x, y) in a.iter().zip(b.iter()) {
                prop_assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{}x{}: {} vs {} in {:?}", block_q, block_k, x, y, c);
            }
        }
    }

    #[test]
    fn linear_attention_matches_the_definition_and_its_gradients(c in case(), causal in any::<bool>()) {
        check_linear(&c, causal, 1);
    }
}

/// Linear attention by its definition, in f64: `phi = elu + 1`, `out_i = sum_j a_ij v_j / sum_j a_ij`
/// with `a_ij = phi(q_i) . phi(k_j)` over every key, or (causal) the keys `j <= i + keys - tokens`.
fn linear_reference(q: &[f64], k: &[f64], v: &[f64], d: Dims, causal: bool) -> Vec<f64> {
    let phi = |x: f64| if x > 0.0 { x + 1.0 } else { x.exp() };
    let mut out = vec![0.0; d.batch * d.q_heads * d.tokens * d.value_dim];
    for b in 0..d.batch {
        for h in 0..d.q_heads {
            let (bh, kvh) = (b * d.q_heads + h, b * d.kv_heads + h / d.group());
            for i in 0..d.tokens {
                let last = if causal { i + d.keys - d.tokens + 1 } else { d.keys };
                let (mut num, mut den) = (vec![0.0; d.value_dim], 0.0);
                for j in 0..last {
                    let a: f64 = (0..d.head_dim)
                        .map(|p| {
                            phi(q[(bh * d.tokens + i) * d.head_dim + p]) * phi(k[(kvh * d.keys + j) * d.head_dim + p])
                        })
                        .sum();
                    den += a;
                    for (c, n) in num.iter_mut().enumerate() {
                        *n += a * v[(kvh * d.keys + j) * d.value_dim + c];
                    }
                }
                if den > 0.0 {
                    for (c, n) in num.iter().enumerate() {
                        out[(bh * d.tokens + i) * d.value_dim + c] = n / den;
                    }
                }
            }
        }
    }
    out
}

/// Checks `linear_attention` on the operands of `c` (its mask is ignored) against the f64 definition.
fn check_linear(c: &Case, causal: bool, stride: usize) {
    let (q, k, v, _) = operands(c);
    let d = Dims::of(q.shape(), k.shape(), v.shape(), &AttentionMask::full()).unwrap();
    check_op(
        c,
        |q, k, v| linear_attention(q, k, v, causal).unwrap(),
        |q, k, v| linear_reference(q, k, v, d, causal),
        1e-4,
        stride,
    );
}

#[test]
fn linear_attention_crosses_chunks() {
    // More rows than one chunk of the causal sums (64), keys ahead of the queries, grouped heads.
    let c = Case {
        batch: 1,
        kv_heads: 1,
        group: 2,
        tokens: 150,
        cached: 7,
        head_dim: 3,
        value_dim: 2,
        mask: AttentionMask::full(),
        seed: 11,
    };
    for causal in [true, false] {
        check_linear(&c, causal, 13);
    }
}

#[test]
fn flash_attention_crosses_many_tiles() {
    // Several 64 x 64 tiles with a partial last one, a KV cache, a window with sinks and padding.
    let mask =
        AttentionMask { causal: true, key_lengths: Some(vec![150, 97]), query_offset: 20, window: Some(70), sinks: 3 };
    let c = Case { batch: 2, kv_heads: 1, group: 2, tokens: 130, cached: 20, head_dim: 5, value_dim: 3, mask, seed: 5 };
    let naive = run(&c, AttentionKernel::Naive);
    for kernel in [AttentionKernel::flash(), AttentionKernel::Flash { block_q: 16, block_k: 48 }] {
        let flash = run(&c, kernel);
        for (a, b) in flash.iter().zip(&naive) {
            for (x, y) in a.iter().zip(b.iter()) {
                assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{kernel:?}: {x} vs {y}");
            }
        }
    }
}

#[test]
fn flash_results_do_not_depend_on_the_thread_count() {
    // Four key/value heads (one task each up to four threads), and a single one (with two or more
    // threads the flash backward pass switches to one task per tile, which must give the same bits).
    let mask = AttentionMask { causal: true, key_lengths: Some(vec![90, 61]), ..AttentionMask::default() };
    let four =
        Case { batch: 2, kv_heads: 2, group: 2, tokens: 90, cached: 0, head_dim: 8, value_dim: 4, mask, seed: 9 };
    let single = Case {
        batch: 1,
        kv_heads: 1,
        group: 3,
        tokens: 77,
        cached: 5,
        mask: AttentionMask { causal: true, query_offset: 5, window: Some(40), sinks: 2, ..AttentionMask::default() },
        ..four.clone()
    };
    for c in [&four, &single] {
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut all = run(c, AttentionKernel::Flash { block_q: 16, block_k: 16 }).to_vec();
                all.extend(run(c, AttentionKernel::Flash { block_q: 7, block_k: 5 }));
                let (q, k, v, w) = operands(c);
                let (qv, kv, vv) = (Var::leaf(q), Var::leaf(k), Var::leaf(v));
                let out = linear_attention(&qv, &kv, &vv, true).unwrap();
                let loss = tinylab_classical::ops::sum(&tinylab_classical::ops::mul(&out, &Var::constant(w)).unwrap());
                loss.backward().unwrap();
                all.extend([out.value().clone(), qv.grad().unwrap(), kv.grad().unwrap(), vv.grad().unwrap()]);
                all
            })
        };
        let one = on(1);
        for threads in [2, 3, 5] {
            assert_eq!(on(threads), one, "{threads} threads");
        }
    }
}

#[test]
fn bad_tiles_and_causal_linear_shapes_are_errors() {
    let q = Var::constant(randn(&[1, 2, 3, 4], 1.0, &mut rng(1)));
    let k = Var::constant(randn(&[1, 1, 2, 4], 1.0, &mut rng(2)));
    for kernel in [AttentionKernel::Flash { block_q: 0, block_k: 4 }, AttentionKernel::Flash { block_q: 4, block_k: 0 }]
    {
        let err = attention(&q, &k, &k, &AttentionMask::full(), None, kernel).unwrap_err().to_string();
        assert!(err.contains("tiles"), "{err}");
    }
    let err = linear_attention(&q, &k, &k, true).unwrap_err().to_string();
    assert!(err.contains("(2)") && err.contains("(3)"), "{err}");
    assert!(linear_attention(&q, &k, &k, false).is_ok());
    let bad = Var::constant(randn(&[1, 2, 5, 4], 1.0, &mut rng(3)));
    let err = linear_attention(&q, &k, &bad, false).unwrap_err().to_string();
    assert!(err.contains("[1, 1, 2, 4]") && err.contains("[1, 2, 5, 4]"), "{err}");
}

#[test]
fn flash_keeps_linear_memory_and_naive_quadratic() {
    let dims = |t: usize| Dims { batch: 1, q_heads: 4, kv_heads: 4, tokens: t, keys: t, head_dim: 64, value_dim: 64 };
    let at = |kernel, t| memory_use(kernel, &dims(t)).unwrap();
    let (f1, f2) = (at(AttentionKernel::flash(), 1024), at(AttentionKernel::flash(), 2048));
    let (n1, n2) = (at(AttentionKernel::Naive, 1024), at(AttentionKernel::Naive, 2048));
    assert_eq!(f1.saved, 4 * 1024 * 4);
    assert_eq!(f2.saved, 2 * f1.saved);
    assert_eq!(f1.forward_scratch, f2.forward_scratch);
    assert_eq!(n1.saved, 4 * 1024 * 1024 * 4);
    assert_eq!(n2.saved, 4 * n1.saved);
    assert_eq!(n2.backward_scratch, 4 * n1.backward_scratch);
    assert!(f2.peak(16) * 50 < n2.peak(16));
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

#[test]
fn fully_masked_rows_give_zero_output_and_gradient() {
    // Batch row 1 has no valid key; in row 0 the window hides everything from the late queries.
    let mask =
        AttentionMask { causal: true, key_lengths: Some(vec![3, 0]), query_offset: 0, window: Some(2), sinks: 0 };
    let c = Case { batch: 2, kv_heads: 1, group: 1, tokens: 6, cached: 0, head_dim: 4, value_dim: 3, mask, seed: 2 };
    for kernel in [AttentionKernel::Naive, AttentionKernel::Flash { block_q: 2, block_k: 2 }, AttentionKernel::flash()]
    {
        let [out, dq, dk, dv] = run(&c, kernel);
        assert!(out.iter().skip(6 * 3).all(|&x| x == 0.0), "{kernel:?}: row 1 output");
        assert!(dq.iter().skip(6 * 4).all(|&x| x == 0.0) && dk.iter().skip(6 * 4).all(|&x| x == 0.0));
        assert!(dv.iter().skip(6 * 3).all(|&x| x == 0.0), "{kernel:?}: row 1 dV");
        // Queries 4 and 5 of row 0 see keys 3..=5 only, all past the length 3.
        assert!(out.iter().skip(4 * 3).take(2 * 3).all(|&x| x == 0.0), "{kernel:?}: late queries");
        assert!(dq.iter().skip(4 * 4).take(2 * 4).all(|&x| x == 0.0), "{kernel:?}: late queries' dQ");
        assert!(out.iter().take(3).any(|&x| x != 0.0), "{kernel:?}: query 0 sees key 0");
    }
}

#[test]
fn empty_widths_and_lengths_match_the_definition() {
    // No head width (every score is zero: values are averaged), no values, no keys, no queries.
    let base = Case {
        batch: 2,
        kv_heads: 1,
        group: 2,
        tokens: 3,
        cached: 1,
        head_dim: 0,
        value_dim: 2,
        mask: AttentionMask { causal: true, query_offset: 1, ..AttentionMask::default() },
        seed: 4,
    };
    let cases = [
        base.clone(),
        Case { head_dim: 2, value_dim: 0, ..base.clone() },
        Case { tokens: 0, cached: 0, head_dim: 2, ..base.clone() },
        Case { head_dim: 2, mask: AttentionMask::full(), ..base.clone() },
    ];
    for c in &cases {
        for kernel in [AttentionKernel::Naive, AttentionKernel::Flash { block_q: 2, block_k: 3 }] {
            check(c, kernel, 1e-4);
        }
        check_linear(c, true, 1);
    }
    // No keys at all (non-causal, so that there may be queries): zero output and gradients.
    let c = Case { tokens: 2, cached: 0, head_dim: 2, mask: AttentionMask::full(), ..base };
    let (q, _, _, _) = operands(&c);
    let (qv, kv, vv) = (
        Var::leaf(q),
        Var::leaf(randn(&[2, 1, 0, 2], 1.0, &mut rng(1))),
        Var::leaf(randn(&[2, 1, 0, 2], 1.0, &mut rng(2))),
    );
    for kernel in [AttentionKernel::Naive, AttentionKernel::flash()] {
        let out = attention(&qv, &kv, &vv, &c.mask, None, kernel).unwrap();
        assert!(out.value().iter().all(|&x| x == 0.0));
    }
    let out = linear_attention(&qv, &kv, &vv, false).unwrap();
    assert!(out.value().iter().all(|&x| x == 0.0));
    tinylab_classical::ops::sum(&out).backward().unwrap();
    assert!(qv.grad().unwrap().iter().all(|&x| x == 0.0));
}
