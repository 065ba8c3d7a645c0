//! `qoc`: on-chip training with parameter shift and probabilistic gradient pruning (Wang et al.,
//! "QOC: Quantum On-Chip Training with Parameter Shift and Gradient Pruning", DAC 2022).
//!
//! The task is QuantumNAS's 3 vs 6: 8x8 digits average-pooled to 4x4, scaled to `[0, π]`, loaded by
//! TorchQuantum's `"4x4_ryzxy"` encoder on 4 qubits, then two hardware-efficient layers (RY and RZ on
//! every qubit, a CX chain: 16 parameters, compiled with symbolic angles onto IBM manila's line),
//! read out as `<Z_0 + Z_1>, <Z_2 + Z_3>` (TorchQuantum's two-class readout: the four `<Z_i>` summed
//! in pairs) times a logit scale of 5. The "chip" is manila's noise model (density matrix, gate
//! errors, readout error) answering only with 1024-shot estimates.
//!
//! From the same initial weights and the same batches, the classifier is trained on the chip twice:
//! with every parameter-shift gradient, and with probabilistic gradient pruning (ratio 0.5,
//! accumulation window 1, pruning window 2), counting every circuit run; Adam's learning rate is
//! cosine-annealed from 0.03 to 0. At checkpoints the test accuracy on the device (exact density
//! matrix with readout error) is plotted against cumulative circuit executions and against steps. For
//! context, the same model trained on the noiseless simulator (exact adjoint gradients, same
//! schedule) is scored on the device at the same checkpoints.

use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{LineChart, Series};
use serde_json::json;
use std::time::Instant;
use tinylab_classical::data::ImageDataset;
use tinylab_classical::nn::{Ctx, Module};
use tinylab_classical::optim::{Adam, LrSchedule, Optimizer};
use tinylab_classical::seed;
use tinylab_classical::{Var, ops, stats, tensor};
use tinylab_noise::DeviceProfile;
use tinylab_noise::robust::DeviceCircuit;
use tinylab_noise::robust::qoc::{Chip, OnChipTrainer, PruningConfig, QocConfig, device_accuracy};
use tinylab_quantum::Circuit;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::tasks::{DIGITS_3_VS_6, PooledDigits, angles_f64};
use tinylab_quantum::qml::{QuantumLayer, ansatz, encoders};

/// The `qoc` experiment (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct Qoc;

/// Fraction of the task's digits used for training (stratified, seeded).
const TRAIN_FRACTION: f64 = 0.8;
/// Hardware-efficient layers (8 parameters each on 4 qubits).
const LAYERS: usize = 2;
/// Shots per circuit execution on the chip.
const SHOTS: usize = 1024;
/// Adam's peak learning rate, cosine-annealed to zero over the run.
const LR: f32 = 0.03;
/// Logits are this times the two readouts.
const LOGIT_SCALE: f32 = 5.0;
/// The device.
const DEVICE: &str = "manila";
/// Training runs from different initial weights and shot seeds in the full run.
const TRIALS: usize = 3;

/// One training run's curve: `(step, circuit executions so far, test accuracy on the device)`.
#[derive(Debug, Clone, Default)]
struct Curve {
    points: Vec<(usize, u64, f64)>,
    losses: Vec<f64>,
    shots: u64,
    seconds: f64,
}

impl Curve {
    fn final_accuracy(&self) -> f64 {
        self.points.last().map_or(f64::NAN, |p| p.2)
    }

    fn executions(&self) -> u64 {
        self.points.last().map_or(0, |p| p.1)
    }

    /// Executions at the first checkpoint reaching `accuracy`, if any.
    fn executions_to_reach(&self, accuracy: f64) -> Option<u64> {
        self.points.iter().find(|p| p.2 >= accuracy - 1e-12).map(|p| p.1)
    }

    /// Best accuracy at a checkpoint within `budget` executions.
    fn best_within(&self, budget: u64) -> f64 {
        self.points.iter().filter(|p| p.1 <= budget).map(|p| p.2).fold(f64::NAN, f64::max)
    }
}

/// The fixed schedule every run follows.
struct Schedule {
    batches: Vec<(Vec<f64>, Vec<usize>)>,
    learning_rate: LrSchedule,
    eval_every: usize,
}

impl Schedule {
    fn is_checkpoint(&self, step: usize) -> bool {
        step.is_multiple_of(self.eval_every) || step == self.batches.len()
    }
}

/// Test accuracy on the device, exact density matrix with readout error.
struct TestSet<'a> {
    device: &'a DeviceCircuit,
    inputs: Vec<f64>,
    labels: Vec<usize>,
}

impl TestSet<'_> {
    fn accuracy(&self, weights: &[f64]) -> Result<f64, ExperimentError> {
        Ok(device_accuracy(self.device, weights, &self.inputs, &self.labels, None, 0)?)
    }
}

fn progress(len: usize, label: &str, quick: bool) -> indicatif::ProgressBar {
    if quick {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg:>14} {bar:40} {pos}/{len} steps [{elapsed} < {eta}]")
    {
        bar.set_style(style);
    }
    bar.set_message(label.to_string());
    bar
}

/// On-chip training from `layer`'s weights, with or without pruning.
fn train_on_chip(
    layer: &QuantumLayer,
    chip: Chip,
    pruning: Option<PruningConfig>,
    schedule: &Schedule,
    test: &TestSet,
    seed: u64,
    quick: bool,
) -> Result<Curve, ExperimentError> {
    let config = QocConfig { learning_rate: schedule.learning_rate, logit_scale: LOGIT_SCALE, pruning };
    let mut trainer = OnChipTrainer::new(layer.clone(), chip, config, seed)?;
    let mut curve = Curve { points: vec![(0, 0, test.accuracy(&layer.weights_f64())?)], ..Curve::default() };
    let bar = progress(schedule.batches.len(), if pruning.is_some() { "pruned" } else { "all gradients" }, quick);
    let start = Instant::now();
    for (k, (x, y)) in schedule.batches.iter().enumerate() {
        let report = trainer.step(x, y)?;
        curve.losses.push(report.loss);
        if schedule.is_checkpoint(k + 1) {
            let accuracy = test.accuracy(&trainer.layer().weights_f64())?;
            curve.points.push((k + 1, report.total_executions.circuits, accuracy));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    curve.seconds = start.elapsed().as_secs_f64();
    curve.shots = trainer.chip().executions().shots;
    Ok(curve)
}

/// The same model trained on the noiseless simulator (adjoint gradients), scored on the device.
fn train_noiseless(
    layer: &QuantumLayer,
    schedule: &Schedule,
    test: &TestSet,
    quick: bool,
) -> Result<Curve, ExperimentError> {
    let mut layer = layer.clone();
    let mut optimizer = Adam::new(0.0);
    let mut curve = Curve { points: vec![(0, 0, test.accuracy(&layer.weights_f64())?)], ..Curve::default() };
    let bar = progress(schedule.batches.len(), "noiseless", quick);
    let start = Instant::now();
    for (k, (x, y)) in schedule.batches.iter().enumerate() {
        let x = tensor::from_vec(&[y.len(), 16], x.iter().map(|&v| v as f32).collect())?;
        let mut ctx = Ctx::train(0);
        let logits = ops::scale(&layer.forward(&Var::constant(x), &mut ctx)?, LOGIT_SCALE);
        let loss = ops::cross_entropy(&logits, y)?;
        curve.losses.push(loss.item()? as f64);
        optimizer.backward_step(&mut layer, &loss, &ctx, schedule.learning_rate.at(k))?;
        if schedule.is_checkpoint(k + 1) {
            curve.points.push((k + 1, 0, test.accuracy(&layer.weights_f64())?));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    curve.seconds = start.elapsed().as_secs_f64();
    Ok(curve)
}

/// The batches of `steps` steps: seeded shuffles of the training set, epoch after epoch.
fn schedule(
    train: &ImageDataset,
    batch: usize,
    steps: usize,
    eval_every: usize,
    seed: u64,
) -> Result<Schedule, ExperimentError> {
    let mut batches = Vec::with_capacity(steps);
    let mut epoch = 0u64;
    while batches.len() < steps {
        let order = train.batches(batch, Some(seed::derive(seed, &[100 + epoch])))?;
        for (images, labels) in order {
            if batches.len() == steps {
                break;
            }
            batches.push((angles_f64(images.iter()), labels));
        }
        epoch += 1;
    }
    let learning_rate = LrSchedule::Cosine { base: LR, min: 0.0, warmup: 0, total: steps };
    Ok(Schedule { batches, learning_rate, eval_every })
}

impl Experiment for Qoc {
    fn name(&self) -> &'static str {
        "qoc"
    }

    fn description(&self) -> &'static str {
        "QOC (Wang et al., DAC 2022): a 4-qubit digits 3-vs-6 classifier trained on IBM manila's noise model from \
         1024-shot parameter-shift gradients, with and without probabilistic gradient pruning: device test accuracy \
         vs circuit executions"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let (steps, batch, eval_every, max_test) = if ctx.quick { (6, 4, 3, 24) } else { (300, 16, 20, usize::MAX) };
        let pruning = PruningConfig::default();
        ctx.set_config("task", "digits 3 vs 6, 8x8 average-pooled to 4x4, scaled to [0, pi]");
        ctx.set_config("encoder", "4x4_ryzxy");
        ctx.set_config("ansatz", format!("hardware-efficient (RY, RZ on every qubit, CX chain) x {LAYERS}"));
        ctx.set_config("readout", "<Z_0 + Z_1>, <Z_2 + Z_3> as logits (times logit_scale)");
        ctx.set_config("logit_scale", LOGIT_SCALE);
        ctx.set_config("device", DEVICE);
        ctx.set_config("shots_per_execution", SHOTS);
        ctx.set_config("steps", steps);
        ctx.set_config("batch_size", batch);
        ctx.set_config("learning_rate", format!("{LR}, cosine-annealed to 0 over the steps"));
        ctx.set_config("optimizer", "Adam (0.9, 0.999), pruned gradients set to zero");
        ctx.set_config("eval_every_steps", eval_every);
        ctx.set_config("train_fraction", TRAIN_FRACTION);
        ctx.set_config(
            "pruning",
            json!({"ratio": pruning.ratio, "accumulation_window": pruning.accumulation_window,
                   "pruning_window": pruning.pruning_window}),
        );
        ctx.set_config(
            "test_evaluation",
            "exact density matrix of the device with readout error, argmax of the two readouts",
        );

        let PooledDigits { train, test } = PooledDigits::new(&DIGITS_3_VS_6, TRAIN_FRACTION, ctx.seed)?;
        let n_test = test.len().min(max_test);
        let mut circuit = Circuit::new(4);
        encoders::ryzxy_4x4(&mut circuit)?;
        ansatz::hardware_efficient(&mut circuit, LAYERS, "w")?;
        // TorchQuantum's two-class readout: the four <Z_i> summed in pairs.
        let readout = vec![
            PauliSum::from_labels(&[(1.0, "IIIZ"), (1.0, "IIZI")])?,
            PauliSum::from_labels(&[(1.0, "IZII"), (1.0, "ZIII")])?,
        ];
        let layer = QuantumLayer::new(circuit.clone(), readout.clone(), seed::derive(ctx.seed, &[1]))?;
        let profile = DeviceProfile::builtin(DEVICE)?;
        let device = DeviceCircuit::new(&circuit, &readout, &profile, None)?;
        let test_set = TestSet {
            device: &device,
            inputs: angles_f64(test.images.iter().take(n_test * 16)),
            labels: test.labels[..n_test].to_vec(),
        };
        let schedule = schedule(&train, batch, steps, eval_every, ctx.seed)?;

        let chip = || Chip::new(device.clone(), SHOTS);
        let train_seed = seed::derive(ctx.seed, &[2]);
        let full = train_on_chip(&layer, chip()?, None, &schedule, &test_set, train_seed, ctx.quick)?;
        let pruned = train_on_chip(&layer, chip()?, Some(pruning), &schedule, &test_set, train_seed, ctx.quick)?;
        let noiseless = train_noiseless(&layer, &schedule, &test_set, ctx.quick)?;
        // Further trials from other initial weights and shot seeds (same data and batch order), for
        // means that do not hang on one run.
        let trials = if ctx.quick { 1 } else { TRIALS };
        ctx.set_config("trials", trials);
        let mut trial_rows = vec![(full.clone(), pruned.clone())];
        for trial in 1..trials as u64 {
            let init = QuantumLayer::new(circuit.clone(), readout.clone(), seed::derive(ctx.seed, &[1 + 10 * trial]))?;
            let seed = seed::derive(ctx.seed, &[2 + 10 * trial]);
            let a = train_on_chip(&init, chip()?, None, &schedule, &test_set, seed, ctx.quick)?;
            let b = train_on_chip(&init, chip()?, Some(pruning), &schedule, &test_set, seed, ctx.quick)?;
            trial_rows.push((a, b));
        }

        let mut metrics = Metrics::new();
        metrics.insert("train_samples", train.len());
        metrics.insert("test_samples", n_test);
        metrics.insert("parameters", circuit.n_params());
        metrics.insert("device_circuit", json!(device.stats()));
        metrics.insert("test_accuracy_initial", full.points[0].2);
        for (name, curve) in [("all_gradients", &full), ("pruned", &pruned)] {
            metrics.insert(format!("{name}.test_accuracy_final"), curve.final_accuracy());
            metrics.insert(format!("{name}.test_accuracy_best"), curve.best_within(u64::MAX));
            metrics.insert(format!("{name}.circuit_executions"), curve.executions());
            metrics.insert(format!("{name}.shots"), curve.shots);
            metrics.insert(
                format!("{name}.checkpoints"),
                json!(
                    curve
                        .points
                        .iter()
                        .map(|p| json!({"step": p.0, "executions": p.1, "accuracy": p.2}))
                        .collect::<Vec<_>>()
                ),
            );
            metrics.insert(format!("{name}.train_loss_per_step"), json!(curve.losses));
            metrics.insert_timing(format!("{name}.train_seconds"), curve.seconds);
        }
        metrics.insert("noiseless_trained.test_accuracy_final", noiseless.final_accuracy());
        metrics.insert(
            "noiseless_trained.checkpoints",
            json!(noiseless.points.iter().map(|p| json!({"step": p.0, "accuracy": p.2})).collect::<Vec<_>>()),
        );
        metrics.insert_timing("noiseless_trained.train_seconds", noiseless.seconds);
        let saved = 1.0 - pruned.executions() as f64 / full.executions().max(1) as f64;
        metrics.insert("pruning_execution_savings", saved);
        metrics.insert("all_gradients.best_accuracy_within_pruned_budget", full.best_within(pruned.executions()));
        let target = full.final_accuracy();
        metrics.insert("target_accuracy", target);
        for (name, curve) in [("all_gradients", &full), ("pruned", &pruned)] {
            metrics.insert(format!("{name}.executions_to_target"), json!(curve.executions_to_reach(target)));
        }

        let mean = |f: &dyn Fn(&(Curve, Curve)) -> f64| stats::mean(&trial_rows.iter().map(f).collect::<Vec<_>>());
        metrics.insert("trials.all_gradients.test_accuracy_final_mean", mean(&|t| t.0.final_accuracy())?);
        metrics.insert("trials.pruned.test_accuracy_final_mean", mean(&|t| t.1.final_accuracy())?);
        metrics.insert("trials.all_gradients.circuit_executions_mean", mean(&|t| t.0.executions() as f64)?);
        metrics.insert("trials.pruned.circuit_executions_mean", mean(&|t| t.1.executions() as f64)?);
        metrics.insert(
            "trials.all_gradients.best_accuracy_within_pruned_budget_mean",
            mean(&|t| t.0.best_within(t.1.executions()))?,
        );
        metrics.insert("trials.pruned.test_accuracy_best_mean", mean(&|t| t.1.best_within(u64::MAX))?);
        metrics.insert(
            "trials.per_trial_final_accuracy",
            json!(trial_rows.iter().map(|t| [t.0.final_accuracy(), t.1.final_accuracy()]).collect::<Vec<_>>()),
        );

        let accuracy_series = |name: &str, curve: &Curve, x: fn(&(usize, u64, f64)) -> f64| {
            Series::new(name, curve.points.iter().map(|p| (x(p), p.2)).collect())
        };
        ctx.plot(
            "accuracy_vs_executions",
            &LineChart {
                title: format!("qoc: test accuracy on {DEVICE} vs circuit executions ({SHOTS} shots each)"),
                x_label: "circuit executions".into(),
                y_label: "test accuracy (device)".into(),
                series: vec![
                    accuracy_series("all gradients", &full, |p| p.1 as f64),
                    accuracy_series("probabilistic gradient pruning", &pruned, |p| p.1 as f64),
                ],
                log_y: false,
                markers: true,
            },
        )?;
        ctx.plot(
            "accuracy_vs_steps",
            &LineChart {
                title: format!("qoc: test accuracy on {DEVICE} vs training steps"),
                x_label: "step".into(),
                y_label: "test accuracy (device)".into(),
                series: vec![
                    accuracy_series("on chip, all gradients", &full, |p| p.0 as f64),
                    accuracy_series("on chip, pruned", &pruned, |p| p.0 as f64),
                    accuracy_series("noiseless simulator (adjoint)", &noiseless, |p| p.0 as f64),
                ],
                log_y: false,
                markers: true,
            },
        )?;
        let loss_series = |name: &str, losses: &[f64]| {
            Series::new(name, losses.iter().enumerate().map(|(k, &l)| ((k + 1) as f64, l)).collect())
        };
        ctx.plot(
            "train_loss",
            &LineChart {
                title: "qoc: training cross-entropy per step".into(),
                x_label: "step".into(),
                y_label: "batch loss".into(),
                series: vec![
                    loss_series("on chip, all gradients (shot estimates)", &full.losses),
                    loss_series("on chip, pruned (shot estimates)", &pruned.losses),
                    loss_series("noiseless simulator", &noiseless.losses),
                ],
                log_y: false,
                markers: false,
            },
        )?;
        ctx.note(format!(
            "Circuit executions: one per forward row and one per shifted circuit of the parameter-shift rule on the \
             compiled circuit (two per angle of an evaluated parameter), each with {SHOTS} shots; the observables of a \
             row are combined with the loss cotangent first, so one shifted circuit answers all of them. Pruning \
             alternates one step with every gradient and two steps keeping half the parameters, sampled without \
             replacement with probability proportional to the gradient magnitudes of the accumulation step; pruned \
             parameters get a zero gradient (Adam's moments still move them). Test accuracy is read from the exact \
             density matrix of {DEVICE}'s noise model with readout error, so it carries no shot noise."
        ));
        Ok(metrics)
    }
}
