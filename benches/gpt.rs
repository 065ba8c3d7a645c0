//! The GPT workloads of `benches/peers/torch_gpt_bench.py` on the same Llama-style model (vocabulary
//! 76, d_model 256, 4 layers, 8 query / 2 key-value heads, SwiGLU 688, RoPE, context 512): one AdamW
//! training step on an 8 x 128 batch, the prefill of a 256-token prompt at batch 1, and one generated
//! token at batch 1 with the KV cache (after a 16-token prompt, 64 tokens per iteration).
//!
//! `benches/side_by_side_gpt.sh` runs both sides in one run and prints the ratios.

// Link the tinylab package for its global allocator (mimalloc), as the CLI and examples use it.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;
use tinylab as _;
use tinylab_classical::nn::{Ctx, Module};
use tinylab_classical::optim::{Adam, Optimizer};
use tinylab_classical::tensor::{from_vec, rand_uniform, rng};
use tinylab_classical::{Tensor, Var};
use tinylab_transformers::data::next_token_loss;
use tinylab_transformers::model::{Gpt, GptConfig, KvCache};

/// The bench model (the same sizes as torch_gpt_bench.py's BENCH).
fn bench_model() -> Gpt {
    Gpt::new(GptConfig::llama_like(76, 512, 256, 4, 8, 2, 688), 0).expect("valid model")
}

/// Token ids `[batch, len]` drawn from a seeded generator, with the next-token targets.
fn tokens(batch: usize, len: usize, seed: u64) -> (Tensor, Vec<usize>) {
    let draws = rand_uniform(&[batch * (len + 1)], 0.0, 76.0, &mut rng(seed));
    let ids: Vec<usize> = draws.iter().map(|&u| (u as usize).min(75)).collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for b in 0..batch {
        let row = &ids[b * (len + 1)..][..len + 1];
        x.extend(row[..len].iter().map(|&t| t as f32));
        y.extend(&row[1..]);
    }
    (from_vec(&[batch, len], x).expect("sized"), y)
}

fn train_step(c: &mut Criterion) {
    let mut model = bench_model();
    let (x, y) = tokens(8, 128, 1);
    let mut opt = Adam::adamw(0.01);
    let mut group = c.benchmark_group("gpt");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(8 * 128));
    group.bench_function("train_step_b8_t128", |bench| {
        bench.iter(|| {
            let mut ctx = Ctx::train(0);
            let logits = model.forward(&Var::constant(x.clone()), &mut ctx).expect("forward");
            let loss = next_token_loss(&logits, &y).expect("loss");
            opt.backward_step(&mut model, &loss, &ctx, 1e-3).expect("step");
        })
    });
    let (prompt, _) = tokens(1, 256, 2);
    group.throughput(Throughput::Elements(256));
    group.bench_function("prefill_256", |bench| {
        bench.iter(|| {
            let mut cache = KvCache::new(model.config(), 1);
            model.forward_cached(&prompt, &mut cache).expect("prefill")
        })
    });
    let (prompt, _) = tokens(1, 16, 3);
    const NEW: usize = 64;
    group.throughput(Throughput::Elements(NEW as u64));
    group.bench_function("generate_64_tokens", |bench| {
        bench.iter(|| {
            let mut cache = KvCache::new(model.config(), 1);
            let logits = model.forward_cached(&prompt, &mut cache).expect("prefill");
            let mut next = argmax_last(&logits);
            for _ in 0..NEW {
                let ids = from_vec(&[1, 1], vec![next as f32]).expect("sized");
                next = argmax_last(&model.forward_cached(&ids, &mut cache).expect("decode"));
            }
            next
        })
    });
    group.finish();
}

/// The most likely next token after the last position of `logits` `[1, t, vocab]`.
fn argmax_last(logits: &Tensor) -> usize {
    let vocab = *logits.shape().last().expect("3-d");
    let s = logits.as_slice().expect("contiguous");
    tinylab_classical::train::argmax(s[s.len() - vocab..].iter().copied())
}

criterion_group!(benches, train_step);
criterion_main!(benches);
