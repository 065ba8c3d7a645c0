//! Sparse x dense kernels against dense GEMM on realistic layer shapes, and the break-even sparsity.
//!
//! Shapes (`A (m, k)` sparse weights times `B (k, n)` dense activations):
//! - `conv3x3_128to512`: a 3x3 convolution 128 -> 512 channels on a 16x16 map as an im2col GEMM,
//!   `m = 512, k = 128 * 9 = 1152, n = 256`;
//! - `fc1024_b64`: a 1024 x 1024 fully connected layer on a batch of 64, `m = k = 1024, n = 64`;
//! - `fc1024_b1`: the same layer on one input (sparse matrix x vector against a GEMM with `n = 1`).
//!
//! Weights are pruned at random (each entry kept with probability `1 - sparsity`), as magnitude
//! pruning of an unstructured layer does.
//!
//! `cargo bench --bench sparse` runs the criterion benchmarks (dense, CSR and bitmask at a few
//! sparsities), then a sweep over sparsities 0 %..99 % timed directly (median of repeated runs) on one
//! thread and on all of rayon's threads, printing a table and the break-even sparsity of each format
//! ([`break_even`]: the first sparsity where the sparse kernel is faster, interpolated with the previous
//! one). `cargo bench --bench sparse -- break_even` runs only the sweep; any other filter skips it.

#![allow(clippy::print_stdout)]

use criterion::{BenchmarkId, Criterion};
use std::time::{Duration, Instant};
// Link the tinylab package for its global allocator (mimalloc), as the CLI and examples use it.
use tinylab as _;
use tinylab_classical::Tensor;
use tinylab_classical::compress::sparse::{Bitmask, Csr, break_even};
use tinylab_classical::ops::gemm_into;
use tinylab_classical::tensor::{self, from_vec, rand_uniform};

#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
}

const SHAPES: [Shape; 3] = [
    Shape { name: "conv3x3_128to512", m: 512, k: 1152, n: 256 },
    Shape { name: "fc1024_b64", m: 1024, k: 1024, n: 64 },
    Shape { name: "fc1024_b1", m: 1024, k: 1024, n: 1 },
];

const SWEEP: [f64; 15] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99];
const CRITERION_SPARSITIES: [f64; 4] = [0.5, 0.8, 0.9, 0.95];

/// A `(m, k)` matrix with each entry kept (uniform in [-1, 1)) with probability `1 - sparsity`.
fn pruned(m: usize, k: usize, sparsity: f64, seed: u64) -> Tensor {
    let mut r = tensor::rng(seed);
    let data = (0..m * k)
        .map(|_| {
            let keep = tensor::uniform(&mut r) >= sparsity;
            let v = (tensor::uniform(&mut r) * 2.0 - 1.0) as f32;
            if keep { v } else { 0.0 }
        })
        .collect();
    from_vec(&[m, k], data).expect("shape")
}

/// The three kernels of one shape and sparsity.
struct Case {
    s: Shape,
    a: Tensor,
    b: Tensor,
    csr: Csr,
    bm: Bitmask,
    out: Vec<f32>,
}

impl Case {
    fn new(s: &Shape, sparsity: f64) -> Self {
        let a = pruned(s.m, s.k, sparsity, 1);
        let b = if s.n == 1 {
            rand_uniform(&[s.k], -1.0, 1.0, &mut tensor::rng(2))
        } else {
            rand_uniform(&[s.k, s.n], -1.0, 1.0, &mut tensor::rng(2))
        };
        let (csr, bm) = (Csr::from_dense(&a).expect("csr"), Bitmask::from_dense(&a).expect("bitmask"));
        let out = vec![0.0f32; s.m * s.n];
        Self { s: *s, a, b, csr, bm, out }
    }

    fn dense(&mut self) {
        let Shape { m, k, n, .. } = self.s;
        let (a, b) = (self.a.as_slice().expect("contiguous"), self.b.as_slice().expect("contiguous"));
        gemm_into(m, n, k, a, k, 1, b, n, 1, &mut self.out, false).unwrap();
    }

    fn csr(&self) -> Tensor {
        if self.s.n == 1 { self.csr.matvec(&self.b) } else { self.csr.matmul(&self.b) }.expect("csr product")
    }

    fn bitmask(&self) -> Tensor {
        if self.s.n == 1 { self.bm.matvec(&self.b) } else { self.bm.matmul(&self.b) }.expect("bitmask product")
    }
}

fn criterion_benches(c: &mut Criterion) {
    for s in &SHAPES {
        let mut group = c.benchmark_group(format!("sparse_{}", s.name));
        group.sample_size(20).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
        let mut dense = Case::new(s, 0.0);
        group.bench_function("dense", |bench| bench.iter(|| dense.dense()));
        for sp in CRITERION_SPARSITIES {
            let case = Case::new(s, sp);
            let pct = (sp * 100.0).round() as u32;
            group.bench_function(BenchmarkId::new("csr", pct), |bench| bench.iter(|| case.csr()));
            group.bench_function(BenchmarkId::new("bitmask", pct), |bench| bench.iter(|| case.bitmask()));
        }
        group.finish();
    }
}

/// Median wall time of `f` in microseconds, over at least 7 runs and about 0.3 s.
fn median_us(mut f: impl FnMut()) -> f64 {
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 7 || (start.elapsed() < Duration::from_millis(300) && times.len() < 1000) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn sweep(threads: usize) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
    pool.install(|| {
        println!("\n== break-even sweep, {threads} thread(s); median times in microseconds");
        for s in &SHAPES {
            let mut dense = Case::new(s, 0.0);
            let t_dense = median_us(|| dense.dense());
            println!(
                "{} (m={}, k={}, n={}): dense GEMM {:.1} us = {:.1} GFLOP/s",
                s.name,
                s.m,
                s.k,
                s.n,
                t_dense,
                2.0 * (s.m * s.k * s.n) as f64 / t_dense / 1e3
            );
            println!(
                "  sparsity  actual    csr_us  bitmask_us  csr/dense  bitmask/dense  csr_MB  bitmask_MB  dense_MB"
            );
            let (mut t_csr, mut t_bm) = (Vec::new(), Vec::new());
            for &sp in &SWEEP {
                let case = Case::new(s, sp);
                let tc = median_us(|| {
                    std::hint::black_box(case.csr());
                });
                let tb = median_us(|| {
                    std::hint::black_box(case.bitmask());
                });
                let mb = |b: usize| b as f64 / (1 << 20) as f64;
                println!(
                    "  {:>7.0}%  {:>5.2}%  {:>8.1}  {:>10.1}  {:>9.3}  {:>13.3}  {:>6.3}  {:>10.3}  {:>8.3}",
                    sp * 100.0,
                    case.csr.sparsity() * 100.0,
                    tc,
                    tb,
                    tc / t_dense,
                    tb / t_dense,
                    mb(case.csr.storage_bytes()),
                    mb(case.bm.storage_bytes()),
                    mb(4 * s.m * s.k)
                );
                t_csr.push(tc);
                t_bm.push(tb);
            }
            let show = |t: &[f64]| match break_even(&SWEEP, t, t_dense).expect("valid sweep") {
                Some(x) => format!("{:.1}%", x * 100.0),
                None => format!("never (<= {:.0}%)", SWEEP[SWEEP.len() - 1] * 100.0),
            };
            println!("  break-even sparsity: CSR {}, bitmask {}", show(&t_csr), show(&t_bm));
        }
    });
}

fn main() {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let only_sweep = !filters.is_empty() && filters.iter().all(|f| "break_even".contains(f.as_str()));
    if !only_sweep {
        let mut c = Criterion::default().configure_from_args();
        criterion_benches(&mut c);
        c.final_summary();
    }
    if filters.is_empty() || only_sweep {
        sweep(1);
        let all = rayon::current_num_threads();
        if all > 1 {
            sweep(all);
        }
    }
}
