//! QOC (Wang et al., DAC 2022): the magnitude-weighted sampler of probabilistic gradient pruning
//! (exact counts, zero magnitudes last, keep frequencies against the closed form `w_i / Σ w` of a
//! single draw and increasing with magnitude), the accumulation/pruning schedule, the chip's
//! execution ledger against a count of the compiled circuit's angles, the chip's loss gradient
//! against finite differences of the exact noisy loss, and seeded, reproducible training.

use proptest::prelude::*;
use tinylab_classical::optim::LrSchedule;
use tinylab_noise::DeviceProfile;
use tinylab_noise::robust::DeviceCircuit;
use tinylab_noise::robust::qoc::{
    Chip, GradientPruner, OnChipTrainer, Phase, PruningConfig, QocConfig, chip_loss_gradient, device_accuracy,
    sample_kept,
};
use tinylab_quantum::Circuit;
use tinylab_quantum::circuit::{Angle, AngleSource, Instruction};
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::QuantumLayer;

fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    tinylab_classical::tensor::rng(seed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Exactly `keep` distinct sorted indices, and a zero-magnitude index is kept only when every
    /// positive one is.
    #[test]
    fn sampler_keeps_exactly_and_zeros_last(
        weights in prop::collection::vec(prop_oneof![Just(0.0f64), 0.0f64..5.0], 1..24),
        keep_frac in 0.0f64..=1.0,
        seed in any::<u64>(),
    ) {
        let keep = ((weights.len() as f64) * keep_frac).round() as usize;
        let kept = sample_kept(&weights, keep, &mut rng(seed)).unwrap();
        prop_assert_eq!(kept.len(), keep);
        prop_assert!(kept.windows(2).all(|w| w[0] < w[1]));
        let keeps_zero = kept.iter().any(|&i| weights[i] == 0.0);
        let prunes_positive = (0..weights.len()).any(|i| weights[i] > 0.0 && !kept.contains(&i));
        prop_assert!(!(keeps_zero && prunes_positive), "{weights:?} kept {kept:?}");
    }
}

/// One draw keeps index `i` with probability `w_i / Σ w`: frequencies within 5 standard errors.
#[test]
fn single_draw_frequencies_match_the_weights() {
    let weights = [0.5, 1.0, 2.0, 0.0, 4.5];
    let total: f64 = weights.iter().sum();
    let trials = 20_000;
    let mut counts = [0usize; 5];
    let mut r = rng(7);
    for _ in 0..trials {
        counts[sample_kept(&weights, 1, &mut r).unwrap()[0]] += 1;
    }
    for (i, (&w, &c)) in weights.iter().zip(&counts).enumerate() {
        let p = w / total;
        let sigma = (p * (1.0 - p) / trials as f64).sqrt();
        let f = c as f64 / trials as f64;
        assert!((f - p).abs() <= 5.0 * sigma + 1e-12, "index {i}: frequency {f} vs {p}");
    }
}

/// Keeping half of eight parameters with magnitudes 1..8: the keep frequency increases strictly with
/// magnitude, from well below 1/2 to well above it.
#[test]
fn keep_frequency_increases_with_magnitude() {
    let weights: Vec<f64> = (1..=8).map(|k| k as f64).collect();
    let trials = 40_000;
    let mut counts = [0usize; 8];
    let mut r = rng(11);
    for _ in 0..trials {
        for i in sample_kept(&weights, 4, &mut r).unwrap() {
            counts[i] += 1;
        }
    }
    let freq: Vec<f64> = counts.iter().map(|&c| c as f64 / trials as f64).collect();
    assert!((freq.iter().sum::<f64>() - 4.0).abs() < 1e-9);
    // Adjacent inclusion probabilities differ by at least ~2.5 points; the standard error of a
    // difference of two frequencies is below 0.0035.
    assert!(freq.windows(2).all(|w| w[1] > w[0] + 0.01), "{freq:?}");
    assert!(freq[0] < 0.2 && freq[7] > 0.7, "{freq:?}");
}

#[test]
fn sampler_and_config_errors() {
    assert!(sample_kept(&[1.0, -0.1], 1, &mut rng(0)).is_err());
    assert!(sample_kept(&[1.0, f64::NAN], 1, &mut rng(0)).is_err());
    assert!(sample_kept(&[1.0], 2, &mut rng(0)).is_err());
    assert_eq!(sample_kept(&[0.0, 0.0, 0.0], 2, &mut rng(0)).unwrap().len(), 2);
    let bad = [
        PruningConfig { ratio: 1.0, ..PruningConfig::default() },
        PruningConfig { ratio: -0.1, ..PruningConfig::default() },
        PruningConfig { ratio: f64::NAN, ..PruningConfig::default() },
        PruningConfig { accumulation_window: 0, ..PruningConfig::default() },
    ];
    for config in bad {
        assert!(GradientPruner::new(4, config, 0).is_err(), "{config:?}");
    }
    let mut p = GradientPruner::new(3, PruningConfig::default(), 0).unwrap();
    assert!(p.observe(&[1.0]).is_err());
}

/// `w_a = 2`, `w_p = 3`, `r = 0.5` on 6 parameters: phases A A P P P A ..., all gradients in A, 3 kept
/// in P, magnitudes summed over A only and reset with each cycle, never keeping a parameter whose
/// accumulated magnitude is zero.
#[test]
fn pruner_alternates_windows() {
    let config = PruningConfig { ratio: 0.5, accumulation_window: 2, pruning_window: 3 };
    assert_eq!(config.kept(6), 3);
    assert_eq!(config.kept(7), 4);
    let mut p = GradientPruner::new(6, config, 5).unwrap();
    let g1 = [1.0, -2.0, 0.0, 0.5, 0.0, -3.0];
    let g2 = [-1.0, 0.0, 0.0, 0.5, 0.0, 1.0];
    for cycle in 0..3 {
        assert_eq!(p.phase(), Phase::Accumulate, "cycle {cycle}");
        assert_eq!(p.selection().unwrap(), vec![true; 6]);
        p.observe(&g1).unwrap();
        assert_eq!(p.phase(), Phase::Accumulate);
        p.observe(&g2).unwrap();
        assert_eq!(p.magnitudes(), &[2.0, 2.0, 0.0, 1.0, 0.0, 4.0]);
        for _ in 0..3 {
            assert_eq!(p.phase(), Phase::Prune);
            let mask = p.selection().unwrap();
            assert_eq!(mask.iter().filter(|&&m| m).count(), 3);
            assert!(!mask[2] && !mask[4], "{mask:?}");
            // Pruning-window gradients are not accumulated.
            p.observe(&[9.0; 6]).unwrap();
        }
        assert!(p.magnitudes().iter().all(|&m| m == 0.0));
    }
}

/// Two qubits: features on RY, then U3, RZZ and RY with five parameters; `<Z_0>`, `<Z_1>`.
fn small_layer(seed: u64) -> QuantumLayer {
    let mut c = Circuit::new(2);
    c.ry(Angle::input(0), 0).unwrap().ry(Angle::input(1), 1).unwrap();
    let p: Vec<Angle> = (0..5).map(|k| c.param(&format!("w{k}")).unwrap()).collect();
    c.u3(p[0], p[1], p[2], 0).unwrap().rzz(p[3], 0, 1).unwrap().ry(p[4], 1).unwrap().cx(1, 0).unwrap();
    let obs = vec![PauliSum::z(0).unwrap(), PauliSum::z(1).unwrap()];
    QuantumLayer::new(c, obs, seed).unwrap()
}

fn manila_chip(layer: &QuantumLayer, shots: usize) -> Chip {
    let profile = DeviceProfile::builtin("manila").unwrap();
    let device = DeviceCircuit::new(layer.circuit(), layer.observables(), &profile, Some(&[1, 2])).unwrap();
    Chip::new(device, shots).unwrap()
}

/// Evaluations the two-term rule needs for `selected` on `circuit`: two per angle that depends on a
/// selected parameter (the compiled circuit has only `rz`-type rotations with parameters).
fn shift_evaluations(circuit: &Circuit, selected: &[bool]) -> u64 {
    let mut n = 0;
    for inst in circuit.instructions() {
        let Instruction::Gate(app) = inst else { continue };
        for a in &app.angles {
            if a.partials(&[], &[]).iter().any(|(s, _)| matches!(s, AngleSource::Param(i) if selected[*i])) {
                n += 2;
            }
        }
    }
    n
}

/// The ledger counts one execution per forward row and per shifted circuit, `shots` shots each.
#[test]
fn chip_counts_every_execution() {
    let layer = small_layer(1);
    let mut chip = manila_chip(&layer, 256);
    let params = layer.weights_f64();
    let inputs = [0.3, 1.2, 2.0, -0.4, 0.9, 0.1];
    chip.run(&params, &inputs, 3, 4).unwrap();
    assert_eq!(chip.executions().circuits, 3);
    assert_eq!(chip.executions().shots, 3 * 256);
    let selected = [true, false, true, true, false];
    let compiled = chip.device().circuit().clone();
    let per_row = shift_evaluations(&compiled, &selected);
    assert!(per_row >= 6, "{per_row}");
    let g = chip.gradient(&params, &inputs[..2], &[0.5, -1.0], &selected, 9).unwrap();
    assert_eq!(g[1], 0.0);
    assert_eq!(g[4], 0.0);
    assert_eq!(chip.executions().circuits, 3 + per_row);
    assert_eq!(chip.executions().shots, (3 + per_row) * 256);
    // A batch step: B forward rows plus B times the shifted circuits.
    let before = chip.executions().circuits;
    chip_loss_gradient(&mut chip, &params, &inputs, &[0, 1, 1], 1.0, &selected, 3).unwrap();
    assert_eq!(chip.executions().circuits - before, 3 * (1 + per_row));
    // And the full gradient costs the full count.
    let all = [true; 5];
    let before = chip.executions().circuits;
    chip.gradient(&params, &inputs[..2], &[1.0, 0.0], &all, 9).unwrap();
    assert_eq!(chip.executions().circuits - before, shift_evaluations(&compiled, &all));
}

#[test]
fn chip_refuses_bad_setups() {
    let layer = small_layer(1);
    let profile = DeviceProfile::builtin("manila").unwrap();
    let device = DeviceCircuit::new(layer.circuit(), layer.observables(), &profile, None).unwrap();
    assert!(Chip::new(device.clone(), 0).is_err());
    let x = vec![PauliSum::from_labels(&[(1.0, "XZ")]).unwrap()];
    let xdev = DeviceCircuit::new(layer.circuit(), &x, &profile, None).unwrap();
    assert!(Chip::new(xdev, 100).is_err());
    let mut chip = Chip::new(device, 100).unwrap();
    let params = layer.weights_f64();
    assert!(chip.run(&params, &[0.1], 1, 0).is_err());
    assert!(chip.gradient(&params, &[0.1, 0.2], &[1.0], &[true; 5], 0).is_err());
    assert!(chip.gradient(&params, &[0.1, 0.2], &[1.0, 1.0], &[true; 4], 0).is_err());
    assert!(chip_loss_gradient(&mut chip, &params, &[0.1, 0.2], &[], 1.0, &[true; 5], 0).is_err());
    assert!(chip_loss_gradient(&mut chip, &params, &[0.1, 0.2], &[2], 1.0, &[true; 5], 0).is_err());
}

/// The exact (density matrix, readout, no shots) batch cross-entropy with logits `s · <Z>`.
fn exact_loss(device: &DeviceCircuit, params: &[f64], inputs: &[f64], labels: &[usize], s: f64) -> f64 {
    let mut total = 0.0;
    for (b, &label) in labels.iter().enumerate() {
        let e = device.expectations(params, &inputs[2 * b..2 * b + 2], None, 0).unwrap();
        let logits: Vec<f64> = e.iter().map(|v| s * v).collect();
        let lse = logits.iter().map(|l| l.exp()).sum::<f64>().ln();
        total += lse - logits[label];
    }
    total / labels.len() as f64
}

/// With many shots, the chip's loss and gradient (selected entries) approach the central finite
/// differences of the exact noisy loss; pruned entries are exactly zero.
#[test]
fn chip_gradient_matches_finite_differences_of_the_noisy_loss() {
    let layer = small_layer(3);
    let shots = 400_000;
    let mut chip = manila_chip(&layer, shots);
    let device = chip.device().clone();
    let params = layer.weights_f64();
    let inputs = [0.3, 1.2, 2.0, -0.4];
    let labels = [1, 0];
    let s = 3.0;
    let selected = [true, true, false, true, true];
    let got = chip_loss_gradient(&mut chip, &params, &inputs, &labels, s as f32, &selected, 17).unwrap();
    let loss = exact_loss(&device, &params, &inputs, &labels, s);
    assert!((got.loss - loss).abs() < 0.01, "{} vs {loss}", got.loss);
    let h = 1e-4;
    for (i, &chosen) in selected.iter().enumerate() {
        if !chosen {
            assert_eq!(got.gradient[i], 0.0);
            continue;
        }
        let (mut plus, mut minus) = (params.clone(), params.clone());
        plus[i] += h;
        minus[i] -= h;
        let fd = (exact_loss(&device, &plus, &inputs, &labels, s) - exact_loss(&device, &minus, &inputs, &labels, s))
            / (2.0 * h);
        // Cotangents are at most s per row; each shifted estimate has standard error <= s / sqrt(shots)
        // and each angle's derivative halves a difference of two (at most two angles per parameter,
        // two rows): 5 sigma ~ 5 * 2 * 2 * s / sqrt(shots), plus f32 rounding of the cotangent.
        let tol = 5.0 * 4.0 * s / (shots as f64).sqrt() + 1e-3;
        assert!((got.gradient[i] - fd).abs() < tol, "param {i}: chip {} vs fd {fd} (tol {tol})", got.gradient[i]);
    }
}

/// Same seed, same weights and ledger; pruning saves executions; the loss goes down on a separable
/// toy task; device accuracy is a fraction in [0, 1] that the trained weights raise.
#[test]
fn training_is_seeded_and_pruning_saves_runs() {
    let layer = small_layer(5);
    // Class 0 near features (0.2, 0.2), class 1 near (2.9, 2.9).
    let inputs: Vec<f64> =
        (0..8).flat_map(|k| if k % 2 == 0 { [0.2 + 0.05 * k as f64, 0.2] } else { [2.9, 2.8] }).collect();
    let labels: Vec<usize> = (0..8).map(|k| k % 2).collect();
    let run = |pruning: Option<PruningConfig>, seed: u64| {
        let config = QocConfig { learning_rate: LrSchedule::Constant { base: 0.1 }, logit_scale: 3.0, pruning };
        let mut t = OnChipTrainer::new(layer.clone(), manila_chip(&layer, 2048), config, seed).unwrap();
        let reports: Vec<_> = (0..12).map(|_| t.step(&inputs, &labels).unwrap()).collect();
        (t.layer().weights_f64(), reports, t.chip().executions())
    };
    let (w1, r1, e1) = run(None, 8);
    let (w2, _, e2) = run(None, 8);
    assert_eq!(w1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), w2.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    assert_eq!(e1, e2);
    let (w3, _, _) = run(None, 9);
    assert_ne!(w1, w3);
    assert!(r1.last().unwrap().loss < r1[0].loss, "{} -> {}", r1[0].loss, r1.last().unwrap().loss);
    assert!(r1.iter().all(|r| r.evaluated == 5 && r.phase.is_none()));

    let (_, rp, ep) = run(Some(PruningConfig::default()), 8);
    assert!(ep.circuits < e1.circuits, "{} vs {}", ep.circuits, e1.circuits);
    for (k, r) in rp.iter().enumerate() {
        let (phase, evaluated) = if k % 3 == 0 { (Phase::Accumulate, 5) } else { (Phase::Prune, 3) };
        assert_eq!(r.phase, Some(phase), "step {k}");
        assert_eq!(r.evaluated, evaluated, "step {k}");
        assert_eq!(r.step_executions.shots, r.step_executions.circuits * 2048);
    }
    assert_eq!(rp.iter().map(|r| r.step_executions.circuits).sum::<u64>(), ep.circuits);

    let device = manila_chip(&layer, 1).device().clone();
    let before = device_accuracy(&device, &layer.weights_f64(), &inputs, &labels, None, 0).unwrap();
    let after = device_accuracy(&device, &w1, &inputs, &labels, None, 0).unwrap();
    assert!((0.0..=1.0).contains(&before));
    assert!(after >= before, "{before} -> {after}");
    assert!(device_accuracy(&device, &w1, &inputs, &labels[..3], None, 0).is_err());
}

/// The chip's circuit must be the layer's, compiled.
#[test]
fn trainer_checks_the_chip_against_the_layer() {
    let layer = small_layer(1);
    let mut other = Circuit::new(2);
    other.ry(Angle::input(0), 0).unwrap().ry(Angle::input(1), 1).unwrap();
    let w = other.param("w").unwrap();
    other.ry(w, 0).unwrap();
    let other = QuantumLayer::new(other, layer.observables().to_vec(), 0).unwrap();
    let chip = manila_chip(&other, 100);
    assert!(OnChipTrainer::new(layer.clone(), chip, QocConfig::default(), 0).is_err());
}
