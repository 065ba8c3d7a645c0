//! int8 versus f32 throughput on the same shapes: a 3x3 convolution 32->64 on 32x32, a 1x1
//! convolution 64->128 on 16x16 (batch 4 each), and a 1024x1024 fully connected layer on a batch of
//! 64. The int8 side is the engine's kernels (im2row + the fused i8 GEMM, or the GEMM straight on the
//! NHWC input for the 1x1 convolution and the fully connected layer; requantized i8 outputs); the f32 side is `ops::conv2d` (im2col + the gemm crate) and `ops::gemm_into`.
//! Throughput is reported as multiply-adds x 2 per second. `int8` is the backend detected on this CPU;
//! `int8_Portable` (and the other available backends) run the same layers on the other kernels.
//!
//! `cargo bench --bench int8 -- --warm-up-time 1 --measurement-time 3`

// Link the tinylab package for its global allocator (mimalloc), as the CLI and examples use it.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;
use tinylab as _;
use tinylab_classical::Var;
use tinylab_classical::int8::fixed_point::{Requant, RoundingPolicy, quantize_multiplier};
use tinylab_classical::int8::gemm::Backend;
use tinylab_classical::int8::kernels::conv::QConv2d;
use tinylab_classical::int8::kernels::fully_connected::QLinear;
use tinylab_classical::int8::kernels::{ConvKernel, Dims};
use tinylab_classical::ops::{self, Conv2dSpec, gemm_into};
use tinylab_classical::tensor::{self, rand_uniform};

fn bytes(n: usize, seed: u64) -> Vec<i8> {
    let mut r = tensor::rng(seed);
    (0..n).map(|_| (tensor::uniform(&mut r) * 255.0 - 127.0) as i8).collect()
}

/// The backends this CPU runs other than the detected one (`int8` is the detected one), so that each
/// kernel's speed-up over the portable loop is measured in the same run.
fn other_backends() -> Vec<Backend> {
    [Backend::Portable, Backend::Avx2, Backend::Avx512Vnni]
        .into_iter()
        .filter(|b| b.available() && *b != Backend::detect())
        .collect()
}

fn requant(channels: usize, k: usize) -> Requant {
    let m = quantize_multiplier(1.0 / (64.0 * (k as f64).sqrt()), RoundingPolicy::DoubleRounding).expect("valid");
    Requant::new(vec![m; channels], -3, -128, 127, RoundingPolicy::DoubleRounding).expect("valid")
}

fn conv(c: &mut Criterion) {
    // benches/side_by_side_int8.sh reads this line from stderr.
    eprintln!("tinylab int8 backend: {:?} (detected; also measured: {:?})", Backend::detect(), other_backends());
    let mut group = c.benchmark_group("int8_vs_f32_conv");
    group.sample_size(20).measurement_time(Duration::from_secs(3));
    // (name, batch, cin, cout, k, side, padding)
    for (name, n, cin, cout, k, side, pad) in
        [("3x3_32to64_32x32_b4", 4, 32, 64, 3, 32, 1), ("1x1_64to128_16x16_b4", 4, 64, 128, 1, 16, 0)]
    {
        let spec = Conv2dSpec::new(1, pad);
        let macs = n * cout * side * side * cin * k * k;
        group.throughput(Throughput::Elements(2 * macs as u64));
        let mut r = tensor::rng(1);
        let x = Var::constant(rand_uniform(&[n, cin, side, side], -1.0, 1.0, &mut r));
        let w = Var::constant(rand_uniform(&[cout, cin, k, k], -0.1, 0.1, &mut r));
        let b = Var::constant(rand_uniform(&[cout], -0.1, 0.1, &mut r));
        group.bench_function(BenchmarkId::new("f32", name), |bench| {
            bench.iter(|| ops::conv2d(&x, &w, Some(&b), spec).expect("conv"))
        });
        let q = QConv2d::from_parts(
            bytes(cout * cin * k * k, 2),
            [cout, cin, k, k],
            vec![100; cout],
            spec,
            5,
            requant(cout, cin * k * k),
        )
        .expect("valid conv");
        let xq = bytes(n * cin * side * side, 3);
        let d = Dims::new(n, cin, side, side);
        group.bench_function(BenchmarkId::new("int8", name), |bench| bench.iter(|| q.forward(&xq, d).expect("conv")));
        for backend in other_backends() {
            group.bench_function(BenchmarkId::new(format!("int8_{backend:?}"), name), |bench| {
                bench.iter(|| q.forward_with(backend, &xq, d).expect("conv"))
            });
        }
    }
    group.finish();
}

fn fully_connected(c: &mut Criterion) {
    let mut group = c.benchmark_group("int8_vs_f32_fc");
    group.sample_size(20).measurement_time(Duration::from_secs(3));
    let (n, k, o) = (64usize, 1024usize, 1024usize);
    group.throughput(Throughput::Elements((2 * n * k * o) as u64));
    let mut r = tensor::rng(4);
    let x = rand_uniform(&[n, k], -1.0, 1.0, &mut r);
    let w = rand_uniform(&[o, k], -0.05, 0.05, &mut r);
    let mut out = vec![0.0f32; n * o];
    // y = x W^T: W^T(k, o) = w[o * k + k'] (row stride 1, column stride k).
    group.bench_function(BenchmarkId::new("f32", "1024x1024_b64"), |bench| {
        bench.iter(|| {
            gemm_into(n, o, k, x.as_slice().unwrap(), k, 1, w.as_slice().unwrap(), 1, k, &mut out, false).unwrap()
        })
    });
    let q = QLinear::from_parts(bytes(o * k, 5), o, k, vec![0; o], -7, requant(o, k)).expect("valid layer");
    let xq = bytes(n * k, 6);
    group.bench_function(BenchmarkId::new("int8", "1024x1024_b64"), |bench| {
        bench.iter(|| q.forward(&xq, n).expect("fc"))
    });
    for backend in other_backends() {
        group.bench_function(BenchmarkId::new(format!("int8_{backend:?}"), "1024x1024_b64"), |bench| {
            bench.iter(|| q.forward_with(backend, &xq, n).expect("fc"))
        });
    }
    group.finish();
}

criterion_group!(benches, conv, fully_connected);
criterion_main!(benches);
