//! StreamingLLM (Xiao et al. 2023): the sinks-plus-window store with positions within the cache,
//! checked against the uncached forward pass (the definition) and the dense cache.

use tinylab_classical::nn::{Ctx, Module};
use tinylab_classical::tensor::from_vec;
use tinylab_classical::{Tensor, Var};
use tinylab_transformers::model::{
    BlockKind, CachePositions, DenseKv, Gpt, GptConfig, KvCache, KvStore, Positions, SinkWindowKv,
};

/// `batch` sequences of `len` pseudo-random ids below 17.
fn ids(batch: usize, len: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut state = seed;
    (0..batch)
        .map(|_| {
            (0..len)
                .map(|_| {
                    state = tinylab_classical::seed::derive(state, &[5]);
                    (state % 17) as usize
                })
                .collect()
        })
        .collect()
}

/// The `[batch, tokens]` id tensor of `rows[b][range]`.
fn tensor(rows: &[Vec<usize>], range: std::ops::Range<usize>) -> Tensor {
    let data = rows.iter().flat_map(|r| r[range.clone()].iter().map(|&t| t as f32)).collect();
    from_vec(&[rows.len(), range.len()], data).unwrap()
}

fn full(model: &mut Gpt, x: Tensor) -> Tensor {
    model.forward(&Var::constant(x), &mut Ctx::eval()).unwrap().value().clone()
}

fn assert_close(a: &Tensor, b: &Tensor, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}");
    let worst = a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-5, "{what}: off by {worst}");
}

/// Rotary models of context 12: Llama-like (grouped-query), LSRA, and a layer-norm GELU one.
fn rotary_configs(layers: usize) -> Vec<GptConfig> {
    let llama = GptConfig::llama_like(17, 12, 16, layers, 4, 2, 24);
    let lsra = GptConfig { block: BlockKind::Lsra { kernel: 3 }, n_heads: 2, n_kv_heads: 1, ..llama.clone() };
    let gelu = GptConfig { d_ff: 32, positions: Positions::Rotary, ..GptConfig::gpt2_like(17, 12, 16, layers, 4) };
    vec![llama, lsra, gelu]
}

/// While nothing is evicted, slots are absolute positions: the streaming cache gives the full pass.
#[test]
fn without_eviction_the_streaming_cache_is_the_full_forward() {
    for cfg in rotary_configs(2) {
        let mut model = Gpt::new(cfg.clone(), 4).unwrap();
        let rows = ids(2, 12, 9);
        let want = full(&mut model, tensor(&rows, 0..12));
        for (sinks, window) in [(4, 8), (0, 12)] {
            let mut cache = KvCache::streaming(&cfg, 2, sinks, window).unwrap();
            assert_eq!(cache.positions(), CachePositions::InCache);
            let mut pieces = vec![model.forward_cached(&tensor(&rows, 0..5), &mut cache).unwrap()];
            for t in 5..12 {
                pieces.push(model.forward_cached(&tensor(&rows, t..t + 1), &mut cache).unwrap());
            }
            let views: Vec<_> = pieces.iter().map(|p| p.view()).collect();
            let got = ndarray::concatenate(ndarray::Axis(1), &views).unwrap();
            assert_close(&got, &want, &format!("{:?} {:?}, {sinks} sinks", cfg.norm, cfg.block));
        }
    }
}

/// After eviction, for a one-layer model (whose keys and values depend on their own token only), the
/// logits of each new token are those of the uncached forward over exactly the held tokens, at
/// positions `0..held`: the definition of attention over sinks plus a window with in-cache positions.
#[test]
fn after_eviction_the_logits_are_the_forward_over_the_held_tokens() {
    let configs: Vec<GptConfig> = rotary_configs(1).into_iter().filter(|c| c.block == BlockKind::Standard).collect();
    for cfg in configs {
        let mut model = Gpt::new(cfg.clone(), 6).unwrap();
        let rows = ids(2, 40, 3);
        for (sinks, window, steps) in
            [(2, 5, &[1usize][..]), (0, 6, &[1][..]), (4, 8, &[3, 1, 2][..]), (1, 3, &[3][..])]
        {
            let mut cache = KvCache::streaming(&cfg, 2, sinks, window).unwrap();
            let (mut seen, mut k) = (0, 0);
            while seen < 40 {
                let step = steps[k % steps.len()].min(40 - seen);
                k += 1;
                let got = model.forward_cached(&tensor(&rows, seen..seen + step), &mut cache).unwrap();
                seen += step;
                // The held tokens: the first `sinks` of the stream, then its last `window`.
                let held: Vec<usize> = if seen <= sinks + window {
                    (0..seen).collect()
                } else {
                    (0..sinks).chain(seen - window..seen).collect()
                };
                assert!(cache.layers.iter().all(|s| s.len() == held.len()));
                let kept: Vec<Vec<usize>> = rows.iter().map(|r| held.iter().map(|&i| r[i]).collect()).collect();
                let reference = full(&mut model, tensor(&kept, 0..held.len()));
                let last = reference.slice(ndarray::s![.., held.len() - step.., ..]).to_owned().into_dyn();
                assert_close(&got, &last, &format!("{:?}, {sinks} sinks + {window}, after {seen} tokens", cfg.norm));
            }
            assert_eq!(cache.position(), 40);
        }
    }
}

/// A deep model streams far past its context with bounded memory, the same bits on a rerun.
#[test]
fn deep_models_stream_past_the_context_in_bounded_memory() {
    for cfg in rotary_configs(3) {
        let mut model = Gpt::new(cfg.clone(), 2).unwrap();
        let rows = ids(1, 50, 1);
        let run = |model: &mut Gpt| {
            let mut cache = KvCache::streaming(&cfg, 1, 4, 6).unwrap();
            let mut logits = Vec::new();
            for t in 0..50 {
                logits.extend(model.forward_cached(&tensor(&rows, t..t + 1), &mut cache).unwrap().iter().copied());
                assert!(cache.layers.iter().all(|s| s.len() == (t + 1).min(10)));
            }
            assert_eq!(cache.bytes(), cfg.n_layers * 2 * cfg.n_kv_heads * 10 * cfg.head_dim() * 4);
            logits
        };
        let first = run(&mut model);
        assert!(first.iter().all(|x| x.is_finite()));
        assert_eq!(first, run(&mut model), "{:?}", cfg.block);
    }
}

#[test]
fn bad_streaming_setups_are_refused_before_anything_is_appended() {
    let cfg = GptConfig::llama_like(17, 12, 16, 2, 4, 2, 24);
    let e = KvCache::streaming(&cfg, 1, 4, 9).unwrap_err();
    assert!(e.to_string().contains("exceed the context of 12"), "{e}");
    assert!(KvCache::streaming(&cfg, 1, 4, 0).unwrap_err().to_string().contains("at least one token"));
    let learned = GptConfig::gpt2_like(17, 12, 16, 2, 4);
    assert!(KvCache::streaming(&learned, 1, 4, 4).unwrap_err().to_string().contains("rotary"));
    let mut gpt2 = Gpt::new(learned.clone(), 1).unwrap();
    let mut cache = KvCache::new(&learned, 1).with_positions(CachePositions::InCache);
    assert!(gpt2.forward_cached(&tensor(&ids(1, 1, 0), 0..1), &mut cache).unwrap_err().to_string().contains("rotary"));

    let mut model = Gpt::new(cfg.clone(), 1).unwrap();
    let rows = ids(1, 30, 2);
    // A chunk larger than the window (after the free sink slots) is refused and leaves the cache
    // usable: what follows equals a fresh cache fed the same tokens.
    let mut cache = KvCache::streaming(&cfg, 1, 2, 4).unwrap();
    model.forward_cached(&tensor(&rows, 0..3), &mut cache).unwrap();
    let e = model.forward_cached(&tensor(&rows, 3..8), &mut cache).unwrap_err();
    assert!(e.to_string().contains("window of 4"), "{e}");
    assert_eq!((cache.position(), cache.layers[0].len(), cache.layers[1].len()), (3, 3, 3));
    let mut fresh = KvCache::streaming(&cfg, 1, 2, 4).unwrap();
    model.forward_cached(&tensor(&rows, 0..3), &mut fresh).unwrap();
    for t in 3..20 {
        let (a, b) = (
            model.forward_cached(&tensor(&rows, t..t + 1), &mut cache).unwrap(),
            model.forward_cached(&tensor(&rows, t..t + 1), &mut fresh).unwrap(),
        );
        assert_eq!(a, b);
    }

    // In-cache positions over stores that hold more than the context are refused at the step that
    // would pass it.
    let stores = |sinks, window| -> Vec<Box<dyn KvStore>> {
        (0..2).map(|_| Box::new(SinkWindowKv::new(1, 2, 4, sinks, window).unwrap()) as Box<dyn KvStore>).collect()
    };
    let mut big = KvCache::with_stores(stores(4, 10), 1).unwrap().with_positions(CachePositions::InCache);
    model.forward_cached(&tensor(&rows, 0..12), &mut big).unwrap();
    let e = model.forward_cached(&tensor(&rows, 12..13), &mut big).unwrap_err();
    assert!(e.to_string().contains("13 keys, past the context of 12"), "{e}");
    assert_eq!(big.position(), 12);

    // With absolute positions an evicting store does not make positions past the context known.
    let mut absolute = KvCache::with_stores(stores(2, 4), 1).unwrap();
    model.forward_cached(&tensor(&rows, 0..12), &mut absolute).unwrap_err();
    for t in 0..12 {
        model.forward_cached(&tensor(&rows, t..t + 1), &mut absolute).unwrap();
    }
    let e = model.forward_cached(&tensor(&rows, 12..13), &mut absolute).unwrap_err();
    assert!(e.to_string().contains("context of 12"), "{e}");

    // In-cache positions over a dense store: the full pass until the context is full.
    let dense: Vec<Box<dyn KvStore>> =
        (0..2).map(|_| Box::new(DenseKv::new(1, 2, 4, 12)) as Box<dyn KvStore>).collect();
    let mut in_cache = KvCache::with_stores(dense, 1).unwrap().with_positions(CachePositions::InCache);
    let got = model.forward_cached(&tensor(&rows, 0..12), &mut in_cache).unwrap();
    assert_close(&got, &full(&mut model, tensor(&rows, 0..12)), "dense store, in-cache positions");
    assert!(model.forward_cached(&tensor(&rows, 12..13), &mut in_cache).is_err());
}
