//! Statevector benchmarks: kernel bandwidth at 10..24 qubits and whole circuits (the layered and QFT
//! circuits that `../shared/peers/bench_qiskit.py` times on Qiskit Aer), fused and unfused.
//!
//! `cargo bench --bench statevector` (add `-- kernels` or `-- circuits` to pick a group). Throughput is
//! reported as bytes read and written: a pass over `n` qubits moves `2 * 16 * 2^n` bytes.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;
use tinylab_quantum::fusion::FusionConfig;
use tinylab_quantum::ops::{Op, OpMatrix, u3_matrix};
use tinylab_quantum::statevector::{Parallelism, SimOptions};
use tinylab_quantum::{C64, Matrix, Statevector, qasm};

fn kernel_cases(n: usize) -> Vec<(&'static str, Op)> {
    let u = u3_matrix(0.3, 0.2, 0.1);
    let x = Matrix::from_2x2([[C64::new(0.0, 0.0), C64::new(1.0, 0.0)], [C64::new(1.0, 0.0), C64::new(0.0, 0.0)]]);
    let rz = vec![C64::from_polar(1.0, -0.1), C64::from_polar(1.0, 0.1)];
    let dense = |k: usize| (1..k).fold(u.clone(), |m, _| m.kron(&u));
    let spread = |k: usize| (0..k).map(|i| i * (n - 1) / k.max(1)).collect::<Vec<_>>();
    vec![
        ("u3_low", Op { targets: vec![0], controls: vec![], matrix: OpMatrix::Dense(u.clone()) }),
        ("u3_high", Op { targets: vec![n - 1], controls: vec![], matrix: OpMatrix::Dense(u.clone()) }),
        ("rz_diag", Op { targets: vec![n / 2], controls: vec![], matrix: OpMatrix::Diagonal(rz) }),
        ("cx", Op { targets: vec![n / 2], controls: vec![1], matrix: OpMatrix::Dense(x) }),
        ("dense2", Op { targets: spread(2), controls: vec![], matrix: OpMatrix::Dense(dense(2)) }),
        ("dense4", Op { targets: spread(4), controls: vec![], matrix: OpMatrix::Dense(dense(4)) }),
    ]
}

/// The machine's reference: a single-thread copy of 256 MiB (reads 256 MiB, writes 256 MiB), the bound
/// the kernels are measured against.
fn bandwidth(c: &mut Criterion) {
    let mut group = c.benchmark_group("bandwidth");
    group.sample_size(10).measurement_time(Duration::from_secs(3));
    let len = 1usize << 24;
    let src = vec![C64::new(1.0, 0.5); len];
    let mut dst = vec![C64::new(0.0, 0.0); len];
    group.throughput(Throughput::Bytes(32 << 24));
    group.bench_function("copy_256MiB", |b| b.iter(|| dst.copy_from_slice(std::hint::black_box(&src))));
    group.finish();
}

fn kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("kernels");
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    for n in (10..=24).step_by(2) {
        let mut sv = Statevector::new(n).expect("fits in memory");
        group.throughput(Throughput::Bytes(32 << n));
        for (name, op) in kernel_cases(n) {
            for (label, par) in [("1t", Parallelism::Sequential), ("auto", Parallelism::Auto)] {
                group.bench_with_input(BenchmarkId::new(format!("{name}/{label}"), n), &op, |b, op| {
                    b.iter(|| sv.apply_op(op, par).expect("valid op"))
                });
            }
        }
    }
    group.finish();
}

fn circuits(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/circuits");
    let mut group = c.benchmark_group("circuits");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(5));
    for name in ["layered_n20_l10", "qft_n20", "layered_n22_l10", "qft_n22"] {
        let circuit = qasm::parse_file(std::path::Path::new(&format!("{dir}/{name}.qasm"))).expect("benchmark circuit");
        let mut configs = vec![("unfused".to_string(), FusionConfig::disabled())];
        for cap in 2..=5 {
            configs.push((format!("fused{cap}"), FusionConfig { max_dense_qubits: cap, ..FusionConfig::default() }));
        }
        for (label, fusion) in configs {
            let options = SimOptions { fusion, ..SimOptions::default() };
            group.bench_function(BenchmarkId::new(name, label), |b| {
                b.iter(|| {
                    let mut sv = Statevector::new(circuit.n_qubits()).expect("fits in memory");
                    sv.run(&circuit, &[], &[], &options).expect("valid circuit");
                    sv
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bandwidth, kernels, circuits);
criterion_main!(benches);
