//! Classical-base benchmarks, the workloads of `../shared/peers/bench_torch.py`: sgemm at 256/512/1024,
//! one SGD training step of the reference CNN on a 64 x 1 x 28 x 28 batch, and MobileNetV2-0.35
//! inference on one 3 x 96 x 96 image.
//!
//! `cargo bench --bench classical` (compare with `python ../shared/peers/bench_torch.py --threads 2`
//! in the same run; `benches/side_by_side_torch.sh` does both).

// Link the tinylab package for its global allocator (mimalloc), as the CLI and examples use it.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;
use tinylab as _;
use tinylab_classical::nn::{Ctx, Module, zoo};
use tinylab_classical::ops;
use tinylab_classical::optim::{Optimizer, Sgd};
use tinylab_classical::tensor::{self, rand_uniform};
use tinylab_classical::{Var, ops::gemm_into};

fn sgemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("sgemm");
    group.sample_size(20).measurement_time(Duration::from_secs(3));
    for n in [256usize, 512, 1024] {
        let mut r = tensor::rng(1);
        let a = rand_uniform(&[n, n], -1.0, 1.0, &mut r);
        let b = rand_uniform(&[n, n], -1.0, 1.0, &mut r);
        let mut out = vec![0.0f32; n * n];
        group.throughput(Throughput::Elements((2 * n * n * n) as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |bench| {
            bench.iter(|| {
                gemm_into(n, n, n, a.as_slice().unwrap(), n, 1, b.as_slice().unwrap(), n, 1, &mut out, false).unwrap()
            })
        });
    }
    group.finish();
}

fn cnn_step(c: &mut Criterion) {
    let mut model = zoo::reference_cnn(1, 28, 10, 0).expect("valid model");
    let mut r = tensor::rng(2);
    let x = rand_uniform(&[64, 1, 28, 28], -1.0, 1.0, &mut r);
    let y: Vec<usize> = (0..64).map(|i| (i * 7) % 10).collect();
    let mut opt = Sgd::new(0.9, 0.0);
    c.bench_function("cnn_step_b64", |bench| {
        bench.iter(|| {
            let mut ctx = Ctx::train(0);
            let logits = model.forward(&Var::constant(x.clone()), &mut ctx).expect("forward");
            let loss = ops::cross_entropy(&logits, &y).expect("loss");
            opt.backward_step(&mut model, &loss, &ctx, 0.05).expect("step");
        })
    });
}

fn mobilenet_inference(c: &mut Criterion) {
    let mut model = zoo::mobilenet_v2(0.35, 10, 0).expect("valid model");
    let img = rand_uniform(&[1, 3, 96, 96], -1.0, 1.0, &mut tensor::rng(3));
    c.bench_function("mbv2_infer_b1", |bench| {
        bench.iter(|| model.forward(&Var::constant(img.clone()), &mut Ctx::eval()).expect("forward"))
    });
}

criterion_group!(benches, sgemm, cnn_step, mobilenet_inference);
criterion_main!(benches);
