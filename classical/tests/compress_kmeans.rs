//! Deep Compression's weight sharing and coding: k-means clusters (nearest-centroid assignments, means
//! as centroids, at most 2^bits values, pruned weights kept at zero, the linear quantizer's error bound
//! at initialisation), the codebook gradient against a naive per-cluster sum, the model-level pass and
//! fine-tuning, Huffman codes (textbook example, prefix-freeness, Kraft equality, optimal cost against
//! an independent merge-cost reference, round trips) and the storage accounting.

use proptest::prelude::*;
use std::collections::BTreeMap;
use tinylab_classical::Tensor;
use tinylab_classical::compress::huffman::{
    BitVec, HuffmanCode, compressed_size, compressed_size_parts, fixed_width, frequencies, huffman_bits, relative_index,
};
use tinylab_classical::compress::kmeans::{CodebookFineTune, KMeansQuantizer, SharedWeights};
use tinylab_classical::nn::{self, Ctx, Module, zoo};
use tinylab_classical::optim::{Optimizer, Sgd};
use tinylab_classical::tensor::{self, from_vec};
use tinylab_classical::{Var, ops};

/// Weights drawn from a mixture (a normal bulk and a few outliers), some exact duplicates.
fn weights(n: usize, seed: u64) -> Tensor {
    let mut r = tensor::rng(seed);
    let data = (0..n)
        .map(|i| {
            let u = tensor::uniform(&mut r);
            let v = (u * 2.0 - 1.0) as f32;
            if i % 17 == 3 {
                5.0 * v
            } else if i % 11 == 0 {
                0.25
            } else {
                v * v * v
            }
        })
        .collect();
    from_vec(&[n], data).unwrap()
}

fn mask(n: usize, keep: f64, seed: u64) -> Tensor {
    let mut r = tensor::rng(seed);
    from_vec(&[n], (0..n).map(|_| if tensor::uniform(&mut r) < keep { 1.0 } else { 0.0 }).collect()).unwrap()
}

fn distinct(values: impl Iterator<Item = f32>) -> usize {
    let mut v: Vec<u32> = values.map(f32::to_bits).collect();
    v.sort_unstable();
    v.dedup();
    v.len()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn converged_clusters_are_nearest_assignments_around_their_means(
        n in 1usize..400, bits in 1u8..=8, masked in any::<bool>(), seed in 0u64..1000,
    ) {
        let w = weights(n, seed);
        let m = masked.then(|| mask(n, 0.6, seed + 1));
        let s = SharedWeights::fit(&w, bits, m.as_ref(), 10_000).unwrap();
        prop_assert!(s.converged());
        let c = s.codebook();
        prop_assert_eq!(c.len(), 1usize << bits);
        let kept = |e: usize| m.as_ref().is_none_or(|m| m[[e]] != 0.0);
        // Every kept weight sits at a nearest centroid.
        for e in (0..n).filter(|&e| kept(e)) {
            let x = w[[e]];
            let d = (x - c[s.indices()[e] as usize]).abs();
            prop_assert!(c.iter().all(|&cj| d <= (x - cj).abs()), "weight {} not at its nearest centroid", x);
        }
        // Every non-empty cluster's centroid is the mean of its weights (f64 sum, rounded to f32).
        let mut groups: BTreeMap<u8, Vec<f32>> = BTreeMap::new();
        for e in (0..n).filter(|&e| kept(e)) {
            groups.entry(s.indices()[e]).or_default().push(w[[e]]);
        }
        for (&k, members) in &groups {
            let mean = (members.iter().map(|&v| v as f64).sum::<f64>() / members.len() as f64) as f32;
            prop_assert_eq!(c[k as usize], mean);
        }
        let counts = s.counts();
        prop_assert_eq!(counts.iter().sum::<u64>() as usize, s.kept_len());
        for (k, members) in &groups {
            prop_assert_eq!(counts[*k as usize] as usize, members.len());
        }
        // At most 2^bits values among kept entries; pruned entries reconstruct to +0.0.
        let r = s.reconstruct();
        prop_assert_eq!(r.shape(), w.shape());
        prop_assert!(distinct((0..n).filter(|&e| kept(e)).map(|e| r[[e]])) <= 1 << bits);
        for e in (0..n).filter(|&e| !kept(e)) {
            prop_assert_eq!(r[[e]].to_bits(), 0);
        }
        // Deterministic.
        prop_assert_eq!(SharedWeights::fit(&w, bits, m.as_ref(), 10_000).unwrap(), s);
    }

    #[test]
    fn linear_initialisation_is_within_half_a_step(n in 1usize..400, bits in 1u8..=8, seed in 0u64..1000) {
        let w = weights(n, seed);
        let s = SharedWeights::fit(&w, bits, None, 0).unwrap();
        prop_assert_eq!(s.iterations(), 0);
        let (lo, hi) = w.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        let k = 1usize << bits;
        let step = (hi as f64 - lo as f64) / (k - 1) as f64;
        // The codebook is the evenly spaced grid from min to max.
        for (j, &c) in s.codebook().iter().enumerate() {
            prop_assert!((c as f64 - (lo as f64 + step * j as f64)).abs() <= 1e-6 * (1.0 + hi.abs().max(lo.abs()) as f64));
        }
        prop_assert_eq!(s.codebook()[0], lo);
        prop_assert_eq!(s.codebook()[k - 1], hi);
        let r = s.reconstruct();
        for (x, y) in w.iter().zip(r.iter()) {
            prop_assert!(((x - y).abs() as f64) <= step / 2.0 * (1.0 + 1e-5) + 1e-7, "{} -> {} with step {}", x, y, step);
        }
    }

    #[test]
    fn codebook_gradient_is_the_per_cluster_sum(n in 1usize..300, bits in 1u8..=4, masked in any::<bool>(), seed in 0u64..1000) {
        let w = weights(n, seed);
        let m = masked.then(|| mask(n, 0.5, seed + 2));
        let mut s = SharedWeights::fit(&w, bits, m.as_ref(), 50).unwrap();
        let g = tensor::randn(&[n], 1.0, &mut tensor::rng(seed + 3));
        let got = s.codebook_grad(&g).unwrap();
        // Naively: for each cluster, scan all entries.
        for (k, &gk) in got.iter().enumerate() {
            let mut sum = 0.0f64;
            for e in 0..n {
                let kept = m.as_ref().is_none_or(|m| m[[e]] != 0.0);
                if kept && s.indices()[e] as usize == k {
                    sum += g[[e]] as f64;
                }
            }
            prop_assert_eq!(gk, sum as f32);
        }
        let before = s.codebook().to_vec();
        let lr = 0.125;
        let returned = s.update_codebook(&g, lr).unwrap();
        prop_assert_eq!(&returned, &got);
        for ((&a, &b), &gk) in s.codebook().iter().zip(&before).zip(&got) {
            prop_assert_eq!(a, b - lr * gk);
        }
        // Indices are fixed: the reconstruction is the new codebook through the old indices.
        let r = s.reconstruct();
        for e in 0..n {
            let kept = m.as_ref().is_none_or(|m| m[[e]] != 0.0);
            prop_assert_eq!(r[[e]], if kept { s.codebook()[s.indices()[e] as usize] } else { 0.0 });
        }
    }
}

#[test]
fn bad_arguments_are_errors() {
    let w = weights(10, 0);
    assert!(SharedWeights::fit(&w, 0, None, 10).is_err());
    assert!(SharedWeights::fit(&w, 9, None, 10).is_err());
    let msg = SharedWeights::fit(&w, 2, Some(&tensor::ones(&[3])), 10).unwrap_err().to_string();
    assert!(msg.contains("[10]") && msg.contains("[3]"), "{msg}");
    let nan = from_vec(&[2], vec![1.0, f32::NAN]).unwrap();
    assert!(SharedWeights::fit(&nan, 2, None, 10).is_err());
    let s = SharedWeights::fit(&w, 2, None, 10).unwrap();
    assert!(s.codebook_grad(&tensor::zeros(&[2, 5])).is_err());
}

#[test]
fn everything_pruned_reconstructs_to_zero() {
    let w = weights(20, 1);
    let s = SharedWeights::fit(&w, 3, Some(&tensor::zeros(&[20])), 10).unwrap();
    assert_eq!(s.kept_len(), 0);
    assert!(s.reconstruct().iter().all(|&v| v.to_bits() == 0));
}

#[test]
fn large_tensors_cluster_identically_on_any_thread_count() {
    let w = tensor::randn(&[70_000], 0.1, &mut tensor::rng(5));
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| SharedWeights::fit(&w, 5, None, 40).unwrap())
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn model_pass_shares_the_selected_weights_and_fine_tunes_their_codebooks() {
    let mut model = zoo::reference_cnn(1, 8, 10, 0).unwrap();
    // Prune the last layer's weight by hand: its zeros must survive clustering and fine-tuning.
    model.visit_params_mut("", &mut |path, p| {
        if path == "9.weight" {
            let m: Vec<f32> = (0..p.len()).map(|i| (i % 3 != 0) as u8 as f32).collect();
            p.mask = Some(from_vec(p.value.shape(), m).unwrap());
        }
    });
    let before: BTreeMap<String, Tensor> =
        nn::named_params(&model).into_iter().map(|(n, p)| (n, p.value.clone())).collect();
    let mut state = KMeansQuantizer::new(2).apply(&mut model, |_, p| p.value.ndim() >= 2).unwrap();
    assert_eq!(state.layers.keys().collect::<Vec<_>>(), vec!["0.weight", "4.weight", "9.weight"]);
    for (name, p) in nn::named_params(&model) {
        match state.layers.get(&name) {
            Some(s) => {
                assert!(distinct(p.value.iter().copied()) <= 4 + p.mask.is_some() as usize, "{name}");
                assert_eq!(p.value, s.reconstruct());
            }
            None => assert_eq!(p.value, before[&name], "{name} must be untouched"),
        }
    }

    // One manual fine-tuning step: codebooks move by -lr * (per-cluster gradient sums).
    let x = tensor::randn(&[16, 1, 8, 8], 1.0, &mut tensor::rng(9));
    let y: Vec<usize> = (0..16).map(|i| i % 10).collect();
    let mut ctx = Ctx::train(0);
    let loss = ops::cross_entropy(&model.forward(&Var::constant(x.clone()), &mut ctx).unwrap(), &y).unwrap();
    loss.backward().unwrap();
    nn::zero_grads(&mut model);
    nn::accumulate_grads(&mut model, &ctx);
    let grads: BTreeMap<String, Tensor> =
        nn::named_params(&model).into_iter().filter_map(|(n, p)| Some((n, p.grad.clone()?))).collect();
    let old = state.clone();
    let lr = 1e-3;
    state.fine_tune_step(&mut model, lr).unwrap();
    for (name, s) in &state.layers {
        let expect = old.layers[name].codebook_grad(&grads[name]).unwrap();
        for ((&c, &c0), &g) in s.codebook().iter().zip(old.layers[name].codebook()).zip(&expect) {
            assert_eq!(c, c0 - lr * g);
        }
    }
    for (name, p) in nn::named_params(&model) {
        if let Some(s) = state.layers.get(&name) {
            assert!(p.grad.is_none(), "{name}: the gradient is consumed");
            assert_eq!(p.value, s.reconstruct());
            if let Some(m) = &p.mask {
                assert!(p.value.iter().zip(m.iter()).all(|(&v, &k)| k != 0.0 || v.to_bits() == 0));
            }
        } else if name.ends_with("bias") {
            assert!(p.grad.is_some(), "{name}: other gradients stay for the optimizer");
        }
    }

    // A model of another shape is refused.
    let mut other = zoo::mlp(&[64, 10], 0).unwrap();
    assert!(state.fine_tune_step(&mut other, lr).is_err());
    assert!(state.write_weights(&mut other).is_err());
}

#[test]
fn fine_tuning_through_train_fit_keeps_weights_shared() {
    use tinylab_classical::optim::LrSchedule;
    use tinylab_classical::train::{TrainConfig, fit};
    let data = tinylab_classical::data::digits().unwrap();
    let x = data.images.slice(ndarray::s![..400, .., .., ..]).to_owned();
    let y = &data.labels[..400];
    let mut model = zoo::reference_cnn(1, 8, 10, 1).unwrap();
    let state = KMeansQuantizer::new(3).apply(&mut model, |_, p| p.value.ndim() >= 2).unwrap();
    let mut opt = CodebookFineTune::new(state, Sgd::new(0.9, 0.0));
    opt.codebook_lr_scale = 0.01;
    let cfg = TrainConfig {
        epochs: 1,
        batch_size: 50,
        lr: LrSchedule::Constant { base: 0.05 },
        seed: 0,
        patience: None,
        clip_grad_norm: None,
        progress: false,
        checkpoint: None,
    };
    fit(&mut model, &mut opt, (&x, y), (&x, y), &cfg).unwrap();
    for (name, p) in nn::named_params(&model) {
        if let Some(s) = opt.state.layers.get(&name) {
            assert_eq!(p.value, s.reconstruct(), "{name}");
            assert!(distinct(p.value.iter().copied()) <= 8);
        }
    }
    // Without gradients a step moves nothing.
    let mut m2 = zoo::mlp(&[4, 3], 0).unwrap();
    let mut o2 =
        CodebookFineTune::new(KMeansQuantizer::new(1).apply(&mut m2, |_, _| true).unwrap(), Sgd::new(0.0, 0.0));
    let shared: Vec<Tensor> = nn::named_params(&m2).into_iter().map(|(_, p)| p.value.clone()).collect();
    o2.step(&mut m2, 0.1);
    let after: Vec<Tensor> = nn::named_params(&m2).into_iter().map(|(_, p)| p.value.clone()).collect();
    assert_eq!(shared, after);
}

// ---------------------------------------------------------------------------------------------------
// Huffman coding and the Deep Compression storage accounting.

#[test]
fn clrs_example_costs_224_bits() {
    // CLRS §16.3: a:45 b:13 c:12 d:16 e:9 f:5 (thousands) -> lengths 1,3,3,3,4,4, 224 bits.
    let f = [45, 13, 12, 16, 9, 5];
    let code = HuffmanCode::from_frequencies(&f).unwrap();
    assert_eq!(code.lengths(), &[1, 3, 3, 3, 4, 4]);
    assert_eq!(code.coded_bits(&f).unwrap(), 224);
    assert_eq!(huffman_bits(&f).unwrap(), 224);
    // Fixed-length coding needs 3 bits x 100 symbols.
    assert_eq!(fixed_width(6) as u64 * f.iter().sum::<u64>(), 300);
    // Canonical codes: a = 0, then b, c, d = 100, 101, 110, then e, f = 1110, 1111.
    let codes: Vec<(u64, u8)> = (0..6).map(|s| code.code(s).unwrap()).collect();
    assert_eq!(codes, vec![(0b0, 1), (0b100, 3), (0b101, 3), (0b110, 3), (0b1110, 4), (0b1111, 4)]);
}

/// The optimal total code length, independently: the sum of the weights of all merged nodes.
fn merge_cost(freqs: &[u64]) -> u64 {
    let mut w: Vec<u64> = freqs.iter().copied().filter(|&f| f > 0).collect();
    if w.len() == 1 {
        return w[0];
    }
    let mut cost = 0;
    while w.len() > 1 {
        w.sort_unstable_by(|a, b| b.cmp(a));
        let (a, b) = (w.pop().unwrap(), w.pop().unwrap());
        cost += a + b;
        w.push(a + b);
    }
    cost
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn huffman_codes_are_optimal_prefix_free_and_round_trip(
        freqs in prop::collection::vec(prop_oneof![Just(0u64), 1u64..50, 1u64..5000], 1..40),
        seed in 0u64..1000,
    ) {
        let code = HuffmanCode::from_frequencies(&freqs).unwrap();
        let used: Vec<u32> = (0..freqs.len() as u32).filter(|&s| freqs[s as usize] > 0).collect();
        let total: u64 = freqs.iter().sum();
        let bits = code.coded_bits(&freqs).unwrap();
        prop_assert_eq!(bits, freqs.iter().zip(code.lengths()).map(|(&f, &l)| f * l as u64).sum::<u64>());
        prop_assert_eq!(bits, merge_cost(&freqs));
        prop_assert!(bits <= fixed_width(used.len()).max(1) as u64 * total);
        for (s, &l) in code.lengths().iter().enumerate() {
            prop_assert_eq!(l > 0, freqs[s] > 0);
        }
        // Prefix-free: no code word starts another.
        for &a in &used {
            for &b in &used {
                let ((ca, la), (cb, lb)) = (code.code(a).unwrap(), code.code(b).unwrap());
                if a != b && la <= lb {
                    prop_assert!(cb >> (lb - la) != ca, "{} is a prefix of {}", a, b);
                }
            }
        }
        // Kraft equality for two or more symbols (a full binary tree).
        if used.len() >= 2 {
            let max = *code.lengths().iter().max().unwrap() as u32;
            let kraft: u128 = used.iter().map(|&s| 1u128 << (max - code.lengths()[s as usize] as u32)).sum();
            prop_assert_eq!(kraft, 1u128 << max);
        }
        // Canonical: the lengths alone rebuild the same code.
        prop_assert_eq!(&HuffmanCode::from_lengths(code.lengths()).unwrap(), &code);
        // Round trip of a random stream over the used symbols.
        if !used.is_empty() {
            let mut r = tensor::rng(seed);
            let stream: Vec<u32> = (0..200).map(|_| used[(tensor::uniform(&mut r) * used.len() as f64) as usize]).collect();
            let enc = code.encode(&stream).unwrap();
            let f = frequencies(&stream, freqs.len()).unwrap();
            prop_assert_eq!(enc.len() as u64, code.coded_bits(&f).unwrap());
            prop_assert_eq!(code.decode(&enc, stream.len()).unwrap(), stream);
        }
    }

    #[test]
    fn relative_index_decodes_to_the_kept_positions(
        kept in prop::collection::vec(prop::bool::weighted(0.1), 0..300), index_bits in 1u32..6,
    ) {
        let entries = relative_index(&kept, index_bits).unwrap();
        let limit = 1u32 << index_bits;
        // Walk the stream: each entry skips `gap` positions, then occupies one.
        let (mut pos, mut found) = (0usize, Vec::new());
        for e in &entries {
            prop_assert!(e.gap < limit);
            pos += e.gap as usize;
            if let Some(p) = e.position {
                prop_assert_eq!(p, pos);
                found.push(p);
            } else {
                prop_assert!(!kept[pos], "a filler on a kept entry");
            }
            pos += 1;
        }
        let want: Vec<usize> = (0..kept.len()).filter(|&i| kept[i]).collect();
        prop_assert_eq!(found, want.clone());
        // Fillers: floor(g / 2^b) for every gap g before a kept entry.
        let mut prev: isize = -1;
        let mut fillers = 0;
        for &p in &want {
            fillers += (p as isize - prev - 1) as usize / limit as usize;
            prev = p as isize;
        }
        prop_assert_eq!(entries.len() - want.len(), fillers);
    }
}

#[test]
fn huffman_decoding_rejects_truncated_input() {
    let code = HuffmanCode::from_frequencies(&[5, 1, 1]).unwrap();
    let enc = code.encode(&[1, 2, 0]).unwrap();
    let mut short = BitVec::new();
    for i in 0..enc.len() - 2 {
        short.push(enc.get(i).unwrap());
    }
    assert!(code.decode(&short, 3).is_err());
    assert!(code.encode(&[3]).is_err());
    assert!(HuffmanCode::from_lengths(&[1, 1, 1]).is_err(), "violates Kraft");
    // One used symbol: a 1-bit code.
    let one = HuffmanCode::from_frequencies(&[0, 7]).unwrap();
    assert_eq!(one.lengths(), &[0, 1]);
    assert_eq!(one.decode(&one.encode(&[1, 1]).unwrap(), 2).unwrap(), vec![1, 1]);
}

#[test]
fn storage_accounting_of_a_small_pruned_tensor() {
    // 20 entries, kept at 0, 1, 2 and 19, 2-bit indices 0, 1, 1, 3; 2-bit relative indices: the
    // 16-zero gap before 19 needs floor(16 / 4) = 4 fillers (at 6, 10, 14, 18), then gap 0.
    let mut kept = vec![false; 20];
    for p in [0, 1, 2, 19] {
        kept[p] = true;
    }
    let mut idx = vec![0u8; 20];
    idx[1] = 1;
    idx[2] = 1;
    idx[19] = 3;
    let r = compressed_size_parts(&idx, Some(&kept), 4, 2).unwrap();
    assert_eq!((r.len, r.nnz, r.fillers), (20, 4, 4));
    assert_eq!(r.dense_bits, 640);
    assert_eq!(r.sparse_bits, 8 * (32 + 2));
    // Five value symbols (4 centroids + the filler zero) need 3 bits; codebook 4 x 32.
    assert_eq!(r.quantized_bits, 8 * (3 + 2) + 128);
    // Values: {0:1, 1:2, 3:1, zero:4} -> Huffman 1x3 + 2x2 + 1x3 + 4x1 = 14 bits (merge cost 2+4+8 = 14).
    // Gaps: {0:4 (0, 1, 2, 19), 3:4 (fillers)} -> 8 bits. Tables: 8 x 5 + 8 x 4.
    assert_eq!(r.huffman_bits, 14 + 8 + 128 + 40 + 32);
    assert!((r.ratio() - 640.0 / 222.0).abs() < 1e-12);

    // Without a mask the layout is dense: n x bits + codebook, Huffman over the index counts.
    let d = compressed_size_parts(&idx, None, 4, 2).unwrap();
    assert_eq!(d.sparse_bits, d.dense_bits);
    assert_eq!(d.quantized_bits, 20 * 2 + 128);
    // Counts {0:17, 1:2, 3:1}: lengths 1, 2, 2 -> 17 + 4 + 2 = 23 bits.
    assert_eq!(d.huffman_bits, 23 + 128 + 32);
    assert_eq!((r + d).dense_bits, 1280);
    assert!(compressed_size_parts(&idx, Some(&kept[..3]), 4, 2).is_err());
    assert!(compressed_size_parts(&idx, None, 2, 2).is_err(), "index 3 outside a codebook of 2");
}

#[test]
fn storage_accounting_of_a_shared_weight_tensor() {
    let n = 2000;
    let w = weights(n, 4);
    let m = mask(n, 0.1, 5);
    let s = SharedWeights::fit(&w, 4, Some(&m), 200).unwrap();
    let r = compressed_size(&s, 5).unwrap();
    assert_eq!(r.nnz, s.kept_len());
    assert_eq!(r.dense_bits, 32 * n as u64);
    // Closed forms of the fixed-width sizes from the entry count.
    let entries = (r.nnz + r.fillers) as u64;
    assert_eq!(r.sparse_bits, entries * 37);
    let vbits = if r.fillers > 0 { 5 } else { 4 };
    assert_eq!(r.quantized_bits, entries * (vbits + 5) + 16 * 32);
    // Huffman never loses to fixed width on the streams themselves (tables aside).
    assert!(r.huffman_bits <= r.quantized_bits + 8 * (17 + 32));
    assert!(r.ratio() > 10.0, "{r:?}");
}
