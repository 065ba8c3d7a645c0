//! Property tests of the statevector simulator: invariants that hold for every circuit.

mod common;

use common::max_diff;
use proptest::prelude::*;
use tinylab_quantum::fusion::FusionConfig;
use tinylab_quantum::statevector::{Parallelism, SimOptions};
use tinylab_quantum::{Angle, BatchedStatevector, C64, Circuit, Statevector};
use tinylab_testkit::{Dice, Mix, random_circuit};

fn run_with(circuit: &Circuit, options: &SimOptions) -> Statevector {
    let mut sv = Statevector::new(circuit.n_qubits()).unwrap();
    sv.run(circuit, &[], &[], options).unwrap();
    sv
}

fn unfused() -> SimOptions {
    SimOptions { fusion: FusionConfig::disabled(), ..SimOptions::default() }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Unitary evolution keeps the squared norm at 1.
    #[test]
    fn random_circuits_preserve_the_norm(seed in any::<u64>(), n in 1usize..8, depth in 0usize..60) {
        let c = random_circuit(&mut Dice::new(seed), n, depth, &Mix::all());
        let sv = Statevector::from_circuit(&c, &[], &[]).unwrap();
        prop_assert!((sv.norm_sqr() - 1.0).abs() < 1e-12, "norm^2 = {}", sv.norm_sqr());
    }

    /// U followed by U^dagger is the identity: the start state comes back.
    #[test]
    fn circuit_then_inverse_returns_the_start(seed in any::<u64>(), n in 1usize..7, depth in 0usize..40) {
        let mut dice = Dice::new(seed);
        let prep = random_circuit(&mut dice, n, 8, &Mix::all());
        let body = random_circuit(&mut dice, n, depth, &Mix::all());
        let start = Statevector::from_circuit(&prep, &[], &[]).unwrap();
        let mut full = prep.clone();
        full.extend(&body).unwrap().extend(&body.inverse().unwrap()).unwrap();
        let end = Statevector::from_circuit(&full, &[], &[]).unwrap();
        prop_assert!(max_diff(start.amplitudes(), end.amplitudes()) < 1e-10);
    }

    /// Gate fusion changes the number of passes, not the state.
    #[test]
    fn fused_and_unfused_agree(seed in any::<u64>(), n in 1usize..9, depth in 0usize..80, cap in 1usize..6) {
        let c = random_circuit(&mut Dice::new(seed), n, depth, &Mix::all());
        let fused = SimOptions {
            fusion: FusionConfig { max_dense_qubits: cap, max_diagonal_qubits: cap + 3, ..FusionConfig::default() },
            ..SimOptions::default()
        };
        let a = run_with(&c, &fused);
        let b = run_with(&c, &unfused());
        prop_assert!(max_diff(a.amplitudes(), b.amplitudes()) < 1e-12);
    }

    /// A batch evolved together equals each state evolved alone.
    #[test]
    fn batched_equals_one_by_one(seed in any::<u64>(), n in 1usize..6, batch in 1usize..5) {
        let mut dice = Dice::new(seed);
        let mut c = Circuit::new(n);
        let theta = c.param("theta").unwrap();
        for q in 0..n {
            c.ry(Angle::input(q), q).unwrap();
        }
        c.extend(&random_circuit(&mut dice, n, 20, &Mix::all())).unwrap();
        for q in 0..n {
            c.rz(theta.scaled(0.5 + q as f64), q).unwrap();
            c.rx(Angle::input(q).scaled(2.0).shifted(0.1), q).unwrap();
        }
        let params = [dice.angle()];
        let inputs: Vec<f64> = (0..batch * n).map(|_| dice.angle()).collect();
        let mut b = BatchedStatevector::new(n, batch).unwrap();
        b.run(&c, &params, &inputs, &SimOptions::default()).unwrap();
        for s in 0..batch {
            let single = Statevector::from_circuit(&c, &params, &inputs[s * n..(s + 1) * n]).unwrap();
            prop_assert!(max_diff(b.state(s).unwrap(), single.amplitudes()) < 1e-12);
        }
    }
}

/// The same circuit gives bit-identical amplitudes on 1 thread, 2 threads and serial kernels
/// (16 qubits: above the parallel threshold).
#[test]
fn results_do_not_depend_on_the_thread_count() {
    let c = random_circuit(&mut Dice::new(2024), 16, 120, &Mix::all());
    let run_in_pool = |threads: usize, parallelism: Parallelism| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let sv = run_with(&c, &SimOptions { parallelism, ..SimOptions::default() });
            let z = tinylab_quantum::pauli::PauliString::from_label("ZZZZZZZZZZZZZZZZ").unwrap();
            (sv.amplitudes().to_vec(), sv.norm_sqr().to_bits(), z.expectation(&sv).unwrap().to_bits())
        })
    };
    let one = run_in_pool(1, Parallelism::Auto);
    let two = run_in_pool(2, Parallelism::Auto);
    let four = run_in_pool(4, Parallelism::Auto);
    let serial = run_in_pool(2, Parallelism::Sequential);
    for other in [&two, &four, &serial] {
        assert!(
            one.0
                .iter()
                .zip(&other.0)
                .all(|(a, b)| a.re.to_bits() == b.re.to_bits() && a.im.to_bits() == b.im.to_bits())
        );
        assert_eq!(one.1, other.1);
        assert_eq!(one.2, other.2);
    }
}

/// Basis-state sanity: X flips exactly one bit, qubit 0 is the least significant.
#[test]
fn qubit_zero_is_the_least_significant_bit() {
    let mut c = Circuit::new(3);
    c.x(0).unwrap().x(2).unwrap();
    let sv = Statevector::from_circuit(&c, &[], &[]).unwrap();
    assert_eq!(sv.amplitudes()[0b101], C64::new(1.0, 0.0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The AVX2/FMA dense kernel agrees with its portable twin (they differ only in rounding).
    #[test]
    fn fast_dense_kernel_matches_portable(seed in any::<u64>(), n in 6usize..11, k in 1usize..6, n_controls in 0usize..2) {
        use tinylab_quantum::statevector::kernel::{DenseKernel, apply_dense_with};
        let mut dice = Dice::new(seed);
        let state = Statevector::from_circuit(&random_circuit(&mut dice, n, 30, &Mix::all()), &[], &[]).unwrap();
        let qubits = dice.qubits(n, k + n_controls);
        let (targets, controls) = qubits.split_at(k);
        let block = random_circuit(&mut dice, k, 12, &Mix::all());
        let m = tinylab_quantum::statevector::unitary(&block, &[], &[]).unwrap();
        let run = |kernel| {
            let mut amps = state.amplitudes().to_vec();
            apply_dense_with(kernel, &mut amps, n, targets, controls, &m, Parallelism::Auto).unwrap();
            amps
        };
        prop_assert!(max_diff(&run(DenseKernel::Portable), &run(DenseKernel::Avx2Fma)) < 1e-13);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Export to OpenQASM 2 then import gives the same state (up to a global phase): standard gates,
    /// user unitaries and multi-controlled gates alike.
    #[test]
    fn qasm_export_import_round_trip(seed in any::<u64>(), n in 1usize..7, depth in 0usize..40) {
        let c = random_circuit(&mut Dice::new(seed), n, depth, &Mix::all());
        let text = tinylab_quantum::qasm::to_qasm(&c).unwrap();
        let back = tinylab_quantum::qasm::parse(&text).unwrap();
        let a = Statevector::from_circuit(&c, &[], &[]).unwrap();
        let b = Statevector::from_circuit(&back, &[], &[]).unwrap();
        prop_assert!(a.distance_up_to_phase(&b) < 1e-10, "{}", text);
    }
}
