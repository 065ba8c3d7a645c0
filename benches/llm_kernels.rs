//! Batch-1 generation and prefill shapes of an LLM linear layer, f32 against the quantized kernels of
//! `tinylab_transformers::quant`: GEMV `1 x 1024 x 1024` and `1 x 4096 x 4096` (tokens x in x out) and
//! GEMM `64 x 1024 x 1024`. The f32 side is `ops::gemm_into` on the `[out, in]` weight read as its
//! transpose (strides), and `f32_stream` is `quant::dense::DenseLinear`, the f32 twin of the quantized
//! kernels (same blocking and dispatch: the fair baseline at batch 1, where `gemm_into` pays for
//! packing the weight on every call); W8A8 includes the per-token quantization of the activations; int4 is
//! weight-only with groups of 128 (unpacked on the fly). Throughput is weights per second.
//!
//! `cargo bench --bench llm_kernels -- --warm-up-time 1 --measurement-time 2`
//!
//! Measured on a 2-core AMD EPYC (AVX2 path), shared with other builds (load average 3-7, so
//! figures vary by up to 2x between runs; the quietest run, 2 threads, medians): 1x1024x1024 f32
//! `gemm_into` 3.1 ms, `f32_stream` 119 us, W8A8 58 us, int4 84 us; 1x4096x4096 53.6 ms, 2.99 ms,
//! 0.53 ms, 1.00 ms; 64x1024x1024 1.79 ms, 2.05 ms, 2.03 ms, 2.16 ms. At batch 1, W8A8 is 2.1x / 5.6x
//! and int4 1.4x / 3.0x faster than `f32_stream` (1024 / 4096), and far faster than `gemm_into`.
//!
//! On a quiet 2-core Xeon with AVX-512 (2026-12-04, 2 threads, medians): 1x1024x1024 `gemm_into` 973 us,
//! `f32_stream` 79.7 us, W8A8 34.6 us, int4 53.7 us; 1x4096x4096 16.1 ms, 1.30 ms, 0.48 ms, 0.78 ms;
//! 64x1024x1024 1.21, 1.24, 1.22, 1.51 ms: W8A8 2.3x / 2.7x and int4 1.5x / 1.7x over `f32_stream`.

// Link the tinylab package for its global allocator (mimalloc), as the CLI and examples use it.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tinylab as _;
use tinylab_classical::ops::gemm_into;
use tinylab_classical::tensor::{randn, rng};
use tinylab_transformers::quant::dense::DenseLinear;
use tinylab_transformers::quant::{Int4Linear, W8A8Linear};

fn linear_kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("llm_linear");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    for (m, k, n) in [(1, 1024, 1024), (1, 4096, 4096), (64, 1024, 1024)] {
        let mut r = rng(1);
        let w = randn(&[n, k], 0.02, &mut r);
        let x = randn(&[m, k], 1.0, &mut r);
        let label = format!("{m}x{k}x{n}");
        group.throughput(Throughput::Elements((n * k) as u64));
        let (ws, xs) = (w.as_slice().expect("standard"), x.as_slice().expect("standard"));
        let mut y = vec![0f32; m * n];
        group.bench_function(BenchmarkId::new("f32", &label), |b| {
            b.iter(|| gemm_into(m, n, k, xs, k, 1, ws, 1, k, black_box(&mut y), false).expect("shapes"))
        });
        let dense = DenseLinear::new(&w, None).expect("shapes");
        group.bench_function(BenchmarkId::new("f32_stream", &label), |b| {
            b.iter(|| dense.forward(black_box(&x)).expect("shapes"))
        });
        let w8 = W8A8Linear::quantize(&w, None).expect("shapes");
        group.bench_function(BenchmarkId::new("w8a8", &label), |b| {
            b.iter(|| w8.forward(black_box(&x)).expect("shapes"))
        });
        let w4 = Int4Linear::quantize_rtn(&w, None, 128).expect("shapes");
        group.bench_function(BenchmarkId::new("int4_g128", &label), |b| {
            b.iter(|| w4.forward(black_box(&x)).expect("shapes"))
        });
    }
    group.finish();
}

criterion_group!(benches, linear_kernels);
criterion_main!(benches);
