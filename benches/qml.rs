//! Variational workloads: value + full gradient (adjoint) of the reference hardware-efficient ansatz
//! of `../shared/peers/bench_pennylane.py` at 8, 12, 16 and 20 qubits (4 layers, observable Σ Z_i),
//! and one training step (forward, backward, Adam) of the `qml_digits4` model at batch 256, the
//! workload of `../shared/peers/bench_torchquantum.py`. `benches/side_by_side_qml.sh` runs the peers
//! in the same run and prints the ratios. The `quantumnat` group times one training step of a
//! QuantumNAT block compiled for IBM manila (batch 256), noise-free and with noise injection (a drawn
//! circuit per row), so the cost of injection is measured rather than guessed.
//!
//! `cargo bench --bench qml`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::time::Duration;
use tinylab_classical::nn::{Ctx, Module};
use tinylab_classical::optim::{Adam, Optimizer};
use tinylab_classical::{Var, ops, tensor};
use tinylab_quantum::grad::{self, Wrt};
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::{QuantumLayer, ansatz, encoders};
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{Circuit, Statevector};
// Link the tinylab package for its global allocator (mimalloc), as the CLI uses it.
use tinylab as _;

fn reference_ansatz(c: &mut Criterion) {
    let mut group = c.benchmark_group("reference_ansatz");
    group.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    for n in [8usize, 12, 16, 20] {
        let mut circuit = Circuit::new(n);
        ansatz::hardware_efficient(&mut circuit, 4, "t").expect("builds");
        let mut rng = tensor::rng(0);
        let params: Vec<f64> =
            (0..circuit.n_params()).map(|_| tensor::uniform(&mut rng) * std::f64::consts::TAU).collect();
        let observable = PauliSum::new((0..n).map(|q| (1.0, PauliSum::z(q).unwrap().terms()[0].1)).collect());
        let options = SimOptions::default();
        group.bench_function(BenchmarkId::from_parameter(format!("value_n{n}")), |b| {
            b.iter(|| {
                let s = Statevector::from_circuit(&circuit, &params, &[]).expect("runs");
                observable.expectation(&s).expect("in range")
            })
        });
        group.bench_function(BenchmarkId::from_parameter(format!("value_grad_n{n}")), |b| {
            b.iter(|| grad::adjoint(&circuit, &params, &[], &observable, Wrt::PARAMS, &options).expect("runs"))
        });
    }
    group.finish();
}

fn digits4_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("qml_digits4");
    group.sample_size(20).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    let mut circuit = Circuit::new(4);
    encoders::ryzxy_4x4(&mut circuit).unwrap();
    ansatz::u3_cu3(&mut circuit, 2, "w").unwrap();
    let readout: Vec<PauliSum> = (0..4).map(|q| PauliSum::z(q).unwrap()).collect();
    let mut layer = QuantumLayer::new(circuit, readout, 0).unwrap();
    let batch = 256;
    let mut rng = tensor::rng(1);
    let x = tensor::rand_uniform(&[batch, 16], 0.0, std::f32::consts::PI, &mut rng);
    let labels: Vec<usize> = (0..batch).map(|i| (i * 7 + 3) % 4).collect();
    let mut opt = Adam::new(0.0);
    group.bench_function(BenchmarkId::from_parameter("train_step_b256"), |b| {
        b.iter(|| {
            let mut ctx = Ctx::train(0);
            let logits = layer.forward(&Var::constant(x.clone()), &mut ctx).unwrap();
            let loss = ops::cross_entropy(&logits, &labels).unwrap();
            opt.backward_step(&mut layer, &loss, &ctx, 5e-3).unwrap();
        })
    });
    group.bench_function(BenchmarkId::from_parameter("forward_b256"), |b| {
        b.iter(|| layer.forward(&Var::constant(x.clone()), &mut Ctx::eval()).unwrap())
    });
    group.finish();
}

fn quantumnat_step(c: &mut Criterion) {
    use tinylab_noise::DeviceProfile;
    use tinylab_noise::robust::nat::{NatBlock, NatClassifier, PostProcess};
    let mut group = c.benchmark_group("quantumnat");
    group.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    let mut circuit = Circuit::new(4);
    encoders::ryzxy_4x4(&mut circuit).unwrap();
    for l in 0..2 {
        for q in 0..4 {
            let a: Vec<_> = (0..3).map(|k| circuit.param(&format!("u{l}_{q}_{k}")).unwrap()).collect();
            circuit.u3(a[0], a[1], a[2], q).unwrap();
        }
        for q in 0..4 {
            let t = circuit.param(&format!("z{l}_{q}")).unwrap();
            circuit.rzz(t, q, (q + 1) % 4).unwrap();
        }
    }
    let readout: Vec<PauliSum> = (0..4).map(|q| PauliSum::z(q).unwrap()).collect();
    let manila = DeviceProfile::builtin("manila").unwrap();
    let post = PostProcess { normalize: true, quantize: None };
    let block = NatBlock::new(&circuit, &readout, &manila, None, post, 0).unwrap();
    let batch = 256;
    let mut rng = tensor::rng(1);
    let x = tensor::rand_uniform(&[batch, 16], 0.0, std::f32::consts::PI, &mut rng);
    let labels: Vec<usize> = (0..batch).map(|i| (i * 7 + 3) % 4).collect();
    for (name, inject) in [("train_step_b256_noise_free", false), ("train_step_b256_injected", true)] {
        let mut model = NatClassifier::new(vec![block.clone()]).unwrap();
        if inject {
            model = model.with_noise_injection(1.0, 3).unwrap();
        }
        let mut opt = Adam::new(0.0);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let mut ctx = Ctx::train(0);
                let logits = model.forward(&Var::constant(x.clone()), &mut ctx).unwrap();
                let loss = ops::cross_entropy(&logits, &labels).unwrap();
                opt.backward_step(&mut model, &loss, &ctx, 5e-3).unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, reference_ansatz, digits4_step, quantumnat_step);
criterion_main!(benches);
