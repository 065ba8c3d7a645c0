//! Noisy simulation benchmarks: the density-matrix method on device-basis circuits of 5, 7 and 12
//! qubits with the noise models of manila, nairobi and guadalupe (the circuits of
//! `benches/circuits/noisy_*.qasm`, which `benches/side_by_side_noisy.sh` also times on Aer), and
//! quantum trajectories at 16 qubits (guadalupe) and 20 qubits (a line with Aer-like errors), reported
//! as trajectories per second.
//!
//! `cargo bench --bench noisy`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;
use tinylab_noise::sim::run_density;
use tinylab_noise::trajectories::probabilities_trajectories;
use tinylab_noise::{Channel, NoiseModel};
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{Circuit, qasm};
// Link the tinylab package for its global allocator (mimalloc), as the CLI uses it.
use tinylab as _;

fn circuit(file: &str) -> Circuit {
    qasm::parse_file(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/circuits").join(file).as_path())
        .expect("benchmark circuit parses")
}

fn density(c: &mut Criterion) {
    let mut group = c.benchmark_group("density");
    group.sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(1));
    for (device, file) in [
        ("manila", "noisy_manila_n5.qasm"),
        ("nairobi", "noisy_nairobi_n7.qasm"),
        ("guadalupe", "noisy_guadalupe_n12.qasm"),
    ] {
        let model = NoiseModel::builtin(device).expect("built-in device");
        let circ = circuit(file);
        group.bench_function(BenchmarkId::from_parameter(file.trim_end_matches(".qasm")), |b| {
            b.iter(|| run_density(&circ, &[], &[], &model, &SimOptions::default()).expect("simulates"))
        });
    }
    group.finish();
}

/// A 20-qubit line with guadalupe-like errors on every gate: depolarizing then thermal relaxation.
fn line_model() -> NoiseModel {
    let mut model = NoiseModel::new("line20");
    let relax = |t: f64| Channel::thermal_relaxation(100e-6, 90e-6, t, 0.0).expect("valid");
    let one = Channel::depolarizing(4e-4, 1).unwrap().then(&relax(36e-9)).unwrap();
    let two =
        Channel::depolarizing(1.2e-2, 2).unwrap().then(&relax(300e-9).tensor_high(&relax(300e-9)).unwrap()).unwrap();
    for g in ["sx", "x"] {
        model.add_all_qubit_quantum_error(one.clone(), g).unwrap();
    }
    model.add_all_qubit_quantum_error(two, "cx").unwrap();
    model
}

fn line_circuit(n: usize, layers: usize) -> Circuit {
    let mut c = Circuit::new(n);
    for l in 0..layers {
        for q in 0..n {
            c.rz(0.1 + 0.37 * (q + l) as f64, q).unwrap().sx(q).unwrap();
        }
        for q in (l % 2..n - 1).step_by(2) {
            c.cx(q, q + 1).unwrap();
        }
    }
    c
}

fn trajectories(c: &mut Criterion) {
    let mut group = c.benchmark_group("trajectories");
    group.sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(1));
    let shots = 64;
    group.throughput(Throughput::Elements(shots as u64));
    let cases = [
        ("guadalupe_n16", circuit("noisy_guadalupe_n16.qasm"), NoiseModel::builtin("guadalupe").unwrap()),
        ("line_n20", line_circuit(20, 10), line_model()),
    ];
    for (name, circ, model) in &cases {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                probabilities_trajectories(circ, &[], &[], model, shots, 7, &SimOptions::default()).expect("runs")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, density, trajectories);
criterion_main!(benches);
