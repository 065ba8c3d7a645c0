//! QuantumNAT: the noise-injection sampler reproduces the density-matrix channel on average, the
//! Pauli twirl matches closed forms, post-measurement normalization and quantization are exact on
//! constructed inputs, and a quantum layer with injected noise differentiates each drawn circuit
//! exactly.

use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use tinylab_classical::nn::{Ctx, Module};
use tinylab_classical::{Var, tensor};
use tinylab_noise::channel::Channel;
use tinylab_noise::robust::nat::{NoiseInjector, OutcomeQuantizer, PostProcess, normalize};
use tinylab_noise::sim::probabilities_density;
use tinylab_noise::{NoiseError, NoiseModel, ReadoutError};
use tinylab_quantum::grad::{StatevectorEstimator, Wrt, adjoint};
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::{CircuitSampler, LayerBackend, QuantumLayer};
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{Angle, Circuit, Statevector};

/// The twirl of amplitude damping has the closed form `p_I = (1 + √(1-γ))²/4`,
/// `p_X = p_Y = γ/4`, `p_Z = (1 - √(1-γ))²/4`.
#[test]
fn twirl_of_amplitude_damping_matches_the_closed_form() {
    for gamma in [0.0, 0.05, 0.3, 1.0] {
        let p = Channel::amplitude_damping(gamma).unwrap().pauli_twirl();
        let s = (1.0 - gamma).sqrt();
        let want = [(1.0 + s).powi(2) / 4.0, gamma / 4.0, gamma / 4.0, (1.0 - s).powi(2) / 4.0];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-14, "gamma {gamma}: {p:?} vs {want:?}");
        }
    }
}

/// Twirling keeps the diagonal of the Pauli transfer matrix, and a Pauli channel is its own twirl.
#[test]
fn twirl_keeps_the_ptm_diagonal_and_fixes_pauli_channels() {
    let relax = Channel::thermal_relaxation(80e-6, 60e-6, 300e-9, 0.0)
        .unwrap()
        .tensor_high(&Channel::thermal_relaxation(50e-6, 90e-6, 300e-9, 0.0).unwrap())
        .unwrap();
    let twirled = Channel::pauli_mixture("t", &relax.pauli_twirl()).unwrap();
    let (a, b) = (relax.ptm(), twirled.ptm());
    for i in 0..16 {
        assert!((a[i][i] - b[i][i]).abs() < 1e-12, "PTM diagonal {i}: {} vs {}", a[i][i], b[i][i]);
        for (j, v) in b[i].iter().enumerate() {
            if i != j {
                assert!(v.abs() < 1e-12, "twirled PTM off-diagonal ({i}, {j}) = {v}");
            }
        }
    }
    let probs = [0.9, 0.02, 0.03, 0.05];
    let twirl = Channel::pauli_mixture("p", &probs).unwrap().pauli_twirl();
    for (x, y) in twirl.iter().zip(probs) {
        assert!((x - y).abs() < 1e-14);
    }
    let dep = Channel::depolarizing(0.04, 2).unwrap().pauli_twirl();
    assert!((dep[0] - (1.0 - 0.04 * 15.0 / 16.0)).abs() < 1e-14);
    assert!(dep[1..].iter().all(|&p| (p - 0.04 / 16.0).abs() < 1e-15));
}

/// Manila's noise model restricted to its first three qubits' gates, for small random circuits.
fn manila() -> NoiseModel {
    NoiseModel::builtin("manila").unwrap()
}

/// A random circuit of manila's basis gates on qubits 0..3 (coupled 0-1, 1-2).
fn device_circuit(ops: &[(u8, f64)]) -> Circuit {
    let mut c = Circuit::new(3);
    for (k, &(kind, angle)) in ops.iter().enumerate() {
        let q = k % 3;
        match kind % 4 {
            0 => c.rz(angle, q).unwrap(),
            1 => c.sx(q).unwrap(),
            2 => c.x(q).unwrap(),
            _ => {
                let (a, b) = if q == 2 { (2, 1) } else { (q, q + 1) };
                c.cx(a, b).unwrap()
            }
        };
    }
    c
}

/// Outcome probabilities of every drawn circuit averaged, with each outcome's standard error.
fn sampled_average(injector: &NoiseInjector, circuit: &Circuit, draws: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let dim = 1 << circuit.n_qubits();
    let (mut sum, mut sq) = (vec![0.0; dim], vec![0.0; dim]);
    for s in 0..draws {
        let drawn = injector.sample(circuit, seed.wrapping_add(s as u64)).unwrap();
        let mut state = Statevector::new(circuit.n_qubits()).unwrap();
        state.run(&drawn, &[], &[], &SimOptions::default()).unwrap();
        for (i, a) in state.amplitudes().iter().enumerate() {
            let p = a.norm_sqr();
            sum[i] += p;
            sq[i] += p * p;
        }
    }
    let n = draws as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let se = mean.iter().zip(&sq).map(|(m, s2)| ((s2 / n - m * m).max(0.0) / (n - 1.0)).sqrt()).collect();
    (mean, se)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// The average over draws of the injected circuits' outcome distributions equals the
    /// density-matrix simulation under the twirled model with readout error, within 5 standard
    /// errors (plus 0.002 for outcomes that almost never vary).
    #[test]
    fn injection_average_equals_the_density_matrix_channel(
        ops in proptest::collection::vec((0u8..4, -3.0f64..3.0), 4..14),
        factor in prop_oneof![Just(1.0), Just(3.0)],
        seed in 0u64..1000,
    ) {
        let circuit = device_circuit(&ops);
        let model = manila();
        let injector = NoiseInjector::new(&model, factor).unwrap();
        // The exact reference: the twirled model with every probability scaled by `factor`.
        let scaled = scaled_twirled(&model, factor);
        let exact = probabilities_density(&circuit, &[], &[], &scaled, &SimOptions::default()).unwrap();
        let (mean, se) = sampled_average(&injector, &circuit, 3000, seed * 7919);
        for i in 0..mean.len() {
            let bound = 5.0 * se[i] + 0.002;
            prop_assert!((mean[i] - exact.measured_probabilities[i]).abs() < bound,
                "outcome {i}: sampled {} vs density {} (bound {bound})", mean[i], exact.measured_probabilities[i]);
        }
    }
}

/// The twirled model with every Pauli error probability and readout flip scaled by `factor`, built
/// independently of the injector from the public channel API.
fn scaled_twirled(model: &NoiseModel, factor: f64) -> NoiseModel {
    let mut out = NoiseModel::new("scaled");
    for (gate, qubits, noise) in model.gate_errors() {
        let mut p = noise.channel.pauli_twirl();
        let rest: f64 = p[1..].iter().map(|v| v * factor).sum();
        p.iter_mut().skip(1).for_each(|v| *v *= factor);
        p[0] = 1.0 - rest;
        out.add_quantum_error(Channel::pauli_mixture("scaled", &p).unwrap(), gate, qubits).unwrap();
    }
    for (q, e) in model.readout_errors() {
        out.add_readout_error(ReadoutError::symmetric(e.probabilities[0][1] * factor).unwrap(), q);
    }
    out
}

/// For a depolarizing model, the twirl is the model itself: the injected average equals the exact
/// density matrix of the *original* model, and `pauli_twirled` leaves its probabilities unchanged.
#[test]
fn depolarizing_models_are_reproduced_exactly() {
    let mut model = NoiseModel::new("dep");
    model.add_all_qubit_quantum_error(Channel::depolarizing(0.05, 1).unwrap(), "sx").unwrap();
    model.add_all_qubit_quantum_error(Channel::depolarizing(0.1, 2).unwrap(), "cx").unwrap();
    model.add_readout_error(ReadoutError::symmetric(0.03).unwrap(), 0);
    let circuit = device_circuit(&[(1, 0.0), (3, 0.0), (1, 0.0), (0, 0.7), (3, 0.0), (1, 0.0), (3, 0.0)]);
    let exact = probabilities_density(&circuit, &[], &[], &model, &SimOptions::default()).unwrap();
    let twirled =
        probabilities_density(&circuit, &[], &[], &model.pauli_twirled().unwrap(), &SimOptions::default()).unwrap();
    for (a, b) in exact.measured_probabilities.iter().zip(&twirled.measured_probabilities) {
        assert!((a - b).abs() < 1e-12);
    }
    let injector = NoiseInjector::new(&model, 1.0).unwrap();
    let (mean, se) = sampled_average(&injector, &circuit, 6000, 11);
    for i in 0..mean.len() {
        assert!((mean[i] - exact.measured_probabilities[i]).abs() < 5.0 * se[i] + 0.002, "outcome {i}");
    }
}

/// Factor 0 draws the circuit itself; a factor that makes a probability exceed 1, a negative factor
/// and asymmetric readout errors are refused with a reason.
#[test]
fn noise_factor_edges_and_errors() {
    let model = manila();
    let circuit = device_circuit(&[(1, 0.0), (3, 0.0), (0, 1.0), (3, 0.0)]);
    let none = NoiseInjector::new(&model, 0.0).unwrap();
    for seed in 0..20 {
        assert_eq!(none.sample(&circuit, seed).unwrap(), circuit);
    }
    let err = NoiseInjector::new(&model, 1e6).unwrap_err();
    assert!(matches!(err, NoiseError::OutOfRange { .. }), "{err}");
    assert!(NoiseInjector::new(&model, -1.0).is_err());
    assert!(NoiseInjector::new(&model, f64::NAN).is_err());
    let mut asym = NoiseModel::new("asym");
    asym.add_readout_error(ReadoutError::asymmetric(0.01, 0.05).unwrap(), 2);
    let err = NoiseInjector::new(&asym, 1.0).unwrap_err().to_string();
    assert!(err.contains("symmetric") && err.contains("qubit 2"), "{err}");
}

/// The same seed draws the same circuit; different seeds differ at a high noise factor.
#[test]
fn draws_are_reproducible() {
    let model = manila();
    let circuit = device_circuit(&[(1, 0.0), (3, 0.0), (1, 0.0), (3, 0.0), (1, 0.0), (3, 0.0)]);
    let injector = NoiseInjector::new(&model, 10.0).unwrap();
    let a = injector.sample_with(&circuit, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
    let b = injector.sample_with(&circuit, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
    assert_eq!(a, b);
    let distinct = (0..30).map(|s| injector.sample(&circuit, s).unwrap()).filter(|c| c != &circuit).count();
    assert!(distinct > 0);
}

/// Normalization: columns with known mean and standard deviation come out as `(x - mean)/sqrt(var
/// + 1e-5)`; the gradient matches central finite differences.
#[test]
fn normalization_is_exact_and_differentiable() {
    let x = [1.0f32, -2.0, 3.0, 0.0, 5.0, 2.0, 7.0, 4.0];
    let v = Var::leaf(tensor::from_vec(&[4, 2], x.to_vec()).unwrap());
    let y = normalize(&v).unwrap();
    // Column 0: 1, 3, 5, 7 (mean 4, variance 5); column 1: -2, 0, 2, 4 (mean 1, variance 5).
    let inv = 1.0 / (5.0f32 + 1e-5).sqrt();
    let want = [-3.0 * inv, -3.0 * inv, -inv, -inv, inv, inv, 3.0 * inv, 3.0 * inv];
    for (a, b) in y.value().iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    // d/dx of sum(w * y) against finite differences.
    let w = [0.3f32, -1.2, 0.7, 0.1, -0.4, 2.0, 1.1, -0.9];
    let loss_of = |xs: &[f32]| -> f64 {
        let y = normalize(&Var::constant(tensor::from_vec(&[4, 2], xs.to_vec()).unwrap())).unwrap();
        y.value().iter().zip(w).map(|(&a, b)| a as f64 * b as f64).sum()
    };
    let wv = Var::constant(tensor::from_vec(&[4, 2], w.to_vec()).unwrap());
    let loss = tinylab_classical::ops::sum(&tinylab_classical::ops::mul(&y, &wv).unwrap());
    loss.backward().unwrap();
    let grad: Vec<f32> = v.grad().unwrap().iter().copied().collect();
    for i in 0..8 {
        let (mut up, mut down) = (x, x);
        up[i] += 1e-2;
        down[i] -= 1e-2;
        let fd = (loss_of(&up) - loss_of(&down)) / 2e-2;
        assert!((grad[i] as f64 - fd).abs() < 2e-3, "entry {i}: {} vs {fd}", grad[i]);
    }
    assert!(normalize(&Var::constant(tensor::from_vec(&[4], vec![0.0; 4]).unwrap())).is_err());
}

/// Quantization to 5 levels on [-2, 2]: each value snaps to the nearest integer (halves away from
/// zero), values beyond the clip go to the end levels, and the gradient passes only inside.
#[test]
fn quantization_is_exact_with_clipped_straight_through_gradient() {
    let q = OutcomeQuantizer::new(5, 2.0).unwrap();
    let x = [-3.1f32, -1.5, -0.49, 0.0, 0.5, 1.2, 1.99, 2.6];
    let v = Var::leaf(tensor::from_vec(&[2, 4], x.to_vec()).unwrap());
    let y = q.quantize(&v).unwrap();
    let want = [-2.0f32, -2.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0];
    assert_eq!(y.value().iter().copied().collect::<Vec<_>>(), want);
    tinylab_classical::ops::sum(&y).backward().unwrap();
    let grad: Vec<f32> = v.grad().unwrap().iter().copied().collect();
    assert_eq!(grad, [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]);
    // 3 levels on [-1, 1] with a finer clip.
    let y = OutcomeQuantizer::new(3, 0.5)
        .unwrap()
        .quantize(&Var::constant(tensor::from_vec(&[3], vec![-0.3, 0.2, 0.26]).unwrap()))
        .unwrap();
    assert_eq!(y.value().iter().copied().collect::<Vec<_>>(), [-0.5, 0.0, 0.5]);
    assert!(OutcomeQuantizer::new(4, 1.0).is_err());
    assert!(OutcomeQuantizer::new(1, 1.0).is_err());
    assert!(OutcomeQuantizer::new(5, 0.0).is_err());
    let both = PostProcess { normalize: true, quantize: Some(q) };
    let out = both
        .apply(&Var::constant(tensor::from_vec(&[4, 2], vec![1.0, -2.0, 3.0, 0.0, 5.0, 2.0, 7.0, 4.0]).unwrap()))
        .unwrap();
    // Normalized ±1.34 and ±0.447 snap to ±1 and 0.
    assert_eq!(out.value().iter().copied().collect::<Vec<_>>(), [-1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
}

/// A sampler that appends a fixed X on qubit 1, to check the layer's plumbing exactly.
#[derive(Debug)]
struct AppendX;

impl CircuitSampler for AppendX {
    fn sample(&self, circuit: &Circuit, seed: u64) -> tinylab_quantum::Result<Circuit> {
        let mut c = circuit.clone();
        if seed.is_multiple_of(2) {
            c.x(1)?;
        } else {
            c.z(0)?;
        }
        Ok(c)
    }
}

/// With a sampled backend, training passes evaluate and differentiate each row's drawn circuit
/// exactly (compared with adjoint on that circuit), and evaluation passes run the circuit itself.
#[test]
fn sampled_layer_differentiates_each_drawn_circuit() {
    let mut c = Circuit::new(2);
    c.ry(Angle::input(0), 0).unwrap().ry(Angle::input(1), 1).unwrap();
    let a = c.param("a").unwrap();
    let b = c.param("b").unwrap();
    c.rx(a, 0).unwrap().cx(0, 1).unwrap().ry(b, 1).unwrap();
    let obs = vec![PauliSum::z(0).unwrap(), PauliSum::z(1).unwrap()];
    let sampler = std::sync::Arc::new(AppendX);
    let mut layer = QuantumLayer::new(c.clone(), obs.clone(), 3).unwrap().with_backend(LayerBackend::Sampled {
        sampler: sampler.clone(),
        seed: 42,
        options: SimOptions::default(),
    });
    let inputs = [0.3f32, 1.1, -0.7, 2.0, 1.4, 0.2];
    let x = Var::constant(tensor::from_vec(&[3, 2], inputs.to_vec()).unwrap());
    let mut ctx = Ctx::train(0);
    let out = layer.forward(&x, &mut ctx).unwrap();
    let cot = [0.5f32, -1.0, 0.25, 2.0, -0.3, 0.8];
    let cv = Var::constant(tensor::from_vec(&[3, 2], cot.to_vec()).unwrap());
    tinylab_classical::ops::sum(&tinylab_classical::ops::mul(&out, &cv).unwrap()).backward().unwrap();
    let mut grads = Vec::new();
    tinylab_classical::nn::accumulate_grads(&mut layer, &ctx);
    layer.visit_params("", &mut |_, p| grads = p.grad.as_ref().unwrap().iter().copied().collect());
    // Reference: the seeds the layer uses for call 0, row b.
    let params = layer.weights_f64();
    let call_seed = tinylab_classical::seed::derive(42, &[0]);
    let mut want = [0.0f64; 2];
    for row in 0..3 {
        let drawn = sampler.sample(&c, tinylab_classical::seed::derive(call_seed, &[row as u64])).unwrap();
        let xs: Vec<f64> = inputs[2 * row..2 * row + 2].iter().map(|&v| v as f64).collect();
        let values = tinylab_quantum::grad::Estimator::expectations(
            &StatevectorEstimator::default(),
            &drawn,
            &params,
            &xs,
            &obs,
            0,
        )
        .unwrap();
        for (k, v) in values.iter().enumerate() {
            assert!((v - out.value()[[row, k]] as f64).abs() < 1e-6);
        }
        let combined = PauliSum::combination(&obs, &[cot[2 * row] as f64, cot[2 * row + 1] as f64]);
        let g = adjoint(&drawn, &params, &xs, &combined, Wrt::PARAMS, &SimOptions::default()).unwrap();
        want[0] += g.params[0];
        want[1] += g.params[1];
    }
    for (k, (g, w)) in grads.iter().zip(want).enumerate() {
        assert!((*g as f64 - w).abs() < 1e-5, "param {k}: {g} vs {w}");
    }
    // Evaluation passes: the circuit itself.
    let eval = layer.forward(&x, &mut Ctx::eval()).unwrap();
    let exact = QuantumLayer::new(c, obs, 3).unwrap().forward(&x, &mut Ctx::eval()).unwrap();
    assert_eq!(eval.value(), exact.value());
}

/// A classifier needs blocks whose widths chain; a block refuses inputs that are not whole rows.
#[test]
fn classifier_checks_block_widths_and_inputs() {
    use tinylab_noise::robust::nat::{NatBlock, NatClassifier};
    let profile = tinylab_noise::DeviceProfile::builtin("manila").unwrap();
    let block = |inputs: usize, outputs: usize| {
        let mut c = Circuit::new(3);
        for i in 0..inputs {
            c.ry(Angle::input(i), i % 3).unwrap();
        }
        let t = c.param("t").unwrap();
        c.rzz(t, 0, 1).unwrap().cx(1, 2).unwrap();
        let obs: Vec<PauliSum> = (0..outputs).map(|q| PauliSum::z(q).unwrap()).collect();
        NatBlock::new(&c, &obs, &profile, None, PostProcess::default(), 1).unwrap()
    };
    assert!(NatClassifier::new(Vec::new()).is_err());
    let err = NatClassifier::new(vec![block(2, 3), block(2, 2)]).unwrap_err().to_string();
    assert!(err.contains("block 1") && err.contains('3') && err.contains('2'), "{err}");
    let model = NatClassifier::new(vec![block(2, 3), block(3, 2)]).unwrap();
    assert!(model.device_logits(&[0.1, 0.2, 0.3], None, 0).is_err());
    let logits = model.device_logits(&[0.1, 0.2, 0.3, 0.4], None, 0).unwrap();
    assert_eq!(logits.len(), 4);
    assert!(logits.iter().all(|v| v.abs() <= 1.0));
}
