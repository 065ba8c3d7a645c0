//! QuantumNAS (noise::robust::nas): SubCircuits of the SuperCircuit are the circuits one would build
//! by hand, weight sharing trains only what was sampled, pruned angles are exactly zero and their
//! gates leave the circuit without changing its outputs, and the search is reproducible and keeps to
//! its budget.

use proptest::prelude::*;
use std::f64::consts::PI;
use tinylab_classical::nn::{self, Ctx, Module};
use tinylab_classical::optim::LrSchedule;
use tinylab_classical::{Var, ops, tensor};
use tinylab_noise::DeviceProfile;
use tinylab_noise::robust::nas::evaluate::scores;
use tinylab_noise::robust::nas::{
    Budget, DeviceEvaluator, EvolutionSettings, Labelled, LayerKind, Sampling, SearchProblem, SubCircuitConfig,
    SuperCircuit, SuperCircuitModel, TrainSettings, class_readout, default_groups, drop_identity_gates,
    evolutionary_search, iterative_prune, noiseless_scores, random_search, train, wrap_angle,
};
use tinylab_quantum::circuit::Instruction;
use tinylab_quantum::grad::batch_expectations;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::encoders;
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{Angle, Circuit};

fn encoder() -> Circuit {
    let mut c = Circuit::new(4);
    encoders::ryzxy_4x4(&mut c).unwrap();
    c
}

fn readout(n: usize) -> Vec<PauliSum> {
    (0..n).map(|q| PauliSum::z(q).unwrap()).collect()
}

fn supercircuit(blocks: usize) -> SuperCircuit {
    SuperCircuit::new(encoder(), vec![LayerKind::U3, LayerKind::Rzz], blocks, 1).unwrap()
}

/// A deterministic spread of feature rows in `[0, π]`.
fn rows(n: usize) -> Vec<f64> {
    (0..n * 16).map(|k| ((k * 37 + 11) % 29) as f64 / 28.0 * PI).collect()
}

fn labelled(n: usize, classes: usize) -> Labelled {
    let features = rows(n).iter().map(|&v| v as f32).collect();
    Labelled::new(features, 16, (0..n).map(|i| i % classes).collect()).unwrap()
}

fn weights(n: usize, seed: usize) -> Vec<f64> {
    (0..n).map(|k| (((k + seed) * 53 % 41) as f64 - 20.0) * 0.15 + 0.01).collect()
}

/// The SubCircuit of widths `[[2, 3], [4, 1]]` is the encoder, `U3` on qubits 0 and 1, `RZZ` on
/// (0,1), (1,2), (2,3), `U3` on all four qubits and `RZZ` on (0,1), written out by hand: identical
/// expectation values bit for bit, with the weights taken from the SuperCircuit by index.
#[test]
fn subcircuit_equals_the_circuit_built_by_hand() {
    let sc = supercircuit(3);
    let config = SubCircuitConfig { widths: vec![vec![2, 3], vec![4, 1]] };
    let sub = sc.build(&config).unwrap();
    let all = weights(sc.n_params(), 3);
    let w = sub.inherit(&all).unwrap();

    let mut hand = encoder();
    let mut next = 0;
    let mut p = |c: &mut Circuit| {
        next += 1;
        c.param(&format!("x{next}")).unwrap()
    };
    for q in 0..2 {
        let (a, b, d) = (p(&mut hand), p(&mut hand), p(&mut hand));
        hand.u3(a, b, d, q).unwrap();
    }
    for (a, b) in [(0, 1), (1, 2), (2, 3)] {
        let t = p(&mut hand);
        hand.rzz(t, a, b).unwrap();
    }
    for q in 0..4 {
        let (a, b, d) = (p(&mut hand), p(&mut hand), p(&mut hand));
        hand.u3(a, b, d, q).unwrap();
    }
    let t = p(&mut hand);
    hand.rzz(t, 0, 1).unwrap();
    // The SuperCircuit's parameter layout: block 0 = 4 U3 (12 angles) + 4 RZZ, block 1 the same.
    let mut expected_index: Vec<usize> = (0..6).collect();
    expected_index.extend(12..15);
    expected_index.extend(16..28);
    expected_index.push(28);
    assert_eq!(sub.super_index, expected_index);
    let hand_w: Vec<f64> = expected_index.iter().map(|&i| all[i]).collect();
    assert_eq!(w, hand_w);

    let x = rows(6);
    let got = batch_expectations(&sub.circuit, &w, &x, &readout(4), &SimOptions::default()).unwrap();
    let want = batch_expectations(&hand, &hand_w, &x, &readout(4), &SimOptions::default()).unwrap();
    assert_eq!(got, want);

    // The model's forward pass on the active SubCircuit is the standalone layer's.
    let mut model = SuperCircuitModel::new(sc.clone(), readout(2), 5).unwrap();
    model.activate(&config).unwrap();
    let mut standalone = model.standalone().unwrap();
    let xt = Var::constant(tensor::from_vec(&[6, 16], x.iter().map(|&v| v as f32).collect()).unwrap());
    let a = model.forward(&xt, &mut Ctx::eval()).unwrap();
    let b = standalone.forward(&xt, &mut Ctx::eval()).unwrap();
    assert_eq!(a.value(), b.value());
}

/// The gradient the model's backward pass gives a shared parameter is the derivative of the loss:
/// central differences of the exact (f64) cross-entropy of the standalone SubCircuit.
#[test]
fn shared_parameter_gradients_match_finite_differences() {
    let sc = supercircuit(2);
    let mut model = SuperCircuitModel::new(sc, readout(2), 9).unwrap();
    let config = SubCircuitConfig { widths: vec![vec![3, 2], vec![1, 4]] };
    model.activate(&config).unwrap();
    let data = labelled(5, 2);
    let xt = Var::constant(tensor::from_vec(&[5, 16], data.features().to_vec()).unwrap());
    let mut ctx = Ctx::train(0);
    let loss = ops::cross_entropy(&model.forward(&xt, &mut ctx).unwrap(), data.labels()).unwrap();
    loss.backward().unwrap();
    nn::zero_grads(&mut model);
    nn::accumulate_grads(&mut model, &ctx);
    let mut grads = std::collections::BTreeMap::new();
    model.visit_params("", &mut |name, p| {
        grads.insert(name, p.grad.clone());
    });
    let sub = model.active().clone();
    let w = model.active_weights();
    let loss_at = |w: &[f64]| noiseless_scores(&sub.circuit, w, model.observables(), &data).unwrap().loss;
    let h = 1e-5;
    for (i, name) in sub.circuit.param_names().iter().enumerate() {
        let (gate, k) = name.rsplit_once('.').unwrap();
        let k: usize = k.parse().unwrap();
        let (mut up, mut down) = (w.clone(), w.clone());
        up[i] += h;
        down[i] -= h;
        let numeric = (loss_at(&up) - loss_at(&down)) / (2.0 * h);
        let analytic = grads[gate].as_ref().expect("an active gate has a gradient")[k] as f64;
        assert!((numeric - analytic).abs() < 2e-4, "{name}: numeric {numeric} vs backward {analytic}");
    }
    // Gates outside the active SubCircuit get no gradient at all.
    let active: Vec<String> = model.active_param_names();
    for (name, g) in &grads {
        assert_eq!(g.is_some(), active.contains(name), "{name}");
    }
}

/// Fine-tuning one SubCircuit moves its parameters and no other; SuperCircuit training with random
/// sampling is reproducible from its seed.
#[test]
fn training_moves_only_the_sampled_parameters() {
    let zz_u3 = SuperCircuit::new(encoder(), vec![LayerKind::Rzz, LayerKind::U3], 3, 1).unwrap();
    let mut model = SuperCircuitModel::new(zz_u3, readout(2), 1).unwrap();
    let config = SubCircuitConfig { widths: vec![vec![1, 2]] };
    model.activate(&config).unwrap();
    let before = model.weights();
    let settings = TrainSettings { epochs: 1, batch_size: 4, lr: LrSchedule::Constant { base: 0.05 }, seed: 3 };
    train(&mut model, &labelled(8, 2), &settings, Sampling::Active, &mut |_| {}).unwrap();
    let after = model.weights();
    // Parameters outside the SubCircuit keep their bits. Inside, the RZZ angle and the U3 polar
    // angles move; the U3 azimuths `φ` cannot: `U3(θ, φ, λ) = RZ(φ) RY(θ) RZ(λ)` up to a phase, and
    // a last `RZ` commutes with the Z read-out (zero gradient).
    let sub = model.active();
    for i in 0..before.len() {
        if !sub.super_index.contains(&i) {
            assert_eq!(before[i], after[i], "parameter {i}");
        }
    }
    for (name, &i) in sub.circuit.param_names().iter().zip(&sub.super_index) {
        if name.ends_with(".0") {
            assert_ne!(before[i], after[i], "{name}");
        }
    }

    let run = || {
        let mut m = SuperCircuitModel::new(supercircuit(3), readout(2), 1).unwrap();
        let losses = train(&mut m, &labelled(12, 2), &settings, Sampling::Random, &mut |_| {}).unwrap();
        (losses, m.weights())
    };
    assert_eq!(run(), run());
}

/// `drop_identity_gates` removes exactly the gates that are identities: `rzz(0)` and `u3(0, 0, 0)` go,
/// `u3(0, 0.3, 0)` (a phase) and `u2(0, 0)` (not the identity) stay, gates on inputs stay; the
/// parameters left are renumbered in order with their names, and the outputs do not change.
#[test]
fn identity_gates_are_dropped_and_parameters_renumbered() {
    let mut c = encoder();
    let names = ["a", "b", "c", "d", "e", "f", "g"];
    let p: Vec<Angle> = names.iter().map(|n| c.param(n).unwrap()).collect();
    c.rx(p[0], 0).unwrap();
    c.rzz(p[1], 0, 1).unwrap();
    c.u3(p[2], p[3], p[4], 2).unwrap();
    c.u3(p[2], p[5], p[2], 3).unwrap();
    c.u2(0.0, 0.0, 1).unwrap();
    c.cx(1, 2).unwrap();
    c.ry(p[6], 3).unwrap();
    c.rz(Angle::input(3), 3).unwrap();
    let params = [0.7, 0.0, 0.0, 0.0, 0.0, 0.3, -1.2];
    let (dropped, kept) = drop_identity_gates(&c, &params).unwrap();
    assert_eq!(c.instructions().len() - dropped.instructions().len(), 2);
    assert_eq!(dropped.param_names(), ["a", "c", "f", "g"]);
    assert_eq!(kept, [0.7, 0.0, 0.3, -1.2]);
    let x = rows(4);
    let want = batch_expectations(&c, &params, &x, &readout(4), &SimOptions::default()).unwrap();
    let got = batch_expectations(&dropped, &kept, &x, &readout(4), &SimOptions::default()).unwrap();
    for (a, b) in want.iter().zip(&got) {
        assert!((a - b).abs() < 1e-12, "{want:?} vs {got:?}");
    }
    assert!(drop_identity_gates(&c, &params[..3]).is_err());
}

/// Iterative pruning reaches each sparsity exactly, pruned angles are exactly zero after
/// fine-tuning, the sparsity never falls, and the compiled circuit of the pruned model has no more
/// gates than the dense one while its noiseless outputs equal those of the pruned weights on the
/// unpruned circuit.
#[test]
fn pruned_angles_are_zero_and_their_gates_leave_the_circuit() {
    let mut model = SuperCircuitModel::new(supercircuit(2), readout(2), 4).unwrap();
    model.activate(&SubCircuitConfig { widths: vec![vec![4, 4], vec![2, 3]] }).unwrap();
    let dense = model.active_weights();
    let total = dense.len();
    let data = labelled(8, 2);
    let settings = TrainSettings { epochs: 1, batch_size: 4, lr: LrSchedule::Constant { base: 0.02 }, seed: 1 };
    let targets = [0.3, 0.5, 0.8];
    let steps = iterative_prune(&mut model, &data, &targets, &settings, &mut |_| {}).unwrap();
    let circuit = model.active().circuit.clone();
    let profile = DeviceProfile::builtin("manila").unwrap();
    let evaluator = DeviceEvaluator::new(&profile, readout(2)).unwrap();
    let layout = [0, 1, 2, 3];
    let dense_stats = evaluator.compile(&circuit, &dense, &layout).unwrap().stats();
    let mut last = 0;
    for (step, &target) in steps.iter().zip(&targets) {
        assert_eq!(step.total, total);
        assert_eq!(step.pruned, (target * total as f64).round() as usize);
        assert_eq!(step.weights.iter().filter(|&&w| w == 0.0).count(), step.pruned);
        assert!(step.pruned >= last);
        last = step.pruned;
        let (dropped, kept) = drop_identity_gates(&circuit, &step.weights).unwrap();
        let all_zero = circuit
            .instructions()
            .iter()
            .filter(|inst| match inst {
                Instruction::Gate(app) => {
                    app.angles.iter().all(|a| matches!(a, Angle::Param { .. }) && a.resolve(&step.weights, &[]) == 0.0)
                }
                _ => false,
            })
            .count();
        assert_eq!(circuit.instructions().len() - dropped.instructions().len(), all_zero);
        assert_eq!(kept.len(), dropped.n_params());
        let x = rows(3);
        let want = batch_expectations(&circuit, &step.weights, &x, &readout(2), &SimOptions::default()).unwrap();
        let got = batch_expectations(&dropped, &kept, &x, &readout(2), &SimOptions::default()).unwrap();
        for (a, b) in want.iter().zip(&got) {
            assert!((a - b).abs() < 1e-12);
        }
        let stats = evaluator.compile(&circuit, &step.weights, &layout).unwrap().stats();
        assert!(stats.gates() <= dense_stats.gates(), "{stats:?} vs {dense_stats:?}");
    }
    // Every gate of a fully pruned SubCircuit leaves: no two-qubit gate is left (nothing to route).
    let zeros = vec![0.0; total];
    assert_eq!(evaluator.compile(&circuit, &zeros, &layout).unwrap().stats().two_qubit_gates, 0);
    assert!(iterative_prune(&mut model, &data, &[0.5, 0.2], &settings, &mut |_| {}).is_err());
}

/// The cross-entropy and accuracy of two rows of logits, by hand: `ln(1 + e^{-1})` for a row
/// `(1, 0)` of class 0 and `ln(1 + e^{1})` for `(0.5, -0.5)` of class 1 (misclassified).
#[test]
fn scores_are_mean_cross_entropy_and_accuracy() {
    let s = scores(&[1.0, 0.0, 0.5, -0.5], 2, &[0, 1]);
    let want = ((1.0 + (-1.0f64).exp()).ln() + (1.0 + 1.0f64.exp()).ln()) / 2.0;
    assert!((s.loss - want).abs() < 1e-14);
    assert_eq!(s.accuracy, 0.5);
}

/// The scaled, grouped readout is the raw `<Z_q>` summed per group and multiplied by the scale:
/// noiseless and on the device's density matrix (readout error included) alike, the logits of
/// `class_readout([[0, 1], [2, 3]], 5)` are `5 (<Z0> + <Z1>)` and `5 (<Z2> + <Z3>)` of the same
/// circuit; and the scores follow from those logits.
#[test]
fn scaled_group_readout_is_the_scaled_sum_of_z() {
    let groups = default_groups(2, 4);
    assert_eq!(groups, vec![vec![0, 1], vec![2, 3]]);
    assert_eq!(default_groups(4, 4), vec![vec![0], vec![1], vec![2], vec![3]]);
    let scaled = class_readout(&groups, 5.0).unwrap();
    let sc = supercircuit(2);
    let sub = sc.build(&sc.full_config()).unwrap();
    let w = weights(sc.n_params(), 7);
    let data = labelled(6, 2);
    let inputs: Vec<f64> = data.features().iter().map(|&v| v as f64).collect();
    let opts = SimOptions::default();
    let raw = batch_expectations(&sub.circuit, &w, &inputs, &readout(4), &opts).unwrap();
    let got = batch_expectations(&sub.circuit, &w, &inputs, &scaled, &opts).unwrap();
    let want: Vec<f64> = raw.chunks(4).flat_map(|z| [5.0 * (z[0] + z[1]), 5.0 * (z[2] + z[3])]).collect();
    for (g, e) in got.iter().zip(&want) {
        assert!((g - e).abs() < 1e-12, "{g} vs {e}");
    }
    let noiseless = noiseless_scores(&sub.circuit, &w, &scaled, &data).unwrap();
    assert_eq!(noiseless, scores(&got, 2, data.labels()));

    let profile = DeviceProfile::builtin("manila").unwrap();
    let raw_dev = DeviceEvaluator::new(&profile, readout(4)).unwrap();
    let scaled_dev = DeviceEvaluator::new(&profile, scaled).unwrap();
    let layout = [1, 2, 3, 4];
    let (a, b) =
        (raw_dev.compile(&sub.circuit, &w, &layout).unwrap(), scaled_dev.compile(&sub.circuit, &w, &layout).unwrap());
    let mut logits = Vec::new();
    for i in 0..data.len() {
        let z = a.expectations(&[], &inputs[i * 16..(i + 1) * 16], None, 0).unwrap();
        let s = b.expectations(&[], &inputs[i * 16..(i + 1) * 16], None, 0).unwrap();
        for (g, e) in s.iter().zip([5.0 * (z[0] + z[1]), 5.0 * (z[2] + z[3])]) {
            assert!((g - e).abs() < 1e-10, "device: {g} vs {e}");
        }
        logits.extend(s);
    }
    let device = scaled_dev.scores(&b, &data, None, 0).unwrap();
    let want = scores(&logits, 2, data.labels());
    assert!((device.loss - want.loss).abs() < 1e-12 && device.accuracy == want.accuracy);

    assert!(class_readout(&[], 1.0).is_err());
    assert!(class_readout(&[vec![0], vec![]], 1.0).is_err());
    assert!(class_readout(&groups, 0.0).is_err() && class_readout(&groups, f64::NAN).is_err());
}

/// `regular(P)` (the human-designed baseline) has exactly `P` parameters for every `P` in a
/// `U3 + RZZ` space, filled block by block.
#[test]
fn regular_designs_have_the_asked_parameter_count() {
    let sc = supercircuit(3);
    for n in 1..=sc.n_params() {
        let (config, count) = sc.regular(n).unwrap();
        assert_eq!(count, n);
        assert_eq!(sc.build(&config).unwrap().circuit.n_params(), n);
    }
    let (config, _) = sc.regular(16).unwrap();
    assert_eq!(config.widths, vec![vec![4, 4]]);
    assert!(sc.regular(0).is_err() && sc.regular(sc.n_params() + 1).is_err());
}

fn search_setup(blocks: usize) -> (SuperCircuitModel, DeviceEvaluator, Labelled) {
    let mut model = SuperCircuitModel::new(supercircuit(blocks), readout(2), 2).unwrap();
    let settings = TrainSettings { epochs: 1, batch_size: 4, lr: LrSchedule::Constant { base: 0.05 }, seed: 2 };
    train(&mut model, &labelled(8, 2), &settings, Sampling::Random, &mut |_| {}).unwrap();
    let evaluator = DeviceEvaluator::new(&DeviceProfile::builtin("manila").unwrap(), readout(2)).unwrap();
    (model, evaluator, labelled(4, 2))
}

/// The same seed gives the same search, every evaluated candidate keeps to the budget (recompiled
/// here), and random search evaluates exactly as many distinct candidates as asked.
#[test]
fn search_is_reproducible_and_keeps_to_its_budget() {
    let (model, evaluator, validation) = search_setup(3);
    let budget = Budget { max_two_qubit_gates: Some(14), max_depth: None };
    let problem = SearchProblem { model: &model, evaluator: &evaluator, validation: &validation, budget };
    let settings = EvolutionSettings {
        population: 4,
        parents: 2,
        mutations: 2,
        crossovers: 2,
        iterations: 3,
        mutation_prob: 0.4,
        seed: 5,
    };
    let a = evolutionary_search(problem, &settings, &mut |_| {}).unwrap();
    let b = evolutionary_search(problem, &settings, &mut |_| {}).unwrap();
    assert_eq!(a, b);
    assert!(a.evaluated.len() >= 4);
    let sc = model.supercircuit();
    for s in &a.evaluated {
        let sub = sc.build(&s.candidate.arch.config()).unwrap();
        let w = sub.inherit(&model.weights()).unwrap();
        let stats = evaluator.compile(&sub.circuit, &w, &s.candidate.layout).unwrap().stats();
        assert_eq!(stats, s.stats);
        assert!(stats.two_qubit_gates <= 14, "{stats:?}");
        let mut layout = s.candidate.layout.clone();
        layout.sort_unstable();
        layout.dedup();
        assert_eq!(layout.len(), 4, "an injective layout: {:?}", s.candidate.layout);
    }
    assert!(a.best_so_far().windows(2).all(|w| w[1] <= w[0]));
    assert_eq!(a.best().scores.loss, *a.best_so_far().last().unwrap());

    let r = random_search(problem, 5, 8, &mut |_| {}).unwrap();
    assert_eq!(r.evaluated.len(), 5);
    assert!(r.evaluated.iter().all(|s| s.stats.two_qubit_gates <= 14));

    // No SubCircuit with an RZZ in every block fits in zero two-qubit gates.
    let impossible = SearchProblem { budget: Budget { max_two_qubit_gates: Some(0), max_depth: None }, ..problem };
    assert!(random_search(impossible, 1, 0, &mut |_| {}).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any SubCircuit is the full SuperCircuit with the angles of the gates it leaves out set to
    /// zero: dropping those identity gates from the full circuit gives the SubCircuit's circuit
    /// exactly (same gates, names and parameter order) and the inherited weights.
    #[test]
    fn a_subcircuit_is_the_supercircuit_with_the_rest_zeroed(
        seed in 0u64..1000,
        kinds in prop::sample::select(vec![
            vec![LayerKind::U3, LayerKind::Rzz],
            vec![LayerKind::Rzz, LayerKind::Ry],
            vec![LayerKind::Rx, LayerKind::Rz, LayerKind::Rzz],
        ]),
    ) {
        let sc = SuperCircuit::new(encoder(), kinds, 3, 0).unwrap();
        let config = sc.sample(&mut tensor::rng(seed));
        let sub = sc.build(&config).unwrap();
        let all = weights(sc.n_params(), seed as usize);
        let mut zeroed = vec![0.0; sc.n_params()];
        for &i in &sub.super_index {
            zeroed[i] = all[i];
        }
        let full = sc.build(&sc.full_config()).unwrap();
        prop_assert_eq!(&full.super_index, &(0..sc.n_params()).collect::<Vec<_>>());
        let (dropped, kept) = drop_identity_gates(&full.circuit, &zeroed).unwrap();
        prop_assert_eq!(&dropped, &sub.circuit);
        prop_assert_eq!(kept, sub.inherit(&all).unwrap());
        let n: usize = config.widths.iter().map(|row| row.iter().zip(sc.layers()).map(|(w, k)| w * k.n_angles()).sum::<usize>()).sum();
        prop_assert_eq!(sub.circuit.n_params(), n);
    }

    /// Wrapping moves an angle by a multiple of 2π into [-π, π) and changes no output of a U3 + RZZ
    /// SubCircuit.
    #[test]
    fn wrapping_angles_changes_no_output(scale in 1.0f64..12.0, seed in 0usize..100) {
        let sc = supercircuit(1);
        let sub = sc.build(&sc.full_config()).unwrap();
        let w: Vec<f64> = weights(sub.circuit.n_params(), seed).iter().map(|v| v * scale).collect();
        let wrapped: Vec<f64> = w.iter().map(|&v| wrap_angle(v)).collect();
        for (&a, &b) in w.iter().zip(&wrapped) {
            prop_assert!((-PI..PI).contains(&b));
            let turns = (a - b) / (2.0 * PI);
            prop_assert!((turns - turns.round()).abs() < 1e-9);
        }
        let x = rows(2);
        let want = batch_expectations(&sub.circuit, &w, &x, &readout(4), &SimOptions::default()).unwrap();
        let got = batch_expectations(&sub.circuit, &wrapped, &x, &readout(4), &SimOptions::default()).unwrap();
        for (a, b) in want.iter().zip(&got) {
            prop_assert!((a - b).abs() < 1e-10);
        }
    }
}

/// The sandwich rule adds the full SuperCircuit's gradient to a drawn SubCircuit's before one Adam
/// step. With a SuperCircuit that has a single SubCircuit (one block, every layer at full width) the
/// two are the same circuit, the summed gradient is twice the plain one, and Adam, which is invariant
/// to the gradient's scale up to its epsilon, moves the weights as plain training does: gradients are
/// cleared once per step and both passes land in the same parameters.
#[test]
fn sandwich_sampling_reduces_to_plain_training_with_one_subcircuit() {
    let single = SuperCircuit::new(encoder(), vec![LayerKind::U3, LayerKind::Rzz], 1, 4).unwrap();
    let data = labelled(24, 2);
    let settings = TrainSettings { epochs: 2, batch_size: 8, lr: LrSchedule::Constant { base: 0.05 }, seed: 4 };
    let mut plain = SuperCircuitModel::new(single.clone(), readout(2), 9).unwrap();
    let mut sandwich = SuperCircuitModel::new(single, readout(2), 9).unwrap();
    let a = train(&mut plain, &data, &settings, Sampling::Active, &mut |_| {}).unwrap();
    let b = train(&mut sandwich, &data, &settings, Sampling::Sandwich, &mut |_| {}).unwrap();
    for (x, y) in plain.weights().iter().zip(sandwich.weights()) {
        assert!((x - y).abs() < 1e-4, "{x} vs {y}");
    }
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-5, "losses {a:?} vs {b:?}");
    }
    assert!(plain.weights() != SuperCircuitModel::new(plain.supercircuit().clone(), readout(2), 9).unwrap().weights());
}
