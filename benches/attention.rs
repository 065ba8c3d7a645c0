//! Attention kernels at B=1, H=4, D=64, causal, T in {256, ..., 4096}: the naive kernel (the full
//! probability matrix) against the flash-style kernel (64 x 64 tiles, online softmax; Dao et al.
//! 2022 / 2023) and linear attention (elu + 1 feature map; Katharopoulos et al. 2020), forward alone
//! and forward + backward. Naive forward + backward stops at T = 2048 (its probabilities alone are
//! 256 MiB at 4096). Throughput is the multiply-adds x 2 of the causal softmax attention's GEMMs
//! (`2 * T^2 * D` per head for the forward pass, half of it masked), the same count for every kernel
//! so that the rates compare.
//!
//! `cargo bench --bench attention -- --warm-up-time 1 --measurement-time 3`

// Link the tinylab package for its global allocator (mimalloc), as the CLI and examples use it.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;
use tinylab as _;
use tinylab_classical::tensor::{randn, rng};
use tinylab_classical::{Tensor, Var};
use tinylab_transformers::attention::{AttentionKernel, AttentionMask, attention, linear_attention};

const HEADS: usize = 4;
const HEAD_DIM: usize = 64;
const LENGTHS: [usize; 5] = [256, 512, 1024, 2048, 4096];

/// The kernels compared: a name and the call (`None`: linear attention).
const KERNELS: [(&str, Option<AttentionKernel>); 3] =
    [("naive", Some(AttentionKernel::Naive)), ("flash64", Some(AttentionKernel::flash())), ("linear", None)];

/// Seeded queries, keys, values and an output gradient for `t` tokens.
fn operands(t: usize) -> [Tensor; 4] {
    let r = &mut rng(t as u64);
    let shape = [1, HEADS, t, HEAD_DIM];
    [randn(&shape, 1.0, r), randn(&shape, 1.0, r), randn(&shape, 1.0, r), randn(&shape, 1.0, r)]
}

/// One causal call of `kernel` on leaves made from `x` (so the op is kept for the backward pass).
fn call(kernel: Option<AttentionKernel>, x: &[Tensor; 4]) -> (Var, [Var; 3]) {
    let (q, k, v) = (Var::leaf(x[0].clone()), Var::leaf(x[1].clone()), Var::leaf(x[2].clone()));
    let out = match kernel {
        Some(kernel) => attention(&q, &k, &v, &AttentionMask::causal(), None, kernel).expect("attention"),
        None => linear_attention(&q, &k, &v, true).expect("linear attention"),
    };
    (out, [q, k, v])
}

/// The causal softmax attention's useful multiply-adds x 2 for the forward pass.
fn forward_flops(t: usize) -> u64 {
    (HEADS * t * t * HEAD_DIM * 2) as u64
}

fn forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("attention_forward");
    group.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for t in LENGTHS {
        let x = operands(t);
        group.throughput(Throughput::Elements(forward_flops(t)));
        for (name, kernel) in KERNELS {
            group.bench_with_input(BenchmarkId::new(name, t), &t, |bench, _| {
                bench.iter(|| std::hint::black_box(call(kernel, &x).0))
            });
        }
    }
    group.finish();
}

fn forward_backward(c: &mut Criterion) {
    let mut group = c.benchmark_group("attention_forward_backward");
    group.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for t in LENGTHS {
        let x = operands(t);
        // The backward pass takes about twice the forward's multiply-adds.
        group.throughput(Throughput::Elements(3 * forward_flops(t)));
        for (name, kernel) in KERNELS {
            if kernel == Some(AttentionKernel::Naive) && t > 2048 {
                continue;
            }
            group.bench_with_input(BenchmarkId::new(name, t), &t, |bench, _| {
                bench.iter(|| {
                    let (out, leaves) = call(kernel, &x);
                    out.backward_with(x[3].clone()).expect("backward");
                    std::hint::black_box(leaves[0].grad())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, forward, forward_backward);
criterion_main!(benches);
