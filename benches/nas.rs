//! Once-for-all supernet training cost: one SGD step (forward, cross-entropy, backward, update) of
//! the supernet running its largest config against the same step of the standalone network of that
//! config (`nas::build::standalone`), on a 32 x 1 x 32 x 32 batch of the tiny MobileNetV2 space at
//! width 1.0. The elastic layers pass the full weights through untouched at the largest config, so
//! the ratio supernet / standalone should stay near 1 (the bound is 1.3).
//!
//! `cargo bench --bench nas`. Measured 2026-12-04 on 2 cores shared with other builds (load ~5),
//! so noisy: supernet / standalone criterion medians of 0.82x to 1.09x over five runs (e.g. 321 ms
//! vs 319 ms); over 55 interleaved step pairs the median per-pair ratio was 1.02x.

// Link the tinylab package for its global allocator (mimalloc), as the CLI and examples use it.
use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;
use tinylab as _;
use tinylab_classical::Var;
use tinylab_classical::nas::{SearchSpace, Supernet, build};
use tinylab_classical::nn::{Ctx, Module};
use tinylab_classical::ops;
use tinylab_classical::optim::{Optimizer, Sgd};
use tinylab_classical::tensor::{self, Tensor, rand_uniform};

const BATCH: usize = 32;

fn step(model: &mut dyn Module, opt: &mut Sgd, x: &Tensor, y: &[usize]) {
    let mut ctx = Ctx::train(0);
    let logits = model.forward(&Var::constant(x.clone()), &mut ctx).expect("forward");
    let loss = ops::cross_entropy(&logits, y).expect("loss");
    opt.backward_step(model, &loss, &ctx, 0.01).expect("step");
}

fn largest_step(c: &mut Criterion) {
    let space = SearchSpace::tiny(1.0, 32, 1, 10).expect("valid space");
    let x = rand_uniform(&[BATCH, 1, 32, 32], -1.0, 1.0, &mut tensor::rng(1));
    let y: Vec<usize> = (0..BATCH).map(|i| (i * 7) % 10).collect();
    let mut standalone = build::standalone(&space, &space.largest(), 0).expect("valid network");
    let mut supernet = Supernet::new(space, 0).expect("valid supernet");
    let mut group = c.benchmark_group("ofa_largest_step_b32");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    let mut opt = Sgd::new(0.9, 0.0);
    group.bench_function("standalone", |b| b.iter(|| step(&mut standalone, &mut opt, &x, &y)));
    let mut opt = Sgd::new(0.9, 0.0);
    group.bench_function("supernet", |b| b.iter(|| step(&mut supernet, &mut opt, &x, &y)));
    group.finish();
}

criterion_group!(benches, largest_step);
criterion_main!(benches);
